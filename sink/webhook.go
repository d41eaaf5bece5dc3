package sink

import (
	"context"

	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/metrics"
)

// Webhook POSTs events to a URL, batched: the body of each request is up
// to Options.MaxBatch events as JSON Lines (Event.AppendJSON, one per
// line), Content-Type application/x-ndjson. With MaxBatch 1 each body is
// a single JSON object and the Content-Type is application/json, for
// receivers that take one event per request.
//
// Any 2xx answer delivers the batch. Other answers and transport errors
// are retried as the package doc says; a batch the receiver rejects (4xx
// other than 408, 413 and 429) is dropped and counted, reason "rejected",
// and so is one redirected (301, 302, 303) to a GET, which does not carry
// it. A batch refused as too large (413) is sent again in halves, down to
// single events; an event refused alone is dropped (reason "rejected")
// and logged with its ID.
type Webhook struct {
	q *queue
}

var (
	_ fault.Sink     = (*Webhook)(nil)
	_ metrics.Source = (*Webhook)(nil)
)

// NewWebhook returns a sink POSTing to url.
func NewWebhook(url string, opts *Options) *Webhook {
	o := opts.withDefaults("webhook", 100)
	q := newQueue(o)
	p := &poster{url: url, contentType: "application/x-ndjson", client: o.Client, header: o.Header, timeout: o.Timeout, clk: o.Clock}
	if o.MaxBatch == 1 {
		p.contentType = "application/json"
	}
	q.encode = appendJSONLines
	q.send = func(ctx context.Context, body []byte) (int, error) {
		if err := p.post(ctx, body); err != nil {
			return 0, err
		}
		return len(body), nil
	}
	return &Webhook{q}
}

// Emit queues ev. It never blocks; see the package doc for when it
// returns ErrQueueFull or ErrClosed. ctx is not used.
func (s *Webhook) Emit(_ context.Context, ev fault.Event) error { return s.q.emit(ev) }

// Start starts delivery.
func (s *Webhook) Start() error { return s.q.start() }

// Close delivers what is queued until ctx ends, then stops; see the package
// doc.
func (s *Webhook) Close(ctx context.Context) error { return s.q.close(ctx) }

// Stats returns the sink's counters.
func (s *Webhook) Stats() Stats { return s.q.stats() }

// AppendMetrics appends the sink's self-metrics.
func (s *Webhook) AppendMetrics(dst []metrics.Metric) []metrics.Metric {
	return s.q.appendMetrics(dst)
}
