package sink_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/clock"
	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/sink"
)

func TestJSONLinesWritesOneEventPerLineInOrder(t *testing.T) {
	var buf bytes.Buffer
	bw := bufio.NewWriterSize(&buf, 1<<20)
	s := sink.NewJSONLines(bw, &sink.Options{MaxBatch: 3})
	evs := events(7)
	for _, ev := range evs {
		require.NoError(t, s.Emit(context.Background(), ev))
	}
	require.NoError(t, s.Start())
	eventually(t, func() bool { return s.Stats().Sent == 7 }, "7 events written")
	// Each batch was flushed: the buffer holds them without our Flush.
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	require.Len(t, lines, 7)
	for i, l := range lines {
		require.Equal(t, string(evs[i].AppendJSON(nil)), l)
		require.True(t, json.Valid([]byte(l)))
	}
	require.NoError(t, s.Close(context.Background()))
	st := s.Stats()
	require.Equal(t, uint64(7), st.Events)
	require.Zero(t, st.DroppedTotal())
	require.Zero(t, st.Queued)
}

// flakyWriter fails its first writes after writing half of what it is
// given, so a retry must resume where the write stopped.
type flakyWriter struct {
	mu    sync.Mutex
	fails int
	buf   bytes.Buffer
}

func (w *flakyWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fails > 0 {
		w.fails--
		n := len(p) / 2
		w.buf.Write(p[:n])
		return n, errors.New("disk full")
	}
	return w.buf.Write(p)
}

func (w *flakyWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func TestJSONLinesRetriesAPartialWriteFromWhereItStopped(t *testing.T) {
	fc := clock.NewFake(t0)
	w := &flakyWriter{fails: 2}
	s := sink.NewJSONLines(w, &sink.Options{Clock: fc, Retry: sink.Retry{Initial: time.Second, Rand: func() float64 { return 0 }}})
	evs := events(3)
	for _, ev := range evs {
		require.NoError(t, s.Emit(context.Background(), ev))
	}
	require.NoError(t, s.Start())
	// Retry n waits half of Initial·2^(n-1) with Rand 0: 500ms, then 1s.
	for _, d := range []time.Duration{500 * time.Millisecond, time.Second} {
		waitTimers(t, fc, 1)
		fc.Advance(d - time.Nanosecond)
		require.Equal(t, 1, fc.Waiters(), "the backoff is not over")
		fc.Advance(time.Nanosecond)
	}
	eventually(t, func() bool { return s.Stats().Sent == 3 }, "3 events written")
	require.NoError(t, s.Close(context.Background()))
	var want strings.Builder
	for _, ev := range evs {
		want.Write(ev.AppendJSON(nil))
		want.WriteByte('\n')
	}
	require.Equal(t, want.String(), w.String(), "every line once and whole")
	require.Equal(t, uint64(2), s.Stats().Retries)
}

func TestCloseWithoutStartDelivers(t *testing.T) {
	var buf bytes.Buffer
	s := sink.NewJSONLines(&buf, nil)
	for _, ev := range events(3) {
		require.NoError(t, s.Emit(context.Background(), ev))
	}
	require.NoError(t, s.Close(context.Background()))
	require.Equal(t, 3, strings.Count(buf.String(), "\n"))
	require.ErrorIs(t, s.Start(), sink.ErrClosed)
}

func TestEmitAfterCloseIsCounted(t *testing.T) {
	var buf bytes.Buffer
	s := sink.NewJSONLines(&buf, nil)
	require.NoError(t, s.Start())
	require.NoError(t, s.Start(), "a second Start does nothing")
	require.NoError(t, s.Close(context.Background()))
	require.NoError(t, s.Close(context.Background()), "Close is idempotent")
	require.ErrorIs(t, s.Emit(context.Background(), events(1)[0]), sink.ErrClosed)
	st := s.Stats()
	require.Equal(t, uint64(1), st.Events)
	require.Equal(t, uint64(1), st.Dropped[sink.ReasonClosed])
	require.Empty(t, buf.String())
}

// stuckWriter fails every write.
type stuckWriter struct{}

func (stuckWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestCloseCountsWhatItCouldNotDeliver(t *testing.T) {
	fc := clock.NewFake(t0)
	s := sink.NewJSONLines(stuckWriter{}, &sink.Options{Clock: fc, MaxBatch: 2})
	for _, ev := range events(5) {
		require.NoError(t, s.Emit(context.Background(), ev))
	}
	require.NoError(t, s.Start())
	waitTimers(t, fc, 1) // the first batch failed and waits to be retried

	ctx, cancel := context.WithCancel(context.Background())
	closed := make(chan error, 1)
	go func() { closed <- s.Close(ctx) }()
	// Close keeps retrying within its context: the clock moves it on.
	fc.Advance(time.Minute)
	waitTimers(t, fc, 1)
	require.Equal(t, uint64(2), s.Stats().Retries, "Close retried")
	cancel()
	var err error
	select {
	case err = <-closed:
	case <-time.After(patience):
		t.Fatal("Close did not return after its context ended")
	}
	require.ErrorIs(t, err, sink.ErrUndelivered)
	require.ErrorIs(t, err, context.Canceled)
	require.Contains(t, err.Error(), `5 in sink "jsonl"`)
	st := s.Stats()
	require.Equal(t, uint64(5), st.Dropped[sink.ReasonUndelivered])
	require.Equal(t, st.Events, st.Sent+st.DroppedTotal()+uint64(st.Queued))
	require.Equal(t, err, s.Close(context.Background()), "a second Close returns the first one's result")
}

func TestMaxAttemptsDropsTheBatch(t *testing.T) {
	fc := clock.NewFake(t0)
	s := sink.NewJSONLines(stuckWriter{}, &sink.Options{Clock: fc, MaxBatch: 2, Retry: sink.Retry{MaxAttempts: 3}})
	for _, ev := range events(3) {
		require.NoError(t, s.Emit(context.Background(), ev))
	}
	require.NoError(t, s.Start())
	// Two batches, three attempts each: two backoffs each.
	for range 4 {
		waitTimers(t, fc, 1)
		fc.Advance(time.Minute)
	}
	eventually(t, func() bool { return s.Stats().Dropped[sink.ReasonRetriesExhausted] == 3 }, "both batches dropped")
	require.NoError(t, s.Close(context.Background()))
	st := s.Stats()
	require.Equal(t, uint64(4), st.Retries)
	require.Equal(t, st.Events, st.Sent+st.DroppedTotal())
}

func TestEmitNeverBlocksOnABlockedWriter(t *testing.T) {
	// The writer blocks until released; Emit must go on queuing and
	// dropping, without waiting for it.
	release := make(chan struct{})
	w := writerFunc(func(p []byte) (int, error) { <-release; return len(p), nil })
	s := sink.NewJSONLines(w, &sink.Options{QueueSize: 4, MaxBatch: 1})
	require.NoError(t, s.Start())
	var full int
	for _, ev := range events(50) {
		if errors.Is(s.Emit(context.Background(), ev), sink.ErrQueueFull) {
			full++
		}
	}
	st := s.Stats()
	require.Equal(t, uint64(full), st.Dropped[sink.ReasonQueueFull])
	require.GreaterOrEqual(t, full, 50-4-1, "at most the queue and one batch in flight are kept")
	close(release)
	require.NoError(t, s.Close(context.Background()))
	st = s.Stats()
	require.Equal(t, uint64(50), st.Events)
	require.Equal(t, st.Events, st.Sent+st.DroppedTotal())
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

var _ fault.Sink = (*sink.JSONLines)(nil)

// A batch dropped after a partial write (disk full, Retry.MaxAttempts
// spent) leaves part of a line behind; the next batch's first line must
// not be glued to it, or the event it carries is lost although counted as
// sent. The torn line is ended, a line of its own, unparsable, and its
// event counted as dropped.
func TestJSONLinesBatchAfterATornLineStartsOnALineOfItsOwn(t *testing.T) {
	w := &flakyWriter{fails: 1}
	s := sink.NewJSONLines(w, &sink.Options{MaxBatch: 1, Retry: sink.Retry{MaxAttempts: 1}})
	evs := events(2)
	for _, ev := range evs {
		require.NoError(t, s.Emit(context.Background(), ev))
	}
	require.NoError(t, s.Close(context.Background()))
	st := s.Stats()
	require.Equal(t, uint64(1), st.Dropped[sink.ReasonRetriesExhausted])
	require.Equal(t, uint64(1), st.Sent)
	lines := strings.Split(w.String(), "\n")
	require.Len(t, lines, 3, "%q", w.String())
	require.False(t, json.Valid([]byte(lines[0])), "the torn line")
	require.Equal(t, string(evs[1].AppendJSON(nil)), lines[1], "the line of the event sent")
	require.Empty(t, lines[2])
}

// A write that never returns (a stdout nobody reads) holds up Close only
// until Close's context ends: Close then returns, counting as undelivered
// the events of that write and those queued, and says which.
func TestJSONLinesCloseDoesNotWaitForABlockedWrite(t *testing.T) {
	entered, release := make(chan struct{}, 10), make(chan struct{})
	t.Cleanup(func() { close(release) })
	w := writerFunc(func(p []byte) (int, error) { entered <- struct{}{}; <-release; return len(p), nil })
	s := sink.NewJSONLines(w, &sink.Options{MaxBatch: 2})
	evs := events(3)
	require.NoError(t, s.Emit(context.Background(), evs[0]))
	require.NoError(t, s.Emit(context.Background(), evs[1]))
	require.NoError(t, s.Start())
	<-entered
	require.NoError(t, s.Emit(context.Background(), evs[2]))

	ctx, cancel := context.WithCancel(context.Background())
	closed := make(chan error, 1)
	go func() { closed <- s.Close(ctx) }()
	cancel()
	var err error
	select {
	case err = <-closed:
	case <-time.After(patience):
		t.Fatal("Close waited for a blocked write after its context ended")
	}
	require.ErrorIs(t, err, sink.ErrUndelivered)
	require.ErrorIs(t, err, context.Canceled)
	require.Contains(t, err.Error(), `3 in sink "jsonl", 2 of them in a write that has not returned`)
	st := s.Stats()
	require.Equal(t, uint64(3), st.Dropped[sink.ReasonUndelivered])
	require.Zero(t, st.Queued)
	require.Equal(t, st.Events, st.Sent+st.DroppedTotal())
}
