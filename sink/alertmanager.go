package sink

import (
	"cmp"
	"container/heap"
	"context"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/metrics"
)

// AlertmanagerOptions configures an Alertmanager sink. A nil
// *AlertmanagerOptions, and every zero field, means the default.
type AlertmanagerOptions struct {
	Options
	// ResendInterval is how often held alerts are sent again, as
	// Prometheus' --rules.alert.resend-delay. By default 1m.
	//
	// It also caps Retry.Max (and so a Retry-After): while Alertmanager
	// is down, a request is tried again at least once per ResendInterval,
	// as Prometheus sends every ResendInterval whether the last send
	// failed or not. A longer backoff would outlast the endsAt of the
	// alerts Alertmanager holds (4 × ResendInterval after they were last
	// sent) during a short outage: they would end there, notifying a
	// resolution, and fire anew when the retry came. Lengthening endsAt
	// instead would keep alerts active that long after faultline stops.
	ResendInterval time.Duration
	// EvalInterval is how often the pipeline advances its engines, as
	// Prometheus' evaluation interval: a firing alert is sent with endsAt
	// now + 4 × max(ResendInterval, EvalInterval). By default 0.
	EvalInterval time.Duration
	// ResolvedRetention is how long a resolved alert is still re-sent. By
	// default 15m, as Prometheus.
	ResolvedRetention time.Duration
	// MaxAlerts bounds the alerts held, and separately the pending and
	// inhibited episodes remembered. By default 10000.
	MaxAlerts int
	// GeneratorURL is sent as every alert's generatorURL, e.g. a page of
	// the collector that runs faultline. By default none.
	GeneratorURL string
	// SendInhibited sends inhibited episodes too, with the annotation
	// faultline_inhibited_by. By default they are not sent.
	SendInhibited bool
}

// Alertmanager sends episodes to a Prometheus Alertmanager as alerts
// (POST /api/v2/alerts), the way Prometheus sends its alerting rules':
//
//   - An episode becomes an alert when it fires. Pending events are not
//     sent, and an episode resolved without having fired is never sent.
//   - Labels are the event's (the series' labels with __name__, the
//     rule's labels, faultline_origin) plus alertname: the rule's name, or
//     the built-in detector's (absence, periodic_gap, …), and for a
//     rule's flapping episode faultline_kind="flapping": it has the labels
//     of the rule's alert on the series, and is an alert of its own, whose
//     end leaves that one as it is. Label names
//     Alertmanager refuses are rewritten (each invalid character becomes
//     _); labels with an empty value are left out.
//   - Annotations are the event's (the rule's, expanded), plus a summary
//     when the rule gives none, and faultline_id (the ID of the latest
//     event), faultline_episode, faultline_kind, faultline_value when there
//     is one, faultline_inhibited_by (see SendInhibited), and for periodic gaps
//     faultline_period_s, faultline_phase_start_s, faultline_phase_end_s,
//     faultline_series and faultline_late_fraction.
//   - startsAt is the time the episode fired; generatorURL is
//     GeneratorURL.
//   - Times ahead of Clock (an episode of samples from a host whose clock
//     is fast, which the engine accepts up to fault.Config.MaxFutureSkew)
//     are sent as Clock's now: Alertmanager refuses an alert that starts
//     after its endsAt (now + 4 × …, for a firing one), and a resolved
//     alert whose endsAt is still ahead stays active there until then.
//   - A firing alert is sent at once, then every ResendInterval, with
//     endsAt = now + 4 × max(ResendInterval, EvalInterval): if faultline
//     stops, Alertmanager resolves the alert by itself soon after.
//   - A resolved alert is sent at once with endsAt = the resolved event's
//     time, then every ResendInterval for ResolvedRetention (Prometheus
//     keeps resolved alerts 15 minutes), so that an Alertmanager that
//     missed the resolution, or restarted, still learns it.
//   - An alert is identified by its label set, as in Alertmanager: a new
//     episode with the labels of an alert still held replaces it, and an
//     episode whose labels change (a threshold rule's severity level)
//     resolves the alert of its old labels.
//   - An inhibited episode (fault.Event.InhibitedBy) is explained by
//     another one and should page no one: it is not sent (if it fires
//     again uninhibited, it is sent then), unless SendInhibited.
//
// A request carries up to MaxBatch alerts (by default 64). A failed request
// is retried (Options.Retry) with each alert's latest state and a fresh
// endsAt, so changes made while Alertmanager is down coalesce. A request
// refused as too large (413, from a proxy in front of Alertmanager, say)
// is sent again in halves, down to single alerts; an alert refused alone
// is dropped (reason "rejected") and logged with its labels. Run one sink
// per Alertmanager: Prometheus, too, sends every alert to each member of
// a cluster.
//
// The queue is the table of alerts: it holds MaxAlerts alerts. When it is
// full, the oldest resolved alert makes room; when none is resolved, the
// new alert is dropped (reason "alerts_full", Emit returns ErrAlertsFull).
// A resolution never delivered within ResolvedRetention, or evicted
// before it was, is counted (reason "expired"). When MaxAlerts pending or
// inhibited episodes are remembered, further ones are not but counted
// (faultline_sink_untracked_total), and their resolutions are sent like
// those of an episode this sink never saw fire (after a restart, say),
// with startsAt the episode's start; Alertmanager notifies no one of the
// resolution of an alert it never had firing. Sent counts alerts that
// Alertmanager acknowledged, re-sends included; Queued, the alerts waiting
// to be (re)sent; Close counts as undelivered the alerts whose latest
// state never reached Alertmanager.
//
// The alerts live in memory only; a restarted sink knows the episodes that
// the engine reports after the restart.
type Alertmanager struct {
	o         AlertmanagerOptions
	p         poster
	validFor  time.Duration
	run       runner
	mu        sync.Mutex
	closed    bool
	alerts    map[string]*amAlert // by label set (its JSON object)
	episodes  map[string]string   // episode ID → label set of its alert
	held      map[string]struct{} // pending or inhibited episodes: not sent
	pending   []string            // label sets to send, in order; may hold stale ones
	queuedN   int                 // alerts with queued set
	inflight  []amInflight        // the batch in flight, owned by the loop
	version   uint64
	st        Stats
	untracked uint64
	evict     evictions // the resolved alerts, in the order add evicts them

	pairs []pair // scratch, under mu
	body  []byte // owned by the loop
}

type amAlert struct {
	labels      string // the label set as a JSON object: the alert's identity
	episode     string
	annotations []byte // a JSON object
	startsAt    int64
	endsAt      int64     // 0 while firing; the resolution's time after
	resolvedAt  time.Time // Clock time the resolution came
	version     uint64    // of the latest change
	settled     uint64    // the latest version Alertmanager acknowledged (or refused)
	queued      bool
	evictAt     int // 1 + its index in Alertmanager.evict; 0 when not there (firing)
}

// evictions is a heap of the resolved alerts, in the order a full table
// evicts them: delivered resolutions first, then the oldest resolution
// first. Making room costs O(log MaxAlerts), not a look at every alert.
type evictions struct {
	as    []*amAlert
	steps uint64 // comparisons made, which tests bound
}

func (h *evictions) Len() int { return len(h.as) }

func (h *evictions) Less(i, j int) bool {
	h.steps++
	x, y := h.as[i], h.as[j]
	if dx, dy := x.settled == x.version, y.settled == y.version; dx != dy {
		return dx
	}
	return x.resolvedAt.Before(y.resolvedAt)
}

func (h *evictions) Swap(i, j int) {
	h.as[i], h.as[j] = h.as[j], h.as[i]
	h.as[i].evictAt, h.as[j].evictAt = i+1, j+1
}

func (h *evictions) Push(x any) {
	al := x.(*amAlert)
	h.as = append(h.as, al)
	al.evictAt = len(h.as)
}

func (h *evictions) Pop() any {
	n := len(h.as) - 1
	al := h.as[n]
	h.as[n] = nil
	h.as = h.as[:n]
	al.evictAt = 0
	return al
}

type amInflight struct {
	key     string
	version uint64 // the version sent; 0 when the alert was gone
}

// amEndpoint is the path, under Alertmanager's base URL, that alerts are
// posted to.
const amEndpoint = "/api/v2/alerts"

var (
	_ fault.Sink     = (*Alertmanager)(nil)
	_ metrics.Source = (*Alertmanager)(nil)
)

// NewAlertmanager returns a sink sending to the Alertmanager at url, its
// base URL (http://host:9093, with the route prefix if it has one) or the
// endpoint it posts to (http://host:9093/api/v2/alerts), as operators
// copy one or the other.
func NewAlertmanager(url string, opts *AlertmanagerOptions) *Alertmanager {
	var o AlertmanagerOptions
	if opts != nil {
		o = *opts
	}
	o.Options = o.Options.withDefaults("alertmanager", 64)
	if o.ResendInterval <= 0 {
		o.ResendInterval = time.Minute
	}
	o.Retry.Max = min(o.Retry.Max, o.ResendInterval)
	if o.ResolvedRetention <= 0 {
		o.ResolvedRetention = 15 * time.Minute
	}
	if o.MaxAlerts <= 0 {
		o.MaxAlerts = 10000
	}
	return &Alertmanager{
		o: o,
		p: poster{
			url:         strings.TrimSuffix(strings.TrimSuffix(url, "/"), amEndpoint) + amEndpoint,
			contentType: "application/json",
			client:      o.Client, header: o.Header, timeout: o.Timeout, clk: o.Clock,
		},
		validFor: 4 * max(o.ResendInterval, o.EvalInterval),
		run:      newRunner(),
		alerts:   make(map[string]*amAlert),
		episodes: make(map[string]string),
		held:     make(map[string]struct{}),
	}
}

// Emit updates the alert of ev's episode. It never blocks; it returns
// ErrAlertsFull when the alert had to be dropped and ErrClosed after
// Close. ctx is not used.
func (a *Alertmanager) Emit(_ context.Context, ev fault.Event) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.st.Events++
	if a.closed {
		a.st.Dropped[ReasonClosed]++
		return ErrClosed
	}
	switch ev.State {
	case fault.StatePending:
		a.hold(ev.Episode)
	case fault.StateFiring:
		if ev.InhibitedBy != "" && !a.o.SendInhibited {
			if al := a.byEpisode(ev.Episode); al == nil || al.endsAt != 0 {
				a.hold(ev.Episode)
			}
			return nil
		}
		delete(a.held, ev.Episode)
		key := a.labelSet(&ev)
		if al := a.byEpisode(ev.Episode); al != nil && al.labels != key && al.endsAt == 0 {
			a.resolve(al, ev.At) // its labels changed: the old alert ends
		}
		al := a.alerts[key]
		if al == nil {
			if al = a.add(key); al == nil {
				return ErrAlertsFull
			}
		}
		if al.episode != ev.Episode || al.endsAt != 0 {
			al.startsAt = ev.At
		}
		if al.episode != ev.Episode && a.episodes[al.episode] == key {
			delete(a.episodes, al.episode)
		}
		al.episode = ev.Episode
		al.endsAt, al.resolvedAt = 0, time.Time{}
		al.annotations = a.annotationSet(&ev)
		a.episodes[ev.Episode] = key
		a.changed(al)
	case fault.StateResolved:
		if _, ok := a.held[ev.Episode]; ok {
			delete(a.held, ev.Episode)
			return nil
		}
		al := a.byEpisode(ev.Episode)
		if al == nil {
			key := a.labelSet(&ev)
			if a.alerts[key] != nil {
				return nil // another episode holds these labels now
			}
			if al = a.add(key); al == nil {
				return ErrAlertsFull
			}
			al.episode = ev.Episode
			al.startsAt = min(cmp.Or(ev.Since, ev.At), ev.At)
			a.episodes[ev.Episode] = key
		}
		al.annotations = a.annotationSet(&ev)
		a.resolve(al, ev.At)
	}
	return nil
}

// hold remembers an episode that is not sent.
func (a *Alertmanager) hold(episode string) {
	if _, ok := a.held[episode]; !ok && len(a.held) >= a.o.MaxAlerts {
		a.untracked++
		return
	}
	a.held[episode] = struct{}{}
}

// byEpisode returns the alert of an episode, or nil.
func (a *Alertmanager) byEpisode(episode string) *amAlert {
	key, ok := a.episodes[episode]
	if !ok {
		return nil
	}
	if al := a.alerts[key]; al != nil && al.episode == episode {
		return al
	}
	return nil
}

// add adds an alert, making room if needed; nil when the table is full of
// firing alerts (counted).
func (a *Alertmanager) add(key string) *amAlert {
	if len(a.alerts) >= a.o.MaxAlerts {
		// Delivered resolutions go first, the oldest first (evictions).
		if a.evict.Len() == 0 {
			a.st.Dropped[ReasonAlertsFull]++
			return nil
		}
		a.remove(a.evict.as[0])
	}
	al := &amAlert{labels: key}
	a.alerts[key] = al
	return al
}

// remove forgets an alert, counting a resolution that never reached
// Alertmanager.
func (a *Alertmanager) remove(al *amAlert) {
	if al.settled != al.version {
		a.st.Dropped[ReasonExpired]++
	}
	if al.queued {
		al.queued = false
		a.queuedN--
	}
	if al.evictAt != 0 {
		heap.Remove(&a.evict, al.evictAt-1)
	}
	delete(a.alerts, al.labels)
	if a.episodes[al.episode] == al.labels {
		delete(a.episodes, al.episode)
	}
}

// resolve ends an alert at (engine time) at.
func (a *Alertmanager) resolve(al *amAlert, at int64) {
	al.endsAt = max(at, al.startsAt)
	al.resolvedAt = a.o.Clock.Now()
	a.changed(al)
}

// changed records a change of al (its version, its state) and queues it.
func (a *Alertmanager) changed(al *amAlert) {
	a.version++
	al.version = a.version
	a.reorder(al)
	a.queue(al)
}

// reorder keeps al's place in evict after a change: there while resolved,
// ordered by its delivery and resolution time.
func (a *Alertmanager) reorder(al *amAlert) {
	switch {
	case al.endsAt != 0 && al.evictAt == 0:
		heap.Push(&a.evict, al)
	case al.endsAt != 0:
		heap.Fix(&a.evict, al.evictAt-1)
	case al.evictAt != 0:
		heap.Remove(&a.evict, al.evictAt-1)
	}
}

func (a *Alertmanager) queue(al *amAlert) {
	if !al.queued {
		// An alert removed while queued leaves its label set in pending
		// until take passes it: while the loop is held up by an
		// Alertmanager that is down, alerts that come and go would grow
		// pending without bound.
		if len(a.pending) > 2*a.queuedN+a.o.MaxBatch {
			a.compact()
		}
		al.queued = true
		a.queuedN++
		a.pending = append(a.pending, al.labels)
		a.run.notify()
	}
}

// compact drops from pending the label sets of alerts that are gone or not
// queued, and repeats, keeping the order: queuedN are left.
func (a *Alertmanager) compact() {
	kept := a.pending[:0]
	for _, k := range a.pending {
		if al := a.alerts[k]; al != nil && al.queued {
			al.queued = false // kept: a later copy of k is not
			kept = append(kept, k)
		}
	}
	for _, k := range kept {
		a.alerts[k].queued = true
	}
	clear(a.pending[len(kept):])
	a.pending = kept
}

// tick re-sends every alert held and forgets resolutions past retention
// at now, the tick's time.
func (a *Alertmanager) tick(now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	keys := make([]string, 0, len(a.alerts))
	for k := range a.alerts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		al := a.alerts[k]
		if al.endsAt != 0 && now.Sub(al.resolvedAt) >= a.o.ResolvedRetention {
			a.remove(al)
			continue
		}
		a.queue(al)
	}
}

// take moves up to MaxBatch queued alerts into the batch in flight.
func (a *Alertmanager) take() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.inflight = a.inflight[:0]
	i := 0
	for ; i < len(a.pending) && len(a.inflight) < a.o.MaxBatch; i++ {
		al := a.alerts[a.pending[i]]
		if al == nil || !al.queued {
			continue
		}
		al.queued = false
		a.queuedN--
		a.inflight = append(a.inflight, amInflight{key: al.labels})
	}
	a.pending = a.pending[i:]
	if len(a.pending) == 0 {
		a.pending = nil // let a burst's backing array go
	}
	return len(a.inflight)
}

// encode encodes the latest state of the alerts in flight from lo to hi,
// with endsAt of firing ones from now, and no time after now otherwise;
// false when none is left.
func (a *Alertmanager) encode(lo, hi int) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.o.Clock.Now()
	ends := fault.FormatTime(now.Add(a.validFor).UnixNano())
	b := append(a.body[:0], '[')
	n := 0
	for i := lo; i < hi; i++ {
		it := &a.inflight[i]
		al := a.alerts[it.key]
		if al == nil {
			it.version = 0
			continue
		}
		it.version = al.version
		if n > 0 {
			b = append(b, ',')
		}
		n++
		b = append(b, `{"labels":`...)
		b = append(b, al.labels...)
		b = append(b, `,"annotations":`...)
		b = append(b, al.annotations...)
		// Engine time may be ahead of now (see the type's doc).
		starts := min(al.startsAt, now.UnixNano())
		b = append(b, `,"startsAt":"`...)
		b = append(b, fault.FormatTime(starts)...)
		b = append(b, `","endsAt":"`...)
		if al.endsAt != 0 {
			b = append(b, fault.FormatTime(max(min(al.endsAt, now.UnixNano()), starts))...)
		} else {
			b = append(b, ends...)
		}
		b = append(b, '"')
		if a.o.GeneratorURL != "" {
			b = append(b, `,"generatorURL":`...)
			b = appendJSONString(b, a.o.GeneratorURL)
		}
		b = append(b, '}')
	}
	a.body = append(b, ']')
	return n > 0
}

// settle records how the alerts in flight from lo to hi ended.
func (a *Alertmanager) settle(lo, hi int, out outcome) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, it := range a.inflight[lo:hi] {
		if it.version == 0 {
			continue
		}
		switch out {
		case delivered:
			a.st.Sent++
		case rejected:
			a.st.Dropped[ReasonRejected]++
		case exhausted:
			a.st.Dropped[ReasonRetriesExhausted]++
		}
		if al := a.alerts[it.key]; al != nil && al.version == it.version {
			al.settled = it.version
			a.reorder(al)
		}
	}
}

// deliver sends the alerts in flight from lo to hi; false when ctx ended
// first. A request refused as too large (413) is split in halves, each
// delivered the same way; a single alert refused so is dropped (reason
// "rejected").
func (a *Alertmanager) deliver(ctx context.Context, lo, hi int) bool {
	return deliverHalving(lo, hi,
		func(lo, hi int) outcome {
			return deliverWithRetry(ctx, a.o.Clock, &a.o.Retry, a.o.Logger, a.o.Name,
				func(ctx context.Context) error {
					if !a.encode(lo, hi) {
						return nil
					}
					return a.p.post(ctx, a.body)
				},
				func() { a.mu.Lock(); a.st.Retries++; a.mu.Unlock() })
		},
		a.settle,
		func(i int) {
			a.o.Logger.Warn("sink: alert too large for Alertmanager (HTTP 413), dropped", "sink", a.o.Name, "alert", a.inflight[i].key)
		})
}

// loop is the delivery goroutine.
func (a *Alertmanager) loop(ctx context.Context) {
	tk := a.o.Clock.NewTicker(a.o.ResendInterval)
	defer tk.Stop()
	a.run.serve(ctx, tk.C(), a.tick, func() (sent, ok bool) {
		n := a.take()
		if n == 0 {
			return false, true
		}
		if !a.deliver(ctx, 0, n) {
			return true, false
		}
		a.mu.Lock()
		a.inflight = a.inflight[:0]
		a.mu.Unlock()
		return true, true
	})
}

// Start starts delivery and the re-send ticker.
func (a *Alertmanager) Start() error { return a.run.start(a.loop) }

// Close sends what is queued until ctx ends, then stops; see the package
// doc. It does not resolve the alerts still firing: Alertmanager ends them
// when their endsAt passes, as it does when Prometheus stops.
func (a *Alertmanager) Close(ctx context.Context) error {
	return a.run.close(ctx, a.loop,
		func() { a.mu.Lock(); a.closed = true; a.mu.Unlock() },
		func(ctx context.Context, _ bool) error { // never stuck: requests end with their context
			a.mu.Lock()
			defer a.mu.Unlock()
			left := 0
			for _, al := range a.alerts {
				if al.settled != al.version {
					left++
				}
			}
			a.st.Dropped[ReasonUndelivered] += uint64(left)
			a.queuedN, a.inflight = 0, nil
			return undelivered(ctx, a.o.Name, left, 0)
		})
}

// Stats returns the sink's counters.
func (a *Alertmanager) Stats() Stats {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.st
	s.Queued = a.queuedN + len(a.inflight)
	return s
}

// AppendMetrics appends the sink's self-metrics.
func (a *Alertmanager) AppendMetrics(dst []metrics.Metric) []metrics.Metric {
	s := a.Stats()
	a.mu.Lock()
	n, u := len(a.alerts), a.untracked
	a.mu.Unlock()
	dst = s.appendMetrics(dst, a.o.Name)
	return append(dst,
		metrics.G("faultline_sink_alerts", "Alerts held: firing, or resolved and re-sent.", float64(n)).With("sink", a.o.Name),
		metrics.C("faultline_sink_untracked_total", "Pending or inhibited episodes not remembered: MaxAlerts were.", u).With("sink", a.o.Name))
}

// pair is a label or an annotation.
type pair struct{ name, value string }

// labelSet returns ev's alert labels as a JSON object, sorted by name.
func (a *Alertmanager) labelSet(ev *fault.Event) string {
	ps := append(a.pairs[:0], pair{"alertname", cmp.Or(ev.Rule, string(ev.Kind))})
	if ev.Kind == fault.KindFlapping {
		ps = append(ps, pair{"faultline_kind", string(ev.Kind)})
	}
	for _, l := range ev.Labels {
		if l.Value != "" && l.Name != "alertname" && (l.Name != "faultline_kind" || ev.Kind != fault.KindFlapping) {
			ps = append(ps, pair{labelName(l.Name), l.Value})
		}
	}
	a.pairs = ps
	return string(appendPairs(nil, ps))
}

// annotationSet returns ev's alert annotations as a JSON object.
func (a *Alertmanager) annotationSet(ev *fault.Event) []byte {
	ps := append(a.pairs[:0],
		pair{"faultline_id", ev.ID},
		pair{"faultline_episode", ev.Episode},
		pair{"faultline_kind", string(ev.Kind)})
	if !math.IsNaN(ev.Value) && !math.IsInf(ev.Value, 0) {
		ps = append(ps, pair{"faultline_value", strconv.FormatFloat(ev.Value, 'g', -1, 64)})
	}
	if ev.InhibitedBy != "" {
		ps = append(ps, pair{"faultline_inhibited_by", ev.InhibitedBy})
	}
	if g := ev.Gap; g != nil {
		ps = append(ps,
			pair{"faultline_period_s", strconv.FormatFloat(g.Period.Seconds(), 'f', -1, 64)},
			pair{"faultline_phase_start_s", strconv.FormatFloat(g.PhaseStart.Seconds(), 'f', -1, 64)},
			pair{"faultline_phase_end_s", strconv.FormatFloat(g.PhaseEnd.Seconds(), 'f', -1, 64)},
			pair{"faultline_series", strconv.Itoa(g.Series)})
		if !math.IsNaN(g.LateFraction) {
			ps = append(ps, pair{"faultline_late_fraction", strconv.FormatFloat(g.LateFraction, 'f', 4, 64)})
		}
	}
	for _, l := range ev.Annotations {
		if l.Value != "" {
			ps = append(ps, pair{labelName(l.Name), l.Value})
		}
	}
	ps = append(ps, pair{"summary", ev.Summary()})
	a.pairs = ps
	return appendPairs(nil, ps)
}

// appendPairs sorts ps by name (stably: of two of one name, the first
// given wins) and appends them as a JSON object.
func appendPairs(dst []byte, ps []pair) []byte {
	slices.SortStableFunc(ps, func(a, b pair) int { return strings.Compare(a.name, b.name) })
	dst = append(dst, '{')
	for i, p := range ps {
		if i > 0 && p.name == ps[i-1].name {
			continue
		}
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, p.name)
		dst = append(dst, ':')
		dst = appendJSONString(dst, p.value)
	}
	return append(dst, '}')
}

// labelName returns name as a valid Prometheus label name
// ([a-zA-Z_][a-zA-Z0-9_]*): each other byte becomes _, and a leading digit
// gets a _ in front.
func labelName(name string) string {
	ok := name != ""
	for i := 0; i < len(name) && ok; i++ {
		ok = isNameByte(name[i], i == 0)
	}
	if ok {
		return name
	}
	b := make([]byte, 0, len(name)+1)
	if name == "" || name[0] >= '0' && name[0] <= '9' {
		b = append(b, '_')
	}
	for i := 0; i < len(name); i++ {
		if isNameByte(name[i], false) {
			b = append(b, name[i])
		} else {
			b = append(b, '_')
		}
	}
	return string(b)
}

func isNameByte(c byte, first bool) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || !first && c >= '0' && c <= '9'
}
