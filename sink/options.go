package sink

import (
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/faultline-go/faultline/clock"
	"github.com/faultline-go/faultline/metrics"
)

// Errors returned by the sinks.
var (
	// ErrClosed is returned by Emit and Start after Close.
	ErrClosed = errors.New("sink: closed")
	// ErrQueueFull is returned by Emit when the queue was full: the oldest
	// queued event was dropped to make room for this one.
	ErrQueueFull = errors.New("sink: queue full, oldest event dropped")
	// ErrAlertsFull is returned by the Alertmanager sink's Emit when it
	// holds MaxAlerts alerts, none of them resolved: the alert is dropped.
	ErrAlertsFull = errors.New("sink: alert table full, alert dropped")
	// ErrUndelivered is wrapped by Close's error when events were still
	// undelivered when its context ended.
	ErrUndelivered = errors.New("sink: events undelivered at close")
)

// Options configures a sink. A nil *Options, and every zero field, means
// the default.
type Options struct {
	// Name names the sink in its metrics (label sink) and logs. By default
	// "jsonl", "lineprotocol", "webhook" or "alertmanager".
	Name string
	// Clock is the clock for backoff, timeouts and re-sends. By default
	// clock.Real().
	Clock clock.Clock
	// Logger receives delivery failures. By default nothing is logged.
	Logger *slog.Logger
	// QueueSize bounds the events waiting for delivery (besides the batch
	// in flight). By default 10000.
	QueueSize int
	// MaxBatch bounds the events (alerts) delivered by one write or one
	// request. By default 100 (64 for Alertmanager, as Prometheus).
	MaxBatch int
	// Retry says how failed deliveries are retried.
	Retry Retry
	// Client sends the HTTP requests of the webhook and Alertmanager
	// sinks. By default a client without its own timeout (Timeout applies).
	Client *http.Client
	// Header is added to every HTTP request, e.g. Authorization.
	Header http.Header
	// Timeout bounds one HTTP request, measured on Clock. By default 10s;
	// negative means none.
	Timeout time.Duration
}

// Retry says how a failed delivery is retried: the n-th retry waits a
// random time between half of and all of Initial·2^(n-1), capped at Max.
type Retry struct {
	// Initial is the base delay of the first retry. By default 500ms.
	Initial time.Duration
	// Max caps the delay, and a Retry-After answer. By default 30s; the
	// Alertmanager sink caps it at its ResendInterval.
	Max time.Duration
	// MaxAttempts bounds the attempts of one batch; when they are spent,
	// the batch is dropped (reason "retries_exhausted"). By default 0: a
	// batch is retried until it is delivered or Close's context ends.
	MaxAttempts int
	// Rand returns the jitter, a number in [0, 1). By default
	// math/rand/v2.Float64; tests pass a fixed one.
	Rand func() float64
}

// delay returns how long to wait before retry n (from 1), at least
// retryAfter but never more than Max.
func (r *Retry) delay(n int, retryAfter time.Duration) time.Duration {
	d := r.Initial
	for i := 1; i < n && d < r.Max; i++ {
		d *= 2
	}
	d = min(d, r.Max)
	d = d/2 + time.Duration(r.Rand()*float64(d/2))
	return min(max(d, retryAfter), r.Max)
}

// withDefaults returns o with its zero fields set to their defaults.
func (o *Options) withDefaults(name string, batch int) Options {
	var r Options
	if o != nil {
		r = *o
	}
	if r.Name == "" {
		r.Name = name
	}
	if r.Clock == nil {
		r.Clock = clock.Real()
	}
	if r.Logger == nil {
		r.Logger = slog.New(slog.DiscardHandler)
	}
	if r.QueueSize <= 0 {
		r.QueueSize = 10000
	}
	if r.MaxBatch <= 0 {
		r.MaxBatch = batch
	}
	if r.Retry.Initial <= 0 {
		r.Retry.Initial = 500 * time.Millisecond
	}
	if r.Retry.Max <= 0 {
		r.Retry.Max = 30 * time.Second
	}
	r.Retry.Max = max(r.Retry.Max, r.Retry.Initial)
	if r.Retry.Rand == nil {
		r.Retry.Rand = rand.Float64
	}
	if r.Client == nil {
		r.Client = &http.Client{}
	}
	if r.Timeout == 0 {
		r.Timeout = 10 * time.Second
	}
	return r
}

// Reason says why an event (or an alert) was dropped.
type Reason uint8

// The reasons for dropping.
const (
	ReasonQueueFull        Reason = iota // the queue was full; the oldest event went
	ReasonRejected                       // the receiver refused it (HTTP 4xx other than 408, 429)
	ReasonRetriesExhausted               // Retry.MaxAttempts were spent
	ReasonClosed                         // Emit was called after Close
	ReasonUndelivered                    // still queued when Close's context ended
	ReasonUnencodable                    // it cannot be written in the sink's format
	ReasonAlertsFull                     // Alertmanager: MaxAlerts alerts held, none resolved
	ReasonExpired                        // Alertmanager: a resolution was never delivered in ResolvedRetention
	numReasons
)

var reasonNames = [numReasons]string{
	"queue_full", "rejected", "retries_exhausted", "closed", "undelivered",
	"unencodable", "alerts_full", "expired",
}

// String returns the reason as the label value of
// faultline_sink_dropped_total.
func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "unknown"
}

// Stats are a sink's counters, as its metrics report them.
type Stats struct {
	Events  uint64             // events given to Emit
	Queued  int                // events (alerts) waiting or in flight
	Sent    uint64             // events (alerts) delivered
	Retries uint64             // deliveries retried
	Dropped [numReasons]uint64 // events (alerts) dropped, indexed by Reason
}

// DroppedTotal returns the drops of every reason.
func (s *Stats) DroppedTotal() uint64 {
	var n uint64
	for _, d := range s.Dropped {
		n += d
	}
	return n
}

// appendMetrics appends s as metrics labelled sink=name.
func (s *Stats) appendMetrics(dst []metrics.Metric, name string) []metrics.Metric {
	dst = append(dst,
		metrics.C("faultline_sink_events_total", "Events given to the sink.", s.Events).With("sink", name),
		metrics.G("faultline_sink_queued", "Events (alerts) waiting for delivery or in flight.", float64(s.Queued)).With("sink", name),
		metrics.C("faultline_sink_sent_total", "Events (alerts) delivered.", s.Sent).With("sink", name),
		metrics.C("faultline_sink_retries_total", "Deliveries retried.", s.Retries).With("sink", name),
	)
	for r := range numReasons {
		dst = append(dst, metrics.C("faultline_sink_dropped_total", "Events (alerts) dropped, by reason.", s.Dropped[r]).
			With("sink", name).With("reason", r.String()))
	}
	return dst
}
