package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/faultline-go/faultline/dedup"
	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/rules"
	"github.com/faultline-go/faultline/stream"
)

// A shard is a goroutine that owns one engine and feeds it its queue, in
// order. After each call it hands the events the call emitted, with the
// engine's clock, to the merger.
type shard struct {
	id     int
	eng    *fault.Engine
	queue  chan work
	tick   chan int64      // the latest tick's time; a newer replaces an older
	out    chan<- shardOut // to the merger
	events []fault.Event   // emitted by the call in progress
	pool   *sync.Pool      // of batches
	log    *slog.Logger

	applied uint64                    // the reload the engine runs (its gen); the shard's goroutine only
	pending atomic.Pointer[reloadReq] // a reload that found the queue full

	dedup     atomic.Pointer[dedup.Stats] // the deduper's, taken on the shard's goroutine
	dedupNext int64                       // engine time of the next dedup stats

	batches  atomic.Uint64 // batches processed
	overload atomic.Uint64 // calls that returned an OverloadError
	failures atomic.Uint64 // calls that returned another error
}

// workKind says what a work item asks of a shard.
type workKind uint8

const (
	workBatch workKind = iota
	workSkip
	workReload
	workBadInput
	workPause // advance, snapshot, report, then wait for resume
	workFlush // hand the merger what the engine emitted outside a call
)

// work is one item of a shard's queue.
type work struct {
	kind     workKind
	batch    []stream.Sample
	from, to int64
	reload   *reloadReq
	input    string
	bad      *badQueue
	// A skip's downtime event (shard 0's only), handed on after the
	// skip's, for the span skipped; a restart's skip (Runtime.restore)
	// ends when Run started, which runStart holds once the shards run.
	report   func(from, to int64) *fault.Event
	runStart *atomic.Int64
	snapshot bool
	paused   chan<- pauseReply
	resume   <-chan struct{}
}

// reloadReq is a reload as the shards apply it: its rules, and its rank
// among the runtime's reloads, so that a shard never goes back to older
// rules.
type reloadReq struct {
	gen   uint64
	rules *rules.Ruleset
}

// pauseReply is a shard's answer to workPause: its engine's snapshot.
type pauseReply struct {
	shard int
	snap  []byte
	err   error
}

// shardOut is what a shard hands the merger after a call: the events the
// call emitted and the engine's clock after it.
type shardOut struct {
	shard  int
	events []fault.Event
	mark   int64
}

// sink is the engine's sink: it collects the call's events.
func (s *shard) Emit(_ context.Context, ev fault.Event) error {
	s.events = append(s.events, ev)
	return nil
}

// ticked replaces the shard's pending tick by a newer one. Only the ticker
// calls it.
func (s *shard) ticked(now int64) {
	select {
	case <-s.tick:
	default:
	}
	s.tick <- now
}

// run feeds the engine until stop is closed and the queue is empty. Queued
// work goes before ticks, so that a tick never moves the clock past data
// stamped before it, nor past a stall's skip queued before it: a tick
// taken when work came too (select picks either) first lets the queue
// run dry.
func (s *shard) run(ctx context.Context, stop <-chan struct{}) {
	for {
		select {
		case w := <-s.queue:
			s.do(ctx, w)
			continue
		default:
		}
		select {
		case w := <-s.queue:
			s.do(ctx, w)
		case now := <-s.tick:
			s.drain(ctx)
			s.catchUp(ctx)
			s.call(ctx, s.eng.Advance(ctx, now))
			s.dedupStats(now)
		case <-stop:
			s.drain(ctx)
			return
		}
	}
}

// drain does the work queued, until the queue is empty.
func (s *shard) drain(ctx context.Context) {
	for {
		select {
		case w := <-s.queue:
			s.do(ctx, w)
		default:
			return
		}
	}
}

func (s *shard) do(ctx context.Context, w work) {
	s.catchUp(ctx)
	switch w.kind {
	case workBatch:
		s.batches.Add(1)
		s.call(ctx, s.eng.Process(ctx, w.batch))
		putBatch(s.pool, w.batch)
	case workSkip:
		to := w.to
		if w.runStart != nil {
			if to = w.runStart.Load(); to <= w.from {
				s.call(ctx, nil) // no downtime: what the restore's reload emitted
				break
			}
		}
		err := s.eng.Skip(ctx, w.from, to)
		if w.report != nil {
			s.events = append(s.events, *w.report(w.from, to))
		}
		s.call(ctx, err)
	case workReload:
		s.reload(ctx, w.reload)
	case workBadInput:
		if n, errs := w.bad.take(w.input); n > 0 {
			s.eng.BadInputs(w.input, n, errs...)
		}
	case workFlush:
		s.call(ctx, nil)
	case workPause:
		s.call(ctx, s.eng.Advance(ctx, w.to))
		r := pauseReply{shard: s.id}
		if w.snapshot {
			r.snap, r.err = s.eng.AppendSnapshot(nil)
		}
		w.paused <- r
		<-w.resume
	}
}

// catchUp applies a reload that could not be queued.
func (s *shard) catchUp(ctx context.Context) {
	if p := s.pending.Load(); p != nil {
		s.reload(ctx, p)
	}
}

// reload applies r unless the engine runs r or a later reload already.
func (s *shard) reload(ctx context.Context, r *reloadReq) {
	if r.gen <= s.applied {
		return
	}
	s.applied = r.gen
	s.call(ctx, s.eng.Update(ctx, r.rules))
}

// call hands the events of the call just made to the merger, and counts
// its error. An overload is counted, not logged: it is the bound's doing,
// and the engine's Stats say what it refused.
func (s *shard) call(ctx context.Context, err error) {
	switch {
	case err == nil:
	case errors.Is(err, fault.ErrOverloaded):
		s.overload.Add(1)
	default:
		s.failures.Add(1)
		s.log.Warn("engine call failed", "shard", s.id, "err", err)
	}
	evs := s.events
	s.events = nil
	select {
	case s.out <- shardOut{shard: s.id, events: evs, mark: s.eng.Now()}:
	case <-ctx.Done():
	}
}

// dedupStatsEvery is how often a shard refreshes its deduper's stats,
// which walks the whole cache: often enough for a scrape, rare enough to
// cost nothing.
const dedupStatsEvery = int64(10e9)

// dedupStats refreshes the deduper's stats for AppendMetrics, at most
// every dedupStatsEvery of wall clock.
func (s *shard) dedupStats(now int64) {
	dd := s.eng.Deduper()
	if dd == nil || now < s.dedupNext {
		return
	}
	st := dd.Stats()
	s.dedup.Store(&st)
	s.dedupNext = now + dedupStatsEvery
}
