package fault

import (
	"math"

	"github.com/faultline-go/faultline/stream"
)

// arrive updates the arrival tracking of a series for one fresh sample.
func (e *Engine) arrive(idx uint32, s *series, smp *stream.Sample) {
	if s.absent() {
		e.endAbsence(idx, s)
		if s.lattice() {
			e.startLattice(idx, s, smp.Time, smp.Arrival)
			return
		}
		s.learnN = 0 // the silence says nothing about the cadence
	}
	if !s.lattice() {
		if s.declared() {
			e.startLattice(idx, s, smp.Time, smp.Arrival)
			return
		}
		// Learning the cadence: absence is timed from the last arrival.
		s.lastArrival = smp.Arrival
		e.schedule(idx, s, smp.Arrival+e.absentAfter(s))
		return
	}
	k64 := s.slotOf(smp.Time)
	if k64 < int64(s.lateK) {
		e.stats.local.AfterLateness++
		return
	}
	if k64 > int64(s.nextK)+maxAhead {
		// The series jumped ahead of its lattice: a clock step, or a
		// silence shorter than its absence threshold. Start again here.
		e.stats.local.Reanchors++
		e.startLattice(idx, s, smp.Time, smp.Arrival)
		return
	}
	k := int32(k64)
	bit := slotBit(k)
	if s.recv&bit != 0 {
		e.stats.local.SlotShared++
		return
	}
	s.recv |= bit
	if k >= s.nextK && smp.Arrival <= s.rxExp(k)+e.tau {
		s.onTime |= bit
		s.track(k, smp.Time, smp.Arrival, e.tau)
	}
}

func slotBit(k int32) uint64 { return 1 << (uint32(k) & (ringSlots - 1)) }

// learnCadence feeds a new highest sample time to a series still learning its
// cadence, and starts its lattice once the cadence is known.
func (e *Engine) learnCadence(idx uint32, s *series, smp *stream.Sample) {
	if c := s.learn(smp.Time); c > 0 {
		s.cadence = c
		e.startLattice(idx, s, smp.Time, smp.Arrival)
	}
}

// startLattice anchors the series' lattice on a sample, which fills slot 0
// on time, and schedules the first judgment.
func (e *Engine) startLattice(idx uint32, s *series, ts, arrival int64) {
	s.flags |= flagLattice
	s.anchor(ts, arrival)
	s.recv, s.onTime = 1, 1
	aa := e.absentAfter(s)
	s.absentSlots = int32(max((aa+s.cadence-1)/s.cadence, 1))
	e.scheduleNext(idx, s)
}

// absentAfter returns the series' absence threshold in ns.
func (e *Engine) absentAfter(s *series) int64 {
	if s.absentAfter > 0 {
		return s.absentAfter
	}
	if e.cfg.AbsentAfter > 0 {
		return int64(e.cfg.AbsentAfter)
	}
	c := s.cadence
	if c == 0 {
		c = int64(e.cfg.DefaultCadence)
	}
	return max(DefaultAbsentSlots*c, int64(DefaultMinAbsentAfter))
}

// lateness returns the series' lateness allowance: L, capped in slots.
func (e *Engine) lateness(s *series) int64 {
	return min(e.late, maxLateSlots*s.cadence)
}

// schedule sets the series' single live wake-up at deadline d.
func (e *Engine) schedule(idx uint32, s *series, d int64) {
	t := e.wheel.tickOf(d)
	if t == s.wakeTick {
		return
	}
	s.wakeTick = e.wheel.schedule(idx, t)
}

// scheduleNext schedules the series' next judgment, if any is left.
func (e *Engine) scheduleNext(idx uint32, s *series) {
	if d, ok := e.nextDeadline(s); ok {
		e.schedule(idx, s, d)
	} else {
		s.wakeTick = noWake
	}
}

// nextDeadline returns when the series' next judgment falls due: the
// lateness judgment of slot lateK or the on-time judgment of slot nextK,
// whichever comes first, and whether it is the lateness one. While closing,
// slots expected after the horizon are not judged at all.
func (e *Engine) nextDeadline(s *series) (d int64, ok bool) {
	d, _, ok = e.next(s)
	return d, ok
}

func (e *Engine) next(s *series) (d int64, late, ok bool) {
	dTau := s.rxExp(s.nextK) + e.tau
	tauOK := !e.closed || s.rxExp(s.nextK) <= e.horizon
	if s.lateK < s.nextK {
		dLate := s.rxExp(s.lateK) + e.lateness(s)
		if !tauOK || dLate <= dTau {
			return dLate, true, true
		}
	}
	return dTau, false, tauOK
}

// wake is the timing wheel's callback: it makes every judgment of the series
// that fell due by the tick's start, then schedules the next.
func (e *Engine) wake(idx uint32, tick int64) {
	s := &e.series[idx]
	if s.wakeTick != tick {
		return // stale entry: the series was rescheduled since
	}
	s.wakeTick = noWake
	if s.absent() {
		return
	}
	now := tick * wheelRes
	if !s.lattice() {
		d := s.lastArrival + e.absentAfter(s)
		switch {
		case e.closed && d > e.horizon:
		case d <= now:
			e.startAbsence(idx, s, s.lastArrival+int64(e.cfg.DefaultCadence), d)
		default:
			e.schedule(idx, s, d)
		}
		return
	}
	for {
		d, late, ok := e.next(s)
		if !ok || d > now {
			break
		}
		if !late {
			e.judgeOnTime(s)
			continue
		}
		if e.judgeLate(idx, s, d) {
			return // absent: not scheduled until it delivers
		}
	}
	e.scheduleNext(idx, s)
}

// judgeOnTime judges slot nextK at its real-time deadline.
func (e *Engine) judgeOnTime(s *series) {
	e.stats.local.SlotsExpected++
	if s.onTime&slotBit(s.nextK) == 0 {
		e.stats.local.SlotsMissed++
	}
	s.nextK++
}

// judgeLate judges slot lateK at its lateness deadline d: filled (on time or
// late) or lost. It reports whether this started an absence: enough lost
// slots in a row.
func (e *Engine) judgeLate(idx uint32, s *series, d int64) bool {
	bit := slotBit(s.lateK)
	switch {
	case s.onTime&bit != 0:
		s.lostRun = 0
	case s.recv&bit != 0:
		e.stats.local.SlotsLate++
		s.lostRun = 0
	default:
		e.stats.local.SlotsLost++
		s.lostRun++
	}
	s.recv &^= bit
	s.onTime &^= bit
	s.lateK++
	if s.lostRun < s.absentSlots {
		return false
	}
	e.startAbsence(idx, s, s.rxExp(s.lateK-s.lostRun), d)
	return true
}

// startAbsence fires the series' absence: since is the expected arrival of
// its first missing sample, at the deadline that decided it. The series is
// not scheduled again until it delivers.
func (e *Engine) startAbsence(idx uint32, s *series, since, at int64) {
	s.flags |= flagAbsent
	s.absentSince = since
	s.wakeTick = noWake
	e.stats.local.Absences++
	e.emitSeries(idx, s, KindAbsence, "absence", StateFiring, at, since, math.NaN(), nil)
}

// endAbsence resolves the series' absence when it delivers again.
func (e *Engine) endAbsence(idx uint32, s *series) {
	s.flags &^= flagAbsent
	e.emitSeries(idx, s, KindAbsence, "absence", StateResolved, e.now, s.absentSince, math.NaN(), nil)
}
