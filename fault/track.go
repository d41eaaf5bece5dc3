package fault

import (
	"math"
	"time"

	"github.com/faultline-go/faultline/internal/seriesgap"
	"github.com/faultline-go/faultline/rules"
	"github.com/faultline-go/faultline/stream"
)

// arrive updates the arrival tracking of a series for one fresh sample.
func (e *Engine) arrive(idx uint32, smp *stream.Sample) {
	t := &e.st.trackers[idx]
	if t.absent() {
		// Only a sample newer than what was judged missing ends the
		// silence; a replayed old one changes nothing. What was judged
		// missing comes after the newest sample, whatever the lattice
		// (one restarted on odd arrivals may not have judged the newest
		// sample's slot): an older one, which leaves the absence's since
		// as it is, ending it would open the next under the same IDs.
		if smp.Time <= e.st.series[idx].lastTs || t.lattice() && t.slotOf(smp.Time) < int64(t.nextK) {
			e.stats.local.AfterLateness++
			return
		}
		e.endAbsence(idx, t)
		if t.lattice() {
			e.startLattice(idx, t, smp.Time, smp.Arrival)
			return
		}
		if t.flags&flagFast == 0 {
			t.learnN = 0 // the silence says nothing about the cadence
		}
	}
	// A delivery, on time or not, ends the series' silence: the absence
	// threshold counts the slots missed since its last one.
	t.missRun = 0
	if !t.lattice() {
		if t.declared() && t.flags&flagFast == 0 && e.startLattice(idx, t, smp.Time, smp.Arrival) {
			return
		}
		// Learning the cadence: absence is timed from the last arrival,
		// which is never before the engine clock: a sample stamped with an
		// arrival behind the clock arrives now. (Timed from its stamp, an
		// absence it ended would open again at once, under the same ID.)
		l := e.st.learning[idx]
		l.lastArrival = max(smp.Arrival, e.now)
		e.st.learning[idx] = l
		e.schedule(idx, later(l.lastArrival, e.absentAfter(idx, t)))
		return
	}
	k64 := t.slotOf(smp.Time)
	if k64 < int64(t.lateK) || k64 < int64(t.nextK) && smp.Arrival > later(t.rxExp(int32(k64)), e.lateness(t)) {
		// Its slot is judged already, or past its lateness deadline and
		// about to be: a fill now changes nothing.
		e.stats.local.AfterLateness++
		return
	}
	if k64 > int64(t.nextK)+e.lead(t)+maxAhead {
		// The series jumped ahead of its lattice: a clock step, or a
		// silence shorter than its absence threshold. Start again here.
		e.stats.local.Reanchors++
		e.startLattice(idx, t, smp.Time, smp.Arrival)
		return
	}
	k := int32(k64)
	bit := slotBit(k)
	if t.recv&bit != 0 {
		e.stats.local.SlotShared++
		return
	}
	t.recv |= bit
	onTime := k >= t.nextK && smp.Arrival <= later(t.rxExp(k), e.tau())
	if onTime {
		t.onTime |= bit
	}
	t.track(k, smp.Time, smp.Arrival, e.tau(), onTime)
}

func slotBit(k int32) uint64 { return 1 << (uint32(k) & (ringSlots - 1)) }

// learnCadence feeds a new highest sample time to a series still learning its
// cadence, and starts its lattice once the cadence is known.
func (e *Engine) learnCadence(idx uint32, smp *stream.Sample, last int64) {
	t := &e.st.trackers[idx]
	l := e.st.learning[idx]
	if lag := smp.Arrival - smp.Time; t.learnN == 0 || lag > l.lag {
		l.lag = lag
	}
	c := l.learn(t, smp.Time, last)
	if c <= 0 {
		e.st.learning[idx] = l
		return
	}
	t.setCadence(min(c, maxCadence))
	// The lattice starts from the largest delivery lag its samples showed,
	// not from the last one's: expected arrivals too early at first would
	// judge a jittery series' on-time samples missed (and replicas, whose
	// arrivals jitter differently, would disagree on those misses). The lag
	// then settles on the mean within a few samples (tracker.track).
	if e.startLattice(idx, t, smp.Time, smp.Time+l.lag) {
		e.st.doneLearning(idx)
	}
}

// startLattice anchors the series' lattice on a sample, which fills slot 0
// on time, and schedules the first judgment. It reports false, and marks the
// series flagFast, when the series is too fast for its slots to be tracked
// at this on-time budget; its absence is then timed from its last arrival.
func (e *Engine) startLattice(idx uint32, t *tracker, ts, arrival int64) bool {
	if e.lateness(t) < e.tau() {
		t.flags |= flagFast
		return false
	}
	t.anchor(ts, arrival)
	t.gap.Start()
	e.scheduleNext(idx, t)
	return true
}

// absentAfter returns the series' absence threshold in ns.
func (e *Engine) absentAfter(idx uint32, t *tracker) int64 {
	if aa := e.st.declared[idx]; aa > 0 {
		return aa
	}
	if e.cfg.AbsentAfter > 0 {
		return int64(e.cfg.AbsentAfter)
	}
	c := t.cadence()
	if c == 0 {
		c = int64(e.cfg.DefaultCadence)
	}
	return max(DefaultAbsentSlots*c, int64(DefaultMinAbsentAfter))
}

// absentSlots returns how many lost slots in a row make the series absent.
func (e *Engine) absentSlots(idx uint32, t *tracker) uint16 {
	c := t.cadence()
	return uint16(min(max((e.absentAfter(idx, t)+c-1)/c, 1), rules.MaxAbsentSlots))
}

// lead returns how many slots past nextK an on-time sample of the series
// lands: nextK moves on only τ (and up to two wheel ticks) after a slot's
// expected arrival.
func (e *Engine) lead(t *tracker) int64 {
	c := t.cadence()
	if c >= e.tau()+2*wheelRes {
		return 1 // the common case, without dividing
	}
	return (e.tau() + 2*wheelRes + c - 1) / c
}

// lateness returns the series' lateness allowance: L, capped so that the
// slots awaiting their lateness judgment, those on-time samples run ahead
// and maxAhead more all fit the received and on-time bitmaps.
func (e *Engine) lateness(t *tracker) int64 {
	room := int64(ringSlots-2-maxAhead) - e.lead(t)
	return min(e.late(), room*t.cadence()-lateSlack)
}

// schedule sets the series' wake-up at deadline d.
func (e *Engine) schedule(idx uint32, d int64) {
	e.st.wheel.schedule(idx, e.st.wheel.tickOf(d))
}

// scheduleNext schedules the series' next judgment, if any is left.
func (e *Engine) scheduleNext(idx uint32, t *tracker) {
	if d, _, ok := e.next(t); ok {
		e.schedule(idx, d)
	} else {
		e.st.wheel.unlink(idx)
	}
}

// next returns when the series' next judgment falls due, and whether it is
// the lateness judgment of slot lateK (else the on-time judgment of slot
// nextK), whichever comes first. While closing, an empty slot whose on-time
// deadline falls after the end of input is not judged at all: its sample may
// simply not have been delivered yet.
//
// A lateness judgment may wait up to lateSlack for the on-time judgment that
// follows it, so both take one wake-up: with the lateness allowance a
// multiple of the cadence (the usual case), slot k's lateness deadline falls
// τ before slot k+L/Δ's on-time deadline. Waiting changes no outcome, since a
// fill arriving after its slot's lateness deadline is not counted (arrive).
func (e *Engine) next(t *tracker) (d int64, late, ok bool) {
	return e.choose(t, later(t.rxExp(t.nextK), e.tau()), later(t.rxExp(t.lateK), e.lateness(t)))
}

// choose is next, given the on-time deadline of slot nextK and the lateness
// deadline of slot lateK.
func (e *Engine) choose(t *tracker, dTau, dLate int64) (d int64, late, ok bool) {
	tauOK := !e.closed || dTau <= e.horizon || t.onTime&slotBit(t.nextK) != 0
	if t.lateK < t.nextK {
		if !tauOK || dLate < dTau-lateSlack {
			return dLate, true, true
		}
		if dLate <= dTau {
			return dTau, true, true // both due then, the lateness one first
		}
	}
	return dTau, false, tauOK
}

// lateSlack is how long a lateness judgment may wait for the next on-time
// judgment of its series.
const lateSlack = int64(2 * time.Second)

// wake is the timing wheel's callback: it makes every judgment of the series
// that fell due by the tick's start, then schedules the next. A series whose
// deadline is still ahead (a later lap of the wheel) is scheduled again.
func (e *Engine) wake(idx uint32, tick int64) {
	t := &e.st.trackers[idx]
	if t.absent() {
		return
	}
	now := e.st.wheel.startOf(tick)
	if !t.lattice() {
		last := e.st.learning[idx].lastArrival
		d := later(last, e.absentAfter(idx, t))
		switch {
		case e.closed && d > e.horizon:
		case d <= now:
			e.startAbsence(idx, t, e.st.series[idx].lastTs, d)
		default:
			e.schedule(idx, d)
		}
		return
	}
	// Within one wake-up the lattice does not move, so the deadlines are
	// computed once and then stepped by a cadence per judgment.
	c, lateness := t.cadence(), e.lateness(t)
	dTau := later(t.rxExp(t.nextK), e.tau())
	dLate := later(t.rxExp(t.lateK), lateness)
	for {
		d, late, ok := e.choose(t, dTau, dLate)
		switch {
		case !ok:
			return // nothing left to judge before the end of input
		case d > now:
			e.schedule(idx, d)
			return
		case !late && e.judgeOnTime(idx, t, dTau):
			return // absent: not scheduled until it delivers
		case !late:
			dTau = later(dTau, c)
		default:
			e.judgeLate(idx, t)
			dLate = later(dLate, c)
		}
	}
}

// judgeOnTime judges slot nextK at its on-time deadline d: the fleet
// detector and the series' periodic gap detector learn whether it was
// filled on time. It reports whether this started an absence: enough
// slots missed in a row that the series has been silent for its absence
// threshold.
func (e *Engine) judgeOnTime(idx uint32, t *tracker, d int64) bool {
	k := t.nextK
	if uint32(k)%seriesgap.AgeEvery == 0 {
		e.st.misses[idx].Age(uint16(k))
	}
	rx := t.rxExp(k)
	missed := t.onTime&slotBit(k) == 0
	e.stats.local.SlotsExpected++
	e.fleet.Observe(rx, missed)
	t.nextK++
	if !missed {
		t.missRun = 0
		if !t.gap.OnTime() {
			return false
		}
		if tr, ok := e.gaps.Hit(idx, &t.gap, &e.st.misses[idx], k, rx, e.fleet); ok {
			e.emitSeriesGap(idx, tr, "")
		}
		return false
	}
	e.stats.local.SlotsMissed++
	if t.missRun < math.MaxUint16 { // saturating: missRun+1 would wrap to 0
		t.missRun++
	}
	e.seriesMiss(idx, t, k, rx)
	if t.missRun < e.absentSlots(idx, t) {
		return false
	}
	e.startAbsence(idx, t, e.st.series[idx].lastTs, d)
	return true
}

// judgeLate judges slot lateK at its lateness deadline: filled (on time
// or late) or lost, for the fleet detector's late fraction.
func (e *Engine) judgeLate(idx uint32, t *tracker) {
	k := t.lateK
	bit := slotBit(k)
	switch {
	case t.onTime&bit != 0:
	case t.recv&bit != 0:
		e.stats.local.SlotsLate++
		e.fleet.Settle(t.rxExp(k), true)
	default:
		e.stats.local.SlotsLost++
		e.fleet.Settle(t.rxExp(k), false)
	}
	t.recv &^= bit
	t.onTime &^= bit
	t.lateK++
}
