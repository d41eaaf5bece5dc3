package sink_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/sink"
)

// limitedReceiver answers 413 to a body of more than limit items (JSON
// Lines or a JSON array, as items parses it) and to any body holding
// refused, and keeps the items it took.
type limitedReceiver struct {
	mu    sync.Mutex
	took  []string
	sizes []int // the items of each request, in order
}

func newLimitedReceiver(t *testing.T, limit int, refused string, items func([]byte) []string) (*limitedReceiver, string) {
	r := &limitedReceiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var body bytes.Buffer
		_, _ = body.ReadFrom(req.Body)
		got := items(body.Bytes())
		r.mu.Lock()
		defer r.mu.Unlock()
		r.sizes = append(r.sizes, len(got))
		if len(got) > limit || slices.Contains(got, refused) {
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			return
		}
		r.took = append(r.took, got...)
	}))
	t.Cleanup(srv.Close)
	return r, srv.URL
}

func (r *limitedReceiver) result() (took []string, sizes []int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.took), slices.Clone(r.sizes)
}

// requireSplitDownToTheRefused checks a run of 8 events sent as one batch
// to a limitedReceiver of limit 2 that refuses the sixth: the batch was
// halved down to that event, which alone was dropped (rejected, not
// retried) and logged as refused (its mention in logs); want were taken.
func requireSplitDownToTheRefused(t *testing.T, took []string, sizes []int, st sink.Stats, logs string, want []string, refused string) {
	t.Helper()
	require.Equal(t, want, took)
	require.Equal(t, []int{8, 4, 2, 2, 4, 2, 1, 1, 2}, sizes)
	require.Equal(t, uint64(7), st.Sent)
	require.Equal(t, uint64(1), st.Dropped[sink.ReasonRejected])
	require.Zero(t, st.Retries)
	require.Contains(t, logs, "too large")
	require.Contains(t, logs, refused)
}

// A receiver that refuses a batch as too large (413) gets its halves, and
// theirs, down to single events; an event refused alone is dropped,
// counted as rejected, and logged.
func TestWebhookSplitsABatchTooLarge(t *testing.T) {
	rcv, url := newLimitedReceiver(t, 2, "e05", func(b []byte) []string {
		var ids []string
		for line := range strings.Lines(string(b)) {
			var ev struct{ ID string }
			if json.Unmarshal([]byte(line), &ev) == nil {
				ids = append(ids, ev.ID)
			}
		}
		return ids
	})
	var logs bytes.Buffer
	s := sink.NewWebhook(url, &sink.Options{MaxBatch: 8, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	for _, ev := range events(8) {
		require.NoError(t, s.Emit(context.Background(), ev))
	}
	require.NoError(t, s.Close(context.Background()))
	took, sizes := rcv.result()
	st := s.Stats()
	requireSplitDownToTheRefused(t, took, sizes, st, logs.String(),
		[]string{"e00", "e01", "e02", "e03", "e04", "e06", "e07"}, "id=e05")
	require.Equal(t, st.Events, st.Sent+st.DroppedTotal())
}

// The same for the Alertmanager sink, alert by alert.
func TestAlertmanagerSplitsARequestTooLarge(t *testing.T) {
	rcv, url := newLimitedReceiver(t, 2, "h05", func(b []byte) []string {
		var as []posted
		_ = json.Unmarshal(b, &as)
		var hosts []string
		for _, a := range as {
			hosts = append(hosts, a.Labels["host"])
		}
		return hosts
	})
	var logs bytes.Buffer
	s := sink.NewAlertmanager(url, &sink.AlertmanagerOptions{Options: sink.Options{
		MaxBatch: 8, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	}})
	for i := range 8 {
		require.NoError(t, s.Emit(context.Background(), event("f", fault.StateFiring, t0, "h0"+string(rune('0'+i)))))
	}
	require.NoError(t, s.Close(context.Background()))
	took, sizes := rcv.result()
	slices.Sort(took)
	requireSplitDownToTheRefused(t, took, sizes, s.Stats(), logs.String(),
		[]string{"h00", "h01", "h02", "h03", "h04", "h06", "h07"}, "h05")
}
