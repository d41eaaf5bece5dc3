package fault

import (
	"context"
	"fmt"
	"math"
)

// Skip tells the engine that its host was down, receiving nothing, from
// from to to (Unix ns): a collector restarting from a checkpoint, or a
// runtime that stalled. The engine judges what fell due up to from as
// usual; then it skips the slots whose on-time deadline falls in [from,
// to), unjudged, since their samples were never offered to it (the
// host's fault, not the sources'), and moves its clock to to. Silence is
// timed afresh from to: a series that sends nothing after to goes absent
// its absence threshold after to, whether it fell silent before from or
// during the downtime (nobody can tell which). Absences already open stay
// open. The downtime does not count towards SeriesTTL either: no series
// is evicted for it; nor are its minutes judged by the duplicate storm and
// ingest lag detectors: an open storm stays open. Stats.SlotsSkipped
// counts the slots skipped.
//
// Skip emits nothing about the downtime itself: the host reports it once,
// however many engines it runs (see package pipeline). Its errors are
// those of Advance; a from earlier than the engine's clock is taken as the
// clock, and a to not after from changes nothing but that.
func (e *Engine) Skip(ctx context.Context, from, to int64) error {
	if e.closed {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	e.advance(ctx, from)
	if e.started && to > e.now {
		e.skip(to)
		e.advance(ctx, to)
	}
	return e.end(ctx)
}

// skip moves every series' judgments past the slots whose on-time deadline
// falls before to, starts its silence timer at to, and reschedules it; the
// wheel resumes at to. Every series' last delivery moves on by the
// downtime, so that its eviction (evict.go) does not count it, and the
// per-source detectors do not judge its minutes.
func (e *Engine) skip(to int64) {
	e.src.Skip(to)
	down := (uint64(to) - uint64(e.now)) / uint64(seenUnit) // to > e.now
	for i := range e.st.trackers {
		idx := uint32(i)
		t := &e.st.trackers[i]
		if e.free(idx) {
			continue
		}
		s := &e.st.series[i]
		s.seen = uint32(min(uint64(s.seen)+down, math.MaxUint32))
		if t.absent() {
			continue
		}
		if !t.lattice() {
			if l, ok := e.st.learning[idx]; ok {
				l.lastArrival = to
				e.st.learning[idx] = l
				e.schedule(idx, later(l.lastArrival, e.absentAfter(idx, t)))
			}
			continue
		}
		k := t.nextK
		if d := later(t.rxExp(k), e.tau()); d < to {
			k += int32((to - d + t.cadence() - 1) / t.cadence())
		}
		e.stats.local.SlotsSkipped += uint64(k - t.nextK)
		t.nextK, t.lateK = k, k
		t.recv, t.onTime, t.missRun = 0, 0, 0
		e.scheduleNext(idx, t)
	}
	e.st.wheel.next = max(e.st.wheel.next, e.st.wheel.tickOf(to))
	e.disarm()
}

// errSnapshotClosed is the error of a snapshot of a closed engine.
var errSnapshotClosed = fmt.Errorf("%w: a snapshot after Close would restore an engine that takes no input: "+
	"take it before Close, or do not Close a live engine at shutdown (see the package doc)", ErrClosed)
