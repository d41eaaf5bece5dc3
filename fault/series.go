package fault

import (
	"github.com/faultline-go/faultline/stream"
)

// series is the state the engine keeps per series. It holds no pointers, so a
// slice of millions of them costs the garbage collector nothing to scan.
//
// The slot lattice. A series is expected to send one sample per cadence Δ.
// Slot k has the nominal sample time anchorTs + (k−anchorK)·Δ and the
// expected arrival rxExp(k) = nominal + lag, where lag is the learned
// delivery lag (arrival − sample time). The anchor follows the series with
// an alpha-beta filter, so source-clock drift and jitter do not walk the
// lattice off its slots. Each slot is judged twice: at rxExp+τ it was on time
// or missed in real time; at rxExp+L it was filled (on time or late) or
// lost. Duplicates and replays carry the original sample time, so they land
// on the slot they belong to.
type series struct {
	id  stream.SeriesID
	key keyRef // name and labels in the key arena

	rulesOff uint32 // matched rules: ruleIdx[rulesOff : rulesOff+rulesN]
	rulesN   uint16
	flags    uint8
	learnN   uint8  // distinct sample times seen while learning
	alerts   uint16 // threshold episodes open (pending or firing) on this series

	lastTs int64 // highest sample time seen; samples at or before it are not evaluated by rules

	// While learning (cadence == 0), lastArrival times absence and
	// learnDiffs collects the first distinct sample-time differences.
	lastArrival int64
	learnDiffs  [learnSamples - 1]int64

	cadence  int64 // Δ in ns; 0 while learning
	anchorTs int64 // nominal sample time of slot anchorK
	anchorK  int32
	nextK    int32 // next slot to judge at τ
	lateK    int32 // next slot to judge at L; lateK ≤ nextK
	lag      int32 // delivery lag in ms

	recv   uint64 // slot k received (bit k&63), for slots in [lateK, lateK+64)
	onTime uint64 // slot k received by rxExp+τ

	lostRun     int32 // consecutive slots judged lost
	absentSlots int32 // lost slots that make an absence
	absentSince int64 // expected arrival of the first missing sample of the firing absence
	absentAfter int64 // declared absence threshold in ns, or 0 for the default

	wakeTick int64 // tick of the live wheel entry, or noWake
}

const (
	flagAbsent   = 1 << iota // an absence episode is firing: not scheduled
	flagDeclared             // cadence declared in the rule file, not learned
	flagLattice              // the slot lattice runs (cadence known, anchored)
)

const (
	noWake = -1 << 63
	// learnSamples distinct sample times are needed to learn a cadence: the
	// median of their learnSamples−1 differences.
	learnSamples = 4
	// ringSlots is the width of the received/on-time bitmaps.
	ringSlots = 64
	// maxAhead is how many slots past the next one to judge a sample may
	// land on before it counts as a discontinuity and the lattice
	// re-anchors on it.
	maxAhead = 8
	// maxLateSlots caps the lateness allowance in slots, so the slots
	// awaiting judgment plus those a sample may run ahead fit the ring.
	maxLateSlots = ringSlots - maxAhead - 8
)

// nominal returns the nominal sample time of slot k.
func (s *series) nominal(k int32) int64 {
	return s.anchorTs + int64(k-s.anchorK)*s.cadence
}

// rxExp returns the expected arrival time of slot k.
func (s *series) rxExp(k int32) int64 {
	return s.nominal(k) + int64(s.lag)*1e6
}

// slotOf returns the slot a sample time belongs to: the nearest lattice
// point.
func (s *series) slotOf(ts int64) int64 {
	d := ts - s.anchorTs
	h := s.cadence / 2
	if d >= 0 {
		return int64(s.anchorK) + (d+h)/s.cadence
	}
	return int64(s.anchorK) - (-d+h-1)/s.cadence
}

// anchor starts a fresh lattice on a sample: slot 0 at ts, nothing judged,
// nothing received.
func (s *series) anchor(ts, arrival int64) {
	s.anchorTs = ts
	s.anchorK, s.nextK, s.lateK = 0, 0, 0
	s.recv, s.onTime = 0, 0
	s.lostRun = 0
	s.lag = clampMs(arrival - ts)
}

// track follows an on-time sample of slot k with an alpha-beta filter on the
// lattice (phase gain 1/8, rate gain 1/64 per slot) and an EWMA of the
// delivery lag whose step is clipped to ±clip, so one replayed or delayed
// copy cannot drag the expected arrivals with it.
func (s *series) track(k int32, ts, arrival, clip int64) {
	n := int64(k - s.anchorK)
	if n > 0 {
		pred := s.nominal(k)
		r := ts - pred
		s.anchorTs = pred + r/8
		s.anchorK = k
		if !s.declared() {
			s.cadence += r / (64 * n)
		}
	}
	r := arrival - ts - int64(s.lag)*1e6
	r = min(max(r, -clip), clip)
	s.lag = clampMs(int64(s.lag)*1e6 + r/8)
}

func (s *series) declared() bool { return s.flags&flagDeclared != 0 }
func (s *series) absent() bool   { return s.flags&flagAbsent != 0 }
func (s *series) lattice() bool  { return s.flags&flagLattice != 0 }

func clampMs(ns int64) int32 {
	ms := ns / 1e6
	return int32(min(max(ms, -1<<31), 1<<31-1))
}

// learn records a new highest sample time ts (before lastTs moves to it)
// while the cadence is unknown, and returns the cadence once learnSamples
// distinct times have been seen: the median of their differences.
func (s *series) learn(ts int64) int64 {
	s.learnN++
	if s.learnN == 1 {
		return 0
	}
	s.learnDiffs[s.learnN-2] = ts - s.lastTs
	if s.learnN < learnSamples {
		return 0
	}
	d := s.learnDiffs
	// median of three
	a, b, c := d[0], d[1], d[2]
	if a > b {
		a, b = b, a
	}
	if b > c {
		b = c
	}
	if a > b {
		b = a
	}
	return b
}
