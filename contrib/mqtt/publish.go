package mqtt

import (
	"context"
	"fmt"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/metrics"
	"github.com/faultline-go/faultline/pipeline"
	"github.com/faultline-go/faultline/sink"
	"github.com/faultline-go/faultline/stream"
)

// Publisher publishes events over its Client's connection, as JSON
// (fault.Event.AppendJSON), never retained: an event of kind k to
// Publish.EventsTopic/k, bad_input events to Publish.ErrorsTopic. Every
// event carries OriginLabel, so that one that comes back as input is
// recognised (see the package doc).
//
// It follows package sink's conventions: Emit never blocks and queues the
// event (up to Publish.QueueSize; when full, the oldest is dropped and
// counted); a goroutine started by Start publishes up to
// Publish.MaxInflight events at a time, waits for the broker's
// acknowledgements (QoS 1), and publishes again, with backoff, what failed
// or was not acknowledged within Publish.Timeout, so delivery is at least
// once and consumers deduplicate by event id. While the client is not
// connected it waits. Close delivers what is queued until its context
// ends and counts the rest. Its metrics are package sink's, labelled
// sink="mqtt" and client; Events = Sent + Dropped + Queued.
type Publisher struct {
	c *Client
	o Publish

	mu       sync.Mutex
	sealed   bool
	started  bool
	ring     []fault.Event
	head, n  int
	inflight int
	st       sink.Stats

	wake      chan struct{} // an event is waiting (buffer 1)
	closing   chan struct{} // closed by Close
	closed    chan struct{} // closed when Close has finished
	done      chan struct{} // closed when the goroutine has returned
	cancel    context.CancelFunc
	closeOnce sync.Once
	closeErr  error
}

var (
	_ pipeline.Sink  = (*Publisher)(nil)
	_ metrics.Source = (*Publisher)(nil)
)

func newPublisher(c *Client) *Publisher {
	o := c.s.Publish
	return &Publisher{c: c, o: o, ring: make([]fault.Event, o.QueueSize),
		wake: make(chan struct{}, 1), closing: make(chan struct{}), closed: make(chan struct{}), done: make(chan struct{})}
}

// Emit queues ev. It never blocks: it returns sink.ErrQueueFull when the
// oldest queued event was dropped to make room, sink.ErrClosed after
// Close. ctx is not used.
func (p *Publisher) Emit(_ context.Context, ev fault.Event) error {
	p.mu.Lock()
	p.st.Events++
	if p.sealed {
		p.st.Dropped[sink.ReasonClosed]++
		p.mu.Unlock()
		return sink.ErrClosed
	}
	var err error
	if p.n == len(p.ring) {
		p.ring[p.head] = fault.Event{}
		p.head = (p.head + 1) % len(p.ring)
		p.n--
		p.st.Dropped[sink.ReasonQueueFull]++
		err = sink.ErrQueueFull
	}
	p.ring[(p.head+p.n)%len(p.ring)] = ev
	p.n++
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return err
}

// Start starts publishing. A second Start does nothing; Start after Close
// returns sink.ErrClosed.
func (p *Publisher) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sealed {
		return sink.ErrClosed
	}
	p.launch()
	return nil
}

// launch (with p.mu held) starts the goroutine once.
func (p *Publisher) launch() {
	if p.started {
		return
	}
	p.started = true
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go func() {
		defer close(p.done)
		p.loop(ctx)
	}()
}

func (p *Publisher) wasStarted() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.started
}

// Close stops accepting events, publishes what is queued until ctx ends,
// and stops. What is left is counted (reason "undelivered") and reported
// by an error wrapping sink.ErrUndelivered. Close is idempotent and safe
// without Start.
func (p *Publisher) Close(ctx context.Context) error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.sealed = true
		p.launch()
		p.mu.Unlock()
		stop := context.AfterFunc(ctx, p.cancel)
		close(p.closing)
		<-p.done
		stop()
		p.cancel()
		p.mu.Lock()
		left := p.n + p.inflight
		p.st.Dropped[sink.ReasonUndelivered] += uint64(left)
		clear(p.ring)
		p.n, p.inflight = 0, 0
		p.mu.Unlock()
		if left > 0 {
			cause := context.Cause(ctx)
			if cause == nil {
				cause = context.Canceled
			}
			p.closeErr = fmt.Errorf("%w: %d in sink %q: %w", sink.ErrUndelivered, left, "mqtt", cause)
		}
		close(p.closed)
	})
	return p.closeErr
}

// take moves up to MaxInflight events from the queue into batch.
func (p *Publisher) take(batch []fault.Event) []fault.Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := min(p.n, p.o.MaxInflight)
	for range k {
		batch = append(batch, p.ring[p.head])
		p.ring[p.head] = fault.Event{}
		p.head = (p.head + 1) % len(p.ring)
	}
	p.n -= k
	p.inflight = k
	return batch
}

// account settles n events of the batch in flight.
func (p *Publisher) account(n int, sent bool, r sink.Reason) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inflight -= n
	if sent {
		p.st.Sent += uint64(n)
	} else {
		p.st.Dropped[r] += uint64(n)
	}
}

func (p *Publisher) isClosing() bool {
	select {
	case <-p.closing:
		return true
	default:
		return false
	}
}

// loop publishes until the queue is empty after Close, or ctx ends.
func (p *Publisher) loop(ctx context.Context) {
	var batch []fault.Event
	var out []outgoing
	for {
		clear(batch)
		batch = p.take(batch[:0])
		if len(batch) == 0 {
			if p.isClosing() {
				return
			}
			select {
			case <-p.wake:
			case <-p.closing:
			case <-ctx.Done():
				return
			}
			continue
		}
		out = out[:0]
		for i := range batch {
			out = append(out, p.encode(&batch[i]))
		}
		if !p.deliver(ctx, out) {
			return
		}
	}
}

// isDone reports whether tok has completed.
func isDone(tok paho.Token) bool {
	select {
	case <-tok.Done():
		return true
	default:
		return false
	}
}

// outgoing is one event to publish.
type outgoing struct {
	topic   string
	payload []byte
	tok     paho.Token
}

// encode returns ev's topic and payload, with OriginLabel added if
// missing.
func (p *Publisher) encode(ev *fault.Event) outgoing {
	if ev.Labels.Get(fault.OriginLabel) == "" {
		ls := make(stream.Labels, 0, len(ev.Labels)+1)
		ls = append(ls, ev.Labels...)
		ls = append(ls, stream.Label{Name: fault.OriginLabel, Value: p.o.Instance})
		ls.Sort()
		ev.Labels = ls
	}
	topic := p.o.EventsTopic + "/" + string(ev.Kind)
	if ev.Kind == fault.KindBadInput {
		topic = p.o.ErrorsTopic
	}
	return outgoing{topic: topic, payload: ev.AppendJSON(nil)}
}

// deliver publishes the events until each is acknowledged, dropped after
// Retry.MaxAttempts, or ctx ends (false).
func (p *Publisher) deliver(ctx context.Context, out []outgoing) bool {
	qos := byte(1)
	if p.o.QoS0 {
		qos = 0
	}
	for attempt := 1; ; attempt++ {
		if !p.awaitConnection(ctx) {
			return false
		}
		for i := range out {
			out[i].tok = p.c.pc.Publish(out[i].topic, qos, false, out[i].payload)
		}
		failed := out[:0]
		var firstErr error
		t := p.c.s.Clock.NewTimer(p.o.Timeout)
		timedOut := false
		for i, o := range out {
			var err error
			if !timedOut {
				select {
				case <-o.tok.Done():
				case <-t.C():
					timedOut = true // the remaining publishes are judged at once
				case <-ctx.Done():
					t.Stop()
					// What the broker acknowledged is sent, whatever Close
					// then counts as undelivered: the judged ones not
					// failed, and those not judged yet that are done.
					acked := i - len(failed)
					for _, r := range out[i:] {
						if isDone(r.tok) && r.tok.Error() == nil {
							acked++
						}
					}
					p.account(acked, true, 0)
					return false
				}
			}
			select {
			case <-o.tok.Done():
				err = o.tok.Error()
			default:
				err = fmt.Errorf("no acknowledgement within %v", p.o.Timeout)
			}
			if err != nil {
				failed = append(failed, o)
				firstErr = err
			}
		}
		t.Stop()
		p.account(len(out)-len(failed), true, 0)
		if len(failed) == 0 {
			return true
		}
		out = failed
		if p.o.Retry.MaxAttempts > 0 && attempt >= p.o.Retry.MaxAttempts {
			p.c.s.Logger.Warn("mqtt: publishing failed, attempts spent", "events", len(out), "err", firstErr)
			p.account(len(out), false, sink.ReasonRetriesExhausted)
			return true
		}
		d := backoff(&p.o.Retry, attempt)
		p.c.s.Logger.Info("mqtt: publishing failed, retrying", "events", len(out), "in", d, "err", firstErr)
		p.mu.Lock()
		p.st.Retries++
		p.mu.Unlock()
		w := p.c.s.Clock.NewTimer(d)
		select {
		case <-w.C():
		case <-ctx.Done():
			w.Stop()
			return false
		}
	}
}

// awaitConnection waits until the client is connected; false if ctx ended
// first.
func (p *Publisher) awaitConnection(ctx context.Context) bool {
	for !p.c.ready() {
		t := p.c.s.Clock.NewTimer(min(p.c.s.Backoff.Initial, 100*time.Millisecond))
		select {
		case <-p.c.connWake:
		case <-t.C():
		case <-ctx.Done():
			t.Stop()
			return false
		}
		t.Stop()
	}
	return true
}

// Stats returns the publisher's counters, as package sink's sinks count.
func (p *Publisher) Stats() sink.Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.st
	s.Queued = p.n + p.inflight
	return s
}

// AppendMetrics appends the publisher's self-metrics: package sink's,
// labelled sink="mqtt" and client with the client's ClientID.
func (p *Publisher) AppendMetrics(dst []metrics.Metric) []metrics.Metric {
	s := p.Stats()
	id := p.c.s.ClientID
	dst = append(dst,
		metrics.C("faultline_sink_events_total", "Events given to the sink.", s.Events).With("sink", "mqtt").With("client", id),
		metrics.G("faultline_sink_queued", "Events (alerts) waiting for delivery or in flight.", float64(s.Queued)).With("sink", "mqtt").With("client", id),
		metrics.C("faultline_sink_sent_total", "Events (alerts) delivered.", s.Sent).With("sink", "mqtt").With("client", id),
		metrics.C("faultline_sink_retries_total", "Deliveries retried.", s.Retries).With("sink", "mqtt").With("client", id),
	)
	for r := range sink.Reason(len(s.Dropped)) {
		dst = append(dst, metrics.C("faultline_sink_dropped_total", "Events (alerts) dropped, by reason.", s.Dropped[r]).
			With("sink", "mqtt").With("client", id).With("reason", r.String()))
	}
	return dst
}
