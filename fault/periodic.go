package fault

import (
	"math"
	"math/bits"
	"slices"
	"time"
)

// The per-series periodic gap detector, for series whose cadence Δ is
// shorter than the outage period P: a 10-s check under a 60-s outage loses
// one slot in six, always the same one.
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

var seriesPeriods = []int64{
	int64(20 * time.Second), int64(30 * time.Second), int64(time.Minute), int64(2 * time.Minute),
	int64(5 * time.Minute), int64(10 * time.Minute), int64(15 * time.Minute), int64(30 * time.Minute),
	int64(time.Hour),
}

const (
	seriesP1      = 0.8
	seriesH       = 20.0
	selfConfirmH  = 18.8
	priorMissRate = 0.001
	longRateGain  = 1.0 / 2000
	absenceRun    = 3 // consecutive misses that make an absence episode, not evidence
	resolveHits   = 2
	noSlot        = 0x8000 // ring entries at this distance or more are empty
)

// seriesGap is a series' open periodic gap, suspect or confirmed.
type seriesGap struct {
	period    int64 // ns
	m         int32 // slots per period
	bin       int32 // the lossy slot, k mod m
	since     int64 // expected arrival of the first miss in the bin
	phase     int64 // expected arrival of the lossy slot modulo period
	confirmed bool
	hits      int8   // on-time fills of the bin in a row
	firingID  string // set once confirmed
	linkedTo  string // the fleet firing event it was confirmed by, if any
	linkMark  uint32 // that fleet episode's mark
}

// seriesHit updates a series' periodic detector for a slot filled on time.
func (e *Engine) seriesHit(idx uint32, t *tracker, k int32) {
	t.pLong += (0 - t.pLong) * longRateGain
	t.run = 0
	if t.flags&flagGap == 0 {
		return
	}
	g := e.gaps[idx]
	if k%g.m != g.bin {
		return
	}
	g.hits = min(g.hits+1, resolveHits)
	if g.hits >= resolveHits && (g.linkMark == 0 || e.fleet.episodeByMark(g.linkMark) == nil) {
		e.closeSeriesGap(idx, t, t.rxExp(k)+e.tau)
	}
}

// seriesMiss updates a series' periodic detector for a real-time miss of
// slot k expected at rx.
func (e *Engine) seriesMiss(idx uint32, t *tracker, k int32, rx int64) {
	t.pLong += (1 - t.pLong) * longRateGain
	e.countGapSeries(idx, rx)
	if t.run < math.MaxUint8 {
		t.run++
	}
	if t.run >= absenceRun {
		if t.run == absenceRun {
			// Take the run's earlier misses back: an absence episode
			// is not periodic evidence.
			for range absenceRun - 1 {
				t.missHead = (t.missHead - 1) & (missRing - 1)
				e.misses[idx][t.missHead] = uint16(k) - noSlot
			}
		}
		return
	}
	e.misses[idx][t.missHead] = uint16(k)
	t.missHead = (t.missHead + 1) & (missRing - 1)
	if t.missHead == 0 {
		t.flags |= flagRingFull
	}
	if t.flags&flagGap != 0 {
		g := e.gaps[idx]
		if k%g.m == g.bin {
			g.hits = 0
			if !g.confirmed {
				e.confirmSeriesGap(idx, t, g, k, rx)
			}
		}
		return
	}
	e.suspect(idx, t, k, rx)
}

// suspect runs the CUSUMs of every candidate period on the bin of slot k and
// opens a suspect gap at the strongest one that reaches seriesH.
func (e *Engine) suspect(idx uint32, t *tracker, k int32, rx int64) {
	var best struct {
		s     float64
		p     int64
		m     int32
		first int32
	}
	ring := &e.misses[idx]
	try := func(p int64) {
		m := slotsPerPeriod(p, t.cadence())
		if m < 2 || m == best.m {
			return
		}
		s, first := t.binCUSUM(ring, k, m)
		if s >= seriesH && s > best.s {
			best.s, best.p, best.m, best.first = s, p, m, first
		}
	}
	for _, p := range seriesPeriods {
		try(p)
	}
	for ep := range e.fleet.firing {
		try(ep.period)
	}
	if best.m == 0 {
		return
	}
	g := &seriesGap{
		period: best.p,
		m:      best.m,
		bin:    k % best.m,
		since:  t.rxExp(best.first),
		phase:  floorMod(rx, best.p),
	}
	e.gaps[idx] = g
	t.flags |= flagGap
	e.stats.local.GapSuspects++
	e.confirmSeriesGap(idx, t, g, k, rx)
}

// slotsPerPeriod returns m when period p is m cadences (within 1 %), else 0.
func slotsPerPeriod(p, cadence int64) int32 {
	if cadence <= 0 {
		return 0
	}
	m := (p + cadence/2) / cadence
	if m < 2 || m > noSlot/missRing || absInt(p-m*cadence)*100 > p {
		return 0
	}
	return int32(m)
}

// window returns the bit mask of the misses among slots k−jm (bit j), for j
// below the returned span, together with the number of remembered misses in
// the span that fall in other bins.
func (t *tracker) window(ring *missList, k, m int32) (hits uint32, span int32, others int) {
	horizon := int32(k) // slots since the lattice was anchored
	if t.flags&flagRingFull != 0 {
		horizon = 0
		for _, x := range ring {
			if d := int32(uint16(k) - x); d < noSlot {
				horizon = max(horizon, d)
			}
		}
	}
	span = min(missRing, horizon/m+1)
	for _, x := range ring[:t.ringLen()] {
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

func (t *tracker) ringLen() int {
	if t.flags&flagRingFull != 0 {
		return missRing
	}
	return int(t.missHead)
}

// binCUSUM runs the Bernoulli CUSUM over the bin of slot k at m slots per
// period, oldest first, and returns it with the first slot of the run of
// evidence.
func (t *tracker) binCUSUM(ring *missList, k, m int32) (s float64, first int32) {
	hits, span, others := t.window(ring, k, m)
	if span < 3 {
		return 0, k
	}
	p0 := max(float64(t.pLong), float64(others)/float64(int(span)*int(m-1)), minMissRate)
	p0 = min(p0, 0.5)
	a := math.Log(seriesP1 / p0)
	b := math.Log((1 - seriesP1) / (1 - p0))
	first = k
	for j := span - 1; j >= 0; j-- {
		if hits>>j&1 != 0 {
			if s == 0 {
				first = k - j*m
			}
			s += a
		} else {
			s = max(0, s+b)
		}
	}
	return s, first
}

// selfConfirmed applies the binomial phase-concentration test to the bin of
// slot k: are the remembered misses concentrated in it beyond chance?
func (t *tracker) selfConfirmed(ring *missList, k, m int32) bool {
	hits, _, others := t.window(ring, k, m)
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

// confirmSeriesGap confirms a suspect gap when the fleet explains it or its
// own misses are concentrated enough, and fires it.
func (e *Engine) confirmSeriesGap(idx uint32, t *tracker, g *seriesGap, k int32, rx int64) {
	at := rx + e.tau
	for ep := range e.fleet.firing {
		if ep.covers(rx) && harmonicOf(g.period, ep.period) && slotsPerPeriod(ep.period, t.cadence()) >= 2 {
			g.period = ep.period
			g.phase = floorMod(rx, ep.period)
			g.linkedTo, g.linkMark = ep.firingID, ep.mark
			e.fireSeriesGap(idx, g, max(at, ep.firedAt))
			return
		}
	}
	if t.selfConfirmed(&e.misses[idx], k, g.m) {
		e.fireSeriesGap(idx, g, at)
	}
}

// harmonicOf reports whether period p is a multiple of q, or q of p.
func harmonicOf(p, q int64) bool {
	small, large := min(p, q), max(p, q)
	k := (large + small/2) / small
	return absInt(large-k*small) <= trackTol*k
}

func (e *Engine) fireSeriesGap(idx uint32, g *seriesGap, at int64) {
	g.confirmed = true
	e.stats.local.GapsConfirmed++
	g.firingID = e.emitSeriesGap(idx, g, StateFiring, at)
}

// closeSeriesGap ends a series' gap: resolved if it fired, forgotten if it
// was only suspected.
func (e *Engine) closeSeriesGap(idx uint32, t *tracker, at int64) {
	g := e.gaps[idx]
	delete(e.gaps, idx)
	t.flags &^= flagGap
	if g.confirmed {
		e.emitSeriesGap(idx, g, StateResolved, at)
		t.forgetMisses(&e.misses[idx], uint16(t.nextK))
	}
}

// ageMisses marks empty, as of slot k, every entry of the miss list at a
// distance of noSlot or more: run every missAgeEvery slots, it keeps any
// entry from growing old enough for its 16-bit distance to wrap round and
// pass for a recent miss.
func (t *tracker) ageMisses(ring *missList, k uint16) {
	for i, x := range ring {
		if k-x >= noSlot {
			ring[i] = k - noSlot
		}
	}
}

// forgetMisses empties the miss ring as of slot k: every entry becomes
// empty and the ring counts as full, so no window reaches back past k.
func (t *tracker) forgetMisses(ring *missList, k uint16) {
	for i := range ring {
		ring[i] = k - noSlot
	}
	t.flags |= flagRingFull
}

// fleetConfirmed confirms the suspects a new fleet gap explains.
func (e *Engine) fleetConfirmed(ep *gapEpisode) {
	suspects := make([]uint32, 0, len(e.gaps))
	for idx, g := range e.gaps {
		if !g.confirmed && harmonicOf(g.period, ep.period) && slotsPerPeriod(ep.period, e.trackers[idx].cadence()) >= 2 {
			suspects = append(suspects, idx)
		}
	}
	slices.Sort(suspects) // events in a deterministic order
	for _, idx := range suspects {
		g := e.gaps[idx]
		t := &e.trackers[idx]
		k := t.nextK - 1
		for ; k >= 0 && k%g.m != g.bin; k-- {
		}
		if k < 0 || !ep.covers(t.rxExp(k)) {
			continue
		}
		g.period = ep.period
		g.phase = floorMod(t.rxExp(k), ep.period)
		g.linkedTo, g.linkMark = ep.firingID, ep.mark
		e.fireSeriesGap(idx, g, ep.firedAt)
	}
}

// countGapSeries counts a series once per firing fleet episode whose window
// holds one of its misses.
func (e *Engine) countGapSeries(idx uint32, rx int64) {
	for ep := range e.fleet.firing {
		if ep.covers(rx) && e.series[idx].gapMark != ep.mark {
			e.series[idx].gapMark = ep.mark
			ep.distinct++
		}
	}
}
