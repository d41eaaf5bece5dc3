package sink

import (
	"context"
	"io"

	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/metrics"
)

// JSONLines writes events to an io.Writer (stdout, a file) as JSON Lines:
// one object per line, as Event.AppendJSON encodes it (the replay
// command's output format). Each batch is written with one Write call,
// then flushed if the writer has a Flush() error method (a bufio.Writer).
// A failed write is retried from where it stopped, so a line is never
// written twice in part; a batch dropped in the middle of a line
// (Retry.MaxAttempts spent) leaves that line torn, and the next batch
// begins with a newline, so that its own lines stay whole. A write cannot
// be canceled: one that blocks (a stdout nobody reads) holds up Close
// until Close's context ends, no longer. Close then returns without
// waiting for it and counts its events as undelivered, with the queued
// ones, and its error says how many were in the write; if the write
// returns later, nothing more is written and no count changes.
// A bufio.Writer keeps its first error and fails every later call: its
// retries cannot succeed, so give a writer that recovers (an *os.File)
// where write errors may pass.
type JSONLines struct {
	q *queue
}

var (
	_ fault.Sink     = (*JSONLines)(nil)
	_ metrics.Source = (*JSONLines)(nil)
)

// NewJSONLines returns a sink writing to w. Only its goroutine writes to w.
func NewJSONLines(w io.Writer, opts *Options) *JSONLines {
	o := opts.withDefaults("jsonl", 100)
	q := newQueue(o)
	q.encode = appendJSONLines
	q.send = writeTo(w)
	q.sendBlocks = true
	return &JSONLines{q}
}

// appendJSONLines appends evs to dst, one JSON object per line.
func appendJSONLines(dst []byte, evs []fault.Event, _ func(int, error)) []byte {
	for i := range evs {
		dst = evs[i].AppendJSON(dst)
		dst = append(dst, '\n')
	}
	return dst
}

// writeTo returns a send function writing bodies to w and flushing it.
func writeTo(w io.Writer) func(context.Context, []byte) (int, error) {
	f, _ := w.(interface{ Flush() error })
	return func(_ context.Context, body []byte) (int, error) {
		n, err := w.Write(body)
		if err == nil && f != nil {
			err = f.Flush()
		}
		return n, err
	}
}

// Emit queues ev. It never blocks; see the package doc for when it
// returns ErrQueueFull or ErrClosed. ctx is not used.
func (s *JSONLines) Emit(_ context.Context, ev fault.Event) error { return s.q.emit(ev) }

// Start starts delivery.
func (s *JSONLines) Start() error { return s.q.start() }

// Close delivers what is queued until ctx ends, then stops; see the package
// doc.
func (s *JSONLines) Close(ctx context.Context) error { return s.q.close(ctx) }

// Stats returns the sink's counters.
func (s *JSONLines) Stats() Stats { return s.q.stats() }

// AppendMetrics appends the sink's self-metrics.
func (s *JSONLines) AppendMetrics(dst []metrics.Metric) []metrics.Metric {
	return s.q.appendMetrics(dst)
}
