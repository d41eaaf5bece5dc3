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
// three times the period's miss rate, if more) are lost" against the
// concurrent miss rate of that period. Each period adds at
// most foldH/3, so no fewer than three occurrences can alarm; a bin that was
// part of a flagged burst adds at most the surprise of one burst, −ln q̂,
// where q̂ is the fraction of bins flagged in the last hour. That keeps an
// aperiodic burst, or a dead check, from counting as many independent
// misses. With about 3.8 M bin-periods a day, foldH = 20 bounds false alarms
// at about 0.008 a day (Lorden).
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
)

// fold is the phase fold at one candidate period.
type fold struct {
	period int64
	nb     int64     // phase bins per period
	s      []float32 // CUSUM per phase bin
	rose   []int32   // period index at which each bin's CUSUM last left zero
	last   []bool    // whether the last period added evidence to the bin
	cur    int64     // period index being accumulated
	end    int64     // first bin of the next period
	init   bool
}

func newFold(p int64) *fold {
	return &fold{period: p, nb: p / binRes}
}

// alloc allocates the fold's phase bins (fleet.alloc).
func (fd *fold) alloc() {
	fd.s, fd.rose, fd.last = make([]float32, fd.nb), make([]int32, fd.nb), make([]bool, fd.nb)
}

func (fd *fold) reset() {
	clear(fd.s)
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

// finalize adds period pi's evidence to every phase bin and reports alarms.
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
	p := max(float64(sumM)/float64(sumE), minMissRate)
	p1 := max(foldP1, foldEffect*p)
	if p1 >= 1 {
		return // the whole fleet is losing: nothing to fold
	}
	burstCap := f.burstSurprise()
	hitLLR, passLLR := math.Log(p1/p), math.Log((1-p1)/(1-p))
	alarm := false
	for j := int64(0); j < fd.nb; j++ {
		bn := f.bin(b0 + j)
		if bn.e == 0 {
			fd.last[j] = false // no evidence this period
			continue
		}
		l := min(float64(bn.m)*hitLLR+float64(bn.e-bn.m)*passLLR, foldH/3)
		if bn.burst {
			l = min(l, burstCap)
		}
		prev := fd.s[j]
		fd.s[j] = float32(min(max(0, float64(prev)+l), foldMax))
		fd.last[j] = l > 0
		if prev == 0 && fd.s[j] > 0 {
			fd.rose[j] = int32(pi)
		}
		if fd.s[j] >= foldH {
			alarm = true
		}
	}
	if alarm {
		fd.alarms(f, pi, at)
	}
}

// alarms reports each run of hot phase bins that holds an alarm.
func (fd *fold) alarms(f *Detector, pi int64, at int64) {
	for j := int64(0); j < fd.nb; {
		if fd.s[j] < foldH/2 {
			j++
			continue
		}
		start, peak, rose, active := j, float32(0), fd.rose[j], false
		for ; j < fd.nb && fd.s[j] >= foldH/2; j++ {
			peak = max(peak, fd.s[j])
			rose = min(rose, fd.rose[j])
			active = active || fd.last[j]
		}
		if peak >= foldH && active {
			f.foldAlarm(fd, start*binRes, j*binRes, int64(rose)*fd.period, pi, at)
		}
	}
}

// forget drops the evidence in the bins of [start, end) (ns into any
// period): the gap it shows has been reported and has ended.
func (fd *fold) forget(start, end int64) {
	for t := start - windowSlack; t < end+windowSlack; t += binRes {
		fd.s[align.FloorMod(t, fd.period)/binRes] = 0
	}
}

// heat returns the hottest CUSUM over the bins of [start, end) (ns into the
// fold's period, taken modulo it).
func (fd *fold) heat(start, end int64) float32 {
	var h float32
	for t := start; t < end; t += binRes {
		h = max(h, fd.s[align.FloorMod(t, fd.period)/binRes])
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
