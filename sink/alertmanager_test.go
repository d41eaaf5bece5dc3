package sink_test

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/clock"
	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/metrics"
	"github.com/faultline-go/faultline/sink"
	"github.com/faultline-go/faultline/stream"
)

// posted is an alert as Alertmanager's API receives it.
type posted struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

func alertsOf(t *testing.T, r request) []posted {
	t.Helper()
	require.Equal(t, "application/json", r.header.Get("Content-Type"))
	var as []posted
	require.NoError(t, json.Unmarshal(r.body, &as), "body %s", r.body)
	for i := range as {
		as[i].StartsAt = as[i].StartsAt.UTC()
		as[i].EndsAt = as[i].EndsAt.UTC()
	}
	return as
}

// byHost indexes alerts by their host label.
func byHost(as []posted) map[string]posted {
	m := make(map[string]posted, len(as))
	for _, a := range as {
		m[a.Labels["host"]] = a
	}
	return m
}

// gauge returns the value of a metric of s.
func gauge(s metrics.Source, name string) float64 {
	for _, m := range s.AppendMetrics(nil) {
		if m.Name == name {
			return m.Value
		}
	}
	return math.NaN()
}

// newAM returns a started Alertmanager sink on a fake clock, posting to a
// test server, with its re-send ticker armed.
func newAM(t *testing.T, o sink.AlertmanagerOptions) (*sink.Alertmanager, *server, *clock.Fake) {
	t.Helper()
	fc := clock.NewFake(t0)
	srv := newServer(t)
	o.Clock = fc
	if o.Timeout == 0 {
		o.Timeout = -1
	}
	s := sink.NewAlertmanager(srv.URL, &o)
	require.NoError(t, s.Start())
	t.Cleanup(func() { _ = closeNow(s) })
	waitTimers(t, fc, 1)
	return s, srv, fc
}

func TestAlertmanagerFiringResentUntilResolvedThenRetained(t *testing.T) {
	s, srv, fc := newAM(t, sink.AlertmanagerOptions{GeneratorURL: "http://collector:8080/faultline"})
	ctx := context.Background()

	fire := event("f1", fault.StateFiring, t0.Add(-time.Second), "a")
	fire.Annotations = stream.NewLabels("runbook", "http://wiki/absence")
	require.NoError(t, s.Emit(ctx, fire))
	labels := map[string]string{"alertname": "absence", "__name__": "cpu", "host": "a", fault.OriginLabel: "test"}
	require.Equal(t, []posted{{
		Labels: labels,
		Annotations: map[string]string{
			"faultline_id": "f1", "faultline_episode": "ep-a", "faultline_kind": "absence",
			"runbook": "http://wiki/absence", "summary": `cpu{host="a"} stopped reporting`,
		},
		StartsAt:     t0.Add(-time.Second),
		EndsAt:       t0.Add(4 * time.Minute), // now + 4 × the 1m resend interval
		GeneratorURL: "http://collector:8080/faultline",
	}}, alertsOf(t, srv.next(t)))

	// Re-sent every minute with endsAt moved on, so it does not expire.
	fc.Advance(time.Minute)
	as := alertsOf(t, srv.next(t))
	require.Len(t, as, 1)
	require.Equal(t, labels, as[0].Labels)
	require.Equal(t, t0.Add(-time.Second), as[0].StartsAt)
	require.Equal(t, t0.Add(5*time.Minute), as[0].EndsAt)

	// The resolution goes out at once, ending the alert at its time.
	fc.Advance(10 * time.Second)
	resolvedAt := fc.Now().Add(-2 * time.Second)
	require.NoError(t, s.Emit(ctx, event("r1", fault.StateResolved, resolvedAt, "a")))
	as = alertsOf(t, srv.next(t))
	require.Len(t, as, 1)
	require.Equal(t, labels, as[0].Labels)
	require.Equal(t, "r1", as[0].Annotations["faultline_id"])
	require.Equal(t, t0.Add(-time.Second), as[0].StartsAt)
	require.Equal(t, resolvedAt, as[0].EndsAt)

	// Then it is re-sent, resolved, for 15 minutes from when it came
	// (t0+1m10s): at the ticks of minutes 2 to 16, not at 17.
	for m := 2; m <= 16; m++ {
		fc.Advance(time.Minute)
		as = alertsOf(t, srv.next(t))
		require.Len(t, as, 1, "minute %d", m)
		require.Equal(t, resolvedAt, as[0].EndsAt, "minute %d", m)
	}
	fc.Advance(time.Minute)
	eventually(t, func() bool { return gauge(s, "faultline_sink_alerts") == 0 }, "the resolved alert forgotten")
	srv.none(t)

	st := s.Stats()
	require.Equal(t, uint64(2), st.Events)
	require.Equal(t, uint64(1+1+1+15), st.Sent)
	require.Zero(t, st.DroppedTotal())
}

func TestAlertmanagerSendsNoPendingNorInhibited(t *testing.T) {
	s, srv, _ := newAM(t, sink.AlertmanagerOptions{})
	ctx := context.Background()

	// A pending episode that resolves without firing is never sent.
	require.NoError(t, s.Emit(ctx, event("p1", fault.StatePending, t0, "a")))
	require.NoError(t, s.Emit(ctx, event("p2", fault.StateResolved, t0, "a")))
	// An inhibited one is not sent either, nor its resolution.
	inh := event("i1", fault.StateFiring, t0, "b")
	inh.InhibitedBy = "fleet1"
	require.NoError(t, s.Emit(ctx, inh))
	inhr := event("i2", fault.StateResolved, t0, "b")
	inhr.InhibitedBy = "fleet1"
	require.NoError(t, s.Emit(ctx, inhr))
	// An inhibited one that fires again uninhibited is sent then.
	inh = event("i3", fault.StateFiring, t0, "c")
	inh.InhibitedBy = "fleet1"
	require.NoError(t, s.Emit(ctx, inh))
	require.NoError(t, s.Emit(ctx, event("i4", fault.StateFiring, t0, "c")))

	as := alertsOf(t, srv.next(t))
	require.Len(t, as, 1)
	require.Equal(t, "c", as[0].Labels["host"])
	require.Equal(t, "i4", as[0].Annotations["faultline_id"])
	require.NotContains(t, as[0].Annotations, "faultline_inhibited_by")
	eventually(t, func() bool { return s.Stats().Queued == 0 }, "the batch settled")
	srv.none(t)
}

func TestAlertmanagerSendInhibited(t *testing.T) {
	s, srv, _ := newAM(t, sink.AlertmanagerOptions{SendInhibited: true})
	inh := event("i1", fault.StateFiring, t0, "b")
	inh.InhibitedBy = "fleet1"
	require.NoError(t, s.Emit(context.Background(), inh))
	as := alertsOf(t, srv.next(t))
	require.Len(t, as, 1)
	require.Equal(t, "fleet1", as[0].Annotations["faultline_inhibited_by"])
}

func TestAlertmanagerLabelChangeResolvesTheOldAlert(t *testing.T) {
	s, srv, fc := newAM(t, sink.AlertmanagerOptions{})
	ctx := context.Background()
	warn := fault.Event{
		ID: "w", Episode: "ep1", Kind: fault.KindThreshold, Rule: "SlowCheck", State: fault.StateFiring,
		At: t0.UnixNano(), Labels: stream.NewLabels("check", "c1", "severity", "warning"), Value: 3,
	}
	require.NoError(t, s.Emit(ctx, warn))
	as := alertsOf(t, srv.next(t))
	require.Len(t, as, 1)
	require.Equal(t, "SlowCheck on {check=\"c1\", severity=\"warning\"} (value 3)", as[0].Annotations["summary"])
	require.Equal(t, "3", as[0].Annotations["faultline_value"])

	fc.Advance(10 * time.Second)
	crit := warn
	crit.ID, crit.At, crit.Value = "c", fc.Now().UnixNano(), 9
	crit.Labels = stream.NewLabels("check", "c1", "severity", "critical")
	require.NoError(t, s.Emit(ctx, crit))
	var got []posted
	for len(got) < 2 {
		got = append(got, alertsOf(t, srv.next(t))...)
	}
	bySeverity := map[string]posted{}
	for _, a := range got {
		bySeverity[a.Labels["severity"]] = a
	}
	require.Equal(t, fc.Now(), bySeverity["warning"].EndsAt, "the warning alert ends when the level changes")
	require.Equal(t, fc.Now(), bySeverity["critical"].StartsAt)
	require.Equal(t, fc.Now().Add(4*time.Minute), bySeverity["critical"].EndsAt)

	// The episode's resolution ends the critical alert, not the warning.
	fc.Advance(10 * time.Second)
	res := crit
	res.ID, res.State, res.At = "r", fault.StateResolved, fc.Now().UnixNano()
	require.NoError(t, s.Emit(ctx, res))
	as = alertsOf(t, srv.next(t))
	require.Len(t, as, 1)
	require.Equal(t, "critical", as[0].Labels["severity"])
	require.Equal(t, fc.Now(), as[0].EndsAt)
}

func TestAlertmanagerNewEpisodeReplacesTheResolvedAlert(t *testing.T) {
	s, srv, fc := newAM(t, sink.AlertmanagerOptions{})
	ctx := context.Background()
	require.NoError(t, s.Emit(ctx, event("f1", fault.StateFiring, t0, "a")))
	srv.next(t)
	require.NoError(t, s.Emit(ctx, event("r1", fault.StateResolved, t0.Add(time.Second), "a")))
	srv.next(t)
	fc.Advance(2 * time.Second)
	again := event("f2", fault.StateFiring, t0.Add(2*time.Second), "a")
	again.Episode = "ep-a-2"
	require.NoError(t, s.Emit(ctx, again))
	as := alertsOf(t, srv.next(t))
	require.Len(t, as, 1)
	require.Equal(t, t0.Add(2*time.Second), as[0].StartsAt)

	// One alert per label set: the tick sends the firing one only, never
	// the old resolution, which would end it.
	fc.Advance(time.Minute)
	as = alertsOf(t, srv.next(t))
	require.Len(t, as, 1)
	require.Equal(t, "f2", as[0].Annotations["faultline_id"])
	require.Equal(t, fc.Now().Add(4*time.Minute), as[0].EndsAt)
	require.Equal(t, 1.0, gauge(s, "faultline_sink_alerts"))

	// The old episode's resolution, should it come again, changes nothing.
	eventually(t, func() bool { return s.Stats().Queued == 0 }, "the tick settled")
	require.NoError(t, s.Emit(ctx, event("r1", fault.StateResolved, t0.Add(time.Second), "a")))
	require.Zero(t, s.Stats().Queued)
}

func TestAlertmanagerBatchesAreBounded(t *testing.T) {
	fc := clock.NewFake(t0)
	srv := newServer(t)
	s := sink.NewAlertmanager(srv.URL, &sink.AlertmanagerOptions{Options: sink.Options{Clock: fc, Timeout: -1, MaxBatch: 2}})
	for _, ev := range events(5) {
		require.NoError(t, s.Emit(context.Background(), ev))
	}
	require.NoError(t, s.Start())
	var hosts []string
	for _, n := range []int{2, 2, 1} {
		as := alertsOf(t, srv.next(t))
		require.Len(t, as, n)
		for _, a := range as {
			hosts = append(hosts, a.Labels["host"])
		}
	}
	require.Equal(t, []string{"h00", "h01", "h02", "h03", "h04"}, hosts)
	require.NoError(t, s.Close(context.Background()))
	require.Equal(t, uint64(5), s.Stats().Sent)
}

func TestAlertmanagerDownRetriesWithTheLatestState(t *testing.T) {
	s, srv, fc := newAM(t, sink.AlertmanagerOptions{Options: sink.Options{
		Retry: sink.Retry{Initial: 2 * time.Second, Rand: fixedJitter},
	}})
	ctx := context.Background()
	srv.status.Store(http.StatusServiceUnavailable)
	require.NoError(t, s.Emit(ctx, event("f1", fault.StateFiring, t0, "a")))
	as := alertsOf(t, srv.next(t))
	require.Equal(t, t0.Add(4*time.Minute), as[0].EndsAt)
	waitTimers(t, fc, 2) // the ticker and the backoff

	// While Alertmanager is down, the episode resolves.
	require.NoError(t, s.Emit(ctx, event("r1", fault.StateResolved, t0.Add(time.Second), "a")))
	srv.status.Store(http.StatusOK)
	fc.Advance(1500*time.Millisecond - time.Nanosecond)
	require.Equal(t, 2, fc.Waiters())
	fc.Advance(time.Nanosecond)
	as = alertsOf(t, srv.next(t))
	require.Len(t, as, 1)
	require.Equal(t, t0.Add(time.Second), as[0].EndsAt, "the retry carries the resolution")
	require.Equal(t, "r1", as[0].Annotations["faultline_id"])
	// The resolution was queued as well; it is sent once more.
	as = alertsOf(t, srv.next(t))
	require.Equal(t, t0.Add(time.Second), as[0].EndsAt)
	eventually(t, func() bool { return s.Stats().Queued == 0 }, "the queue drained")
	st := s.Stats()
	require.Equal(t, uint64(1), st.Retries)
	require.Equal(t, uint64(2), st.Sent)
}

func TestAlertmanagerRetriedFiringAlertGetsAFreshEndsAt(t *testing.T) {
	s, srv, fc := newAM(t, sink.AlertmanagerOptions{Options: sink.Options{
		Retry: sink.Retry{Initial: 10 * time.Minute, Max: 10 * time.Minute, Rand: func() float64 { return 0.999999 }},
	}})
	srv.status.Store(http.StatusBadGateway)
	require.NoError(t, s.Emit(context.Background(), event("f1", fault.StateFiring, t0, "a")))
	srv.next(t)
	waitTimers(t, fc, 2)
	srv.status.Store(http.StatusOK)
	fc.Advance(10 * time.Minute)
	as := alertsOf(t, srv.next(t))
	require.True(t, as[0].EndsAt.After(fc.Now()), "endsAt %s is from the retry's time, not the first attempt's", as[0].EndsAt)
}

// An alert Alertmanager has ends there at its endsAt, 4 × ResendInterval
// after it was last sent. With a Retry.Max longer than that, a short
// outage would grow the backoff past it, and the alert would end in
// Alertmanager (notifying a resolution), then fire anew when the retry
// came. Retries come at least once per ResendInterval instead.
func TestAlertmanagerBackoffStaysWithinTheResendInterval(t *testing.T) {
	s, srv, fc := newAM(t, sink.AlertmanagerOptions{Options: sink.Options{
		Retry: sink.Retry{Initial: time.Second, Max: 10 * time.Minute, Rand: func() float64 { return 0.999999 }},
	}})
	srv.status.Store(http.StatusServiceUnavailable)
	require.NoError(t, s.Emit(context.Background(), event("f1", fault.StateFiring, t0, "a")))
	srv.next(t)
	for range 10 {
		waitTimers(t, fc, 2) // the ticker and the backoff
		fc.Advance(time.Minute)
		srv.next(t) // the retry came within the minute
	}
}

func TestAlertmanagerMapsLabelNames(t *testing.T) {
	s, srv, _ := newAM(t, sink.AlertmanagerOptions{})
	ev := event("f1", fault.StateFiring, t0, "a")
	ev.Labels = stream.NewLabels("__name__", "cpu", "host-name", "a", "1st", "x", "alertname", "spoof", "empty", "", "ünï", "u")
	ev.Annotations = stream.NewLabels("summary", "given", "see.also", "y")
	require.NoError(t, s.Emit(context.Background(), ev))
	as := alertsOf(t, srv.next(t))
	require.Equal(t, map[string]string{"alertname": "absence", "__name__": "cpu", "host_name": "a", "_1st": "x", "__n__": "u"}, as[0].Labels)
	require.Equal(t, "given", as[0].Annotations["summary"], "the rule's summary wins")
	require.Equal(t, "y", as[0].Annotations["see_also"])
}

func TestAlertmanagerFullTableDropsNewAlertsAndEvictsResolvedOnes(t *testing.T) {
	s, srv, _ := newAM(t, sink.AlertmanagerOptions{MaxAlerts: 2})
	ctx := context.Background()
	evs := events(4)
	require.NoError(t, s.Emit(ctx, evs[0]))
	require.NoError(t, s.Emit(ctx, evs[1]))
	require.ErrorIs(t, s.Emit(ctx, evs[2]), sink.ErrAlertsFull)
	require.Equal(t, uint64(1), s.Stats().Dropped[sink.ReasonAlertsFull])

	res := event("r0", fault.StateResolved, t0, "h00")
	res.Episode = evs[0].Episode
	require.NoError(t, s.Emit(ctx, res))
	eventually(t, func() bool { return s.Stats().Queued == 0 }, "all sent")
	require.NoError(t, s.Emit(ctx, evs[3]), "the delivered resolution makes room")
	eventually(t, func() bool { return s.Stats().Queued == 0 }, "all sent")
	seen := map[string]bool{}
	for len(srv.reqs) > 0 {
		for h := range byHost(alertsOf(t, srv.next(t))) {
			seen[h] = true
		}
	}
	require.Equal(t, map[string]bool{"h00": true, "h01": true, "h03": true}, seen)
	require.Equal(t, 2.0, gauge(s, "faultline_sink_alerts"))
	require.Zero(t, s.Stats().Dropped[sink.ReasonExpired], "the evicted resolution had been delivered")
}

func TestAlertmanagerResolutionOfAnUnknownEpisode(t *testing.T) {
	s, srv, _ := newAM(t, sink.AlertmanagerOptions{MaxAlerts: 1})
	ctx := context.Background()
	// Pending episodes beyond MaxAlerts are not remembered, but counted.
	require.NoError(t, s.Emit(ctx, event("p1", fault.StatePending, t0, "a")))
	require.NoError(t, s.Emit(ctx, event("p2", fault.StatePending, t0, "b")))
	require.Equal(t, 1.0, gauge(s, "faultline_sink_untracked_total"))
	// So b's resolution is sent, as one of an episode never seen firing
	// (after a restart, say): startsAt is the episode's start.
	res := event("r2", fault.StateResolved, t0, "b")
	require.NoError(t, s.Emit(ctx, res))
	as := alertsOf(t, srv.next(t))
	require.Len(t, as, 1)
	require.Equal(t, time.Unix(0, res.Since).UTC(), as[0].StartsAt)
	require.Equal(t, t0, as[0].EndsAt)
}

func TestAlertmanagerCloseCountsAlertsNeverDelivered(t *testing.T) {
	s, srv, fc := newAM(t, sink.AlertmanagerOptions{})
	srv.status.Store(http.StatusInternalServerError)
	for _, ev := range events(3) {
		require.NoError(t, s.Emit(context.Background(), ev))
	}
	srv.next(t)
	waitTimers(t, fc, 2)
	err := closeNow(s)
	require.ErrorIs(t, err, sink.ErrUndelivered)
	require.Contains(t, err.Error(), `3 in sink "alertmanager"`)
	require.Equal(t, uint64(3), s.Stats().Dropped[sink.ReasonUndelivered])
	require.Zero(t, fc.Waiters(), "ticker and backoff stopped")
	require.ErrorIs(t, s.Emit(context.Background(), events(1)[0]), sink.ErrClosed)
}

func TestAlertmanagerCloseWithoutStartSendsWhatIsQueued(t *testing.T) {
	srv := newServer(t)
	s := sink.NewAlertmanager(srv.URL+"/", &sink.AlertmanagerOptions{Options: sink.Options{Clock: clock.NewFake(t0)}})
	require.NoError(t, s.Emit(context.Background(), events(1)[0]))
	require.NoError(t, s.Close(context.Background()))
	require.Len(t, alertsOf(t, srv.next(t)), 1)
}

// TestAlertmanagerURLWithItsEndpoint: an operator may give the API's
// endpoint rather than Alertmanager's base URL; both post to the one
// endpoint, after the route prefix if there is one.
func TestAlertmanagerURLWithItsEndpoint(t *testing.T) {
	srv := newServer(t)
	for url, path := range map[string]string{
		"":                     "/api/v2/alerts",
		"/":                    "/api/v2/alerts",
		"/api/v2/alerts":       "/api/v2/alerts",
		"/api/v2/alerts/":      "/api/v2/alerts",
		"/am":                  "/am/api/v2/alerts",
		"/am/api/v2/alerts":    "/am/api/v2/alerts",
		"/api/v2/alerts/extra": "/api/v2/alerts/extra/api/v2/alerts",
	} {
		s := sink.NewAlertmanager(srv.URL+url, &sink.AlertmanagerOptions{Options: sink.Options{Clock: clock.NewFake(t0)}})
		require.NoError(t, s.Emit(context.Background(), events(1)[0]))
		require.NoError(t, s.Close(context.Background()))
		require.Equal(t, path, srv.next(t).path, "URL %q", url)
	}
}

func TestSinkMetrics(t *testing.T) {
	s, _, _ := newAM(t, sink.AlertmanagerOptions{Options: sink.Options{Name: "am-eu"}})
	require.NoError(t, s.Emit(context.Background(), events(1)[0]))
	var b strings.Builder
	require.NoError(t, metrics.WriteText(&b, s.AppendMetrics(nil)))
	out := b.String()
	for _, want := range []string{
		`faultline_sink_events_total{sink="am-eu"} 1`,
		"# TYPE faultline_sink_queued gauge",
		`faultline_sink_sent_total{sink="am-eu"}`,
		`faultline_sink_retries_total{sink="am-eu"} 0`,
		`faultline_sink_dropped_total{reason="queue_full",sink="am-eu"} 0`,
		`faultline_sink_dropped_total{reason="alerts_full",sink="am-eu"} 0`,
		`faultline_sink_dropped_total{reason="expired",sink="am-eu"} 0`,
		`faultline_sink_alerts{sink="am-eu"} 1`,
		`faultline_sink_untracked_total{sink="am-eu"} 0`,
	} {
		require.Contains(t, out, want)
	}
	var jb strings.Builder
	require.NoError(t, metrics.WriteText(&jb, sink.NewWebhook("http://x", nil).AppendMetrics(nil)))
	require.Contains(t, jb.String(), `faultline_sink_dropped_total{reason="rejected",sink="webhook"} 0`)
}

func TestAlertmanagerEndsAtFollowsTheLongerInterval(t *testing.T) {
	s, srv, fc := newAM(t, sink.AlertmanagerOptions{ResendInterval: 30 * time.Second, EvalInterval: 2 * time.Minute})
	require.NoError(t, s.Emit(context.Background(), events(1)[0]))
	require.Equal(t, t0.Add(8*time.Minute), alertsOf(t, srv.next(t))[0].EndsAt, "4 × max(30s, 2m)")
	fc.Advance(30 * time.Second)
	require.Equal(t, t0.Add(30*time.Second+8*time.Minute), alertsOf(t, srv.next(t))[0].EndsAt, "re-sent every 30s")
}

// A rule's flapping episode has the labels of the rule's alert on the
// series: it is its own alert (label faultline_kind="flapping"), and its
// end does not resolve the alert, which is still firing.
func TestAlertmanagerFlappingIsItsOwnAlert(t *testing.T) {
	s, srv, fc := newAM(t, sink.AlertmanagerOptions{})
	ctx := context.Background()
	hot := fault.Event{
		ID: "f", Episode: "ep1", Kind: fault.KindThreshold, Rule: "Hot", State: fault.StateFiring,
		At: t0.UnixNano(), Labels: stream.NewLabels("room", "a"), Value: 101,
	}
	require.NoError(t, s.Emit(ctx, hot))
	require.Len(t, alertsOf(t, srv.next(t)), 1)

	fc.Advance(10 * time.Second)
	flap := hot
	flap.ID, flap.Episode, flap.Kind, flap.At = "p", "ep2", fault.KindFlapping, fc.Now().UnixNano()
	require.NoError(t, s.Emit(ctx, flap))
	as := alertsOf(t, srv.next(t))
	require.Len(t, as, 1)
	require.Equal(t, map[string]string{"alertname": "Hot", "room": "a", "faultline_kind": "flapping"}, as[0].Labels)

	fc.Advance(10 * time.Second)
	end := flap
	end.ID, end.State, end.At = "e", fault.StateResolved, fc.Now().UnixNano()
	require.NoError(t, s.Emit(ctx, end))
	as = alertsOf(t, srv.next(t))
	require.Len(t, as, 1)
	require.Equal(t, "flapping", as[0].Labels["faultline_kind"])
	require.Equal(t, fc.Now(), as[0].EndsAt, "the flapping alert ends")

	// At the next re-send, the rule's alert is still firing.
	fc.Advance(time.Minute)
	var hotNow *posted
	for hotNow == nil {
		for _, a := range alertsOf(t, srv.next(t)) {
			if a.Labels["faultline_kind"] == "" {
				hotNow = &a
			}
		}
	}
	require.Equal(t, "Hot", hotNow.Labels["alertname"])
	require.True(t, hotNow.EndsAt.After(fc.Now()), "still firing: endsAt %v", hotNow.EndsAt)
}

// An episode of samples ahead of the clock (a host whose clock is fast) is
// sent with no time after now: Alertmanager refuses startsAt after endsAt,
// and keeps a resolved alert active until its endsAt.
func TestAlertmanagerTimesAheadOfTheClockAreSentAsNow(t *testing.T) {
	s, srv, fc := newAM(t, sink.AlertmanagerOptions{})
	ctx := context.Background()
	require.NoError(t, s.Emit(ctx, event("f1", fault.StateFiring, t0.Add(6*time.Minute), "a")))
	as := alertsOf(t, srv.next(t))
	require.Equal(t, t0, as[0].StartsAt)
	require.Equal(t, t0.Add(4*time.Minute), as[0].EndsAt)

	fc.Advance(10 * time.Second)
	require.NoError(t, s.Emit(ctx, event("r1", fault.StateResolved, t0.Add(7*time.Minute), "a")))
	as = alertsOf(t, srv.next(t))
	require.Equal(t, fc.Now(), as[0].StartsAt, "Alertmanager keeps the earliest startsAt it had")
	require.Equal(t, fc.Now(), as[0].EndsAt, "resolved now, not in 7 minutes")

	// Once the clock has passed them, the event's own times are sent.
	fc.Advance(8 * time.Minute)
	as = alertsOf(t, srv.next(t))
	require.Equal(t, t0.Add(6*time.Minute), as[0].StartsAt)
	require.Equal(t, t0.Add(7*time.Minute), as[0].EndsAt)
}
