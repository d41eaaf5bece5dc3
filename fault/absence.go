package fault

import (
	"math"
	"slices"

	"github.com/faultline-go/faultline/internal/episode"
	"github.com/faultline-go/faultline/internal/fleetgap"
)

// absence is an open absence episode, kept in a side table while the series
// is silent.
type absence struct {
	since       int64  // sample time of the series' last sample before its silence
	inhibitedBy uint32 // mark of the fleet gap episode that explains it, or 0
}

// startAbsence fires the series' absence at the deadline that decided it:
// since is the sample time of its last sample before the silence, which
// replicas and replays agree on whatever their arrivals. When an open
// fleet gap explains every missing slot, the absence is emitted inhibited by
// it, linked to its firing event. The series is not scheduled again until it
// delivers.
func (e *Engine) startAbsence(idx uint32, t *tracker, since, at int64) {
	t.flags |= flagAbsent
	e.st.wheel.unlink(idx)
	a := absence{since: since}
	var ep *fleetgap.Episode
	if t.lattice() && t.missRun > 0 {
		ep = e.fleet.Explains(t.rxExp(t.nextK-int32(t.missRun)), t.cadence(), int(t.missRun))
	}
	var by string
	if ep != nil {
		a.inhibitedBy = ep.Mark()
		by = fleetFiringID(ep.Since())
	}
	// Recorded before the compaction below, which keeps only the series
	// whose absence the episode explains: this one included.
	e.st.absences[idx] = a
	if ep != nil {
		ep.Park()
		list := append(e.st.inhibited[ep.Mark()], idx)
		if len(list) > 2*ep.Silent()+64 {
			list = e.compactInhibited(ep.Mark(), list)
		}
		e.st.inhibited[ep.Mark()] = list
		e.stats.local.AbsencesInhibited++
	}
	e.stats.local.Absences++
	e.emitSeries(idx, absenceTransition(episode.Firing, since, at), by, "")
	e.noData(idx, since, at, by)
}

// endAbsence resolves the series' absence when it delivers again.
func (e *Engine) endAbsence(idx uint32, t *tracker) { e.endAbsenceAt(idx, t, e.now, "") }

// endAbsenceAt resolves the series' absence at engine time at, for reason
// (none when the series came back).
func (e *Engine) endAbsenceAt(idx uint32, t *tracker, at int64, reason string) {
	t.flags &^= flagAbsent
	a := e.st.absences[idx]
	delete(e.st.absences, idx)
	var by string
	if a.inhibitedBy != 0 {
		if ep := e.fleet.Open(a.inhibitedBy); ep != nil {
			by = fleetFiringID(ep.Since())
			ep.Unpark()
		}
	}
	e.emitSeries(idx, absenceTransition(episode.Resolved, a.since, at), by, reason)
}

// compactInhibited drops from a fleet gap episode's list the series whose
// absence it no longer explains (they came back) and the repeats of a
// series that went silent more than once, so the list shrinks to the
// series still silent, in the order uninhibit fires them.
func (e *Engine) compactInhibited(mark uint32, list []uint32) []uint32 {
	seen := make(map[uint32]bool)
	return slices.DeleteFunc(list, func(idx uint32) bool {
		a, ok := e.st.absences[idx]
		if !ok || a.inhibitedBy != mark || seen[idx] {
			return true
		}
		seen[idx] = true
		return false
	})
}

// uninhibit re-fires, uninhibited, the absences a fleet gap episode explained
// whose series are still silent when it resolves: they did not come back
// with the rest, so they are dead, whatever their phase.
func (e *Engine) uninhibit(mark uint32, at int64) {
	for _, idx := range e.st.inhibited[mark] {
		a, ok := e.st.absences[idx]
		if !ok || a.inhibitedBy != mark {
			continue
		}
		a.inhibitedBy = 0
		e.st.absences[idx] = a
		e.emitRefire(idx, absenceTransition(episode.Firing, a.since, at))
	}
	delete(e.st.inhibited, mark)
}

// absenceTransition is a transition of a series' absence episode.
func absenceTransition(state episode.State, since, at int64) episode.Transition {
	return episode.Transition{Kind: episode.Absence, State: state, Since: since, At: at, Value: math.NaN()}
}
