package sink

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/metrics"
)

// runner owns a sink's delivery goroutine: it starts it once, and on close
// signals it to drain, bounds the drain by the close context, and waits.
type runner struct {
	mu        sync.Mutex
	started   bool
	stopped   bool
	wake      chan struct{} // an event is waiting (buffer 1: wake-ups coalesce)
	closing   chan struct{} // closed by close: drain, then return
	done      chan struct{} // closed when the goroutine has returned
	cancel    context.CancelFunc
	closeOnce sync.Once
	closeErr  error
	busy      bool // under mu: the goroutine is in a call that ignores its context

	// idle, when set (by tests), is called by the goroutine when it found
	// nothing to send, before it decides to return or wait.
	idle func()
}

func newRunner() runner {
	return runner{wake: make(chan struct{}, 1), closing: make(chan struct{}), done: make(chan struct{})}
}

// start starts run unless it runs already; ErrClosed after close.
func (r *runner) start(run func(ctx context.Context)) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return ErrClosed
	}
	r.launch(run)
	return nil
}

// launch (with r.mu held) starts run once.
func (r *runner) launch(run func(ctx context.Context)) {
	if r.started {
		return
	}
	r.started = true
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() {
		defer close(r.done)
		run(ctx)
	}()
}

// close seals the sink (Emit refuses from then on), starts run if Start was
// never called, lets it drain until ctx ends, waits for it and returns
// finish's verdict. Later calls return the first one's result.
//
// When ctx ends, a goroutine inside blocking (a Write that may never
// return: a stdout nobody reads) is not waited for: finish is told it is
// stuck, and must settle the sink so that the goroutine, if it ever comes
// back, changes nothing.
func (r *runner) close(ctx context.Context, run func(ctx context.Context), seal func(), finish func(ctx context.Context, stuck bool) error) error {
	r.closeOnce.Do(func() {
		seal()
		r.mu.Lock()
		r.stopped = true
		r.launch(run)
		r.mu.Unlock()
		stop := context.AfterFunc(ctx, r.cancel)
		close(r.closing)
		stuck := false
		select {
		case <-r.done:
		case <-ctx.Done():
			// Canceled here, not only by AfterFunc's goroutine: from
			// now on blocking starts nothing, so a goroutine not in it
			// returns without blocking.
			r.cancel()
			r.mu.Lock()
			stuck = r.busy
			r.mu.Unlock()
			if !stuck {
				<-r.done
			}
		}
		stop()
		r.cancel()
		r.closeErr = finish(ctx, stuck)
	})
	return r.closeErr
}

// blocking calls f, a call that ignores ctx (an io.Writer's Write), unless
// ctx (the goroutine's) has ended; false when it has. Close does not wait
// for a goroutine in f.
func (r *runner) blocking(ctx context.Context, f func()) bool {
	r.mu.Lock()
	if ctx.Err() != nil {
		r.mu.Unlock()
		return false
	}
	r.busy = true
	r.mu.Unlock()
	defer func() { r.mu.Lock(); r.busy = false; r.mu.Unlock() }()
	f()
	return true
}

// notify wakes the goroutine up.
func (r *runner) notify() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// serve is the delivery goroutine's loop. step delivers a batch: sent
// when there was one, !ok when ctx ended first. When there was none, serve
// returns after close, or else waits for an event, close, ctx's end or
// tick (nil: none), which it hands to onTick.
func (r *runner) serve(ctx context.Context, tick <-chan time.Time, onTick func(time.Time), step func() (sent, ok bool)) {
	for {
		// Close seals the sink before it signals: once closing is seen,
		// every event is queued, and an empty take means nothing is left.
		// Looked at after take, closing could hide an event emitted just
		// before it.
		closing := r.isClosing()
		sent, ok := step()
		if !ok {
			return
		}
		if sent {
			continue
		}
		if r.idle != nil {
			r.idle()
		}
		if closing {
			return
		}
		select {
		case <-r.wake:
		case now := <-tick:
			onTick(now)
		case <-r.closing:
		case <-ctx.Done():
			return
		}
	}
}

// isClosing reports whether close has been called.
func (r *runner) isClosing() bool {
	select {
	case <-r.closing:
		return true
	default:
		return false
	}
}

// undelivered returns Close's error for n events (alerts) left over, of
// which stuck are in a write that has not returned.
func undelivered(ctx context.Context, name string, n, stuck int) error {
	if n == 0 {
		return nil
	}
	cause := context.Cause(ctx)
	if cause == nil {
		cause = context.Canceled
	}
	if stuck > 0 {
		return fmt.Errorf("%w: %d in sink %q, %d of them in a write that has not returned: %w", ErrUndelivered, n, name, stuck, cause)
	}
	return fmt.Errorf("%w: %d in sink %q: %w", ErrUndelivered, n, name, cause)
}

// queue is the bounded event queue and the delivery loop shared by the
// JSON Lines, line protocol and webhook sinks. A sink supplies encode,
// which appends a batch to a body and reports the events it cannot
// encode, and send, which delivers a body.
type queue struct {
	o      Options
	encode func(dst []byte, evs []fault.Event, bad func(i int, err error)) []byte
	send   func(ctx context.Context, body []byte) (int, error)
	// sendBlocks says that send ignores its context (an io.Writer's
	// Write): Close does not wait for it.
	sendBlocks bool
	run        runner

	mu       sync.Mutex
	closed   bool
	ring     []fault.Event
	head, n  int
	inflight int // events taken by the delivery loop, not yet accounted for
	st       Stats
	settled  bool // Close has counted what was left: the loop, stuck in a write then, no longer counts

	batch []fault.Event // owned by the delivery loop
	bad   []int         // the batch's events that cannot be encoded; owned by the loop
	body  []byte        // owned by the delivery loop
	torn  bool          // a dropped batch left part of a line written; owned by the loop
}

func newQueue(o Options) *queue {
	return &queue{o: o, ring: make([]fault.Event, o.QueueSize), run: newRunner()}
}

// emit queues ev, dropping the oldest queued event when the queue is full.
func (q *queue) emit(ev fault.Event) error {
	q.mu.Lock()
	q.st.Events++
	if q.closed {
		q.st.Dropped[ReasonClosed]++
		q.mu.Unlock()
		return ErrClosed
	}
	var err error
	if q.n == len(q.ring) {
		q.ring[q.head] = fault.Event{}
		q.head = (q.head + 1) % len(q.ring)
		q.n--
		q.st.Dropped[ReasonQueueFull]++
		err = ErrQueueFull
	}
	q.ring[(q.head+q.n)%len(q.ring)] = ev
	q.n++
	q.mu.Unlock()
	q.run.notify()
	return err
}

// take moves up to MaxBatch events from the queue into q.batch.
func (q *queue) take() []fault.Event {
	q.mu.Lock()
	defer q.mu.Unlock()
	k := min(q.n, q.o.MaxBatch)
	q.batch = q.batch[:0]
	for range k {
		q.batch = append(q.batch, q.ring[q.head])
		q.ring[q.head] = fault.Event{}
		q.head = (q.head + 1) % len(q.ring)
	}
	q.n -= k
	q.inflight = k
	return q.batch
}

// account settles the batch in flight: n of its events were delivered or
// dropped for reason r.
func (q *queue) account(n int, delivered bool, r Reason) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.settled {
		return
	}
	q.inflight -= n
	if delivered {
		q.st.Sent += uint64(n)
	} else {
		q.st.Dropped[r] += uint64(n)
	}
}

// loop is the delivery goroutine: it delivers batches until the queue is
// empty after Close, or ctx ends.
func (q *queue) loop(ctx context.Context) {
	q.run.serve(ctx, nil, nil, func() (sent, ok bool) {
		batch := q.take()
		if len(batch) == 0 {
			return false, true
		}
		return true, q.deliver(ctx, batch)
	})
}

// deliver encodes and sends one batch; false when ctx ended first. A batch
// refused as too large (413) is split in halves, each delivered the same
// way; a single event refused so is dropped (reason "rejected").
func (q *queue) deliver(ctx context.Context, batch []fault.Event) bool {
	q.encodeBody(batch)
	if len(q.bad) > 0 {
		// The halves of a batch too large hold the events encoded, whose
		// drops are counted already. batch is q.batch, the loop's.
		good := batch[:0]
		for i, j := 0, 0; i < len(batch); i++ {
			if j < len(q.bad) && q.bad[j] == i {
				j++
				continue
			}
			good = append(good, batch[i])
		}
		batch = good
	}
	n := len(batch)
	if n == 0 {
		return true
	}
	return deliverHalving(0, n,
		func(lo, hi int) outcome {
			if lo != 0 || hi != n { // a half: the body holds the whole batch
				q.encodeBody(batch[lo:hi])
			}
			return q.sendBody(ctx)
		},
		func(lo, hi int, out outcome) {
			switch out {
			case delivered:
				q.account(hi-lo, true, 0)
			case rejected:
				q.account(hi-lo, false, ReasonRejected)
			case exhausted:
				q.account(hi-lo, false, ReasonRetriesExhausted)
			}
		},
		func(i int) {
			q.o.Logger.Warn("sink: event too large for the receiver (HTTP 413), dropped", "sink", q.o.Name, "id", batch[i].ID)
		})
}

// encodeBody encodes evs into q.body, after the newline that ends a torn
// line, and drops (counted, logged) the events it cannot encode, their
// indexes in q.bad.
func (q *queue) encodeBody(evs []fault.Event) {
	q.bad = q.bad[:0]
	q.body = q.body[:0]
	if q.torn {
		// End the torn line first: glued to it, this batch's first line
		// would be lost too.
		q.body = append(q.body, '\n')
	}
	q.body = q.encode(q.body, evs, func(i int, err error) {
		q.bad = append(q.bad, i)
		q.o.Logger.Warn("sink: event cannot be encoded, dropped", "sink", q.o.Name, "id", evs[i].ID, "err", err)
	})
	if len(q.bad) > 0 {
		q.account(len(q.bad), false, ReasonUnencodable)
	}
}

// sendBody sends q.body with retries, each retry resuming where the last
// write stopped, and notes whether it left a line torn.
func (q *queue) sendBody(ctx context.Context) outcome {
	off := 0
	out := deliverWithRetry(ctx, q.o.Clock, &q.o.Retry, q.o.Logger, q.o.Name,
		func(ctx context.Context) error {
			var k int
			var err error
			if !q.sendBlocks {
				k, err = q.send(ctx, q.body[off:])
			} else if !q.run.blocking(ctx, func() { k, err = q.send(ctx, q.body[off:]) }) {
				return ctx.Err()
			}
			off += k
			return err
		},
		func() { q.mu.Lock(); q.st.Retries++; q.mu.Unlock() })
	if off > 0 {
		q.torn = q.body[off-1] != '\n'
	}
	return out
}

// Start starts delivery.
func (q *queue) start() error { return q.run.start(q.loop) }

// Close stops accepting events, delivers the queue until ctx ends and
// counts what is left.
func (q *queue) close(ctx context.Context) error {
	return q.run.close(ctx, q.loop,
		func() { q.mu.Lock(); q.closed = true; q.mu.Unlock() },
		func(ctx context.Context, stuck bool) error {
			q.mu.Lock()
			left, inWrite := q.n+q.inflight, 0
			if stuck {
				inWrite = q.inflight
			}
			q.st.Dropped[ReasonUndelivered] += uint64(left)
			clear(q.ring)
			q.n, q.inflight = 0, 0
			q.settled = true
			q.mu.Unlock()
			return undelivered(ctx, q.o.Name, left, inWrite)
		})
}

// stats returns a copy of the counters.
func (q *queue) stats() Stats {
	q.mu.Lock()
	defer q.mu.Unlock()
	s := q.st
	s.Queued = q.n + q.inflight
	return s
}

func (q *queue) appendMetrics(dst []metrics.Metric) []metrics.Metric {
	s := q.stats()
	return s.appendMetrics(dst, q.o.Name)
}
