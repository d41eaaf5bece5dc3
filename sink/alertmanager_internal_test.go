package sink

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/clock"
	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/stream"
)

// While Alertmanager is down, alerts come and go: each new one evicts a
// resolution from the full table. The list of alerts to send must stay
// bounded by the table, not grow with every alert seen during the outage.
func TestAlertmanagerPendingListBoundedDuringOutage(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	fc := clock.NewFake(t0)
	const maxAlerts = 8
	a := NewAlertmanager(srv.URL, &AlertmanagerOptions{Options: Options{Clock: fc, Timeout: -1}, MaxAlerts: maxAlerts})
	ctx := context.Background()
	require.NoError(t, a.Emit(ctx, amEvent(fault.StateFiring, 0, t0)))
	require.NoError(t, a.Start())
	t.Cleanup(func() {
		c, cancel := context.WithCancel(ctx)
		cancel()
		_ = a.Close(c)
	})
	// The first request failed: the loop waits for its retry (and the ticker).
	done := make(chan struct{})
	timer := time.AfterFunc(10*time.Second, func() { close(done) })
	defer timer.Stop()
	require.True(t, fc.WaitFor(2, done))

	for i := 1; i <= 10000; i++ {
		require.NoError(t, a.Emit(ctx, amEvent(fault.StateFiring, i, t0)))
		require.NoError(t, a.Emit(ctx, amEvent(fault.StateResolved, i, t0)))
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	require.LessOrEqual(t, len(a.alerts), maxAlerts)
	require.LessOrEqual(t, len(a.pending), 2*maxAlerts+a.o.MaxBatch+1, "label sets waiting to be sent")
	// Every queued alert is still in pending, in the order it came.
	var queued, inPending []string
	for i := 0; i <= 10000; i++ {
		k := amKey(a, i)
		if al := a.alerts[k]; al != nil && al.queued {
			queued = append(queued, k)
		}
	}
	seen := map[string]bool{}
	for _, k := range a.pending {
		if al := a.alerts[k]; al != nil && al.queued && !seen[k] {
			seen[k] = true
			inPending = append(inPending, k)
		}
	}
	require.Equal(t, queued, inPending)
	require.Len(t, queued, a.queuedN)
	require.Equal(t, maxAlerts-1, a.queuedN, "all but the one in flight")
}

// amEvent returns an event of episode ep<i>, series host=h<i>.
func amEvent(state fault.State, i int, at time.Time) fault.Event {
	return fault.Event{
		ID: fmt.Sprintf("%s%d", state, i), Episode: fmt.Sprint("ep", i), Kind: fault.KindAbsence, Rule: "absence",
		State: state, At: at.UnixNano(), Labels: stream.NewLabels("host", fmt.Sprint("h", i)), Value: math.NaN(),
	}
}

// amKey returns a's label set of amEvent's alert i.
func amKey(a *Alertmanager, i int) string {
	return a.labelSet(&fault.Event{Kind: fault.KindAbsence, Rule: "absence", Labels: stream.NewLabels("host", fmt.Sprint("h", i))})
}

// An Emit into a full table makes room, or finds there is none, in
// O(log MaxAlerts) steps, not by looking at every alert held.
func TestAlertmanagerFullTableCostsLogarithmicWorkPerEmit(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const maxAlerts, emits = 1024, 1000
	bound := uint64(emits * 4 * 10) // 4·log2(maxAlerts) steps an Emit
	ctx := context.Background()

	// Full of firing alerts: every new one is dropped.
	fc := clock.NewFake(t0)
	a := NewAlertmanager("http://127.0.0.1:1", &AlertmanagerOptions{Options: Options{Clock: fc}, MaxAlerts: maxAlerts})
	for i := range maxAlerts {
		require.NoError(t, a.Emit(ctx, amEvent(fault.StateFiring, i, t0)))
	}
	a.evict.steps = 0
	for i := range emits {
		require.ErrorIs(t, a.Emit(ctx, amEvent(fault.StateFiring, maxAlerts+i, t0)), ErrAlertsFull)
	}
	require.LessOrEqual(t, a.evict.steps, bound, "steps for %d Emits into a table of %d firing alerts", emits, maxAlerts)

	// Full of resolutions: every new alert evicts one.
	a = NewAlertmanager("http://127.0.0.1:1", &AlertmanagerOptions{Options: Options{Clock: fc}, MaxAlerts: maxAlerts})
	for i := range maxAlerts {
		fc.Advance(time.Second)
		require.NoError(t, a.Emit(ctx, amEvent(fault.StateResolved, i, t0)))
	}
	a.evict.steps = 0
	for i := range emits {
		require.NoError(t, a.Emit(ctx, amEvent(fault.StateFiring, maxAlerts+i, t0)))
	}
	require.LessOrEqual(t, a.evict.steps, bound, "steps for %d Emits into a table of %d resolutions", emits, maxAlerts)
	require.Len(t, a.alerts, maxAlerts)
	require.Equal(t, uint64(emits), a.st.Dropped[ReasonExpired], "the resolutions evicted were never delivered")
}

// A full table evicts delivered resolutions first, the oldest first, then
// undelivered ones, the oldest first; never a firing alert.
func TestAlertmanagerFullTableEvictionOrder(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ctx := context.Background()
	fc := clock.NewFake(t0)
	a := NewAlertmanager("http://127.0.0.1:1", &AlertmanagerOptions{Options: Options{Clock: fc}, MaxAlerts: 4})
	for i := range 4 {
		fc.Advance(time.Second)
		require.NoError(t, a.Emit(ctx, amEvent(fault.StateResolved, i, t0)))
	}
	// Alertmanager acknowledges the four resolutions.
	n := a.take()
	require.True(t, a.encode(0, n))
	a.settle(0, n, delivered)
	// h0's is sent anew: not delivered now, it goes last.
	fc.Advance(time.Second)
	require.NoError(t, a.Emit(ctx, amEvent(fault.StateResolved, 0, t0)))

	held := func() []string {
		var hs []string
		for i := range 10 {
			if a.alerts[amKey(a, i)] != nil {
				hs = append(hs, fmt.Sprint("h", i))
			}
		}
		return hs
	}
	for i, want := range [][]string{
		{"h0", "h2", "h3", "h4"},
		{"h0", "h3", "h4", "h5"},
		{"h0", "h4", "h5", "h6"},
		{"h4", "h5", "h6", "h7"},
	} {
		require.NoError(t, a.Emit(ctx, amEvent(fault.StateFiring, 4+i, t0)))
		require.Equal(t, want, held())
	}
	require.ErrorIs(t, a.Emit(ctx, amEvent(fault.StateFiring, 8, t0)), ErrAlertsFull)
	require.Equal(t, uint64(1), a.st.Dropped[ReasonExpired], "h0's second resolution, never delivered")
	require.Equal(t, uint64(1), a.st.Dropped[ReasonAlertsFull])
}
