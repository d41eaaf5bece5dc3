package fleetgap

import (
	"math"
	"time"

	"github.com/faultline-go/faultline/internal/align"
)

// Phase folds: the third layer of the fleet detector, for losses too weak
// to flag bursts. For each round candidate period (the periods of retries,
// cron, lease renewals and log rotation), every phase bin keeps a CUSUM of
// its per-period binomial log-likelihood ratio "a quarter of my slots (or
// three times the period's miss rate, if more) are lost" against the miss
// rate of the rest of that period: the period's rate leaving out the bins
// within foldLeaveOut of the one tested, so that a gap does not raise the
// rate it is judged against (in a fleet of 150 checks, two lost checks
// are most of a period's misses). A second CUSUM per phase bin does the
// same for the cell of bins within foldCell of it (2.25 s): a loss smeared
// over several bins by arrival jitter wider than its window, too shallow
// in any one bin, is plain in their sum. Each period adds at most foldH/3,
// so no fewer than three occurrences can alarm; a bin (or cell) that was
// part of a flagged burst adds at most the surprise of one burst, −ln q̂,
// where q̂ is the fraction of bins flagged in the last hour. That keeps an
// aperiodic burst, or a dead check, from counting as many independent
// misses. With about 3.8 M bin-periods a day at each of the two scales,
// foldH = 20 bounds false alarms at about 0.016 a day (Lorden, union
// bound over the scales).
//
// A fold reports only while its latest period still shows the loss, and a
// resolved gap's evidence is dropped from the folds at its period and its
// multiples, so a gap that has ended is not reported again.
//
// A fold alarm at P is an alias (a sub-multiple of the true period) when a
// longer candidate Q = kP is hot at only some of the k phases θ + iP, and a
// harmonic when a shorter non-alias candidate dividing P is hot at θ mod P'.
// Either way it is not reported: the fundamental is.

var foldPeriods = []int64{
	int64(10 * time.Second), int64(15 * time.Second), int64(20 * time.Second), int64(30 * time.Second),
	int64(time.Minute), int64(2 * time.Minute), int64(5 * time.Minute), int64(10 * time.Minute),
	int64(15 * time.Minute), int64(30 * time.Minute), int64(time.Hour),
}

const (
	foldP1 = 0.25
	// foldEffect keeps the effect size well above a high background: a
	// phase bin must lose at least this multiple of the period's miss rate.
	// Series sit at fixed phases and lose at different rates, so bins differ
	// a little in their loss rate for good; that is not a periodic gap.
	foldEffect = 3.0
	foldH      = 20.0
	// foldMax caps a fold's CUSUM, so that evidence of a long gap is
	// forgotten within a few periods once it stops.
	foldMax = 2 * foldH
	// aliasRatio: a longer fold whose coldest phase is below this share of
	// its hottest is hot at only some phases.
	aliasRatio = 0.25
	// foldLeaveOut is how far (in bins, 2 s) the bins left out of the
	// rate a bin is judged against reach on either side of it: a lossy
	// window's own misses, give or take the arrival jitter.
	foldLeaveOut = 8
	// foldCell is the half-width of the cells of the second scale, in
	// bins: a cell is 2·foldCell + 1 bins (2.25 s), and leaves out
	// foldCell + foldLeaveOut bins on either side for its rate.
	foldCell = 4
)

// fold is the phase fold at one candidate period.
type fold struct {
	period int64
	nb     int64        // phase bins per period
	sc     [2]foldScale // single bins, and cells of 2·foldCell + 1 bins
	cur    int64        // period index being accumulated
	end    int64        // first bin of the next period
	init   bool
}

// foldScale is one scale of a fold: per phase bin, the CUSUM of the bin
// (scale 0) or of the cell centred on it (scale 1).
type foldScale struct {
	s    []float32 // CUSUM per phase bin
	rose []int32   // period index at which each bin's CUSUM last left zero
	last []bool    // whether the last period added evidence to the bin
}

func newFold(p int64) *fold {
	return &fold{period: p, nb: p / binRes}
}

// alloc allocates the fold's phase bins (fleet.alloc).
func (fd *fold) alloc() {
	for i := range fd.sc {
		fd.sc[i] = foldScale{s: make([]float32, fd.nb), rose: make([]int32, fd.nb), last: make([]bool, fd.nb)}
	}
}

func (fd *fold) reset() {
	for i := range fd.sc {
		clear(fd.sc[i].s)
	}
	fd.init = false
}

// complete notes that bin b is complete; the first bin of a new period
// finalizes the previous one.
func (fd *fold) complete(f *Detector, b int64) {
	if fd.init && b < fd.end {
		return // the common case: one comparison per bin
	}
	pi := align.FloorDiv(b, fd.nb)
	if fd.init {
		fd.finalize(f, fd.cur, f.completionTime(b))
	}
	fd.init, fd.cur, fd.end = true, pi, (pi+1)*fd.nb
}

// prefixSum is the sum of a period's first phase bins: slots, misses and
// burst bins.
type prefixSum struct {
	e, m uint64
	hits uint64
}

// prefixes fills f.pre with the prefix sums of the period of nb bins
// starting at bin b0: f.pre[i] sums its phase bins 0 … i−1. Any window's
// sums then take two lookups (span), instead of a sliding window stepped
// at every phase bin, three times.
func (f *Detector) prefixes(b0, nb int64) []prefixSum {
	if int64(cap(f.pre)) < nb+1 {
		f.pre = make([]prefixSum, nb+1) // for the longest fold, once
	}
	pre := f.pre[:nb+1]
	var acc prefixSum
	pre[0] = acc
	for j := int64(0); j < nb; j++ {
		bn := f.bin(b0 + j)
		acc.e += uint64(bn.e)
		acc.m += uint64(bn.m)
		if bn.burst {
			acc.hits++
		}
		pre[j+1] = acc
	}
	return pre
}

// plus returns p + q.
func (p prefixSum) plus(q prefixSum) prefixSum {
	return prefixSum{e: p.e + q.e, m: p.m + q.m, hits: p.hits + q.hits}
}

// minus returns p − q.
func (p prefixSum) minus(q prefixSum) prefixSum {
	return prefixSum{e: p.e - q.e, m: p.m - q.m, hits: p.hits - q.hits}
}

// span returns the sums over the phase bins within r of phase bin j,
// around the period (folds wrap), for 2r + 1 ≤ nb.
func span(pre []prefixSum, j, r, nb int64) prefixSum {
	a, b := j-r, j+r+1 // [a, b)
	switch {
	case a < 0:
		return pre[nb].minus(pre[a+nb]).plus(pre[b])
	case b > nb:
		return pre[nb].minus(pre[a]).plus(pre[b-nb])
	}
	return pre[b].minus(pre[a])
}

// finalize adds period pi's evidence to every phase bin, at both scales,
// and reports alarms.
func (fd *fold) finalize(f *Detector, pi int64, at int64) {
	b0 := pi * fd.nb
	var sumE, sumM uint64
	for j := int64(0); j < fd.nb; j++ {
		bn := f.bin(b0 + j)
		sumE += uint64(bn.e)
		sumM += uint64(bn.m)
	}
	if sumE == 0 {
		return
	}
	if sumM == 0 && fd.sc[0].zero() && fd.sc[1].zero() {
		// No miss in the period and every CUSUM at zero: no bin gains
		// evidence (see foldScale.add), which is the common case.
		clear(fd.sc[0].last)
		clear(fd.sc[1].last)
		return
	}
	p := max(float64(sumM)/float64(sumE), minMissRate)
	p1 := max(foldP1, foldEffect*p)
	if p1 >= 1 {
		return // the whole fleet is losing: nothing to fold
	}
	burstCap := f.burstSurprise()
	// The windows: the bins left out around a bin, the cell around it,
	// and the bins left out around the cell (each at most half the
	// period, for the short folds). The rest of the period is taken only
	// for a bin or cell that may gain evidence (foldScale.quiet).
	half := (fd.nb - 1) / 2
	r0, rc, r1 := min(foldLeaveOut, half), min(foldCell, half), min(foldCell+foldLeaveOut, half)
	pre := f.prefixes(b0, fd.nb)
	alarm := false
	for j := int64(0); j < fd.nb; j++ {
		bn := f.bin(b0 + j)
		if sc := &fd.sc[0]; sc.quiet(j, uint64(bn.e), uint64(bn.m)) {
			sc.last[j] = false
		} else {
			out := span(pre, j, r0, fd.nb)
			alarm = sc.add(j, pi, uint64(bn.e), uint64(bn.m), bn.burst, sumE-out.e, sumM-out.m, p1, burstCap) || alarm
		}
		cell := span(pre, j, rc, fd.nb)
		if sc := &fd.sc[1]; sc.quiet(j, cell.e, cell.m) {
			sc.last[j] = false
		} else {
			out := span(pre, j, r1, fd.nb)
			alarm = sc.add(j, pi, cell.e, cell.m, cell.hits > 0, sumE-out.e, sumM-out.m, p1, burstCap) || alarm
		}
	}
	if alarm {
		fd.alarms(f, pi, at)
	}
}

// zero reports whether every phase bin's CUSUM is at zero.
func (sc *foldScale) zero() bool {
	for _, v := range sc.s {
		if v != 0 {
			return false
		}
	}
	return true
}

// quiet reports whether e slots and m misses in a period give phase bin
// j of a scale no evidence: there were no slots; or no miss, which could
// only lower a CUSUM that is at zero already (the common case: no
// logarithm, and no need of the rest of the period's rate).
func (sc *foldScale) quiet(j int64, e, m uint64) bool {
	return e == 0 || m == 0 && sc.s[j] == 0
}

// add adds one period's evidence to phase bin j of a scale: e slots and m
// misses, judged against the rate of the rest of the period (outE slots,
// outM misses); burst says whether a flagged burst touched them. It
// reports whether the bin's CUSUM reached foldH.
func (sc *foldScale) add(j, pi int64, e, m uint64, burst bool, outE, outM uint64, p1, burstCap float64) bool {
	if sc.quiet(j, e, m) {
		sc.last[j] = false
		return false
	}
	p0 := p1 // no rest of the period to judge against: no evidence
	if outE > 0 {
		p0 = max(float64(outM)/float64(outE), minMissRate)
	}
	l := 0.0
	if p1 > p0 && (float64(m) > p0*float64(e) || sc.s[j] > 0) {
		// (No more misses than the null rate says could only lower a
		// CUSUM at zero already: the evidence is −e·KL(p₀‖p₁) at
		// m = p₀·e, and grows with m.)
		l = min(float64(m)*math.Log(p1/p0)+float64(e-m)*math.Log((1-p1)/(1-p0)), foldH/3)
	}
	if burst {
		l = min(l, burstCap)
	}
	prev := sc.s[j]
	sc.s[j] = float32(min(max(0, float64(prev)+l), foldMax))
	sc.last[j] = l > 0
	if prev == 0 && sc.s[j] > 0 {
		sc.rose[j] = int32(pi)
	}
	return sc.s[j] >= foldH
}

// alarms reports each run of hot phase bins that holds an alarm, at
// either scale. A run of hot cells reaches foldCell bins past the loss on
// either side (each cell holds the loss from that far): it is reported
// without them.
func (fd *fold) alarms(f *Detector, pi int64, at int64) {
	for k := range fd.sc {
		sc := &fd.sc[k]
		for j := int64(0); j < fd.nb; {
			if sc.s[j] < foldH/2 {
				j++
				continue
			}
			start, peak, rose, active := j, float32(0), sc.rose[j], false
			for ; j < fd.nb && sc.s[j] >= foldH/2; j++ {
				peak = max(peak, sc.s[j])
				rose = min(rose, sc.rose[j])
				active = active || sc.last[j]
			}
			if peak < foldH || !active {
				continue
			}
			a, b := start, j
			if k == 1 {
				if b-a > 2*foldCell {
					a, b = a+foldCell, b-foldCell
				} else {
					a = (a + b) / 2
					b = a + 1
				}
			}
			f.foldAlarm(fd, a*binRes, b*binRes, int64(rose)*fd.period, pi, at)
		}
	}
}

// forget drops the evidence in the bins of [start, end) (ns into any
// period), and of the cells that reach into it: the gap it shows has been
// reported and has ended.
func (fd *fold) forget(start, end int64) {
	for t := start - windowSlack; t < end+windowSlack; t += binRes {
		fd.sc[0].s[align.FloorMod(t, fd.period)/binRes] = 0
	}
	for t := start - windowSlack - foldCell*binRes; t < end+windowSlack+foldCell*binRes; t += binRes {
		fd.sc[1].s[align.FloorMod(t, fd.period)/binRes] = 0
	}
}

// heat returns the hottest CUSUM, at either scale, over the bins of
// [start, end) (ns into the fold's period, taken modulo it).
func (fd *fold) heat(start, end int64) float32 {
	var h float32
	for t := start; t < end; t += binRes {
		j := align.FloorMod(t, fd.period) / binRes
		h = max(h, fd.sc[0].s[j], fd.sc[1].s[j])
	}
	return h
}

// alias reports whether a fold alarm at [start, end) is a sub-multiple of a
// longer candidate's gap.
func (f *Detector) alias(fd *fold, start, end int64) bool {
	for _, q := range f.folds {
		if q.period <= fd.period || q.period%fd.period != 0 {
			continue
		}
		k := q.period / fd.period
		hottest, coldest := float32(0), float32(math.MaxFloat32)
		for i := int64(0); i < k; i++ {
			h := q.heat(start+i*fd.period, end+i*fd.period)
			hottest, coldest = max(hottest, h), min(coldest, h)
		}
		if hottest >= foldH/2 && coldest < aliasRatio*hottest {
			return true
		}
	}
	return false
}

// harmonic reports whether a fold alarm at [start, end) repeats a shorter
// non-alias candidate's gap.
func (f *Detector) foldHarmonic(fd *fold, start, end int64) bool {
	for _, q := range f.folds {
		if q.period >= fd.period || fd.period%q.period != 0 {
			continue
		}
		if q.heat(start, end) >= foldH/2 && !f.alias(q, start, end) {
			return true
		}
	}
	return false
}

// foldAlarm opens an episode for a fold alarm at the fundamental period.
func (f *Detector) foldAlarm(fd *fold, start, end, since, pi, at int64) {
	if f.alias(fd, start, end) || f.foldHarmonic(fd, start, end) {
		return
	}
	ep := f.promote(since+start, fd.period, start, end, at)
	if ep == nil {
		return
	}
	_, m, _, _ := f.windowCounts(ep, pi)
	ep.seriesEst = int(m)
	ep.lossy, ep.skipped = 3, 0 // a fold alarms after three lossy periods at least
	f.fire(ep, at)
}

// burstSurprise is the evidence one flagged burst bin may add to a fold:
// −ln of the fraction of bins flagged in the last hour.
func (f *Detector) burstSurprise() float64 {
	var flagged int64
	horizon := f.done*binRes - burstWindow
	for _, b := range f.bursts {
		if b.end > horizon {
			flagged += (b.end - b.start) / binRes
		}
	}
	observed := min(f.done-binOf(f.startAt), burstWindow/binRes)
	if flagged == 0 || observed <= 0 {
		return foldH / 3
	}
	return -math.Log(min(float64(flagged)/float64(observed), 1))
}
