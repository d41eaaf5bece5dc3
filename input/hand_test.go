package input_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/input"
	"github.com/faultline-go/faultline/stream"
)

// handRecorder is a recorder that also takes batches over, as
// pipeline.Runtime does (Hand, Batch). It keeps each batch given, not a
// copy, with what its whole array held then, so that a test can tell
// whether the input wrote to a batch once it had given it away.
type handRecorder struct {
	*recorder
	mu     sync.Mutex
	handed [][]stream.Sample // the batches given, as given
	then   [][]stream.Sample // their arrays, up to their capacity, when given
}

func (h *handRecorder) Batch(n int) []stream.Sample { return make([]stream.Sample, 0, n) }

func (h *handRecorder) Hand(ctx context.Context, batch []stream.Sample) error {
	h.mu.Lock()
	h.handed = append(h.handed, batch)
	h.then = append(h.then, slices.Clone(batch[:cap(batch)]))
	h.mu.Unlock()
	return h.recorder.Ingest(ctx, batch)
}

// untouched checks that no batch given was written to afterwards.
func (h *handRecorder) untouched(t *testing.T) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, b := range h.handed {
		require.Equal(t, h.then[i], b[:cap(b)], "batch %d was written to after it was given", i)
	}
}

// lines returns n records of distinct series, one sample each.
func lines(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "up,host=h%d value=%d %d\n", i, i, t0.UnixNano())
	}
	return b.String()
}

// requireEach checks that got holds the n samples of lines(n), in order.
func requireEach(t *testing.T, got []stream.Sample, n int) {
	t.Helper()
	require.Equal(t, n, len(got), "samples")
	for i, s := range got {
		require.Equal(t, fmt.Sprintf("h%d", i), s.Labels.Get("host"))
		require.Equal(t, float64(i), s.Value)
	}
}

// An HTTP write gives its batches away to a runtime that takes them over,
// instead of having them copied, and never touches one again: every
// sample arrives once, in order, through Hand.
func TestHTTPHandsItsBatchesOver(t *testing.T) {
	rt := &handRecorder{recorder: newRecorder()}
	h := input.NewHTTP(rt, input.HTTPOptions{Options: input.Options{MaxBatch: 16}})
	for range 3 {
		w := post(h, "/api/v2/write", lines(100))
		require.Equal(t, http.StatusNoContent, w.Code, w.Body.String())
	}
	got := rt.got()
	for i := range 3 {
		requireEach(t, got[100*i:100*(i+1)], 100)
	}
	require.Len(t, rt.handed, 3*7, "batches of 16 and one of 4 a write, all given")
	rt.untouched(t)
	require.Equal(t, 300.0, value(t, h, "faultline_input_samples_total", "input", "http"))
}

// A stream hands its samples over before each read, from inside the
// decoder, which still appends to the batch: those are copied (Ingest).
// Batches handed over between records are given away. Either way every
// sample arrives once, in order, and no batch given is touched again.
func TestReaderHandsOverOnlyWholeBatches(t *testing.T) {
	rt := &handRecorder{recorder: newRecorder()}
	r := input.NewReader(rt, input.Options{MaxBatch: 16})
	require.NoError(t, r.Run(context.Background(), &chunks{r: strings.NewReader(lines(1000)), n: 2000}))
	requireEach(t, rt.got(), 1000)
	require.NotEmpty(t, rt.handed, "given away")
	require.Greater(t, rt.calls, len(rt.handed), "copied")
	rt.untouched(t)
}

// chunks reads at most n bytes at a time from r.
type chunks struct {
	r io.Reader
	n int
}

func (c *chunks) Read(p []byte) (int, error) { return c.r.Read(p[:min(len(p), c.n)]) }
