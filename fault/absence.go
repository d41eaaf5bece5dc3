package fault

import (
	"math"
	"slices"
)

// absence is an open absence episode, kept in a side table while the series
// is silent.
type absence struct {
	since       int64  // expected arrival of the first missing sample
	inhibitedBy uint32 // mark of the fleet gap episode that explains it, or 0
}

// startAbsence fires the series' absence: since is the expected arrival of
// its first missing sample, at the deadline that decided it. When an open
// fleet gap explains every missing slot, the absence is emitted inhibited by
// it, linked to its firing event. The series is not scheduled again until it
// delivers.
func (e *Engine) startAbsence(idx uint32, t *tracker, since, at int64) {
	t.flags |= flagAbsent
	e.wheel.unlink(idx)
	a := absence{since: since}
	var ep *gapEpisode
	if t.lattice() {
		ep = e.fleet.explainsRun(t)
	}
	var by string
	if ep != nil {
		a.inhibitedBy = ep.mark
		by = ep.firingID
	}
	// Recorded before the compaction below, which keeps only the series
	// whose absence the episode explains: this one included.
	e.absences[idx] = a
	if ep != nil {
		ep.inhibited = append(ep.inhibited, idx)
		ep.silent++
		ep.peakSilent = max(ep.peakSilent, ep.silent)
		if len(ep.inhibited) > 2*ep.silent+64 {
			e.compactInhibited(ep)
		}
		e.stats.local.AbsencesInhibited++
	}
	e.stats.local.Absences++
	e.emitSeries(idx, KindAbsence, ruleAbsence, StateFiring, at, since, math.NaN(), nil, by)
	e.noData(idx, since, at, by)
}

// endAbsence resolves the series' absence when it delivers again.
func (e *Engine) endAbsence(idx uint32, t *tracker) { e.endAbsenceAt(idx, t, e.now) }

// endAbsenceAt resolves the series' absence at engine time at.
func (e *Engine) endAbsenceAt(idx uint32, t *tracker, at int64) {
	t.flags &^= flagAbsent
	a := e.absences[idx]
	delete(e.absences, idx)
	var by string
	if a.inhibitedBy != 0 {
		if ep := e.fleet.episodeByMark(a.inhibitedBy); ep != nil {
			by = ep.firingID
			ep.silent--
		}
	}
	e.emitSeries(idx, KindAbsence, ruleAbsence, StateResolved, at, a.since, math.NaN(), nil, by)
}

// compactInhibited drops from an episode's list the series whose absence
// it no longer explains (they came back) and the repeats of a series that
// went silent more than once, so the list shrinks to the series still
// silent, in the order uninhibit fires them.
func (e *Engine) compactInhibited(ep *gapEpisode) {
	seen := make(map[uint32]bool, ep.silent)
	ep.inhibited = slices.DeleteFunc(ep.inhibited, func(idx uint32) bool {
		a, ok := e.absences[idx]
		if !ok || a.inhibitedBy != ep.mark || seen[idx] {
			return true
		}
		seen[idx] = true
		return false
	})
}

// uninhibit re-fires, uninhibited, the absences a fleet gap episode explained
// whose series are still silent when it resolves: they did not come back
// with the rest, so they are dead, whatever their phase.
func (e *Engine) uninhibit(ep *gapEpisode, at int64) {
	for _, idx := range ep.inhibited {
		a, ok := e.absences[idx]
		if !ok || a.inhibitedBy != ep.mark {
			continue
		}
		a.inhibitedBy = 0
		e.absences[idx] = a
		e.emitSeries(idx, KindAbsence, ruleAbsence, StateFiring, at, a.since, math.NaN(), nil, "")
	}
	ep.inhibited = nil
}
