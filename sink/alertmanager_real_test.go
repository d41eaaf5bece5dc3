package sink_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/internal/testsvc"
	"github.com/faultline-go/faultline/sink"
	"github.com/faultline-go/faultline/stream"
)

// TestRealAlertmanager is the issue's "in real time, an absence arrives in
// a real Alertmanager and its resolution ends the alert there".
func TestRealAlertmanager(t *testing.T) {
	cfg, err := os.ReadFile(filepath.Join("testdata", "alertmanager.yml"))
	require.NoError(t, err)
	base := testsvc.Alertmanager(t, string(cfg))
	s := sink.NewAlertmanager(base, &sink.AlertmanagerOptions{
		Options:      sink.Options{Name: "real"},
		GeneratorURL: "http://collector.example:8080/faultline",
	})
	require.NoError(t, s.Start())
	t.Cleanup(func() { _ = closeNow(s) })

	check := fmt.Sprintf("c%d", time.Now().UnixNano()%1e6)
	firedAt := time.Now().Add(-time.Second).Truncate(time.Millisecond)
	fire := fault.Event{
		ID: "a1f1", Episode: "a1", Kind: fault.KindAbsence, Rule: "absence", State: fault.StateFiring,
		At: firedAt.UnixNano(), Since: firedAt.Add(-5 * time.Minute).UnixNano(),
		Labels: stream.NewLabels("__name__", "check_latency", "check", check, "region.name", "eu-1", fault.OriginLabel, "collector-1"),
		Value:  math.NaN(),
	}
	require.NoError(t, s.Emit(context.Background(), fire))

	var got []testsvc.Alert
	eventually(t, func() bool { got = testsvc.Alerts(t, base, "check", check); return len(got) == 1 }, "the absence listed by Alertmanager")
	a := got[0]
	require.Equal(t, map[string]string{
		"alertname": "absence", "__name__": "check_latency", "check": check, "region_name": "eu-1", fault.OriginLabel: "collector-1",
	}, a.Labels)
	require.Equal(t, "active", a.Status.State)
	require.Equal(t, "a1f1", a.Annotations["faultline_id"])
	require.Equal(t, fmt.Sprintf(`check_latency{check="%s", region.name="eu-1"} stopped reporting`, check), a.Annotations["summary"])
	require.True(t, a.StartsAt.Equal(firedAt), "startsAt %s, want %s", a.StartsAt, firedAt)
	require.WithinDuration(t, time.Now().Add(4*time.Minute), a.EndsAt, 30*time.Second)
	require.Equal(t, "http://collector.example:8080/faultline", a.GeneratorURL)

	resolve := fire
	resolve.ID, resolve.State, resolve.At = "a1r", fault.StateResolved, time.Now().UnixNano()
	require.NoError(t, s.Emit(context.Background(), resolve))
	eventually(t, func() bool { return len(testsvc.Alerts(t, base, "check", check)) == 0 }, "the resolution ending the alert in Alertmanager")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, s.Close(ctx))
	st := s.Stats()
	require.GreaterOrEqual(t, st.Sent, uint64(2))
	require.Zero(t, st.DroppedTotal())
}

// A sample from a host whose clock is fast (the engine accepts such up to
// fault.Config.MaxFutureSkew, 10m by default) makes an episode fire and
// resolve ahead of the sink's clock. Alertmanager refuses an alert whose
// startsAt is after its endsAt (now + 4m for a firing one), with the
// whole request's 400, and keeps an alert active until its endsAt: the
// firing alert must arrive, and its resolution must end it.
func TestRealAlertmanagerTakesEpisodesAheadOfTheClock(t *testing.T) {
	cfg, err := os.ReadFile(filepath.Join("testdata", "alertmanager.yml"))
	require.NoError(t, err)
	base := testsvc.Alertmanager(t, string(cfg))
	s := sink.NewAlertmanager(base, &sink.AlertmanagerOptions{Options: sink.Options{Name: "real"}})
	require.NoError(t, s.Start())
	t.Cleanup(func() { _ = closeNow(s) })

	check := fmt.Sprintf("c%d", time.Now().UnixNano()%1e6)
	ahead := time.Now().Add(6 * time.Minute)
	fire := fault.Event{
		ID: "a1f1", Episode: "a1", Kind: fault.KindThreshold, Rule: "Hot", State: fault.StateFiring,
		At: ahead.UnixNano(), Labels: stream.NewLabels("check", check, fault.OriginLabel, "collector-1"), Value: 101,
	}
	require.NoError(t, s.Emit(context.Background(), fire))
	eventually(t, func() bool { return len(testsvc.Alerts(t, base, "check", check)) == 1 }, "the alert listed by Alertmanager")
	require.Zero(t, s.Stats().Dropped[sink.ReasonRejected])

	resolve := fire
	resolve.ID, resolve.State, resolve.At = "a1r", fault.StateResolved, ahead.Add(time.Minute).UnixNano()
	require.NoError(t, s.Emit(context.Background(), resolve))
	eventually(t, func() bool { return len(testsvc.Alerts(t, base, "check", check)) == 0 }, "the resolution ending the alert in Alertmanager")
	st := s.Stats()
	require.Zero(t, st.DroppedTotal())
}
