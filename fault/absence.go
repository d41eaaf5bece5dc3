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
	var by string
	if t.lattice() {
		if ep := e.fleet.explainsRun(t); ep != nil {
			a.inhibitedBy = ep.mark
			by = ep.firingID
			ep.inhibited = append(ep.inhibited, idx)
			ep.silent++
			ep.peakSilent = max(ep.peakSilent, ep.silent)
			if len(ep.inhibited) > 2*ep.silent+64 {
				e.compactInhibited(ep)
			}
			e.stats.local.AbsencesInhibited++
		}
	}
	e.absences[idx] = a
	e.stats.local.Absences++
	e.emitSeries(idx, KindAbsence, ruleAbsence, StateFiring, at, since, math.NaN(), nil, by)
}

// endAbsence resolves the series' absence when it delivers again.
func (e *Engine) endAbsence(idx uint32, t *tracker) {
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
	e.emitSeries(idx, KindAbsence, ruleAbsence, StateResolved, e.now, a.since, math.NaN(), nil, by)
}

// compactInhibited drops from an episode's list the series whose absence
// it no longer explains (they came back), so the list stays bounded by the
// series still silent.
func (e *Engine) compactInhibited(ep *gapEpisode) {
	ep.inhibited = slices.DeleteFunc(ep.inhibited, func(idx uint32) bool {
		a, ok := e.absences[idx]
		return !ok || a.inhibitedBy != ep.mark
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
