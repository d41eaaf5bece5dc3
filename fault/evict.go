package fault

import (
	"math"
	"slices"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/faultline-go/faultline/internal/frame"
	"github.com/faultline-go/faultline/internal/seriesgap"
)

// Eviction of long-silent series.
//
// Series come and go (pods, devices, short-lived jobs); without eviction
// the engine would fill Config.MaxSeries with the dead and then reject
// every new series. A series of which nothing was delivered for
// Config.SeriesTTL of engine time is forgotten: its slot, its tracker and
// every side table entry are freed, and the slot is reused by the next new
// series.
//
// Any delivery counts, not only fresh samples: a series whose source
// clock froze, so that it delivers copies of its last sample only, is
// still sent and is not evicted. Its slots are missing all the same (a
// copy fills no new slot), so its absence fires, and stays firing while
// the copies come, rather than resolving as evicted and firing again for
// a new series at the next copy. Once nothing comes, it is evicted a TTL
// after the last copy.
//
// The time of a series' last delivery is kept in whole seconds in a
// uint32, whose range ends in 2106 (seenEnd). Engine time past it does not
// count: a series not expired by then never is. Eviction stops there,
// rather than evicting every series at each sweep.
//
// The sweep is incremental: every sweepEvery (1 s) of engine time it
// looks at the next few slots, round the series array, as many as make a
// full pass take SeriesTTL/8: its cost is n·8/SeriesTTL slots a second
// (about 390 at 4,194,304 series and the default 24 h), negligible per
// sample, and a series is forgotten between SeriesTTL and 9/8 SeriesTTL
// after its last delivery. When MaxSeries is reached, a new series first
// looks at up to sweepSlots slots for one past SeriesTTL and takes its
// place; only if there is none is it rejected.
//
// Open episodes of an evicted series are closed, each with a resolved
// event annotated reason="evicted" (EvictedReason), at the sweep's time:
// an absence that still fires, a rule alert shown pending or firing (and
// its flapping), a series periodic gap, and the episode of a cohort left
// with no series (see Cohort rules). Downstream (Alertmanager, an
// incident tool) an episode left open would stay open for ever, since
// nothing will ever resolve it; the annotation tells an SRE it ended
// because faultline stopped watching the series, not because it came
// back. A series that comes back after eviction is a new series: it
// learns its cadence again, and its rules start from no state.
//
// Memory. Slots are reused; the key arena and the per-series rule lists
// (rule indices, cohort memberships, histories) of evicted series are
// reclaimed by a compaction once as many series have been evicted since
// the last one as are live (at least compactMin), so the cost is
// amortised and memory stays within twice the live series' needs.
// Restore rebuilds all of them compactly.
type evictState struct {
	free   []uint32 // free slots, reused last in first out
	cursor uint32   // the next slot the sweep looks at
	next   int64    // the next sweep, engine time
	dead   int      // series evicted since the last compaction (derived: 0 after Restore)
	rescan int      // ticks to sweep before skipping again (derived: 0 after Restore)
}

const (
	// DefaultSeriesTTL is Config.SeriesTTL's default: longer than any
	// absence threshold worth having, so that every absence fires first.
	DefaultSeriesTTL = 24 * time.Hour
	// EvictedReason is the value of the annotation "reason" on the
	// resolved events that close the open episodes of an evicted series.
	EvictedReason = "evicted"
	// sweepEvery is the sweep's tick, in engine time.
	sweepEvery = int64(time.Second)
	// sweepPasses is how many full passes of the sweep a TTL holds.
	sweepPasses = 8
	// sweepSlots is how many slots a new series looks at for one to
	// evict when MaxSeries is reached.
	sweepSlots = 1024
	// compactMin is the fewest evicted series that trigger a compaction.
	compactMin = 4096
	// seenUnit is the resolution of series.seen: seconds.
	seenUnit = int64(time.Second)
	// seenEnd is the end of series.seen's range, 2106-02-07T06:28:15Z:
	// engine time past it does not count towards eviction.
	seenEnd = math.MaxUint32 * seenUnit
)

// seenAt converts engine time to series.seen units: whole seconds since the
// Unix epoch, clamped to uint32 (until seenEnd).
func seenAt(now int64) uint32 {
	return uint32(min(max(now/seenUnit, 0), math.MaxUint32))
}

// ttl returns the series TTL in ns, or 0 when series are never evicted.
func (e *Engine) ttl() int64 {
	if e.cfg.SeriesTTL < 0 {
		return 0
	}
	return int64(e.cfg.SeriesTTL)
}

// live returns the number of series tracked.
func (e *Engine) live() int { return len(e.st.series) - len(e.st.evict.free) }

// free reports whether slot idx holds no series.
func (e *Engine) free(idx uint32) bool { return e.st.trackers[idx].flags&flagFree != 0 }

// expired reports whether the series in slot idx has had no delivery for
// the TTL at engine time now. Time past seenEnd does not count: there the
// series' last delivery, clamped, would seem a TTL old at every sweep.
func (e *Engine) expired(idx uint32, now int64) bool {
	ttl := e.ttl()
	return ttl > 0 && !e.free(idx) && atLeast(min(now, seenEnd), int64(e.st.series[idx].seen)*seenUnit, ttl)
}

// sweepDue runs the sweep ticks due by engine time now. It does nothing
// while closing: the end of input is not time passing.
//
// Ticks in which no series can expire only move the cursor, so across a
// clock jump they are skipped in one step, with the cursor moved as they
// would have moved it: the result is the same however the clock gets
// there (one Advance or many), and a jump costs one scan of the series
// instead of a tick per second.
func (e *Engine) sweepDue(now int64) {
	if e.closed || e.ttl() == 0 {
		return
	}
	for e.st.evict.next <= now {
		due := (uint64(now)-uint64(e.st.evict.next))/uint64(sweepEvery) + 1
		if due > 1 && e.st.evict.rescan == 0 {
			skip := due
			if e.live() > 0 {
				skip = 0
				if m := e.firstExpiry(); m > e.st.evict.next {
					skip = min((uint64(m)-uint64(e.st.evict.next)+uint64(sweepEvery)-1)/uint64(sweepEvery), due)
				}
			}
			if skip == 0 {
				// Some series are expiring: sweep a full pass tick by
				// tick before looking again.
				e.st.evict.rescan = (len(e.st.series) + e.sweepN() - 1) / e.sweepN()
			} else {
				e.skipTicks(skip)
				continue
			}
		}
		e.sweep(e.st.evict.next, e.sweepN())
		if e.st.evict.rescan > 0 {
			e.st.evict.rescan--
		}
		if e.st.evict.next > math.MaxInt64-sweepEvery {
			return
		}
		e.st.evict.next += sweepEvery
	}
}

// sweepN returns how many slots a sweep tick looks at: enough for a full
// pass over the series every SeriesTTL/sweepPasses, at least one, at most
// all.
func (e *Engine) sweepN() int {
	n := int64(len(e.st.series))
	ticks := max(e.ttl()/(sweepPasses*sweepEvery), 1)
	return int(min(max((n+ticks-1)/ticks, 1), n))
}

// skipTicks moves the sweep k ticks on without looking at any series, as k
// ticks in which none expires would.
func (e *Engine) skipTicks(k uint64) {
	if n := uint64(len(e.st.series)); n > 0 {
		step := uint64(e.sweepN())
		e.st.evict.cursor = uint32((uint64(e.st.evict.cursor) + k%n*step) % n)
	}
	if k > uint64(math.MaxInt64-e.st.evict.next)/uint64(sweepEvery) {
		e.st.evict.next = math.MaxInt64
		return
	}
	e.st.evict.next += int64(k) * sweepEvery
}

// firstExpiry returns when the first live series expires, math.MaxInt64
// if past seenEnd (never: see expired).
func (e *Engine) firstExpiry() int64 {
	first := uint32(math.MaxUint32)
	for i := range e.st.series {
		if !e.free(uint32(i)) {
			first = min(first, e.st.series[i].seen)
		}
	}
	at := int64(first) * seenUnit
	if e.ttl() > seenEnd-at {
		return math.MaxInt64
	}
	return at + e.ttl()
}

// sweep looks at up to n slots from the cursor on and evicts the series past
// their TTL at engine time at.
func (e *Engine) sweep(at int64, n int) {
	n = min(n, len(e.st.series))
	for range n {
		idx := e.nextCursor()
		if e.expired(idx, at) {
			e.evictSeries(idx, at)
		}
	}
	e.maybeCompact()
}

// nextCursor returns the slot at the sweep's cursor and moves the cursor
// on, wrapping at the end of the series.
func (e *Engine) nextCursor() uint32 {
	idx := e.st.evict.cursor
	if e.st.evict.cursor++; int(e.st.evict.cursor) >= len(e.st.series) {
		e.st.evict.cursor = 0
	}
	return idx
}

// evictOne makes room for a new series when MaxSeries is reached: it looks
// at up to sweepSlots slots from the sweep's cursor on and evicts the first
// series past its TTL. It reports whether it found one.
func (e *Engine) evictOne() bool {
	if e.ttl() == 0 || len(e.st.series) == 0 {
		return false
	}
	for range min(sweepSlots, len(e.st.series)) {
		idx := e.nextCursor()
		if e.expired(idx, e.now) {
			e.evictSeries(idx, e.now)
			return true
		}
	}
	return false
}

// newSlot returns the slot for a new series: a free one if there is one,
// else a new one at the end of the arrays.
func (e *Engine) newSlot() (idx uint32, reused bool) {
	if n := len(e.st.evict.free); n > 0 {
		idx = e.st.evict.free[n-1]
		e.st.evict.free = e.st.evict.free[:n-1]
		return idx, true
	}
	return uint32(len(e.st.series)), false
}

// evictSeries forgets the series in slot idx at engine time at: it closes
// its open episodes (resolved, reason="evicted"), clears every side table
// entry it has and frees its slot.
func (e *Engine) evictSeries(idx uint32, at int64) {
	s := &e.st.series[idx]
	t := &e.st.trackers[idx]
	if t.absent() {
		e.endAbsenceAt(idx, t, at, EvictedReason)
	}
	if t.gap.Open() {
		if tr, ok := e.gaps.Close(idx, &t.gap, &e.st.misses[idx], t.nextK, at); ok {
			e.emitSeriesGap(idx, tr, EvictedReason)
		}
	}
	if s.alerts > 0 {
		for _, ri := range e.al.ruleIdx[s.rulesOff : s.rulesOff+uint32(s.rulesN)] {
			key := alertKey{series: idx, rule: ri}
			st, ok := e.al.alerts[key]
			if !ok {
				continue
			}
			e.al.steps = st.Forget(e.al.steps[:0])
			for _, tr := range e.al.steps {
				e.emitAlert(idx, e.al.rules[ri], tr, at, at, math.NaN(), "", EvictedReason)
			}
			delete(e.al.alerts, key)
			e.stats.local.Alerts--
		}
	}

	e.st.wheel.unlink(idx)
	e.st.doneLearning(idx)
	delete(e.st.declared, idx)
	if s.hist != 0 {
		h := &e.al.hists[s.hist-1]
		e.al.histPoints -= len(h.pts)
		e.stats.local.HistoryPoints -= uint64(len(h.pts)) // wraps; the sum stays right
		e.stats.local.HistorySeries--
		*h = history{}
	}
	if len(e.al.coh.aux) > 0 {
		aux := e.al.coh.aux[s.rulesOff : s.rulesOff+uint32(s.rulesN)]
		for _, m := range aux {
			if m != 0 {
				e.leaveCohort(&e.al.coh.members[m-1], at)
			}
		}
		clear(aux)
	}
	e.st.index.del(s.id)
	*s = series{}
	*t = tracker{flags: flagFree}
	e.st.misses[idx] = seriesgap.Misses{}
	e.st.evict.free = append(e.st.evict.free, idx)
	e.st.evict.dead++
	e.stats.local.Series--
	e.stats.local.SeriesEvicted++
}

// maybeCompact compacts the key arena and the per-series rule lists once
// enough series have been evicted since the last compaction.
func (e *Engine) maybeCompact() {
	if e.st.evict.dead < max(compactMin, e.live()) {
		return
	}
	e.compact()
}

// compact rebuilds the key arena and the per-series rule lists (rule
// indices and their cohort memberships, histories) from the live series, in
// slot order, dropping what evicted series left behind.
func (e *Engine) compact() {
	e.st.evict.dead = 0
	var keys keyArena
	ruleIdx := make([]uint32, 0, len(e.al.ruleIdx))
	var aux []uint32
	var members []cohortMember
	if len(e.al.coh.rules) > 0 {
		aux = make([]uint32, 0, len(e.al.coh.aux))
		members = make([]cohortMember, 0, len(e.al.coh.members))
	}
	hists := make([]history, 0, len(e.al.hists))
	for i := range e.st.series {
		if e.free(uint32(i)) {
			continue
		}
		s := &e.st.series[i]
		name, labels := e.st.keys.get(s.key)
		s.key = keys.put(name, labels)
		off := uint32(len(ruleIdx))
		ruleIdx = append(ruleIdx, e.al.ruleIdx[s.rulesOff:s.rulesOff+uint32(s.rulesN)]...)
		if aux != nil {
			for _, m := range e.al.coh.aux[s.rulesOff : s.rulesOff+uint32(s.rulesN)] {
				if m != 0 {
					members = append(members, e.al.coh.members[m-1])
					m = uint32(len(members))
				}
				aux = append(aux, m)
			}
		}
		s.rulesOff = off
		if s.hist != 0 {
			hists = append(hists, e.al.hists[s.hist-1])
			s.hist = uint32(len(hists))
		}
	}
	e.st.keys, e.al.ruleIdx, e.al.hists = keys, slices.Clip(ruleIdx), hists
	if aux != nil {
		e.al.coh.aux, e.al.coh.members = aux, members
	}
}

// appendCohortKeys appends each cohort rule's cohorts' keys and labels, in
// the order of their indices: Restore creates the cohorts
// in this order before the series join them, since series evicted or
// reused have made the order the series come in another.
func (e *Engine) appendCohortKeys(w *frame.Writer) {
	for i := range e.al.coh.rules {
		cr := &e.al.coh.rules[i]
		keys := make([]string, len(cr.cohorts))
		for k, ci := range cr.keys {
			keys[ci] = k
		}
		w.Uv(uint64(len(keys)))
		for ci, k := range keys {
			w.Str(k)
			putLabels(w, cr.cohorts[ci].labels)
		}
	}
}

func (e *Engine) readCohortKeys(r *frame.Reader) {
	for i := range e.al.coh.rules {
		cr := &e.al.coh.rules[i]
		n := r.Count(2)
		if n > e.cfg.MaxCohorts {
			r.Fail("cohort rule %d: %d cohorts", i, n)
			return
		}
		for range n {
			k := r.Str()
			ls := readLabels(r)
			if r.Err() != nil {
				return
			}
			if _, dup := cr.keys[k]; dup {
				r.Fail("cohort rule %d: cohort %q twice", i, k)
				return
			}
			cr.keys[k] = uint32(len(cr.cohorts))
			cr.cohorts = append(cr.cohorts, cohort{labels: ls, id: xxhash.Sum64String(k)})
		}
	}
}

// appendEvict appends the eviction state: the sweep's cursor and next
// tick, the free slots in order, and the cohorts' keys.
func (e *Engine) appendEvict(w *frame.Writer) {
	w.U32(e.st.evict.cursor)
	w.I64(e.st.evict.next)
	w.Uv(uint64(len(e.st.evict.free)))
	for _, idx := range e.st.evict.free {
		w.U32(idx)
	}
	e.appendCohortKeys(w)
}

// readEvict reads what appendEvict wrote; readSeries checks the free
// slots against the series count.
func (e *Engine) readEvict(r *frame.Reader) {
	e.st.evict.cursor = r.U32()
	e.st.evict.next = r.I64()
	n := r.Count(4)
	if n > maxSeriesLimit {
		r.Fail("%d free slots", n)
		return
	}
	e.st.evict.free = make([]uint32, 0, n)
	for range n {
		e.st.evict.free = append(e.st.evict.free, r.U32())
	}
	e.readCohortKeys(r)
}
