// Package deliveryloss detects a periodic loss of deliveries that loses no
// data: with several copies of every sample delivered (at-least-once
// delivery through redundant paths), a part of the copies vanishes in the
// same phase window every period while every sample still arrives through
// another copy. No slot is ever empty, so the gap detectors see nothing;
// it is the warning before data is lost.
//
// The evidence is counted per 0.25-s bin of expected arrival time, beside
// the fleet detector's slot judgments (package fleetgap owns the bins and
// hands each completed one over, see Fleet): the slots filled on time, and
// the redundant copies of them that arrived by their on-time deadline.
//
// For each round candidate period (those of the gap folds, 10 s … 1 h),
// each phase bin is judged by the cell of three bins centred on it, and
// keeps:
//
//   - a baseline: the copies a filled slot of the cell normally brings,
//     averaged over about the last eight periods that lost nothing unusual,
//     learned for ten minutes (and four periods) before the bin is tested.
//     Series sit at fixed phases, so a bin whose series send fewer copies
//     has a lower baseline for good. A period with more than twice the
//     baseline (a duplicate storm, a retry burst) teaches it nothing,
//     unless that lasts an hour, so that the end of a storm is no loss; a
//     period that lost copies teaches it a sixty-fourth of its worth, so
//     that a baseline learned too high does not stay so;
//
//   - its usual shortfall: the missing copies of its periods, in slot
//     equivalents, averaged over about the last 32;
//
//   - a CUSUM of the binomial log-likelihood ratio of this period's missing
//     copies m (E = baseline × filled slots expected, m = max(0, E − got),
//     m counted in slot equivalents among n = the filled slots: the copies of a
//     sample may be lost together), "the cell loses a quarter of them, or
//     three times the period's share or its own usual shortfall, if more"
//     against the larger of its usual shortfall and the rate at which the
//     rest of the period loses them (leaving out the bins within 2 s),
//     floored at 0.1 %:
//
//     ℓ = [m·ln(p₁/p₀) + (n − m)·ln((1 − p₁)/(1 − p₀))] / φ
//
// where φ ≥ 1 is the period's overdispersion: how much more its cells vary
// than the binomial model says (the median of their squared Pearson
// residuals over that of χ²₁). Copies per sample vary from sample to sample
// (a source that sends one to seven, copies that straggle past the
// deadline); dividing by φ (quasi-likelihood) keeps such sources from
// adding up evidence. The effect size keeps a loss of copies spread over
// the whole period (copies lost at random, a broker down for minutes) from
// giving evidence anywhere, and a period losing a third of its copies or
// more is not tested at all. Each period adds at most copyH/3 (no fewer
// than three occurrences can alarm), and a run of hot bins wider than a
// quarter of the period is no phase. With about 3.8 M bin-periods a day,
// copyH = 20 bounds false alarms at about 0.008 a day (Lorden) for a
// binomial null; beyond it, the unit tests and the scorecard's controls
// (copies lost at random, uneven redundancy, duplicate storms, floods of
// late data, drifting clocks) are what it is measured against.
//
// A period is read 2 s after it ends (settleBins: a slot may be judged a
// little after its bin completed), and a cell with a bin in the shadow of
// a burst of lost samples gives no evidence: the samples at a gap's or a
// hold's edges lose some of their copies, which is the gap's loss.
//
// An alarm opens a periodic delivery loss episode at the fundamental
// period: one already open at a multiple or divisor of the period whose
// window overlaps suppresses it, and so does a periodic gap in the window
// (the fleet detector's, see Fleet): a gap loses copies too. Each later
// occurrence is judged against the copies its window had when the episode
// fired, at the episode's own loss rate; two clean occurrences in a row
// resolve it, and its evidence is dropped from the folds.
//
// Only candidate periods are searched: unlike gaps, lost copies make no
// bursts whose spacing would discover an arbitrary period.
//
// This package must not know about samples, series, rules, labels or
// events.
package deliveryloss

import (
	"math"
	"slices"

	"github.com/faultline-go/faultline/internal/align"
	"github.com/faultline-go/faultline/internal/episode"
	"github.com/faultline-go/faultline/internal/frame"
)

const (
	// copyEffect is the effect size: a bin must lose at least this share
	// of the copies its baseline expects before it gives evidence.
	copyEffect = 0.25
	// periodEffect: a bin must lose at least this multiple of the whole
	// period's shortfall.
	periodEffect = 3.0
	// minLoss is the floor of the rate copies are lost at.
	minLoss = 0.001
	// leaveOut is how far (in bins, 2 s) the bins left out of the rate a
	// bin is judged against reach on either side of it.
	leaveOut = 8
	copyH    = 20.0
	copyMax  = 2 * copyH
	// baseGain is the weight of a period in a bin's baseline: about the
	// last eight periods count.
	baseGain = 1.0 / 8
	// missTol: a cell missing less than this share of the copies it
	// expects misses none (the rounding of a float32 baseline).
	missTol = 1e-3
	// usualGain is the weight of a period in a bin's usual shortfall:
	// about the last 32 periods count.
	usualGain = 1.0 / 32
	// hotGain is the weight of a period that lost copies in the bin's
	// baseline: a sixty-fourth.
	hotGain = 1.0 / 64
	// learnFor is how long a bin's baseline learns before it is tested:
	// ten minutes, and at least four periods (a young series' lattice
	// and delivery lag settle in the first minutes, and with them the
	// share of its copies that make the deadline).
	learnFor = int64(600 * 1e9)
	// highRatio: a period with more than this multiple of a bin's
	// baseline copies is a storm of redeliveries, not the bin's normal.
	highRatio = 2.0
	// highFor is how long a storm must last before it is the new
	// normal: an hour, and at least eight periods.
	highFor = int64(3600 * 1e9)
	// maxWidth: a run of hot bins wider than this share of the period is
	// no phase window.
	maxWidth = 0.25
	// cleanToResolve is how many clean occurrences in a row resolve an
	// episode.
	cleanToResolve = 2
	// windowSlack widens an episode's window when judging an occurrence.
	windowSlack = int64(500 * 1e6)
	// settleBins is how many bins after a period's end its fold waits
	// before it reads the period (2 s): a slot may be judged a little
	// after its bin completed, when its series' lattice moved earlier
	// after its judgment was scheduled (a young lattice, wide jitter),
	// and a bin whose copies are counted but whose slots are not all
	// judged yet would look like one that lost copies.
	settleBins = 8
)

// Fleet is what the detector needs of the fleet detector that owns it:
// the counts of a completed bin (the slots expected in it that were filled
// on time, and the redundant copies of them that arrived by their on-time
// deadline), whether the bin is in the shadow of a burst of lost samples
// (its samples' copies are the gap's loss: a cell with such a bin gives no
// evidence and teaches its baseline nothing), and whether a loss of whole samples explains a loss of copies
// at period p in the window [start, end) (ns into the period) at time at:
// a gap also loses the copies of the samples it only partly loses.
type Fleet interface {
	Delivered(bin int64) (fills, copies uint32, shadow bool)
	Explained(p, start, end, at int64) bool
}

// fold is the fold at one candidate period.
type fold struct {
	period  int64
	nb      int64     // phase bins per period
	base    []float32 // copies per filled slot, the bin's baseline (0: none yet)
	weight  []float32 // the filled slots the baseline stands for (decayed)
	high    []uint16  // periods in a row with far more copies than the baseline
	learned []uint8   // periods the baseline has learned from (saturating)
	usual   []float32 // the bin's usual shortfall, in slot equivalents per filled slot
	s       []float32 // CUSUM
	rose    []int32   // period index at which each bin's CUSUM last left zero
	last    []bool    // whether the last period added evidence to the bin
	learn   int64     // periods a bin's baseline learns before it is tested (learnPeriods)
	cur     int64     // period index being accumulated
	end     int64     // first bin of the next period
	init    bool
}

// Episode is a periodic delivery loss, firing.
type Episode struct {
	mark                 uint32
	since                int64 // start of the window in the period its fold's CUSUM rose
	period               int64
	phaseStart, phaseEnd int64 // window, ns into the period
	firedAt              int64
	series               int     // filled slots in its window, per period: the series whose copies it thins
	ratio                float64 // copies per filled slot its window expected when it fired
	lossE, lossD         float64 // copies expected and delivered in its lossy occurrences
	clean                int     // clean occurrences in a row
	nextCheck            int64   // period index of the next occurrence to judge
}

// Detector is the periodic delivery loss detector.
type Detector struct {
	binRes   int64
	folds    []*fold
	alloced  bool
	episodes []*Episode
	nextMark uint32
	out      []episode.Transition
	// Scratch, while a period is finalized: its filled slots and copies
	// per bin and per cell, the copies each cell expected and missed, and
	// the cells' residuals.
	binF, binC, cellF, cellC, expE, missM, resid []float64
}

// New returns a detector for bins of binRes ns, at the candidate periods
// given (each a multiple of binRes).
func New(binRes int64, periods []int64) *Detector {
	d := &Detector{binRes: binRes}
	for _, p := range periods {
		fd := &fold{period: p, nb: p / binRes}
		fd.learn = fd.learnPeriods()
		d.folds = append(d.folds, fd)
	}
	return d
}

// Allocate allocates the folds' phase bins (about 0.5 MB), at the first
// redundant copy: a fleet without redundancy never pays for them.
func (d *Detector) Allocate() {
	if d.alloced {
		return
	}
	d.alloced = true
	for _, fd := range d.folds {
		fd.base = make([]float32, fd.nb)
		fd.weight = make([]float32, fd.nb)
		fd.high = make([]uint16, fd.nb)
		fd.learned = make([]uint8, fd.nb)
		fd.usual = make([]float32, fd.nb)
		fd.s = make([]float32, fd.nb)
		fd.rose = make([]int32, fd.nb)
		fd.last = make([]bool, fd.nb)
	}
}

// Reset forgets every fold's evidence and baselines after a jump of the
// clock; open episodes stay, their occurrences judged from the new time.
func (d *Detector) Reset() {
	for _, fd := range d.folds {
		if d.alloced {
			clear(fd.base)
			clear(fd.weight)
			clear(fd.high)
			clear(fd.learned)
			clear(fd.usual)
			clear(fd.s)
			clear(fd.last)
		}
		fd.init = false
	}
}

// Complete notes that bin b is complete at time at: settleBins after the
// end of a fold's period, the fold finalizes it. Transitions are
// appended to out, which is returned.
func (d *Detector) Complete(b, at int64, bins Fleet, out []episode.Transition) []episode.Transition {
	if !d.alloced {
		return out
	}
	d.out = out
	for _, fd := range d.folds {
		if fd.init && b < fd.end+settleBins {
			continue // the common case: one comparison per bin
		}
		pi := align.FloorDiv(b-settleBins, fd.nb)
		if fd.init {
			d.finalize(fd, fd.cur, bins, at)
		}
		fd.init, fd.cur, fd.end = true, pi, (pi+1)*fd.nb
	}
	out, d.out = d.out, nil
	return out
}

// finalize adds period pi's evidence to every phase bin of fd, judges the
// occurrences of the open episodes at fd's period, and reports alarms.
//
// A phase bin is judged by the cell of three bins centred on it: a slot's
// copies are counted in the bin of its expected arrival when they arrive,
// and the slot when it is judged, and a late sample of its series arriving
// in between moves that expected arrival by a few milliseconds, now and
// then across a bin's edge; within a cell that changes nothing.
func (d *Detector) finalize(fd *fold, pi int64, bins Fleet, at int64) {
	b0 := pi * fd.nb
	if int64(len(d.cellF)) < fd.nb {
		d.binF, d.binC = make([]float64, fd.nb), make([]float64, fd.nb)
		d.cellF, d.cellC = make([]float64, fd.nb), make([]float64, fd.nb)
		d.expE, d.missM = make([]float64, fd.nb), make([]float64, fd.nb)
	}
	binF, binC := d.binF[:fd.nb], d.binC[:fd.nb]
	cellF, cellC := d.cellF[:fd.nb], d.cellC[:fd.nb]
	expE, missM := d.expE[:fd.nb], d.missM[:fd.nb]
	// Each bin once, then each cell the sum of its three bins: −Inf for a
	// cell with a bin in a burst's shadow, which gives no evidence. (The
	// counts are integers: their float sums are exact in any order. A
	// shadowed cell's copies are never read.)
	for j := range fd.nb {
		f, c, shadow := bins.Delivered(b0 + j)
		binF[j], binC[j] = float64(f), float64(c)
		if shadow {
			binF[j] = math.Inf(-1)
		}
	}
	last := fd.nb - 1
	for k := range fd.nb {
		lo, hi := k-1, k+1
		if k == 0 {
			lo = last
		}
		if k == last {
			hi = 0
		}
		cellF[k] = binF[lo] + binF[k] + binF[hi]
		cellC[k] = binC[lo] + binC[k] + binC[hi]
	}
	// The copies each cell expected and missed, with the baselines as they
	// were before this period.
	var sumE, sumM float64
	for j := range fd.nb {
		expE[j], missM[j] = 0, 0
		if cellF[j] > 0 && fd.base[j] > 0 {
			expE[j] = float64(fd.base[j]) * cellF[j]
			if miss := expE[j] - cellC[j]; miss > missTol*expE[j] {
				missM[j] = miss
			}
		}
		sumE += expE[j]
		sumM += missM[j]
	}
	p1 := copyEffect
	if sumE > 0 {
		p1 = max(copyEffect, periodEffect*sumM/sumE)
	}
	test := p1 < 1
	p := min(max(sumM/max(sumE, 1), minLoss), 0.5) // the period's rate, for residuals
	// The dispersion takes a sort of the period's cells: only when some
	// cell may give evidence (a missing copy, or a CUSUM above zero).
	phi, need := 1.0, sumM > 0
	for j := int64(0); !need && j < fd.nb; j++ {
		need = fd.s[j] > 0
	}
	if need {
		phi = d.dispersion(fd, cellF, expE, missM, p)
	}
	r := min(leaveOut, (fd.nb-1)/2)
	var outE, outM float64 // over the bins within r of phase bin j
	for i := -r; i <= r; i++ {
		outE += expE[wrap(i, fd.nb)]
		outM += missM[wrap(i, fd.nb)]
	}
	alarm := false
	for j := range fd.nb {
		if j > 0 {
			in, out := wrap(j+r, fd.nb), wrap(j-r-1, fd.nb)
			outE += expE[in] - expE[out]
			outM += missM[in] - missM[out]
		}
		f, c := cellF[j], cellC[j]
		if f <= 0 {
			fd.last[j] = false
			continue
		}
		l, rate := 0.0, -1.0
		if expE[j] > 0 {
			// In slot equivalents: the copies of a sample may be lost
			// together (they travel together, or arrive late together),
			// so its baseline copies count as one trial.
			m := missM[j] / float64(fd.base[j])
			rate = m / f
			p0 := max(minLoss, float64(fd.usual[j]))
			if rest := sumE - outE; rest > 0 {
				p0 = max((sumM-outM)/rest, p0)
			}
			p1 := max(p1, periodEffect*float64(fd.usual[j]))
			// No more missing copies than the null rate says could only
			// lower a CUSUM at zero already (the evidence is −n·KL(p₀‖p₁)
			// at m = p₀·n, and grows with m): no logarithm then, the
			// common case.
			if p1 > p0 && p1 < 1 && test && int64(fd.learned[j]) >= fd.learn && (m > p0*f || fd.s[j] > 0) {
				l = min((m*math.Log(p1/p0)+(f-m)*math.Log((1-p1)/(1-p0)))/phi, copyH/3)
			}
		}
		prev := fd.s[j]
		fd.s[j] = float32(min(max(0, float64(prev)+l), copyMax))
		fd.last[j] = l > 0
		if prev == 0 && fd.s[j] > 0 {
			fd.rose[j] = int32(pi)
		}
		if fd.s[j] >= copyH {
			alarm = true
		}
		if fd.learned[j] < math.MaxUint8 {
			fd.learned[j]++
		}
		switch {
		case l > 0:
			// A loss of copies teaches the baseline little: it follows
			// slowly, so that a baseline learned too high does not
			// stay so, and a loss that lasts for hours becomes the
			// normal.
			w := fd.weight[j]*(1-hotGain) + float32(f)*hotGain/baseGain
			fd.base[j] = (fd.base[j]*fd.weight[j]*(1-hotGain) + float32(c)*hotGain/baseGain) / w
			fd.weight[j] = w
		case fd.base[j] > 0 && c > highRatio*float64(fd.base[j])*f:
			// Far more copies than usual: a duplicate storm, a retry
			// burst. Its end must not look like a loss, so it teaches
			// the baseline nothing either, unless it lasts (highReset):
			// then it is the new normal.
			if fd.high[j]++; int64(fd.high[j]) >= fd.highReset() {
				fd.base[j], fd.weight[j], fd.high[j] = float32(c/f), float32(f), 0
			}
		default:
			// The baseline learns from the periods in which the bin lost
			// nothing unusual: copies per filled slot, over about the
			// last eight periods.
			w := fd.weight[j]*(1-baseGain) + float32(f)
			fd.base[j] = (fd.base[j]*fd.weight[j]*(1-baseGain) + float32(c)) / w
			fd.weight[j] = w
			fd.high[j] = 0
		}
		if rate >= 0 {
			// Every period teaches the bin's usual shortfall: the mean
			// of its first periods, then an average over about the last
			// 32.
			g := usualGain
			if fd.learned[j] < 1/usualGain {
				g = 1 / float64(fd.learned[j])
			}
			fd.usual[j] += float32(g * (rate - float64(fd.usual[j])))
		}
	}
	d.judge(fd, pi-1, bins, at)
	if alarm {
		d.alarms(fd, pi, bins, at)
	}
}

// wrap returns phase bin i of a period of nb bins, for −nb ≤ i < 2·nb
// (cheaper than a division by a variable, on every bin of every period).
func wrap(i, nb int64) int64 {
	switch {
	case i < 0:
		return i + nb
	case i >= nb:
		return i - nb
	}
	return i
}

// dispersion returns how much more the cells of a period vary in their
// missing copies than the binomial model says, at least 1: the median
// over the cells of the squared Pearson residual m − p·n (slot
// equivalents, p the period's rate), divided by its value under the model
// (0.455, the median of χ²₁). Copies per sample vary from sample to sample
// (a source that sends one to seven, copies that straggle past the
// deadline), which makes the misses of a cell vary far more than
// independent trials would; the evidence of a period is divided by this
// factor (quasi-likelihood), so that the bound of the CUSUM holds for
// such sources too. The median ignores the few cells of a window that
// does lose copies.
func (d *Detector) dispersion(fd *fold, cellF, expE, missM []float64, p float64) float64 {
	if p <= 0 || p >= 1 {
		return 1
	}
	r := d.resid[:0]
	for j := range fd.nb {
		if expE[j] <= 0 {
			continue
		}
		m, n := missM[j]/float64(fd.base[j]), cellF[j]
		r = append(r, (m-p*n)*(m-p*n)/(p*(1-p)*n))
	}
	d.resid = r
	if len(r) < 8 {
		return 1
	}
	mid := len(r) / 2
	slices.Sort(r)
	return max(1, r[mid]/0.455)
}

// window returns the expected and delivered copies in the bins of
// [start, end) of period pi (start, end: ns into the period, taken as
// given; they may pass its ends), counting only bins with a baseline.
func (d *Detector) window(fd *fold, pi, start, end int64, bins Fleet) (e, c float64, fills int) {
	for t := start; t < end; t += d.binRes {
		j := align.FloorMod(t, fd.period) / d.binRes
		b := pi*fd.nb + align.FloorDiv(t, d.binRes)
		f, n, shadow := bins.Delivered(b)
		if f == 0 || fd.base[j] == 0 || shadow {
			continue
		}
		e += float64(fd.base[j]) * float64(f)
		c += float64(n)
		fills += int(f)
	}
	return e, c, fills
}

// alarms opens an episode for each run of hot bins that holds an alarm
// and is narrow enough to be a phase, unless an open episode names it.
func (d *Detector) alarms(fd *fold, pi int64, bins Fleet, at int64) {
	for j := int64(0); j < fd.nb; {
		if fd.s[j] < copyH/2 {
			j++
			continue
		}
		start, peak, rose, active := j, float32(0), fd.rose[j], false
		for ; j < fd.nb && fd.s[j] >= copyH/2; j++ {
			peak = max(peak, fd.s[j])
			rose = min(rose, fd.rose[j])
			active = active || fd.last[j]
		}
		// Cells reach a bin past the loss on either side.
		lo, hi := start, j
		if hi-lo > 2 {
			lo, hi = lo+1, hi-1
		}
		a, b := lo*d.binRes, hi*d.binRes
		if peak < copyH || !active || float64(b-a) > maxWidth*float64(fd.period) {
			continue
		}
		if d.named(fd.period, a, b, at) || bins.Explained(fd.period, a, b, at) {
			continue
		}
		d.nextMark++
		ep := &Episode{mark: d.nextMark, since: int64(rose)*fd.period + a, period: fd.period,
			phaseStart: a, phaseEnd: b, firedAt: at, nextCheck: pi + 1}
		e, c, fills := d.window(fd, pi, a, b, bins)
		ep.lossE, ep.lossD, ep.series = e, c, fills
		ep.ratio = e / max(float64(fills), 1)
		d.episodes = append(d.episodes, ep)
		d.emit(ep, episode.Firing, at)
	}
}

// named reports whether an open episode names the loss of period p in the
// window [start, end): the same period or a multiple or divisor of it, and
// windows that overlap at the occurrences nearest at.
func (d *Detector) named(p, start, end, at int64) bool {
	for _, ep := range d.episodes {
		small, large := min(p, ep.period), max(p, ep.period)
		if large%small != 0 {
			continue
		}
		a := start + align.FloorDiv(at-start, p)*p
		b := ep.phaseStart + align.FloorDiv(a-ep.phaseStart+ep.period/2, ep.period)*ep.period
		dist := align.FloorMod(a-b, small)
		dist = min(dist, small-dist)
		if dist <= max(end-start, ep.phaseEnd-ep.phaseStart)+2*windowSlack {
			return true
		}
	}
	return false
}

// judge judges the occurrence in period pi of each open episode at fd's
// period, one period after it ended (so that a window that passes the
// period's end is complete too): lossy when its missing copies are likelier
// under the episode's own loss rate than under the floor rate, clean
// otherwise. Two clean occurrences in a row
// resolve the episode.
func (d *Detector) judge(fd *fold, pi int64, bins Fleet, at int64) {
	for i := 0; i < len(d.episodes); i++ {
		ep := d.episodes[i]
		if ep.period != fd.period || pi < ep.nextCheck {
			continue
		}
		ep.nextCheck = pi + 1
		_, c, fills := d.window(fd, pi, ep.phaseStart-windowSlack, ep.phaseEnd+windowSlack, bins)
		// Judged against the copies the window had before the loss, not
		// against baselines that have since begun to follow it.
		e := ep.ratio * float64(fills)
		if e == 0 {
			continue // nothing to judge by
		}
		// The episode's own loss rate against the floor: a loss that
		// goes on keeps losing about as many copies.
		q := min(max(1-ep.lossD/max(ep.lossE, 1), copyEffect/2), 0.999)
		m := max(0, e-c)
		if m*math.Log(q/minLoss)+(e-m)*math.Log((1-q)/(1-minLoss)) > 0 { // (scaling by the baseline changes no sign)
			ep.clean = 0
			ep.lossE += e
			ep.lossD += c
			continue
		}
		if ep.clean++; ep.clean < cleanToResolve {
			continue
		}
		d.episodes = slices.Delete(d.episodes, i, i+1)
		i--
		d.forget(ep)
		d.emit(ep, episode.Resolved, at)
	}
}

// forget drops a resolved loss's evidence from the folds at its period's
// multiples and divisors.
func (d *Detector) forget(ep *Episode) {
	d.Forget(ep.period, ep.phaseStart-windowSlack, ep.phaseEnd+windowSlack)
}

// Forget drops the evidence of a loss of period p in the window
// [start, end) (ns, taken modulo any period) from the folds at p's
// multiples and divisors, at every occurrence their periods hold: the
// fleet detector calls it for a gap that resolved, whose samples' copies
// were lost at its edges while it lasted.
func (d *Detector) Forget(p, start, end int64) {
	if !d.alloced {
		return
	}
	for _, fd := range d.folds {
		if fd.period%p != 0 && p%fd.period != 0 {
			continue
		}
		for off := int64(0); off < fd.period; off += p {
			for t := start; t < end; t += d.binRes {
				fd.s[align.FloorMod(t+off, fd.period)/d.binRes] = 0
			}
			if fd.period <= p {
				break
			}
		}
	}
}

// emit records an episode's transition.
func (d *Detector) emit(ep *Episode, state episode.State, at int64) {
	start := align.FloorMod(ep.phaseStart, ep.period)
	d.out = append(d.out, episode.Transition{
		Kind: episode.PeriodicDeliveryLoss, State: state, Subject: ep.mark, Since: ep.since, At: at, Value: math.NaN(),
		Gap: &episode.Gap{Period: ep.period, PhaseStart: start, PhaseEnd: start + ep.phaseEnd - ep.phaseStart,
			Series: ep.series, LateFraction: math.NaN()},
	})
}

// Open returns the number of open episodes.
func (d *Detector) Open() int { return len(d.episodes) }

// AppendTo appends the detector's state: the folds' bins that hold
// anything, and the open episodes.
func (d *Detector) AppendTo(w *frame.Writer) {
	w.Bool(d.alloced)
	w.Uv(uint64(len(d.folds)))
	for _, fd := range d.folds {
		w.I64(fd.period)
		w.I64(fd.cur)
		w.I64(fd.end)
		w.Bool(fd.init)
		var used int
		for j := range fd.base {
			if fd.used(j) {
				used++
			}
		}
		w.Uv(uint64(used))
		for j := range fd.base {
			if fd.used(j) {
				w.Uv(uint64(j))
				w.F32(fd.base[j])
				w.F32(fd.weight[j])
				w.U16(fd.high[j])
				w.U8(fd.learned[j])
				w.F32(fd.usual[j])
				w.F32(fd.s[j])
				w.I32(fd.rose[j])
				w.Bool(fd.last[j])
			}
		}
	}
	w.Uv(uint64(len(d.episodes)))
	for _, ep := range d.episodes {
		w.U32(ep.mark)
		w.I64(ep.since)
		w.I64(ep.period)
		w.I64(ep.phaseStart)
		w.I64(ep.phaseEnd)
		w.I64(ep.firedAt)
		w.I64(int64(ep.series))
		w.F64(ep.ratio)
		w.F64(ep.lossE)
		w.F64(ep.lossD)
		w.I64(int64(ep.clean))
		w.I64(ep.nextCheck)
	}
	w.U32(d.nextMark)
}

func (fd *fold) used(j int) bool {
	return fd.base[j] != 0 || fd.weight[j] != 0 || fd.high[j] != 0 || fd.learned[j] != 0 || fd.usual[j] != 0 || fd.s[j] != 0 || fd.last[j]
}

// learnPeriods returns how many periods a bin's baseline learns from
// before it is tested.
func (fd *fold) learnPeriods() int64 {
	return min(math.MaxUint8, max(4, (learnFor+fd.period-1)/fd.period))
}

// highReset returns how many periods in a row of far more copies than
// usual make them a bin's new normal.
func (fd *fold) highReset() int64 {
	return max(8, (highFor+fd.period-1)/fd.period)
}

// ReadFrom restores what AppendTo wrote into a new detector.
func (d *Detector) ReadFrom(r *frame.Reader) {
	if r.Bool() {
		d.Allocate()
	}
	if n := r.Count(8); n != len(d.folds) {
		r.Fail("%d delivery folds, want %d", n, len(d.folds))
		return
	}
	for _, fd := range d.folds {
		if p := r.I64(); p != fd.period {
			r.Fail("delivery fold period %d, want %d", p, fd.period)
			return
		}
		fd.cur, fd.end, fd.init = r.I64(), r.I64(), r.Bool()
		n := r.Count(8)
		if n > 0 && !d.alloced {
			r.Fail("delivery fold bins without allocation")
			return
		}
		for range n {
			j := r.Index(int(fd.nb))
			fd.base[j], fd.weight[j], fd.high[j], fd.learned[j], fd.usual[j], fd.s[j], fd.rose[j], fd.last[j] = r.F32(), r.F32(), r.U16(), r.U8(), r.F32(), r.F32(), r.I32(), r.Bool()
			if !(fd.base[j] >= 0 && fd.weight[j] >= 0 && fd.usual[j] >= 0 && fd.s[j] >= 0 && fd.s[j] <= copyMax) {
				r.Fail("bad delivery fold bin %d", j)
				return
			}
		}
	}
	for range r.Count(8) {
		ep := &Episode{mark: r.U32(), since: r.I64(), period: r.I64(), phaseStart: r.I64(), phaseEnd: r.I64(),
			firedAt: r.I64(), series: int(r.I64()), ratio: r.F64(), lossE: r.F64(), lossD: r.F64(), clean: int(r.I64()), nextCheck: r.I64()}
		if ep.mark == 0 || ep.period <= 0 || !slices.ContainsFunc(d.folds, func(fd *fold) bool { return fd.period == ep.period }) ||
			ep.clean < 0 || !(ep.ratio >= 0) || !(ep.lossE >= 0) || !(ep.lossD >= 0) {
			r.Fail("bad delivery loss episode %d", ep.mark)
			return
		}
		d.episodes = append(d.episodes, ep)
	}
	d.nextMark = r.U32()
}
