package sink

import (
	"bytes"
	"context"
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

// raceEvent returns a firing absence event.
func raceEvent() fault.Event {
	return fault.Event{
		ID: "f1", Episode: "ep1", Kind: fault.KindAbsence, Rule: "absence", State: fault.StateFiring,
		At: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano(), Labels: stream.NewLabels("host", "a"), Value: math.NaN(),
	}
}

// closeWhenIdle makes r's goroutine, the first time it finds nothing to
// send, see emit called and Close begin before it goes on: the window
// between its finding the queue empty and its looking at Close. It
// returns Close's result.
func closeWhenIdle(r *runner, emit func() error, closeSink func(context.Context) error) <-chan error {
	res := make(chan error, 2)
	first := true
	r.idle = func() {
		if !first {
			return
		}
		first = false
		if err := emit(); err != nil {
			res <- err
			return
		}
		go func() { res <- closeSink(context.Background()) }()
		<-r.closing // Close has sealed the sink and signalled
	}
	return res
}

// requireClosedDeliveringOne waits for closeWhenIdle's Close to return
// without error, then checks by stats that the one event was delivered.
func requireClosedDeliveringOne(t *testing.T, res <-chan error, stats func() Stats) {
	t.Helper()
	select {
	case err := <-res:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return")
	}
	st := stats()
	require.Equal(t, uint64(1), st.Sent)
	require.Zero(t, st.DroppedTotal())
}

// An event emitted just before Close, while the goroutine had just found
// the queue empty, is delivered: Close's context never ended.
func TestCloseRacingEmitDeliversTheEvent(t *testing.T) {
	var buf bytes.Buffer
	s := NewJSONLines(&buf, nil)
	res := closeWhenIdle(&s.q.run,
		func() error { return s.Emit(context.Background(), raceEvent()) }, s.Close)
	require.NoError(t, s.Start())
	requireClosedDeliveringOne(t, res, s.Stats)
	require.Contains(t, buf.String(), `"f1"`)
}

// The same for the Alertmanager sink.
func TestAlertmanagerCloseRacingEmitDeliversTheAlert(t *testing.T) {
	got := make(chan struct{}, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { got <- struct{}{} }))
	t.Cleanup(srv.Close)
	a := NewAlertmanager(srv.URL, &AlertmanagerOptions{Options: Options{Clock: clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)), Timeout: -1}})
	res := closeWhenIdle(&a.run,
		func() error { return a.Emit(context.Background(), raceEvent()) }, a.Close)
	require.NoError(t, a.Start())
	requireClosedDeliveringOne(t, res, a.Stats)
	require.Len(t, got, 1)
}
