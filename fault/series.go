package fault

import (
	"math"

	"github.com/faultline-go/faultline/internal/seriesgap"
	"github.com/faultline-go/faultline/stream"
)

// series is what the engine keeps about a series besides its arrival
// tracking: identity, the rules that select it and rule-evaluation order. It
// holds no pointers, so millions of them cost the garbage collector nothing
// to scan.
type series struct {
	id       stream.SeriesID
	key      keyRef // name and labels in the key arena
	lastTs   int64  // highest sample time seen; samples at or before it are not evaluated by rules
	rulesOff uint32 // matched rules: ruleIdx[rulesOff : rulesOff+rulesN]
	rulesN   uint16
	alerts   uint16 // alert states kept for this series (open, or with a flap history)
	gapMark  uint32 // the last fleet gap episode this series was counted in
	src      uint32 // its source (see source.go), resolved when the series is created
	hist     uint32 // its history (history.go): index in Engine.hists + 1, or 0 for none
	seen     uint32 // engine time of its last delivery, fresh or not, in seconds (evict.go)
}

// tracker is a series' arrival tracking: its slot lattice, its link in the
// timing wheel and its part of the periodic gap detector, in exactly one
// 64-byte cache line; its last misses live beside it in seriesgap.Misses
// of 32 bytes, read only when it misses. That is 96 bytes per series
// (TestTrackerSize). A delivery, duplicate or not, and a judgment each touch
// the one line.
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
type tracker struct {
	anchorTs int64  // nominal sample time of slot anchorK
	recv     uint64 // slot k received (bit k&63), for slots in [lateK, lateK+64)
	onTime   uint64 // slot k received by rxExp+τ

	cad     int32 // Δ in cadenceUnits; 0 while learning
	anchorK int32
	nextK   int32 // next slot to judge at τ
	lateK   int32 // next slot to judge at L; lateK ≤ nextK
	lag     int32 // delivery lag in lagUnits

	gap  seriesgap.Series // the series' part of the periodic gap detector
	link wheelLink        // place in the timing wheel

	missRun uint16 // consecutive slots missed at their on-time deadline, saturating
	flags   uint8
	learnN  uint8 // distinct sample times seen while learning; then samples the lattice filter has seen
}

const (
	flagAbsent   = 1 << iota // an absence episode is open: not scheduled
	flagDeclared             // cadence declared in the rule file, not learned
	flagLattice              // the slot lattice runs (cadence known, anchored)
	flagFast                 // too fast to track slots at this τ: absence by silence only
	flagFree                 // the slot holds no series: evicted, free for reuse (evict.go)
)

const (
	// learnSamples distinct sample times are needed to learn a cadence: the
	// median of their learnSamples−1 differences.
	learnSamples = 4
	// ringSlots is the width of the received/on-time bitmaps.
	ringSlots = 64
	// maxAhead is how many slots beyond where an on-time sample lands
	// (see Engine.lead) a sample may land before it counts as a
	// discontinuity and the lattice re-anchors on it.
	maxAhead = 8
	// matureSteps is when the lattice filter's least-squares gains have
	// fallen to their floors (α = 1/8 at the 31st step).
	matureSteps = 31
	// cadenceUnit is the resolution of a stored cadence: 100 µs, so
	// cadences up to 59 h fit.
	cadenceUnit = int64(100_000)
	maxCadence  = cadenceUnit * math.MaxInt32
)

// cadence returns Δ in ns.
func (t *tracker) cadence() int64 { return int64(t.cad) * cadenceUnit }

// setCadence sets Δ, rounded to the stored resolution and kept in range.
func (t *tracker) setCadence(ns int64) {
	t.cad = int32(min(max((ns+cadenceUnit/2)/cadenceUnit, 1), math.MaxInt32))
}

func (t *tracker) declared() bool { return t.flags&flagDeclared != 0 }
func (t *tracker) absent() bool   { return t.flags&flagAbsent != 0 }
func (t *tracker) lattice() bool  { return t.flags&flagLattice != 0 }

// nominal returns the nominal sample time of slot k. It and rxExp saturate
// at the ends of the int64 range (later): a slot past the end of time is
// expected at its end, and its deadlines never fall due.
func (t *tracker) nominal(k int32) int64 {
	return later(t.anchorTs, int64(k-t.anchorK)*t.cadence())
}

// rxExp returns the expected arrival time of slot k. It saturates once,
// on the sum of the offsets, so that it stays small enough to inline: it
// runs for every delivery.
func (t *tracker) rxExp(k int32) int64 {
	return later(t.anchorTs, int64(k-t.anchorK)*t.cadence()+int64(t.lag)*lagUnit)
}

// slotOf returns the slot a sample time belongs to: the nearest lattice
// point.
func (t *tracker) slotOf(ts int64) int64 {
	d := ts - t.anchorTs
	c := t.cadence()
	h := c / 2
	// The common cases first, without dividing: the slot after the last one
	// tracked (a new sample), or that slot itself (a redelivered copy).
	if d-c >= -h && d-c < h {
		return int64(t.anchorK) + 1
	}
	if d >= -h && d < h {
		return int64(t.anchorK)
	}
	if d >= 0 {
		return int64(t.anchorK) + (d+h)/c
	}
	return int64(t.anchorK) - (-d+h-1)/c
}

// anchor starts a fresh lattice on a sample: slot 0 at ts, received on time,
// nothing judged and no misses remembered. The cadence, the long-run miss
// rate and the filter's maturity are kept: a series learned from four samples
// starts at the fourth step of the filter's schedule, one that comes back
// from a silence keeps the gains it had.
func (t *tracker) anchor(ts, arrival int64) {
	t.flags |= flagLattice
	t.gap.Anchor()
	t.anchorTs = ts
	t.anchorK, t.nextK, t.lateK = 0, 0, 0
	t.recv, t.onTime = 1, 1
	t.missRun = 0
	t.learnN = max(t.learnN, 1) // from now on, the samples the lattice filter has seen
	t.lag = toLag(arrival - ts)
}

// track follows a fresh sample of slot k.
//
// The lattice (phase and rate) follows sample times, which delivery delays do
// not touch, so every fresh sample updates it: an alpha-beta filter whose
// gains start at the least-squares schedule (α = 2(2n−1)/(n(n+1)),
// β = 6/(n(n+1)) at the nth sample) and settle at 1/8 and 1/64, so a new
// series converges within a few samples and a settled one shrugs off
// jitter. The residual is clipped to a quarter cadence, so one odd
// timestamp cannot throw the lattice.
//
// The delivery lag is arrival − sample time averaged over on-time samples:
// their mean while the lattice is young (gain 1/n), then an EWMA of gain
// 1/8, each step clipped to ±clip. A late sample may only raise it, by at most
// clip/64: a replay wave cannot drag the expected arrivals after it, yet a
// lasting rise in delivery lag is followed in the end, so the series never
// stays late for good.
func (t *tracker) track(k int32, ts, arrival, clip int64, onTime bool) {
	if n := int64(k - t.anchorK); n > 0 {
		pred := t.nominal(k)
		q := t.cadence() / 4
		r := min(max(ts-pred, -q), q)
		var dAnchor, dCadence int64
		switch {
		case t.learnN >= matureSteps && n == 1:
			dAnchor, dCadence = r/8, r/64 // the settled gains
		case t.learnN >= matureSteps:
			dAnchor, dCadence = r/8, r/(64*n)
		default:
			g := &filterGains[t.learnN]
			dAnchor = int64(g.alpha * float64(r))
			dCadence = int64(g.beta * float64(r) / float64(n))
			t.learnN++
		}
		t.anchorTs = pred + dAnchor
		t.anchorK = k
		if !t.declared() && (dCadence >= cadenceUnit/2 || dCadence <= -cadenceUnit/2) {
			t.setCadence(t.cadence() + dCadence)
		}
	}
	r := arrival - ts - int64(t.lag)*lagUnit
	if onTime {
		// The mean of the samples so far while the lattice is young (the
		// least-squares gain 1/n), then an EWMA of gain 1/8.
		r = min(max(r, -clip), clip) / min(max(int64(t.learnN), 1), 8)
	} else {
		r = min(max(r, 0), clip) / 64
	}
	if r >= lagUnit/2 || r <= -lagUnit/2 {
		t.lag = toLag(int64(t.lag)*lagUnit + r)
	}
}

// filterGains holds the lattice filter's gains for its first steps: the
// least-squares schedule α = 2(2n−1)/(n(n+1)), β = 6/(n(n+1)) at step n,
// floored at the settled 1/8 and 1/64.
var filterGains = func() (g [matureSteps]struct{ alpha, beta float64 }) {
	for i := range g {
		n := float64(i) + 1
		g[i].alpha = max(2*(2*n-1)/(n*(n+1)), 1.0/8)
		g[i].beta = max(6/(n*(n+1)), 1.0/64)
	}
	return g
}()

// lagUnit is the resolution of a stored delivery lag: 100 µs, so lags up to
// ±59 h fit.
const lagUnit = int64(100_000)

// toLag converts ns to lagUnits, rounding to the nearest and clamping.
func toLag(ns int64) int32 {
	if ns >= 0 {
		ns += lagUnit / 2
	} else {
		ns -= lagUnit / 2
	}
	return int32(min(max(ns/lagUnit, math.MinInt32), math.MaxInt32))
}

// learning is the state of a series still learning its cadence. It lives in
// a side table, since a series needs it only for its first few samples.
type learning struct {
	lastArrival int64
	lag         int64 // the largest delivery lag (arrival − sample time) seen while learning
	diffs       [learnSamples - 1]int64
}

// learn records a new highest sample time ts of a series whose previous
// highest was last, and returns the cadence once learnSamples distinct times
// have been seen: the median of their differences.
func (l *learning) learn(t *tracker, ts, last int64) int64 {
	t.learnN++
	if t.learnN == 1 {
		return 0
	}
	l.diffs[t.learnN-2] = ts - last
	if t.learnN < learnSamples {
		return 0
	}
	a, b, c := l.diffs[0], l.diffs[1], l.diffs[2] // median of three
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
