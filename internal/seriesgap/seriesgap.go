// Package seriesgap is the per-series periodic gap detector, for series
// whose cadence Δ is shorter than the outage period P: a 10-s check under
// a 60-s outage loses one slot in six, always the same one.
//
// Each series remembers the slot numbers of its last 16 real-time misses. On
// a miss at slot k, for each candidate period P with P = mΔ (m ≥ 2), it
// rebuilds the sequence of its phase bin k−jm, …, k (up to 16 periods, not
// older than what the ring remembers) and runs a Bernoulli CUSUM on it with
// p₁ = 0.8 against p₀ = the larger of the series' long-run miss rate and
// its miss rate in the other bins over the same span. Starting the CUSUM at
// zero inside the window only lowers it, so Lorden's bound still holds. A
// CUSUM reaching seriesH makes the series a suspect at the period with the
// largest one. A run of three or more misses is an absence episode, not
// evidence: its misses are taken back out of the ring.
//
// Suspects are not reported. One is confirmed, and fires, when the fleet
// detector names a consistent gap (same period or a multiple, a window that
// holds the slot), which links it to the fleet event; or on its own, when
// −ln P(X ≥ x | n, 1/m) ≥ selfConfirmH for the x of its n remembered misses
// that fall in the bin. The second is immune to a change in the loss rate
// but needs about 18.8/ln m periods. Why two stages: one random slot lost
// per period from a clean series is indistinguishable from a periodic gap
// for a while, so a fast per-series alarm must lean on either a stationary
// baseline or the fleet. A gap resolves when its slot is on time twice in a
// row, and a gap the fleet explains only once the fleet gap has ended too,
// so that a series at the edge of the lossy window does not flap. A
// resolved gap's evidence is consumed: the series forgets its misses.
//
// The engine keeps each series' part of the state (Series, Misses) beside
// its slot lattice, where a judgment touches it anyway, and calls Hit or
// Miss for each slot judged at its on-time deadline; they return the
// transitions of the series' gap as values.
//
// This package must not know about samples, rules, labels or events.
package seriesgap

import (
	"maps"
	"math"
	"math/bits"
	"slices"
	"time"

	"github.com/faultline-go/faultline/internal/align"
	"github.com/faultline-go/faultline/internal/episode"
	"github.com/faultline-go/faultline/internal/fleetgap"
	"github.com/faultline-go/faultline/internal/frame"
)

var seriesPeriods = []int64{
	int64(20 * time.Second), int64(30 * time.Second), int64(time.Minute), int64(2 * time.Minute),
	int64(5 * time.Minute), int64(10 * time.Minute), int64(15 * time.Minute), int64(30 * time.Minute),
	int64(time.Hour),
}

const (
	seriesP1      = 0.8
	seriesH       = 20.0
	selfConfirmH  = 18.8
	minMissRate   = 0.001
	priorMissRate = 0.001
	longRateGain  = 1.0 / 2000
	absenceRun    = 3 // consecutive misses that make an absence episode, not evidence
	resolveHits   = 2
	// Ring is how many real-time misses a series remembers.
	Ring = 16
	// noSlot: ring entries at this distance or more are empty.
	noSlot = 0x8000
	// AgeEvery is how often, in slots, a series' Misses must be aged
	// (Misses.Age), so that no entry grows old enough for its 16-bit
	// distance to wrap round and pass for a recent miss.
	AgeEvery = 1 << 13
)

// Series is a series' state in the detector, 8 bytes that the engine
// keeps in the series' tracker.
type Series struct {
	pLong float32 // long-run real-time miss rate
	run   uint8   // consecutive real-time misses, saturating
	head  uint8   // next position in Misses
	flags uint8
}

const (
	ringFull = 1 << iota // the miss ring has wrapped
	gapOpen              // a gap (suspect or confirmed) is open
)

// Misses holds the slot numbers (mod 2¹⁶) of a series' latest real-time
// misses, a ring.
type Misses [Ring]uint16

// Start readies a series whose slot lattice starts: a new series takes the
// prior miss rate; one that comes back keeps what it learned.
func (s *Series) Start() {
	if s.pLong == 0 {
		s.pLong = priorMissRate
	}
}

// Anchor forgets the positions of the remembered misses: the series'
// slot lattice starts again, numbering its slots from 0. The miss rate is
// kept.
func (s *Series) Anchor() {
	s.flags &^= ringFull
	s.run, s.head = 0, 0
}

// Open reports whether the series has a gap open, suspect or confirmed.
func (s *Series) Open() bool { return s.flags&gapOpen != 0 }

// Run returns the series' consecutive real-time misses, saturating.
func (s *Series) Run() uint8 { return s.run }

// gap is a series' open periodic gap, suspect or confirmed.
type gap struct {
	period    int64 // ns
	m         int32 // slots per period
	bin       int32 // the lossy slot, k mod m
	since     int64 // start of the period (from the Unix epoch) holding the first miss's sample time
	phase     int64 // expected arrival of the lossy slot modulo period
	confirmed bool
	hits      int8   // on-time fills of the bin in a row
	linked    bool   // confirmed by a fleet gap …
	linkMark  uint32 // … this one, while it is open
	linkSince int64  // … which began then
}

// Detector holds the series' open gaps, by series slot.
type Detector struct {
	tau  int64
	gaps map[uint32]*gap
	out  []episode.Transition
}

// New returns a detector for slots judged on time tau after their
// expected arrival.
func New(tau int64) Detector { return Detector{tau: tau, gaps: make(map[uint32]*gap)} }

// Len returns the number of open gaps.
func (d *Detector) Len() int { return len(d.gaps) }

// OnTime records that series s filled a slot on time. It reports whether
// the series has a gap open, whose detector Hit must then update. Most
// series have none: OnTime is small enough to be inlined into the
// caller's judgment of every slot, and Hit is called only for them.
func (s *Series) OnTime() bool {
	s.pLong += (0 - s.pLong) * longRateGain
	s.run = 0
	return s.flags&gapOpen != 0
}

// Hit updates series slot's detector for slot k, expected at rx, filled
// on time, once OnTime reported its gap open. It returns the transition
// of its gap, if any: resolved when its slot is on time twice in a row and
// no open fleet gap explains it.
func (d *Detector) Hit(slot uint32, s *Series, m *Misses, k int32, rx int64, fleet *fleetgap.Detector) (episode.Transition, bool) {
	g := d.gaps[slot]
	if k%g.m != g.bin {
		return episode.Transition{}, false
	}
	g.hits = min(g.hits+1, resolveHits)
	if g.hits >= resolveHits && (g.linkMark == 0 || fleet.Open(g.linkMark) == nil) {
		return d.Close(slot, s, m, k, rx+d.tau)
	}
	return episode.Transition{}, false
}

// Miss updates series slot's detector for slot k, of sample time ts and
// expected to arrive at rx, missed in real time; cadence is the series'. It
// returns the transition of its gap, if any: firing when a suspect is
// confirmed.
func (d *Detector) Miss(slot uint32, s *Series, m *Misses, k int32, ts, rx, cadence int64, fleet *fleetgap.Detector) (episode.Transition, bool) {
	s.pLong += (1 - s.pLong) * longRateGain
	if s.run < math.MaxUint8 {
		s.run++
	}
	if s.run >= absenceRun {
		if s.run == absenceRun {
			// Take the run's earlier misses back: an absence episode
			// is not periodic evidence.
			for range absenceRun - 1 {
				s.head = (s.head - 1) & (Ring - 1)
				m[s.head] = uint16(k) - noSlot
			}
		}
		return episode.Transition{}, false
	}
	m[s.head] = uint16(k)
	s.head = (s.head + 1) & (Ring - 1)
	if s.head == 0 {
		s.flags |= ringFull
	}
	if s.flags&gapOpen != 0 {
		g := d.gaps[slot]
		if k%g.m == g.bin {
			g.hits = 0
			if !g.confirmed {
				return d.confirm(slot, s, m, g, k, rx, cadence, fleet)
			}
		}
		return episode.Transition{}, false
	}
	return d.suspect(slot, s, m, k, ts, rx, cadence, fleet)
}

// suspect runs the CUSUMs of every candidate period on the bin of slot k and
// opens a suspect gap at the strongest one that reaches seriesH.
func (d *Detector) suspect(slot uint32, s *Series, m *Misses, k int32, ts, rx, cadence int64, fleet *fleetgap.Detector) (episode.Transition, bool) {
	var best struct {
		s     float64
		p     int64
		m     int32
		first int32
	}
	try := func(p int64) {
		mm := slotsPerPeriod(p, cadence)
		if mm < 2 || mm == best.m {
			return
		}
		c, first := s.binCUSUM(m, k, mm)
		if c >= seriesH && c > best.s {
			best.s, best.p, best.m, best.first = c, p, mm, first
		}
	}
	for _, p := range seriesPeriods {
		try(p)
	}
	for ep := range fleet.Firing {
		try(ep.Period())
	}
	if best.m == 0 {
		return episode.Transition{}, false
	}
	g := &gap{
		period: best.p,
		m:      best.m,
		bin:    k % best.m,
		since:  periodStart(ts-int64(k-best.first)*cadence, best.p),
		phase:  align.FloorMod(rx, best.p),
	}
	d.gaps[slot] = g
	s.flags |= gapOpen
	return d.confirm(slot, s, m, g, k, rx, cadence, fleet)
}

// periodStart returns the start of the period p, counted from the Unix
// epoch, that holds t. It dates a gap: replicas whose lattices differ by
// their arrivals' jitter place its first miss a few milliseconds apart,
// and into different periods only when the miss falls that close to a
// period's edge.
func periodStart(t, p int64) int64 { return t - align.FloorMod(t, p) }

// slotsPerPeriod returns m when period p is m cadences (within 1 %), else 0.
func slotsPerPeriod(p, cadence int64) int32 {
	if cadence <= 0 {
		return 0
	}
	m := (p + cadence/2) / cadence
	if m < 2 || m > noSlot/Ring || absInt(p-m*cadence)*100 > p {
		return 0
	}
	return int32(m)
}

func absInt(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// window returns the bit mask of the misses among slots k−jm (bit j), for j
// below the returned span, together with the number of remembered misses in
// the span that fall in other bins.
func (s *Series) window(ring *Misses, k, m int32) (hits uint32, span int32, others int) {
	horizon := k // slots since the lattice was anchored
	if s.flags&ringFull != 0 {
		horizon = 0
		for _, x := range ring {
			if d := int32(uint16(k) - x); d < noSlot {
				horizon = max(horizon, d)
			}
		}
	}
	span = min(Ring, horizon/m+1)
	for _, x := range ring[:s.ringLen()] {
		d := int32(uint16(k) - x)
		if d >= noSlot || d >= span*m {
			continue
		}
		if d%m == 0 {
			hits |= 1 << (d / m)
		} else {
			others++
		}
	}
	return hits, span, others
}

func (s *Series) ringLen() int {
	if s.flags&ringFull != 0 {
		return Ring
	}
	return int(s.head)
}

// binCUSUM runs the Bernoulli CUSUM over the bin of slot k at m slots per
// period, oldest first, and returns it with the first slot of the run of
// evidence.
func (s *Series) binCUSUM(ring *Misses, k, m int32) (c float64, first int32) {
	hits, span, others := s.window(ring, k, m)
	if span < 3 {
		return 0, k
	}
	p0 := max(float64(s.pLong), float64(others)/float64(int(span)*int(m-1)), minMissRate)
	p0 = min(p0, 0.5)
	a := math.Log(seriesP1 / p0)
	b := math.Log((1 - seriesP1) / (1 - p0))
	first = k
	for j := span - 1; j >= 0; j-- {
		if hits>>j&1 != 0 {
			if c == 0 {
				first = k - j*m
			}
			c += a
		} else {
			c = max(0, c+b)
		}
	}
	return c, first
}

// selfConfirmed applies the binomial phase-concentration test to the bin of
// slot k: are the remembered misses concentrated in it beyond chance?
func (s *Series) selfConfirmed(ring *Misses, k, m int32) bool {
	hits, _, others := s.window(ring, k, m)
	x := bits.OnesCount32(hits)
	n := x + others
	return -logBinomialTail(x, n, 1/float64(m)) >= selfConfirmH
}

// logBinomialTail returns ln P(X ≥ x) for X ~ Binomial(n, p).
func logBinomialTail(x, n int, p float64) float64 {
	if x <= 0 {
		return 0
	}
	// Sum the terms in log space from the largest (at x, since x ≥ np
	// whenever this matters) down.
	lg := func(v int) float64 { r, _ := math.Lgamma(float64(v) + 1); return r }
	logTerm := func(i int) float64 {
		return lg(n) - lg(i) - lg(n-i) + float64(i)*math.Log(p) + float64(n-i)*math.Log1p(-p)
	}
	top := logTerm(x)
	var sum float64
	for i := x; i <= n; i++ {
		sum += math.Exp(logTerm(i) - top)
	}
	return top + math.Log(sum)
}

// confirm confirms a suspect gap when the fleet explains it or its own
// misses are concentrated enough, and fires it.
func (d *Detector) confirm(slot uint32, s *Series, m *Misses, g *gap, k int32, rx, cadence int64, fleet *fleetgap.Detector) (episode.Transition, bool) {
	at := rx + d.tau
	for ep := range fleet.Firing {
		if ep.Covers(rx) && fleetgap.Harmonic(g.period, ep.Period()) && slotsPerPeriod(ep.Period(), cadence) >= 2 {
			g.period = ep.Period()
			g.phase = align.FloorMod(rx, ep.Period())
			g.link(ep)
			return d.fire(slot, g, max(at, ep.FiredAt())), true
		}
	}
	if s.selfConfirmed(m, k, g.m) {
		return d.fire(slot, g, at), true
	}
	return episode.Transition{}, false
}

func (g *gap) link(ep *fleetgap.Episode) {
	g.linked, g.linkMark, g.linkSince = true, ep.Mark(), ep.Since()
}

// fire confirms a gap and returns its firing transition.
func (d *Detector) fire(slot uint32, g *gap, at int64) episode.Transition {
	g.confirmed = true
	return d.transition(slot, g, episode.Firing, at)
}

func (d *Detector) transition(slot uint32, g *gap, state episode.State, at int64) episode.Transition {
	phase := align.FloorMod(g.phase-d.tau, g.period)
	return episode.Transition{
		Kind: episode.SeriesPeriodicGap, State: state, Subject: slot, Since: g.since, At: at, Value: math.NaN(),
		Gap:    &episode.Gap{Period: g.period, PhaseStart: phase, PhaseEnd: phase + 2*d.tau, Series: 1, LateFraction: math.NaN()},
		Linked: g.linked, By: g.linkSince,
	}
}

// Close ends series slot's gap at time at, its slots judged up to nextK:
// resolved if it fired (the returned transition), forgotten if it was
// only suspected. The series forgets its misses.
func (d *Detector) Close(slot uint32, s *Series, m *Misses, nextK int32, at int64) (episode.Transition, bool) {
	g := d.gaps[slot]
	delete(d.gaps, slot)
	s.flags &^= gapOpen
	if !g.confirmed {
		return episode.Transition{}, false
	}
	s.forget(m, uint16(nextK))
	return d.transition(slot, g, episode.Resolved, at), true
}

// Age marks empty, as of slot k, every entry of the ring at a distance of
// noSlot or more; the engine runs it every AgeEvery slots.
func (ring *Misses) Age(k uint16) {
	for i, x := range ring {
		if k-x >= noSlot {
			ring[i] = k - noSlot
		}
	}
}

// forget empties the miss ring as of slot k: every entry becomes empty
// and the ring counts as full, so no window reaches back past k.
func (s *Series) forget(ring *Misses, k uint16) {
	for i := range ring {
		ring[i] = k - noSlot
	}
	s.flags |= ringFull
}

// Lattice is what FleetConfirmed needs to know of a series' slot lattice.
type Lattice interface {
	Cadence(slot uint32) int64
	NextK(slot uint32) int32
	RxExp(slot uint32, k int32) int64
}

// FleetConfirmed confirms, in series order, the suspects a fleet gap that
// just fired explains, and returns their firing transitions, valid until
// the next call.
func (d *Detector) FleetConfirmed(ep *fleetgap.Episode, lat Lattice) []episode.Transition {
	out := d.out[:0]
	var suspects []uint32
	for _, slot := range slices.Sorted(maps.Keys(d.gaps)) { // in a deterministic order
		g := d.gaps[slot]
		if !g.confirmed && fleetgap.Harmonic(g.period, ep.Period()) && slotsPerPeriod(ep.Period(), lat.Cadence(slot)) >= 2 {
			suspects = append(suspects, slot)
		}
	}
	for _, slot := range suspects {
		g := d.gaps[slot]
		k := lat.NextK(slot) - 1
		for ; k >= 0 && k%g.m != g.bin; k-- {
		}
		if k < 0 || !ep.Covers(lat.RxExp(slot, k)) {
			continue
		}
		g.period = ep.Period()
		g.phase = align.FloorMod(lat.RxExp(slot, k), ep.Period())
		g.link(ep)
		out = append(out, d.fire(slot, g, ep.FiredAt()))
	}
	d.out = out
	return out
}

// Missed reports whether the series missed, by its current run (unless
// skipRun) or its remembered misses, a slot for which in is true; its
// slots are judged up to nextK.
func (s *Series) Missed(ring *Misses, nextK int32, skipRun bool, in func(k int32) bool) bool {
	if !skipRun && s.run > 0 && in(nextK-1) {
		return true
	}
	for j := range s.ringLen() {
		d := int32(uint16(nextK) - ring[j])
		if d < noSlot && d <= nextK && in(nextK-d) {
			return true
		}
	}
	return false
}

// AppendTo appends a series' state.
func (s *Series) AppendTo(w *frame.Writer) {
	w.F32(s.pLong)
	w.U8(s.run)
	w.U8(s.head)
	w.U8(s.flags)
}

// ReadFrom reads what AppendTo wrote.
func (s *Series) ReadFrom(r *frame.Reader) {
	s.pLong, s.run, s.head, s.flags = r.F32(), r.U8(), r.U8(), r.U8()
	if s.head >= Ring {
		r.Fail("miss ring position %d", s.head)
	}
}

// SeriesBytes is the size of a Series in a snapshot.
const SeriesBytes = 4 + 3

// AppendTo appends the open gaps, in slot order.
func (d *Detector) AppendTo(w *frame.Writer) {
	w.Uv(uint64(len(d.gaps)))
	for _, slot := range slices.Sorted(maps.Keys(d.gaps)) {
		g := d.gaps[slot]
		w.U32(slot)
		w.I64(g.period)
		w.I32(g.m)
		w.I32(g.bin)
		w.I64(g.since)
		w.I64(g.phase)
		w.Bool(g.confirmed)
		w.U8(uint8(g.hits))
		w.Bool(g.linked)
		w.U32(g.linkMark)
		w.I64(g.linkSince)
	}
}

// ReadFrom reads what AppendTo wrote, for series slots below n.
func (d *Detector) ReadFrom(r *frame.Reader, n int) {
	for range r.Count(4 + 8 + 4 + 4 + 8 + 8 + 1 + 1 + 1 + 4 + 8) {
		slot := r.U32()
		g := &gap{period: r.I64(), m: r.I32(), bin: r.I32(), since: r.I64(), phase: r.I64(),
			confirmed: r.Bool(), hits: int8(r.U8()), linked: r.Bool(), linkMark: r.U32(), linkSince: r.I64()}
		d.gaps[slot] = g
		if int(slot) >= n || g.m < 2 || g.period <= 0 || g.bin < 0 || g.bin >= g.m {
			r.Fail("bad periodic gap of series %d", slot)
		}
	}
}

// Has reports whether series slot has an open gap in the detector's
// table, for checks of restored state against Series.Open.
func (d *Detector) Has(slot uint32) bool {
	_, ok := d.gaps[slot]
	return ok
}
