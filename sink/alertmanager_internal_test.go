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
	ev := func(state fault.State, i int) fault.Event {
		return fault.Event{
			ID: fmt.Sprintf("%s%d", state, i), Episode: fmt.Sprint("ep", i), Kind: fault.KindAbsence, Rule: "absence",
			State: state, At: t0.UnixNano(), Labels: stream.NewLabels("host", fmt.Sprint("h", i)), Value: math.NaN(),
		}
	}
	require.NoError(t, a.Emit(ctx, ev(fault.StateFiring, 0)))
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
		require.NoError(t, a.Emit(ctx, ev(fault.StateFiring, i)))
		require.NoError(t, a.Emit(ctx, ev(fault.StateResolved, i)))
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	require.LessOrEqual(t, len(a.alerts), maxAlerts)
	require.LessOrEqual(t, len(a.pending), 2*maxAlerts+a.o.MaxBatch+1, "label sets waiting to be sent")
	// Every queued alert is still in pending, in the order it came.
	var queued, inPending []string
	for i := 0; i <= 10000; i++ {
		k := a.labelSet(&fault.Event{Kind: fault.KindAbsence, Rule: "absence", Labels: stream.NewLabels("host", fmt.Sprint("h", i))})
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
