// Package fleetgap is the fleet periodic gap detector: it finds the phase
// window in which the whole fleet loses samples every period, from the
// slot judgments of every series, whatever the fleet's size.
//
// Every slot judgment of every series lands in a ring of 0.25-s bins keyed
// by the slot's expected arrival time: expected slots, real-time misses, and
// later whether each miss was filled late or lost. Its state does not depend
// on the fleet's size. Three layers read it:
//
//  1. Bursts. A CUSUM over completed bins of the binomial log-likelihood
//     ratio "this bin loses half its slots" (or twice the fleet's
//     concurrent 60-s miss rate, if more) against that rate.
//     Crossing burstH flags a burst; its extent is its full width at half
//     its deepest loss, and its time the centre of its excess misses, so
//     that a loss smeared by arrival jitter wider than its window is
//     measured by its shape. The effect size ignores dead checks scattered
//     in phase and a uniform rise in random loss. A burst counts as one
//     piece of evidence, however many slots it lost; a hold of every
//     delivery, however long, is one burst.
//  2. Burst-train tracks discover the period: each burst spawns tracks at
//     its distances to the recent bursts; a track advances when a burst
//     lands on one of its next predictions (occurrences may be skipped). It
//     confirms once its coincidences are unlikely enough under the
//     background rate of unrelated bursts (see trackConfirmed); two bursts
//     a round number of periods apart count as a coincidence of their own
//     (see roundPair).
//  3. Phase folds at round candidate periods catch losses too weak to
//     flag bursts (fold.go).
//
// A confirmed train or fold opens a periodic gap episode: period, phase
// window, affected series, late-fill fraction. Its window follows the loss
// from occurrence to occurrence (a phase that wanders), and it resolves
// after enough clean occurrences in a row that a gap still going on would
// hardly have skipped them all (see cleanNeeded).
//
// The same bins count the redundant copies of the slots filled on time
// (Copy), which feed the periodic delivery loss stage (package
// deliveryloss): the detector hands it each completed bin, and its
// transitions come out with the gaps'.
//
// The engine feeds it observations (Observe, Settle, Copy) and moves its
// clock (Advance), which returns the episodes' transitions as values. It
// asks the engine, through the census passed to Advance, how many series
// missed a slot in a candidate window; it keeps no pointer to the engine.
//
// This package must not know about samples, rules, labels or events.
package fleetgap

import (
	"cmp"
	"maps"
	"math"
	"slices"
	"unsafe"

	"github.com/faultline-go/faultline/internal/align"
	"github.com/faultline-go/faultline/internal/deliveryloss"
	"github.com/faultline-go/faultline/internal/episode"
	"github.com/faultline-go/faultline/internal/frame"
)

const (
	binRes      = BinRes  // width of a phase bin
	ringBins    = 1 << 15 // bins kept: 8,192 s
	clearAhead  = 64      // bins cleared ahead of completion for reuse
	rateBins    = 240     // the concurrent miss rate is measured over 60 s
	minMissRate = 0.001   // floor of any estimated miss rate

	burstP1     = 0.5  // miss rate of a burst bin …
	burstEffect = 2.0  // … or this multiple of the fleet's miss rate, if more
	burstH      = 20.0 // CUSUM threshold that flags a burst

	trackTol    = int64(600 * 1e6)  // how far a burst's centre may land from a track's prediction
	trackMinP   = int64(5 * 1e9)    // shortest period tracks look for
	trackMaxP   = int64(4000 * 1e9) // longest
	trackSpawn  = 16                // recent bursts each new burst pairs with
	trackStep   = 4                 // a train may skip up to three occurrences in a row
	maxTracks   = 512
	maxBursts   = 256
	alphaPerDay = 0.01        // false periodic alarms per day the tracks allow
	minBurstHz  = 1.0 / 86400 // floor on the rate of unrelated bursts: one a day
	burstWindow = int64(3600 * 1e9)

	pendingQuiet = int64(600 * 1e9) // a burst without a train is forgotten after this
	samePending  = int64(30 * 1e9)  // a pending burst this close before a train's first is its start

	minGapSeries       = 5 // series a fleet gap must involve …
	minLateSeries      = 2 // … or, when its lost slots were filled late, this many (see promote)
	tooFewMemory       = 8 // periods a window with too few series is not counted again
	maxTooFew          = 1024
	occurrenceLookBack = 4 // occurrences before its confirmation that seed an episode's miss rate
	cleanToResolve     = 2 // clean occurrences in a row that resolve an episode, at least
	// stillOnChance is how unlikely it must be that a gap still going on
	// skipped every one of the clean occurrences in a row before an
	// episode resolves (see cleanNeeded).
	stillOnChance = 0.001
)

// fleetBin is one phase bin of the raw ring.
type fleetBin struct {
	e, m       uint32 // expected slots, real-time misses
	late, lost uint32 // of the misses: filled within the lateness allowance, or not
	copies     uint32 // redundant copies of the filled slots, by their on-time deadline
	burst      bool   // part of a flagged burst
	shadow     bool   // within shadowBins of a flagged burst
}

// shadowBins is how far (2 s) a flagged burst casts its shadow on the
// copies of the slots around it: where whole samples are lost, the samples
// at its edges lose some of their copies (copy 0 got through, the others
// did not), and a hold of every delivery does so at both its ends. That is
// the gap's loss, not a loss of deliveries (see Delivered).
const shadowBins = 8

// shade marks bins lo…hi as being in a burst's shadow.
func (f *Detector) shade(lo, hi int64) {
	for x := lo; x <= hi; x++ {
		f.bin(x).shadow = true
	}
}

// burst is a flagged run of hot bins.
type burst struct {
	start, end int64 // ns, bin boundaries
	at         int64 // miss-weighted centre, which tracks time bursts by
	m, e       uint32
}

// track is a train of bursts at a steady period.
type track struct {
	period      float64 // ns, refined as occurrences come
	first, last int64   // centre of the first and the last occurrence
	since       int64   // start of the first occurrence
	n           int     // occurrences
	span        int     // periods from first to last
	skips       float64 // Σ ln k over the extensions that landed k > 1 predictions on
	pair        bool    // spawned by a round pair (see roundPair)
	starts      [8]int64
	ends        [8]int64
	misses      [8]uint32
	episode     *Episode // the episode it confirmed, if any
}

// BinRes is the width of a phase bin: 0.25 s, the engine's clock tick.
const BinRes = int64(250 * 1e6)

// RingBytes is the memory of the ring of bins, allocated at the first
// slot judgment (the folds take about a quarter of it more).
const RingBytes = ringBins * int(unsafe.Sizeof(fleetBin{}))

// Census counts, up to limit, the series that missed a slot expected in
// the episode's window since it began (Episode.Holds). The engine provides
// it to Advance.
type Census func(ep *Episode, limit int) int

// Detector is the fleet detector.
type Detector struct {
	bins     []fleetBin
	done     int64 // next bin to complete
	started  bool
	startAt  int64
	lag      int64 // how long after its end a bin is complete
	lastDone int64 // the last bin whose completion time fits an int64, less one (Due)
	lateLag  int64 // how long after its end a bin's late/lost outcomes are settled
	rateE    [rateBins]uint32
	rateM    [rateBins]uint32
	rateSumE uint64
	rateSumM uint64

	// burst CUSUM, and the segment of bins it is above zero for
	s        float64
	inSeg    bool
	inBurst  bool
	segFirst int64   // first bin of the segment with positive evidence, or −1
	segLast  int64   // last such bin
	segP     float64 // the fleet's miss rate when the segment began

	bursts   []burst
	tracks   []*track
	folds    []*fold
	pre      []prefixSum            // scratch of fold.finalize: a period's prefix sums
	delivery *deliveryloss.Detector // periodic loss of redundant copies, on the same bins
	copying  bool                   // a redundant copy was counted: the delivery stage is allocated

	episodes []*Episode // open ones, pending or firing
	nextMark uint32
	tooFew   map[[2]int64]tooFew // (period, phase bin) → when it last held too few series

	// During Advance: the end of input, the census, the transitions.
	closing bool
	horizon int64
	census  Census
	out     []episode.Transition
}

// tooFew records a window found to hold too few series at time at, and
// whether its lost slots had been found filled late by then.
type tooFew struct {
	at   int64
	late bool
}

// New returns a detector for slots judged on time tau after their expected
// arrival, and late or lost late + slack after it.
func New(tau, late, slack int64) *Detector {
	f := &Detector{
		tooFew:  make(map[[2]int64]tooFew),
		lag:     tau + 2*BinRes,
		lateLag: late + slack + 2*BinRes,
	}
	// Due runs for every sample: the bound is computed once, not divided
	// out at every call.
	f.lastDone = (math.MaxInt64-f.lag)/binRes - 1
	for _, p := range foldPeriods {
		f.folds = append(f.folds, newFold(p))
	}
	f.delivery = deliveryloss.New(binRes, foldPeriods)
	return f
}

// Lag returns how long after its end a bin is complete.
func (f *Detector) Lag() int64 { return f.lag }

func binOf(t int64) int64 {
	b := t / binRes // a constant divisor: compiled to a multiplication
	if t%binRes < 0 {
		b--
	}
	return b
}

func (f *Detector) bin(b int64) *fleetBin { return &f.bins[b&(ringBins-1)] }

// alloc allocates the ring and the folds' phase bins (about 1 MB), at the
// first slot judgment: until then every bin is empty and completing one
// changes nothing, so an engine that judges no slot never pays for them.
func (f *Detector) alloc() {
	f.bins = make([]fleetBin, ringBins)
	for _, fd := range f.folds {
		fd.alloc()
	}
}

// Observe records the on-time judgment of a slot expected at rx.
func (f *Detector) Observe(rx int64, missed bool) {
	var b *fleetBin
	if f.bins != nil && rx >= 0 {
		b = f.bin(rx / binRes) // binOf, which corrects only times before 1970
	} else {
		b = f.observedBin(rx)
	}
	b.e++
	if missed {
		b.m++
	}
}

// observedBin is Observe's slow path, out of the way of the judgment of
// every slot: it allocates the ring at the first judgment, and takes the
// bin of any time.
//
//go:noinline
func (f *Detector) observedBin(rx int64) *fleetBin {
	if f.bins == nil {
		f.alloc()
	}
	return f.bin(binOf(rx))
}

// Copy records a redundant copy of a sample, filled on time in the slot
// expected at rx, that arrived by its on-time deadline: the evidence of the
// periodic delivery loss stage (package deliveryloss).
func (f *Detector) Copy(rx int64) {
	if f.copying && rx >= 0 {
		f.bins[rx/binRes&(ringBins-1)].copies++ // binOf, for rx ≥ 0
		return
	}
	f.copy(rx)
}

// copy is Copy's slow path (so that Copy is inlined): at the first
// redundant copy it allocates the ring and the delivery loss stage's
// folds.
func (f *Detector) copy(rx int64) {
	if f.bins == nil {
		f.alloc()
	}
	f.delivery.Allocate()
	f.copying = true
	f.bin(binOf(rx)).copies++
}

// Delivered returns the slots of completed bin b filled on time, the
// redundant copies of them counted by Copy, and whether the bin is in the
// shadow of a burst of lost samples (deliveryloss.Fleet).
func (f *Detector) Delivered(b int64) (fills, copies uint32, shadow bool) {
	bn := f.bin(b)
	return bn.e - bn.m, bn.copies, bn.shadow
}

// Explained reports whether a loss of whole samples explains a loss of
// copies at period p in the window [start, end) (ns into the period) at
// time at (deliveryloss.Fleet): an open gap episode names that gap, or the
// gap fold at p is at least half way to an alarm in the window.
func (f *Detector) Explained(p, start, end, at int64) bool {
	for _, ep := range f.episodes {
		if ep.state == episode.Firing && ep.sameGap(p, start, end, at) {
			return true
		}
	}
	for _, fd := range f.folds {
		if fd.period == p && fd.heat(start-windowSlack, end+windowSlack) >= foldH/2 {
			return true
		}
	}
	return false
}

// Settle records the lateness judgment of a slot missed in real time.
func (f *Detector) Settle(rx int64, late bool) {
	if f.bins == nil {
		f.alloc()
	}
	b := f.bin(binOf(rx))
	if late {
		b.late++
	} else {
		b.lost++
	}
}

// Start sets the detector's clock on the engine's first time.
func (f *Detector) Start(now int64) {
	f.started = true
	f.startAt = now
	f.done = binOf(now)
	if f.bins != nil {
		for i := int64(0); i < clearAhead; i++ {
			*f.bin(f.done + i) = fleetBin{}
		}
	}
}

// Advance completes every bin whose slots have all been judged by now, in
// order, then checks the open episodes' occurrences, and returns the
// episodes' transitions, valid until the next call. While closing, the
// occurrences after the horizon (the end of input) are not judged.
func (f *Detector) Advance(now int64, closing bool, horizon int64, census Census) []episode.Transition {
	f.closing, f.horizon, f.census, f.out = closing, horizon, census, f.out[:0]
	f.advance(now)
	f.census = nil
	return f.out
}

func (f *Detector) advance(now int64) {
	target := binOf(now - f.lag)
	if f.bins == nil {
		// Nothing was ever judged: the bins up to target are empty, and
		// completing them would change nothing but the folds' period
		// cursors, which start afresh at the first bin completed.
		f.done = max(f.done, target)
		return
	}
	if target-f.done > ringBins {
		// The clock jumped further than the ring holds: complete what
		// the ring holds, then start afresh.
		for limit := f.done + ringBins; f.done < limit; f.done++ {
			f.complete(f.done)
		}
		f.reset(target)
	}
	if f.done >= target {
		return // no bin completed: nothing new to conclude
	}
	for f.done < target {
		f.complete(f.done)
		f.done++
	}
	f.checkEpisodes(now)
	f.expireTracks(now)
}

// reset forgets the ring after a jump of the clock longer than it.
func (f *Detector) reset(done int64) {
	clear(f.bins)
	f.rateE, f.rateM = [rateBins]uint32{}, [rateBins]uint32{}
	f.rateSumE, f.rateSumM = 0, 0
	f.s, f.inSeg, f.inBurst = 0, false, false
	f.tracks = f.tracks[:0]
	f.bursts = f.bursts[:0]
	for _, fd := range f.folds {
		fd.reset()
	}
	f.delivery.Reset()
	f.done = done
}

// completionTime is when bin b completes: the time judgments based on it are
// made, whatever the batching of the input.
func (f *Detector) completionTime(b int64) int64 { return (b+1)*binRes + f.lag }

// Due returns when Advance next has anything to do: when the next bin
// completes. Before then Advance changes nothing and returns nothing, so a
// caller whose clock moves with every sample calls it only then.
func (f *Detector) Due() int64 {
	if f.done >= f.lastDone {
		return math.MinInt64 // past the end of time: always due
	}
	return f.completionTime(f.done)
}

// missRate returns the fleet's concurrent miss rate.
func (f *Detector) missRate() float64 {
	if f.rateSumE == 0 {
		return minMissRate
	}
	return max(float64(f.rateSumM)/float64(f.rateSumE), minMissRate)
}

// binLLR is the binomial log-likelihood ratio of m misses in e slots at
// rate p1 against rate p0.
func binLLR(m, e uint32, p1, p0 float64) float64 {
	if e == 0 {
		return 0
	}
	return float64(m)*math.Log(p1/p0) + float64(e-m)*math.Log((1-p1)/(1-p0))
}

// complete processes bin b once all its slots have been judged on time.
func (f *Detector) complete(b int64) {
	bn := f.bin(b)
	i := b % rateBins
	if i < 0 {
		i += rateBins
	}
	f.rateSumE += uint64(bn.e) - uint64(f.rateE[i])
	f.rateSumM += uint64(bn.m) - uint64(f.rateM[i])
	f.rateE[i], f.rateM[i] = bn.e, bn.m

	p := f.missRate()
	at := f.completionTime(b)
	l := 0.0
	if p1 := burstP1For(p); p1 > p && (float64(bn.m) > p*float64(bn.e) || f.s > 0) {
		// (A bin with no more misses than the fleet's rate could only
		// lower a CUSUM at zero already: most bins need no logarithm.)
		l = binLLR(bn.m, bn.e, p1, p)
	}
	f.s = min(max(0, f.s+l), 2*burstH)
	switch {
	case f.s > 0:
		if !f.inSeg {
			f.inSeg, f.segFirst, f.segLast, f.segP = true, -1, -1, p
		}
		if l > 0 {
			if f.segFirst < 0 {
				f.segFirst = b
			}
			f.segLast = b
			if f.inBurst {
				bn.burst = true
				f.shade(b, b+shadowBins)
			}
		}
		if !f.inBurst && f.s >= burstH && f.segFirst >= 0 {
			// Flagged: its bins are marked as they come (and at its end),
			// so that a fold period ending while it goes on counts it once.
			f.inBurst = true
			lo := max(f.segFirst, b-ringBins+clearAhead+1+shadowBins)
			for x := lo; x <= b; x++ {
				f.bin(x).burst = true
			}
			f.shade(lo-shadowBins, b+shadowBins)
			f.burstFlagged(f.segFirst*binRes, at)
		}
	case f.inSeg:
		if f.inBurst {
			f.burstEnded(f.measureBurst(b), at)
		}
		f.inSeg, f.inBurst = false, false
	}

	for _, fd := range f.folds {
		fd.complete(f, b)
	}
	f.out = f.delivery.Complete(b, at, f, f.out)
	*f.bin(b + clearAhead) = fleetBin{}
}

// burstP1For is the miss rate of a burst bin in a fleet missing p of its
// slots: half its slots, or burstEffect times p if more, but never more
// than halfway from p to 1, so that while the fleet loses most of its slots
// (a long hold of every delivery) a bin that loses all of them still
// counts as part of the burst under way, and the whole hold is one burst.
func burstP1For(p float64) float64 {
	return min(max(burstP1, burstEffect*p), (1+p)/2)
}

// measureBurst measures the segment that ended before bin end: every bin
// of it with positive evidence is marked as part of a burst (the folds
// count a burst once), its centre is the mean of its bins weighted by their
// misses in excess of the fleet's rate, and its extent runs over the bins
// whose excess miss fraction is at least half the segment's largest (the
// full width at half maximum): a loss smeared by arrival jitter wider than
// its window is measured by the shape it has, not by a fixed threshold a
// shallow loss never reaches.
func (f *Detector) measureBurst(end int64) burst {
	lo := max(f.segFirst, end-ringBins+clearAhead+1+shadowBins) // bins still in the ring
	f.shade(lo-shadowBins, f.segLast+shadowBins)
	var peak float64
	for x := lo; x <= f.segLast; x++ {
		if bn := f.bin(x); bn.e > 0 {
			peak = max(peak, float64(bn.m)/float64(bn.e)-f.segP)
		}
	}
	first, last := int64(-1), int64(-1)
	var w, wt float64
	var m, e uint32
	for x := lo; x <= f.segLast; x++ {
		bn := f.bin(x)
		bn.burst = true
		if bn.e == 0 {
			continue
		}
		if ex := float64(bn.m) - f.segP*float64(bn.e); ex > 0 {
			w += ex
			wt += ex * (float64(x-lo) + 0.5)
		}
		if bn.m > 0 && float64(bn.m)/float64(bn.e)-f.segP >= peak/2 {
			if first < 0 {
				first = x
			}
			last = x
			m += bn.m
			e += bn.e
		}
	}
	if first < 0 || w <= 0 {
		first, last, w, wt = lo, f.segLast, 1, float64(f.segLast-lo+1)/2
	}
	centre := lo*binRes + int64(wt/w*float64(binRes))
	return burst{start: first * binRes, end: (last + 1) * binRes, at: centre, m: m, e: e}
}

// burstFlagged opens a pending episode at the first burst that no open
// episode expects.
func (f *Detector) burstFlagged(start, at int64) {
	for _, ep := range f.episodes {
		if ep.state == episode.Pending || ep.Covers(start) {
			if ep.state == episode.Pending {
				ep.lastBurst = at
			}
			return
		}
	}
	ep := f.newEpisode(start)
	ep.lastBurst = at
	f.episodes = append(f.episodes, ep)
	f.emit(ep, episode.Pending, at)
}

func (f *Detector) newEpisode(since int64) *Episode {
	f.nextMark++
	return &Episode{mark: f.nextMark, state: episode.Pending, since: since}
}

// emit records an episode's transition.
func (f *Detector) emit(ep *Episode, state episode.State, at int64) {
	tr := episode.Transition{Kind: episode.PeriodicGap, State: state, Subject: ep.mark, Since: ep.since, At: at, Value: math.NaN()}
	if ep.period > 0 {
		start := align.FloorMod(ep.phaseStart, ep.period)
		tr.Gap = &episode.Gap{
			Period:       ep.period,
			PhaseStart:   start,
			PhaseEnd:     start + ep.phaseEnd - ep.phaseStart,
			Series:       max(ep.seriesEst, ep.distinct),
			LateFraction: ep.lateFraction(),
		}
	}
	f.out = append(f.out, tr)
}

// burstEnded feeds a complete burst to the tracks.
func (f *Detector) burstEnded(bst burst, at int64) {
	if len(f.bursts) == maxBursts {
		copy(f.bursts, f.bursts[1:])
		f.bursts = f.bursts[:maxBursts-1]
	}
	// The burst is among the recent ones before any train is judged: the
	// background rate of bursts leaves out only a train's own.
	f.bursts = append(f.bursts, bst)
	extended := make(map[int64]bool, 4) // periods (rounded to tolerance) already advanced or spawned by this burst
	for _, tr := range f.tracks {
		if tr.extend(bst) {
			extended[tr.period64()/trackTol] = true
			if tr.episode == nil && f.trackConfirmed(tr, at) {
				f.confirmTrack(tr, at)
			}
		}
	}
	// Spawn tracks at the distances to the recent bursts, except where a
	// live track already runs at that period, or at a multiple of it. A
	// round pair spawns its track at the candidate period, k occurrences
	// apart, and may confirm at once.
	for i := len(f.bursts) - 2; i >= 0 && i >= len(f.bursts)-1-trackSpawn; i-- {
		u := f.bursts[i]
		d := bst.at - u.at
		if d < trackMinP {
			continue
		}
		period, span := float64(d), 1
		if k, ok := roundPair(d, max(u.end-u.start, bst.end-bst.start)); ok {
			period, span = float64(d)/float64(k), k
		}
		p := int64(period)
		if p > trackMaxP || extended[p/trackTol] || extended[p/trackTol-1] || extended[p/trackTol+1] || f.harmonic(p, bst.at) {
			continue
		}
		if len(f.tracks) == maxTracks {
			f.tracks = slices.Delete(f.tracks, 0, 1) // the oldest
		}
		tr := &track{period: period, first: u.at, last: bst.at, since: u.start, n: 2, span: span, pair: span > 1}
		tr.record(0, u)
		tr.record(1, bst)
		f.tracks = append(f.tracks, tr)
		extended[p/trackTol] = true
		if tr.pair && f.trackConfirmed(tr, at) {
			f.confirmTrack(tr, at)
		}
	}
}

// Round pairs. Two bursts of a periodic gap with skipped occurrences
// between them (the crash does not happen every period) may be the only
// two in many periods. When their distance is k = 2 or 3 times a round
// candidate period of at least pairMinP (the periods of timers and
// retries, see foldPeriods), and no other such candidate (k = 1…3)
// explains it, the pair is taken as two occurrences of that period, k
// apart, and its coincidence counts as evidence (see trackConfirmed): the
// second burst landed within ±trackTol of one of len(pairDistances)
// distances from the first, which chance does with probability
// pairDistances·2·trackTol·λ. Neither burst may be wider than a quarter
// of the period: a loss that covers much of its period is no phase.
// Limits: a fault whose true period is such a multiple, and no round
// candidate itself (a 180-s timer), is reported at the candidate (60 s)
// with skipped occurrences; a pair one period apart gets no such credit,
// since its third occurrence comes one period later anyway.
const (
	pairMinP = int64(60 * 1e9)
	pairMaxK = 3
)

// pairDistances lists the distances that make a round pair.
var pairDistances = func() []int64 {
	var ds []int64
	for _, c := range foldPeriods {
		for k := int64(2); k <= pairMaxK; k++ {
			if _, ok := roundPair(k*c, 0); ok && c >= pairMinP {
				ds = append(ds, k*c)
			}
		}
	}
	return ds
}()

// roundPair returns k when two bursts at most width wide and d apart are a
// round pair, k periods of a round candidate apart.
func roundPair(d, width int64) (int, bool) {
	var found, k int64
	for _, c := range foldPeriods {
		if c < pairMinP {
			continue
		}
		n := (d + c/2) / c
		if n < 1 || n > pairMaxK || absInt(d-n*c) > trackTol {
			continue
		}
		found++
		k = n
		if 4*width > c {
			return 0, false
		}
	}
	return int(k), found == 1 && k >= 2
}

// harmonic reports whether a new track at period p through time t would
// only repeat a live track at a divisor of p.
func (f *Detector) harmonic(p, t int64) bool {
	for _, tr := range f.tracks {
		q := tr.period64()
		k := (p + q/2) / q
		if k < 2 || absInt(p-k*q) > trackTol*k {
			continue
		}
		if n := (t - tr.first + q/2) / q; absInt(t-tr.first-n*q) <= trackTol*2 {
			return true
		}
	}
	return false
}

func absInt(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

func (tr *track) period64() int64 { return int64(tr.period) }

// record keeps the shape of occurrence i for the phase window.
func (tr *track) record(i int, b burst) {
	j := i % len(tr.starts)
	tr.starts[j], tr.ends[j], tr.misses[j] = b.start, b.end, b.m
}

// extend advances the track if the burst lands on one of its next
// trackStep predictions: up to three occurrences in a row may be too weak
// to flag, or may not happen at all.
func (tr *track) extend(b burst) bool {
	p := tr.period
	n := math.Round(float64(b.at-tr.last) / p)
	if n < 1 || n > trackStep {
		return false
	}
	if absInt(b.at-tr.last-int64(n*p)) > trackTol {
		return false
	}
	tr.record(tr.n, b)
	tr.n++
	tr.span += int(n)
	tr.skips += math.Log(n)
	tr.last = b.at
	tr.period = float64(tr.last-tr.first) / float64(tr.span)
	return true
}

// trackConfirmed decides whether a train's coincidences are unlikely enough
// to be chance. Under the null, unrelated bursts arrive as a Poisson process
// of rate λ, estimated over the last hour from the bursts outside the track
// and floored at minBurstHz; each occurrence beyond the first two landed
// within ±trackTol of its prediction, which chance does with probability
// q = 2·trackTol·λ, or k·q when it landed k predictions on (occurrences
// skipped); a round pair's second burst did so with probability
// q·len(pairDistances). Each burst spawns up to trackSpawn (16) tracks, so
// the number of tracks at risk per day is about trackSpawn·λ·86400, and
// requiring
//
//	Σ ln(1/(kᵢ·q)) [+ ln(1/(q·len(pairDistances))) for a round pair] ≥ ln(trackSpawn·λ·86400 / α)
//
// bounds the false periodic alarms at α per day (union bound). In a clean
// background this confirms at the third occurrence, or at the second of
// a round pair; with unrelated bursts once a minute it takes six.
func (f *Detector) trackConfirmed(tr *track, now int64) bool {
	if tr.n < 2 {
		return false
	}
	window := min(max(now-f.startAt, int64(60*1e9)), burstWindow)
	var n int
	for _, b := range f.bursts {
		if b.start >= now-window {
			n++
		}
	}
	own := 0
	for i := 0; i < tr.n && i < len(tr.starts); i++ {
		if tr.starts[i] >= now-window {
			own++
		}
	}
	other := max(n-own, 0)
	lambda := max(float64(other)/(float64(window)/1e9), minBurstHz)
	q := 2 * float64(trackTol) / 1e9 * lambda
	surprise := float64(tr.n-2)*math.Log(1/q) - tr.skips
	if tr.pair {
		surprise += math.Log(1 / (q * float64(len(pairDistances))))
	}
	need := math.Log(trackSpawn * lambda * 86400 / alphaPerDay)
	return surprise >= need
}

// confirmTrack opens (or promotes the pending) episode for a confirmed
// train.
func (f *Detector) confirmTrack(tr *track, at int64) {
	p := snapPeriod(tr.period, max(2*float64(trackTol)/float64(tr.span), float64(binRes)))
	count := min(tr.n, len(tr.starts))
	starts := make([]int64, 0, count)
	durs := make([]int64, 0, count)
	misses := make([]int, 0, count)
	for i := 0; i < count; i++ {
		starts = append(starts, tr.starts[i])
		durs = append(durs, tr.ends[i]-tr.starts[i])
		misses = append(misses, int(tr.misses[i]))
	}
	phase := circularMedian(starts, p)
	slices.Sort(durs)
	slices.Sort(misses)
	ep := f.promote(tr.since, p, phase, phase+durs[len(durs)/2], at)
	if ep == nil {
		return
	}
	tr.episode = ep
	ep.seriesEst = misses[len(misses)/2]
	ep.lossy, ep.skipped = tr.n, tr.span+1-tr.n
	f.fire(ep, at)
}

// snapPeriod returns the period a train estimated at p ± u (ns) most likely
// has: a candidate fold period if one lies within the uncertainty, else a
// whole number of seconds if one does, else p itself. Burst times are
// quantized to bins, so three occurrences of a 60-s gap may well measure
// 59.875 s; and phases are reported modulo the period from the Unix epoch,
// where an error of a fraction of a second in the period scrambles the
// phase. Periodic faults come from timers, which count in whole seconds.
// A train's occurrences each landed within ±trackTol of their predictions,
// so over span periods its period is known to u = 2·trackTol/span (a phase
// that wanders moves the occurrences by that much).
func snapPeriod(p, u float64) int64 {
	for _, c := range foldPeriods {
		if math.Abs(float64(c)-p) <= u {
			return c
		}
	}
	if s := math.Round(p/1e9) * 1e9; math.Abs(s-p) <= u {
		return int64(s)
	}
	return int64(math.Round(p))
}

// circularMedian returns the median phase of times modulo p, taking the
// wrap-around into account (phases are centred on the first one).
func circularMedian(ts []int64, p int64) int64 {
	ref := align.FloorMod(ts[0], p)
	d := make([]int64, len(ts))
	for i, t := range ts {
		x := align.FloorMod(t, p) - ref
		if x > p/2 {
			x -= p
		} else if x < -p/2 {
			x += p
		}
		d[i] = x
	}
	slices.Sort(d)
	return align.FloorMod(ref+d[len(d)/2], p)
}

// promote turns the pending episode into a gap of period p with the phase
// window [start, end) (ns into the period), or opens a new one. It returns
// nil when an open firing episode already names the same gap (or began in
// the same minute, see sameStart), or when too few series miss slots in
// the window.
//
// The floor. The false-alarm bounds of the tracks and folds (each under
// 0.01 a day) assume that a window's misses are new evidence every period.
// A dead check breaks that: it misses its slot every period at its own
// phase, forever, and a handful of checks that died in the same second look
// just like a gap, so a gap whose lost slots stay lost must involve at
// least minGapSeries (5) series; the dead checks' own absences report
// them. A check whose lost samples arrive later is alive: when the
// window's settled lost slots were (at least 95 %) filled late, only the
// per-series case remains to rule out, one check whose delivery is late
// every time, and the floor is minLateSeries (2). Two such checks look like
// a gap only if their phases fall within the window of each other, which
// for any pair has probability about 2·(w + 2·windowSlack)/P (8 % for a
// 1.5-s window at 60 s): a pair of checks that turn late together at the
// same second of the period is then reported as the gap it is, with its
// late fraction saying that nothing was lost.
func (f *Detector) promote(since, p, start, end, at int64) *Episode {
	for _, ep := range f.episodes {
		if ep.state == episode.Firing && (ep.sameGap(p, start, end, at) || ep.sameStart(since)) {
			return nil
		}
	}
	cand := Episode{since: since, period: p, phaseStart: start, phaseEnd: end}
	late := f.filledLate(&cand, at)
	need := minGapSeries
	if late {
		need = minLateSeries
	}
	// Counting the series scans them all, so a window found to hold too
	// few is not counted again for a few periods, unless its lost slots
	// have since been found filled late.
	key := [2]int64{p, align.FloorMod(start, p) / binRes}
	if t, ok := f.tooFew[key]; ok && at < t.at+tooFewMemory*p && (t.late || !late) {
		return nil
	}
	if f.census(&cand, need) < need {
		if len(f.tooFew) >= maxTooFew {
			clear(f.tooFew)
		}
		f.tooFew[key] = tooFew{at: at, late: late}
		return nil
	}
	var ep *Episode
	for i, x := range f.episodes {
		if x.state == episode.Pending {
			// The pending burst is this train's first occurrence when it
			// began with it (within samePending: two starts that close
			// are one occurrence measured twice, and would date the
			// events alike), or when it falls in the gap's window an
			// occurrence or more before the train's first burst: a track
			// that began one occurrence later (a weaker first burst) names
			// the same gap, from the same start.
			if x.since >= since-samePending || x.since < since && cand.inWindow(x.since) {
				ep = x
			} else {
				// The pending burst was not part of this train.
				f.episodes = slices.Delete(f.episodes, i, i+1)
				f.emit(x, episode.Resolved, x.lastBurst)
			}
			break
		}
	}
	if ep == nil {
		ep = f.newEpisode(since)
		f.episodes = append(f.episodes, ep)
	}
	ep.period, ep.phaseStart, ep.phaseEnd = p, start, end
	return ep
}

// filledLate reports whether the settled occurrences of a candidate gap's
// window, since it began, lost at least minLateSeries slots in real time
// and saw at least 95 % of them filled late.
func (f *Detector) filledLate(ep *Episode, at int64) bool {
	if f.bins == nil {
		return false
	}
	var late, lost uint64
	first := max(ep.occurrenceAfter(ep.since-windowSlack), ep.occurrenceAfter(at-(ringBins-2*clearAhead)*binRes))
	for n := first; ; n++ {
		_, b := ep.window(n)
		if b+windowSlack+binRes+f.lateLag > at {
			break
		}
		_, _, l, x := f.windowCounts(ep, n)
		late += uint64(l)
		lost += uint64(x)
	}
	return late >= minLateSeries && late >= 19*lost
}

// fire fires an episode and starts checking its occurrences.
func (f *Detector) fire(ep *Episode, at int64) {
	ep.state = episode.Firing
	ep.firedAt = at
	// Occurrences are checked from the first one that ends after the
	// confirmation; the ones before are settled for late fills.
	ep.nextCheck = ep.occurrenceAfter(at)
	ep.nextSettle = ep.occurrenceAfter(ep.since)
	for n := max(ep.nextSettle, ep.nextCheck-occurrenceLookBack); n < ep.nextCheck; n++ {
		e, m, _, _ := f.windowCounts(ep, n)
		ep.lossE += uint64(e)
		ep.lossM += uint64(m)
	}
	f.settleOccurrences(ep, at)
	f.emit(ep, episode.Firing, at)
}

// expireTracks drops tracks whose next trackStep predictions have passed
// without a burst.
func (f *Detector) expireTracks(now int64) {
	f.tracks = slices.DeleteFunc(f.tracks, func(tr *track) bool {
		return now > tr.last+int64(trackStep*tr.period)+trackTol+f.lag+4*binRes
	})
}

// Episode is a fleet periodic gap, pending (bursts seen, no period yet)
// or firing.
type Episode struct {
	mark                 uint32 // unique; series and absences refer to it
	state                episode.State
	since                int64 // start of the first burst
	period               int64 // ns; 0 while pending
	phaseStart, phaseEnd int64 // lossy window, ns into the period (phaseEnd may pass period)
	firedAt              int64

	lastBurst  int64 // pending: when the last burst was flagged
	seriesEst  int   // series lost per occurrence
	distinct   int   // distinct series counted with a miss in the window since firing
	late, lost uint64
	clean      int    // clean occurrences in a row
	lossy      int    // lossy occurrences (with those of the train or fold that confirmed it)
	skipped    int    // clean occurrences a lossy one came after: the gap skipped them
	silent     int    // series whose absence it explains that are still silent
	peakSilent int    // the most that ever were at once
	lossE      uint64 // slots expected in the windows of its lossy occurrences
	lossM      uint64 // … and missed: its own miss rate, which occurrences are judged against
	nextCheck  int64  // period index of the next occurrence to check
	nextSettle int64  // period index of the next occurrence to settle for late fills
}

// Mark returns the episode's mark, unique in its detector.
func (ep *Episode) Mark() uint32 { return ep.mark }

// Since returns the start of the episode's first burst.
func (ep *Episode) Since() int64 { return ep.since }

// Period returns the episode's period, in ns.
func (ep *Episode) Period() int64 { return ep.period }

// FiredAt returns when the episode fired.
func (ep *Episode) FiredAt() int64 { return ep.firedAt }

// occurrenceAfter returns the index of the first occurrence whose window
// ends after t.
func (ep *Episode) occurrenceAfter(t int64) int64 {
	return align.FloorDiv(t-ep.phaseEnd, ep.period) + 1
}

// window returns the absolute window of occurrence n.
func (ep *Episode) window(n int64) (a, b int64) {
	base := n * ep.period
	return base + ep.phaseStart, base + ep.phaseEnd
}

// windowSlack widens the lossy window when asking whether a slot falls
// inside it: the expected arrivals of the lost slots straddle its edges by
// the arrival jitter.
const windowSlack = int64(500 * 1e6)

// Covers reports whether a firing episode's window holds time t.
func (ep *Episode) Covers(t int64) bool {
	return ep.state == episode.Firing && ep.inWindow(t)
}

// inWindow reports whether time t falls in the episode's lossy window, give
// or take windowSlack.
func (ep *Episode) inWindow(t int64) bool {
	ph := align.FloorMod(t-ep.phaseStart+windowSlack, ep.period)
	return ph < ep.phaseEnd-ep.phaseStart+2*windowSlack
}

// Holds reports whether a slot expected at rx falls in the episode's
// window since the episode began, give or take the arrival jitter: what a
// Census counts.
func (ep *Episode) Holds(rx int64) bool {
	return rx >= ep.since-windowSlack && ep.inWindow(rx)
}

// sameGap reports whether the episode names the gap of period p and window
// [start, end) (into the period from the Unix epoch), as seen at time at:
// the same period (or a multiple or divisor of it), and windows that
// overlap at the occurrences nearest at. Occurrences are compared in
// absolute time, since phases taken modulo periods that differ by a
// fraction of a second are unrelated numbers.
func (ep *Episode) sameGap(p, start, end, at int64) bool {
	small, large := min(p, ep.period), max(p, ep.period)
	k := (large + small/2) / small
	if absInt(large-k*small) > trackTol*k {
		return false
	}
	a := start + align.FloorDiv(at-start, p)*p                                            // the candidate's occurrence starting last by at
	b := ep.phaseStart + align.FloorDiv(a-ep.phaseStart+ep.period/2, ep.period)*ep.period // the episode's nearest it
	d := align.FloorMod(a-b, small)
	d = min(d, small-d)
	return d <= max(end-start, ep.phaseEnd-ep.phaseStart)+2*windowSlack
}

// sameStart reports whether the episode began in the minute a gap that
// began at since would be dated to: its events' IDs, derived from the
// start to the minute (align.NearestMinute), would be the other's. Two
// such gaps at periods that neither divides are one loss found twice from
// the same bursts (the first found stands for it), or two losses that
// began in the same minute, whose events a consumer that deduplicates by
// ID could not tell apart: the second is not reported.
func (ep *Episode) sameStart(since int64) bool {
	return align.NearestMinute(ep.since) == align.NearestMinute(since)
}

// windowCounts sums the bins of occurrence n's window.
func (f *Detector) windowCounts(ep *Episode, n int64) (e, m, late, lost uint32) {
	a, b := ep.window(n)
	for x := binOf(a - windowSlack); x < binOf(b+windowSlack+binRes-1); x++ {
		bn := f.bin(x)
		e += bn.e
		m += bn.m
		late += bn.late
		lost += bn.lost
	}
	return e, m, late, lost
}

// checkEpisodes resolves pending episodes that saw no burst for a while,
// and judges each firing episode's occurrences once their bins are complete
// (see occurrence): two clean ones in a row resolve it. Occurrences after
// the end of input are not judged.
func (f *Detector) checkEpisodes(now int64) {
	for i := 0; i < len(f.episodes); i++ {
		ep := f.episodes[i]
		if ep.state == episode.Pending {
			if now >= ep.lastBurst+pendingQuiet {
				f.episodes = slices.Delete(f.episodes, i, i+1)
				i--
				f.emit(ep, episode.Resolved, ep.lastBurst+pendingQuiet)
			}
			continue
		}
		f.settleOccurrences(ep, now)
		for {
			_, b := ep.window(ep.nextCheck)
			at := b + windowSlack + binRes + f.lag
			if at > now || f.closing && b > f.horizon {
				break // not complete yet, or after the end of input
			}
			n := ep.nextCheck
			e, m, _, _ := f.windowCounts(ep, n)
			ep.nextCheck++
			switch ep.occurrence(e, m, f.missRate()) {
			case occurrenceEmpty:
				continue
			case occurrenceLossy:
				ep.skipped += ep.clean
				ep.clean = 0
				ep.lossy++
				ep.seriesEst = max(ep.seriesEst, int(m)+ep.silent)
				f.follow(ep, n)
				continue
			}
			if ep.clean++; ep.clean >= ep.cleanNeeded() {
				f.episodes = slices.Delete(f.episodes, i, i+1)
				i--
				f.settleOccurrences(ep, now)
				f.forget(ep)
				f.emit(ep, episode.Resolved, at)
				break
			}
		}
	}
}

// cleanNeeded returns how many clean occurrences in a row resolve the
// episode. A gap that skips occurrences (the crash does not happen every
// period) shows clean ones while it goes on: with ŝ its rate of skipped
// occurrences so far (Laplace's estimate, from the clean runs that a lossy
// occurrence ended and the lossy ones), a gap still going on skips c in a
// row with probability ŝᶜ, and the episode resolves once that is below
// stillOnChance, after at least cleanToResolve. A gap that never skipped
// resolves after two clean occurrences once it has shown a dozen lossy
// ones; one that skipped three in ten needs six.
func (ep *Episode) cleanNeeded() int {
	s := float64(ep.skipped+1) / float64(ep.skipped+ep.lossy+2)
	return max(cleanToResolve, int(math.Ceil(math.Log(stillOnChance)/math.Log(s))))
}

// followReach is how far past its window an episode looks for where its
// loss went: a phase that wanders moves a fraction of a second a period.
const followReach = int64(1500 * 1e6)

// follow moves an episode's window towards its loss in occurrence n: the
// centre of the misses in excess of the fleet's rate, in the window and up
// to followReach either side of it, is where the window's centre should
// be; the window moves half the way (a phase that wanders is followed,
// the noise of one occurrence is not), keeping its width. An occurrence
// with fewer than minLateSeries excess misses moves nothing.
func (f *Detector) follow(ep *Episode, n int64) {
	a, b := ep.window(n)
	p := f.missRate()
	var w, wt float64
	lo := binOf(a - followReach)
	for x := lo; x < binOf(b+followReach+binRes-1); x++ {
		bn := f.bin(x)
		if ex := float64(bn.m) - p*float64(bn.e); ex > 0 {
			w += ex
			wt += ex * (float64(x-lo) + 0.5)
		}
	}
	if w < minLateSeries {
		return
	}
	centre := lo*binRes + int64(wt/w*float64(binRes))
	shift := (centre - (a+b)/2) / 2
	ep.phaseStart += shift
	ep.phaseEnd += shift
}

// forget drops a resolved gap's evidence from the folds at its period's
// multiples (at each of its phases there) and divisors, the delivery loss
// stage's included (a gap loses copies at its edges), so that none of them
// reports the ended gap again: the bins of its last window, give or take
// followReach (where its loss may have reached, smeared by jitter or
// wandering), at each of the occurrences a fold period holds.
func (f *Detector) forget(ep *Episode) {
	a, b := ep.window(ep.nextCheck - 1)
	a, b = a-followReach, b+followReach
	f.delivery.Forget(ep.period, a, b)
	for _, fd := range f.folds {
		switch {
		case fd.period >= ep.period && Harmonic(fd.period, ep.period):
			for off := int64(0); off < fd.period; off += ep.period {
				fd.forget(a+off, b+off)
			}
		case Harmonic(fd.period, ep.period):
			fd.forget(a, b)
		}
	}
}

// Outcomes of an occurrence of a fleet gap.
const (
	occurrenceEmpty = iota // no slot expected in its window: no evidence
	occurrenceLossy
	occurrenceClean
)

// occurrence judges an occurrence whose window expected e slots and missed
// m of the series still judged, in a fleet missing p of its slots: lossy if
// the misses are likelier under the episode's own miss rate in its window
// (q, learned from its lossy occurrences) than under the fleet's, clean
// otherwise. A strong gap that stops leaves windows with none or one miss,
// overwhelmingly clean; a weak one that goes on still shows a few, which
// point to it. The series whose absence the episode explains are parked,
// not judged; while they stay silent they still miss every occurrence, so
// they count as lost, until at least half of them have come back: then the
// outage is over, and those still silent are the dead, not the explained.
func (ep *Episode) occurrence(e, m uint32, p float64) int {
	silent := uint32(ep.silent)
	if ep.silent*2 <= ep.peakSilent {
		silent = 0
	}
	e, m = e+silent, m+silent
	if e == 0 {
		return occurrenceEmpty
	}
	q := (float64(ep.lossM) + 1) / (float64(ep.lossE) + 2)
	q = min(max(q, 2*p, 0.02), 0.999)
	if m == 0 || binLLR(m, e, q, p) <= 0 {
		return occurrenceClean
	}
	ep.lossE += uint64(e)
	ep.lossM += uint64(m)
	return occurrenceLossy
}

// settleOccurrences adds the late fills and losses of the occurrences whose
// lateness judgments are all made.
func (f *Detector) settleOccurrences(ep *Episode, now int64) {
	for {
		_, b := ep.window(ep.nextSettle)
		if b+windowSlack+binRes+f.lateLag > now || ep.nextSettle >= ep.nextCheck {
			return
		}
		_, _, late, lost := f.windowCounts(ep, ep.nextSettle)
		ep.late += uint64(late)
		ep.lost += uint64(lost)
		ep.nextSettle++
	}
}

// lateFraction returns the fraction of the episode's settled lost slots that
// were filled late.
func (ep *Episode) lateFraction() float64 {
	if ep.late+ep.lost == 0 {
		return math.NaN()
	}
	return float64(ep.late) / float64(ep.late+ep.lost)
}

// Explains returns the firing episode whose window holds every one of n
// slots expected at first, first+step, …, if any: the explanation of a
// series' run of lost slots.
func (f *Detector) Explains(first, step int64, n int) *Episode {
	for _, ep := range f.episodes {
		if ep.state != episode.Firing {
			continue
		}
		all := true
		for i := range int64(n) {
			if !ep.Covers(first + i*step) {
				all = false
				break
			}
		}
		if all {
			return ep
		}
	}
	return nil
}

// Park counts a series whose absence the episode explains as silent:
// while such series stay silent they still miss every occurrence (see
// occurrence). Unpark counts it back.
func (ep *Episode) Park() {
	ep.silent++
	ep.peakSilent = max(ep.peakSilent, ep.silent)
}

// Unpark counts a parked series back: it delivers again.
func (ep *Episode) Unpark() { ep.silent-- }

// Silent returns the parked series.
func (ep *Episode) Silent() int { return ep.silent }

// CountSeries counts one more distinct series with a miss in the
// episode's window since it fired.
func (ep *Episode) CountSeries() { ep.distinct++ }

// Open returns the open episode with the given mark, or nil.
func (f *Detector) Open(mark uint32) *Episode {
	for _, ep := range f.episodes {
		if ep.mark == mark {
			return ep
		}
	}
	return nil
}

// Firing yields the open firing episodes.
func (f *Detector) Firing(yield func(*Episode) bool) {
	for _, ep := range f.episodes {
		if ep.state == episode.Firing && !yield(ep) {
			return
		}
	}
}

// AppendTo appends the detector's state: the bins that hold anything,
// the concurrent miss rate, the burst CUSUM, bursts, tracks, folds and open
// episodes.
func (f *Detector) AppendTo(w *frame.Writer) {
	var used int
	for i := range f.bins {
		if f.bins[i] != (fleetBin{}) {
			used++
		}
	}
	w.Uv(uint64(used))
	for i := range f.bins {
		if bn := &f.bins[i]; *bn != (fleetBin{}) {
			w.Uv(uint64(i))
			w.Uv(uint64(bn.e))
			w.Uv(uint64(bn.m))
			w.Uv(uint64(bn.late))
			w.Uv(uint64(bn.lost))
			w.Uv(uint64(bn.copies))
			w.Bool(bn.burst)
			w.Bool(bn.shadow)
		}
	}
	w.I64(f.done)
	w.Bool(f.started)
	w.I64(f.startAt)
	for i := range f.rateE {
		w.Uv(uint64(f.rateE[i]))
		w.Uv(uint64(f.rateM[i]))
	}
	w.U64(f.rateSumE)
	w.U64(f.rateSumM)
	w.F64(f.s)
	w.Bool(f.inSeg)
	w.Bool(f.inBurst)
	w.I64(f.segFirst)
	w.I64(f.segLast)
	w.F64(f.segP)

	w.Uv(uint64(len(f.bursts)))
	for _, b := range f.bursts {
		w.I64(b.start)
		w.I64(b.end)
		w.I64(b.at)
		w.U32(b.m)
		w.U32(b.e)
	}
	w.Uv(uint64(len(f.tracks)))
	for _, tr := range f.tracks {
		w.F64(tr.period)
		w.I64(tr.first)
		w.I64(tr.last)
		w.I64(tr.since)
		w.I64(int64(tr.n))
		w.I64(int64(tr.span))
		w.F64(tr.skips)
		w.Bool(tr.pair)
		for i := range tr.starts {
			w.I64(tr.starts[i])
			w.I64(tr.ends[i])
			w.U32(tr.misses[i])
		}
		var mark uint32
		if tr.episode != nil {
			mark = tr.episode.mark
		}
		w.U32(mark)
	}
	w.Uv(uint64(len(f.folds)))
	for _, fd := range f.folds {
		w.I64(fd.period)
		w.I64(fd.cur)
		w.I64(fd.end)
		w.Bool(fd.init)
		for k := range fd.sc {
			sc := &fd.sc[k]
			var hot int
			for j := range sc.s {
				if sc.s[j] != 0 || sc.last[j] {
					hot++
				}
			}
			// A bin's rise time matters only while its CUSUM is above
			// zero, and is set whenever it leaves zero: bins at zero are
			// left out.
			w.Uv(uint64(hot))
			for j := range sc.s {
				if sc.s[j] != 0 || sc.last[j] {
					w.Uv(uint64(j))
					w.F32(sc.s[j])
					w.I32(sc.rose[j])
					w.Bool(sc.last[j])
				}
			}
		}
	}
	w.Uv(uint64(len(f.episodes)))
	for _, ep := range f.episodes {
		appendEpisode(w, ep)
	}
	w.U32(f.nextMark)
	keys := slices.SortedFunc(maps.Keys(f.tooFew), func(a, b [2]int64) int {
		return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1]))
	})
	f.delivery.AppendTo(w)
	w.Uv(uint64(len(keys)))
	for _, k := range keys {
		w.I64(k[0])
		w.I64(k[1])
		w.I64(f.tooFew[k].at)
		w.Bool(f.tooFew[k].late)
	}
}

func appendEpisode(w *frame.Writer, ep *Episode) {
	w.U32(ep.mark)
	w.U8(uint8(ep.state))
	w.I64(ep.since)
	w.I64(ep.period)
	w.I64(ep.phaseStart)
	w.I64(ep.phaseEnd)
	w.I64(ep.firedAt)
	w.I64(ep.lastBurst)
	w.I64(int64(ep.seriesEst))
	w.I64(int64(ep.distinct))
	w.U64(ep.late)
	w.U64(ep.lost)
	w.I64(int64(ep.clean))
	w.I64(int64(ep.lossy))
	w.I64(int64(ep.skipped))
	w.I64(int64(ep.silent))
	w.I64(int64(ep.peakSilent))
	w.U64(ep.lossE)
	w.U64(ep.lossM)
	w.I64(ep.nextCheck)
	w.I64(ep.nextSettle)
}

func readEpisode(r *frame.Reader) *Episode {
	ep := &Episode{
		mark: r.U32(), state: episode.State(r.U8()), since: r.I64(), period: r.I64(),
		phaseStart: r.I64(), phaseEnd: r.I64(), firedAt: r.I64(),
		lastBurst: r.I64(), seriesEst: int(r.I64()), distinct: int(r.I64()),
		late: r.U64(), lost: r.U64(), clean: int(r.I64()), lossy: int(r.I64()), skipped: int(r.I64()), silent: int(r.I64()),
		peakSilent: int(r.I64()), lossE: r.U64(), lossM: r.U64(),
		nextCheck: r.I64(), nextSettle: r.I64(),
	}
	switch {
	case ep.mark == 0,
		ep.state != episode.Pending && ep.state != episode.Firing,
		ep.period < 0,
		ep.state == episode.Firing && ep.period == 0,
		ep.clean < 0 || ep.lossy < 0 || ep.skipped < 0:
		r.Fail("bad fleet episode %d", ep.mark)
	}
	return ep
}

// ReadFrom restores what AppendTo wrote into a new detector.
func (f *Detector) ReadFrom(r *frame.Reader) {
	for range r.Count(8) {
		i := r.Index(ringBins)
		if f.bins == nil {
			f.alloc()
		}
		f.bins[i] = fleetBin{e: uint32(r.Uv()), m: uint32(r.Uv()), late: uint32(r.Uv()), lost: uint32(r.Uv()), copies: uint32(r.Uv()), burst: r.Bool(), shadow: r.Bool()}
		if f.bins[i].m > f.bins[i].e {
			r.Fail("fleet bin %d misses %d of %d slots", i, f.bins[i].m, f.bins[i].e)
		}
	}
	f.done = r.I64()
	f.started = r.Bool()
	f.startAt = r.I64()
	for i := range f.rateE {
		f.rateE[i] = uint32(r.Uv())
		f.rateM[i] = uint32(r.Uv())
	}
	f.rateSumE = r.U64()
	f.rateSumM = r.U64()
	f.s = r.F64()
	f.inSeg = r.Bool()
	f.inBurst = r.Bool()
	f.segFirst = r.I64()
	f.segLast = r.I64()
	f.segP = r.F64()

	n := r.Count(32)
	if n > maxBursts {
		r.Fail("%d bursts", n)
		return
	}
	for range n {
		f.bursts = append(f.bursts, burst{start: r.I64(), end: r.I64(), at: r.I64(), m: r.U32(), e: r.U32()})
	}
	n = r.Count(8 * 6)
	if n > maxTracks {
		r.Fail("%d tracks", n)
		return
	}
	marks := make([]uint32, 0, n)
	for range n {
		tr := &track{period: r.F64(), first: r.I64(), last: r.I64(), since: r.I64(), n: int(r.I64()), span: int(r.I64()), skips: r.F64(), pair: r.Bool()}
		for i := range tr.starts {
			tr.starts[i], tr.ends[i], tr.misses[i] = r.I64(), r.I64(), r.U32()
		}
		marks = append(marks, r.U32())
		if !(tr.period >= 1 && tr.period < 1<<62) || tr.n < 2 || tr.span < 1 || !(tr.skips >= 0 && tr.skips < 1e6) {
			r.Fail("bad track")
		}
		f.tracks = append(f.tracks, tr)
	}
	if nf := r.Count(8); nf != len(f.folds) {
		r.Fail("%d folds, want %d", nf, len(f.folds))
		return
	}
	for _, fd := range f.folds {
		if p := r.I64(); p != fd.period {
			r.Fail("fold period %d, want %d", p, fd.period)
			return
		}
		fd.cur = r.I64()
		fd.end = r.I64()
		fd.init = r.Bool()
		if fd.init && f.bins == nil {
			f.alloc() // the fleet has completed bins: it was allocated
		}
		for k := range fd.sc {
			for range r.Count(8) {
				j := r.Index(int(fd.nb))
				if f.bins == nil {
					f.alloc()
				}
				sc := &fd.sc[k]
				sc.s[j], sc.rose[j], sc.last[j] = r.F32(), r.I32(), r.Bool()
			}
		}
	}
	n = r.Count(8)
	for range n {
		ep := readEpisode(r)
		if r.Err() != nil {
			return
		}
		if f.Open(ep.mark) != nil {
			r.Fail("fleet episode %d twice", ep.mark)
			return
		}
		f.episodes = append(f.episodes, ep)
	}
	// A track keeps the episode it confirmed only to know that it did;
	// one that has since resolved is no longer open.
	for i, m := range marks {
		if m == 0 {
			continue
		}
		if ep := f.Open(m); ep != nil {
			f.tracks[i].episode = ep
		} else {
			f.tracks[i].episode = &Episode{mark: m}
		}
	}
	f.nextMark = r.U32()
	f.delivery.ReadFrom(r)
	for range r.Count(25) {
		k := [2]int64{r.I64(), r.I64()}
		f.tooFew[k] = tooFew{at: r.I64(), late: r.Bool()}
	}
}

// Harmonic reports whether period p is a multiple of q, or q of p, within
// the tolerance of a burst train.
func Harmonic(p, q int64) bool {
	small, large := min(p, q), max(p, q)
	k := (large + small/2) / small
	return absInt(large-k*small) <= trackTol*k
}

// Insert opens a firing episode of period p and window [start, end) into
// the period that began at since and fired at at, as if a train had
// confirmed it: for tests of what the engine does with episodes.
func (f *Detector) Insert(since, p, start, end, at int64) *Episode {
	ep := f.newEpisode(since)
	ep.state = episode.Firing
	ep.period, ep.phaseStart, ep.phaseEnd, ep.firedAt = p, start, end, at
	f.episodes = append(f.episodes, ep)
	return ep
}

// LateLag returns how long after its end a bin's late and lost counts are
// settled.
func (f *Detector) LateLag() int64 { return f.lateLag }

// BinAt returns bin b's counts (start b·BinRes): slots expected, missed at
// their on-time deadline, and of those filled late or lost. A bin the ring
// no longer holds, or never held, reads empty.
func (f *Detector) BinAt(b int64) (expected, missed, late, lost uint32) {
	if f.bins == nil || b < f.done-ringBins+clearAhead || b >= f.done+clearAhead {
		return 0, 0, 0, 0
	}
	bn := f.bin(b)
	return bn.e, bn.m, bn.late, bn.lost
}
