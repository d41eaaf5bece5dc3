package fault

import (
	"github.com/faultline-go/faultline/internal/episode"
	"github.com/faultline-go/faultline/internal/fleetgap"
)

// The periodic gap detectors, fleet-wide (package fleetgap) and per series
// (package seriesgap), and how the engine connects them: the slot
// judgments feed both, a fleet gap that fires confirms the per-series
// suspects it explains and inhibits the absences it explains, and the
// per-series and absence events link to the fleet gap's firing event.

// fleetFiringID is the ID of the firing event of the fleet gap episode
// that began at since: the events it explains carry it as InhibitedBy.
func fleetFiringID(since int64) string {
	id, _ := eventIDs(KindPeriodicGap, string(KindPeriodicGap), 0, since, StateFiring, false)
	return id
}

// advanceFleet moves the fleet detector's clock to now and emits its
// transitions: a fleet gap that fires confirms the per-series suspects it
// explains; one that resolves re-fires, uninhibited, the absences of the
// series still silent. A periodic delivery loss explains nothing: no
// sample was lost.
func (e *Engine) advanceFleet(now int64) {
	for _, tr := range e.fleet.Advance(now, e.closed, e.horizon, e.census) {
		e.emitTransition(tr, e.withOrigin(nil), 0, "", "")
		if tr.Kind != episode.PeriodicGap {
			continue
		}
		switch tr.State {
		case episode.Firing:
			e.stats.local.FleetGaps++
			if ep := e.fleet.Open(tr.Subject); ep != nil {
				for _, st := range e.gaps.FleetConfirmed(ep, e.st.trackers) {
					e.emitSeriesGap(st.Subject, st, "")
				}
			}
		case episode.Resolved:
			e.uninhibit(tr.Subject, tr.At)
		}
	}
}

// copyDelivered feeds a redundant copy (a duplicate or a conflict) of a
// sample of series idx, stamped ts and arriving at arrival, to the fleet
// detector's periodic delivery loss stage, when it is on time: its slot was
// filled on time and the copy arrived by the slot's on-time deadline. It
// runs for every redelivery, on the series' tracker line, which the
// sample's first copy has just touched.
//
// Most copies are of the slot the lattice last moved to (anchorK), not
// judged yet (nextK ≤ anchorK ≤ nextK + 1, within the lead, which is at
// least 1): that case is decided here in a few instructions, without a
// call; every other one by copyElsewhere.
func (e *Engine) copyDelivered(idx uint32, ts, arrival int64) {
	t := &e.st.trackers[idx]
	c := t.cadence() // even (a multiple of cadenceUnit), so c/2 + c/2 = c
	if t.flags&flagLattice == 0 || uint64(ts-t.anchorTs+c/2) >= uint64(c) || t.anchorK < t.nextK || t.anchorK > t.nextK+1 {
		// (ts − anchorTs ∈ [−c/2, c/2) is ts's slot being anchorK, as in
		// slotOf; a difference that overflows is out of it both ways.)
		e.copyElsewhere(t, ts, arrival)
		return
	}
	if t.onTime&slotBit(t.anchorK) == 0 {
		return
	}
	if rx := t.rxExp(t.anchorK); arrival <= later(rx, e.tau()) {
		e.fleet.Copy(rx)
	}
}

// copyElsewhere is copyDelivered for any copy: of a slot other than
// anchorK, or of anchorK once judged.
func (e *Engine) copyElsewhere(t *tracker, ts, arrival int64) {
	if !t.lattice() {
		return
	}
	k := t.slotOf(ts)
	if k < int64(t.nextK) || k > int64(t.nextK)+e.lead(t) || t.onTime&slotBit(int32(k)) == 0 {
		return
	}
	if rx := t.rxExp(int32(k)); arrival <= later(rx, e.tau()) {
		e.fleet.Copy(rx)
	}
}

// seriesMiss feeds a real-time miss of slot k, expected at rx, to the
// series' periodic gap detector, and counts the series in the firing fleet
// gaps whose window holds the slot.
func (e *Engine) seriesMiss(idx uint32, t *tracker, k int32, rx int64) {
	for ep := range e.fleet.Firing {
		if ep.Covers(rx) && e.st.series[idx].gapMark != ep.Mark() {
			e.st.series[idx].gapMark = ep.Mark()
			ep.CountSeries()
		}
	}
	was := t.gap.Open()
	tr, ok := e.gaps.Miss(idx, &t.gap, &e.st.misses[idx], k, e.slotTime(idx, t, k), rx, t.cadence(), e.fleet)
	if !was && t.gap.Open() {
		e.stats.local.GapSuspects++
	}
	if ok {
		e.emitSeriesGap(idx, tr, "")
	}
}

// slotTime is the sample time slot k was due at, counted in cadences from
// the newest sample the series delivered: from the data alone, so that
// replicas whose lattices drifted apart by their arrivals' jitter agree on
// it, and on the IDs dated by it.
func (e *Engine) slotTime(idx uint32, t *tracker, k int32) int64 {
	last := e.st.series[idx].lastTs
	return later(last, (int64(k)-t.slotOf(last))*t.cadence())
}

// emitSeriesGap emits a transition of a series' periodic gap, linked to
// the fleet gap that explains it, if any.
func (e *Engine) emitSeriesGap(idx uint32, tr episode.Transition, reason string) {
	if tr.State == episode.Firing {
		e.stats.local.GapsConfirmed++
	}
	by := ""
	if tr.Linked {
		by = fleetFiringID(tr.By)
	}
	e.emitSeries(idx, tr, by, reason)
}

// missingIn counts, up to limit, the series that missed a slot expected
// inside the episode's window since it began: in their current run of
// misses, as their last lost slot if they are silent, or among their
// remembered misses. It is the fleet detector's census.
func (e *Engine) missingIn(ep *fleetgap.Episode, limit int) int {
	n := 0
	for i := range e.st.trackers {
		t := &e.st.trackers[i]
		if !t.lattice() {
			continue
		}
		in := func(k int32) bool { return ep.Holds(t.rxExp(k)) }
		hit := t.absent() && t.nextK > 0 && in(t.nextK-1)
		if hit || t.gap.Missed(&e.st.misses[i], t.nextK, t.absent(), in) {
			if n++; n >= limit {
				break
			}
		}
	}
	return n
}

// lattices is the series' trackers, which seriesgap reads through its
// Lattice interface.
type lattices []tracker

// Cadence returns the series' cadence, ns.
func (l lattices) Cadence(slot uint32) int64 { return l[slot].cadence() }

// NextK returns the series' next slot to judge on time.
func (l lattices) NextK(slot uint32) int32 { return l[slot].nextK }

// RxExp returns the expected arrival of the series' slot k.
func (l lattices) RxExp(slot uint32, k int32) int64 { return l[slot].rxExp(k) }
