package fault

import (
	"math"
	"slices"
)

// The fleet periodic gap detector.
//
// Every slot judgment of every series lands in a ring of 0.25-s bins keyed
// by the slot's expected arrival time: expected slots, real-time misses, and
// later whether each miss was filled late or lost. Its state does not depend
// on the fleet's size. Three layers read it:
//
//  1. Bursts. A CUSUM over completed bins of the binomial log-likelihood
//     ratio "this bin loses half its slots" against the fleet's concurrent
//     60-s miss rate. Crossing burstH flags a burst; its extent is the run
//     of hot bins. The effect size (p₁ = 0.5) ignores dead checks scattered
//     in phase and a uniform rise in random loss. A burst counts as one
//     piece of evidence, however many slots it lost.
//  2. Burst-train tracks discover the period: each burst spawns tracks at
//     its distances to the recent bursts; a track advances when a burst
//     lands on its prediction. It confirms once its coincidences are
//     unlikely enough under the background rate of unrelated bursts (see
//     trackConfirmed).
//  3. Phase folds at round candidate periods catch losses too weak to
//     flag bursts (fold.go).
//
// A confirmed train or fold opens a periodic gap episode: period, phase
// window, affected series, late-fill fraction; it resolves after two clean
// occurrences.

const (
	binRes      = wheelRes // width of a phase bin
	ringBins    = 1 << 15  // bins kept: 8,192 s
	clearAhead  = 64       // bins cleared ahead of completion for reuse
	rateBins    = 240      // the concurrent miss rate is measured over 60 s
	minMissRate = 0.001    // floor of any estimated miss rate

	burstP1     = 0.5  // miss rate of a burst bin …
	burstEffect = 2.0  // … or this multiple of the fleet's miss rate, if more
	burstH      = 20.0 // CUSUM threshold that flags a burst

	trackTol    = int64(600 * 1e6)  // how far a burst's centre may land from a track's prediction
	trackMinP   = int64(5 * 1e9)    // shortest period tracks look for
	trackMaxP   = int64(4000 * 1e9) // longest
	trackSpawn  = 16                // recent bursts each new burst pairs with
	maxTracks   = 512
	maxBursts   = 256
	alphaPerDay = 0.01        // false periodic alarms per day the tracks allow
	minBurstHz  = 1.0 / 86400 // floor on the rate of unrelated bursts: one a day
	burstWindow = int64(3600 * 1e9)

	pendingQuiet = int64(600 * 1e9) // a burst without a train is forgotten after this

	minGapSeries       = 5 // series a fleet gap must involve
	tooFewMemory       = 8 // periods a window with too few series is not counted again
	maxTooFew          = 1024
	occurrenceLookBack = 4 // occurrences before its confirmation that seed an episode's miss rate
	cleanToResolve     = 2 // clean occurrences in a row that resolve an episode
)

// fleetBin is one phase bin of the raw ring.
type fleetBin struct {
	e, m       uint32 // expected slots, real-time misses
	late, lost uint32 // of the misses: filled within the lateness allowance, or not
	burst      bool   // part of a flagged burst
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
	starts      [8]int64
	ends        [8]int64
	misses      [8]uint32
	episode     *gapEpisode // the episode it confirmed, if any
}

// fleet is the fleet detector.
type fleet struct {
	e *Engine // for events and series

	bins     []fleetBin
	done     int64 // next bin to complete
	started  bool
	startAt  int64
	lag      int64 // how long after its end a bin is complete
	lateLag  int64 // how long after its end a bin's late/lost outcomes are settled
	rateE    [rateBins]uint32
	rateM    [rateBins]uint32
	rateSumE uint64
	rateSumM uint64

	// burst CUSUM
	s        float64
	inSeg    bool
	inBurst  bool
	hotFirst int64
	hotLast  int64
	segM     uint32
	segE     uint32
	segMT    float64 // Σ misses × bin centre (s, from the first hot bin), for the centre

	bursts []burst
	tracks []*track
	folds  []*fold

	episodes []*gapEpisode // open ones, pending or firing
	nextMark uint32
	tooFew   map[[2]int64]int64 // (period, phase bin) → when it last held too few series
}

func newFleet(e *Engine, tau, late int64) *fleet {
	f := &fleet{
		e:       e,
		tooFew:  make(map[[2]int64]int64),
		lag:     tau + 2*wheelRes,
		lateLag: late + lateSlack + 2*wheelRes,
	}
	for _, p := range foldPeriods {
		f.folds = append(f.folds, newFold(p))
	}
	return f
}

func binOf(t int64) int64 {
	b := t / binRes // a constant divisor: compiled to a multiplication
	if t%binRes < 0 {
		b--
	}
	return b
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func (f *fleet) bin(b int64) *fleetBin { return &f.bins[b&(ringBins-1)] }

// alloc allocates the ring and the folds' phase bins (about 1 MB), at the
// first slot judgment: until then every bin is empty and completing one
// changes nothing, so an engine that judges no slot never pays for them.
func (f *fleet) alloc() {
	f.bins = make([]fleetBin, ringBins)
	for _, fd := range f.folds {
		fd.alloc()
	}
}

// observe records the on-time judgment of a slot expected at rx.
func (f *fleet) observe(rx int64, missed bool) {
	if f.bins == nil {
		f.alloc()
	}
	b := f.bin(binOf(rx))
	b.e++
	if missed {
		b.m++
	}
}

// settle records the lateness judgment of a slot missed in real time.
func (f *fleet) settle(rx int64, late bool) {
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

// start sets the fleet's clock on the engine's first time.
func (f *fleet) start(now int64) {
	f.started = true
	f.startAt = now
	f.done = binOf(now)
	if f.bins != nil {
		for i := int64(0); i < clearAhead; i++ {
			*f.bin(f.done + i) = fleetBin{}
		}
	}
}

// advance completes every bin whose slots have all been judged by now, in
// order, then checks the open episodes' occurrences.
func (f *fleet) advance(now int64) {
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
func (f *fleet) reset(done int64) {
	clear(f.bins)
	f.rateE, f.rateM = [rateBins]uint32{}, [rateBins]uint32{}
	f.rateSumE, f.rateSumM = 0, 0
	f.s, f.inSeg, f.inBurst = 0, false, false
	f.tracks = f.tracks[:0]
	f.bursts = f.bursts[:0]
	for _, fd := range f.folds {
		fd.reset()
	}
	f.done = done
}

// completionTime is when bin b completes: the time judgments based on it are
// made, whatever the batching of the input.
func (f *fleet) completionTime(b int64) int64 { return (b+1)*binRes + f.lag }

// missRate returns the fleet's concurrent miss rate.
func (f *fleet) missRate() float64 {
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
func (f *fleet) complete(b int64) {
	bn := f.bin(b)
	i := b % rateBins
	if i < 0 {
		i += rateBins
	}
	f.rateSumE += uint64(bn.e) - uint64(f.rateE[i])
	f.rateSumM += uint64(bn.m) - uint64(f.rateM[i])
	f.rateE[i], f.rateM[i] = bn.e, bn.m

	p := f.missRate()
	p1 := max(burstP1, burstEffect*p)
	at := f.completionTime(b)
	if p1 < 1 {
		f.s = min(max(0, f.s+binLLR(bn.m, bn.e, p1, p)), 2*burstH)
	} else {
		f.s = 0
	}
	hot := bn.m > 0 && float64(bn.m) >= (p1+p)/2*float64(bn.e)
	switch {
	case f.s > 0:
		if !f.inSeg {
			f.inSeg, f.hotFirst, f.hotLast, f.segM, f.segE, f.segMT = true, -1, -1, 0, 0, 0
		}
		if hot {
			if f.hotFirst < 0 {
				f.hotFirst = b
			}
			f.hotLast = b
			f.segM += bn.m
			f.segE += bn.e
			f.segMT += float64(bn.m) * (float64(b-f.hotFirst) + 0.5)
		}
		if !f.inBurst && f.s >= burstH && f.hotFirst >= 0 {
			f.inBurst = true
			f.burstFlagged(f.hotFirst*binRes, at)
		}
	case f.inSeg:
		if f.inBurst {
			for x := f.hotFirst; x <= f.hotLast; x++ {
				f.bin(x).burst = true
			}
			centre := f.hotFirst*binRes + int64(f.segMT/float64(f.segM)*float64(binRes))
			f.burstEnded(burst{start: f.hotFirst * binRes, end: (f.hotLast + 1) * binRes, at: centre, m: f.segM, e: f.segE}, at)
		}
		f.inSeg, f.inBurst = false, false
	}

	for _, fd := range f.folds {
		fd.complete(f, b)
	}
	*f.bin(b + clearAhead) = fleetBin{}
}

// burstFlagged opens a pending episode at the first burst that no open
// episode expects.
func (f *fleet) burstFlagged(start, at int64) {
	for _, ep := range f.episodes {
		if ep.state == StatePending || ep.covers(start) {
			if ep.state == StatePending {
				ep.lastBurst = at
			}
			return
		}
	}
	ep := f.newEpisode(start)
	ep.lastBurst = at
	f.episodes = append(f.episodes, ep)
	f.e.emitFleet(ep, StatePending, at)
}

func (f *fleet) newEpisode(since int64) *gapEpisode {
	f.nextMark++
	return &gapEpisode{mark: f.nextMark, state: StatePending, since: since}
}

// burstEnded feeds a complete burst to the tracks.
func (f *fleet) burstEnded(bst burst, at int64) {
	if len(f.bursts) == maxBursts {
		copy(f.bursts, f.bursts[1:])
		f.bursts = f.bursts[:maxBursts-1]
	}
	extended := make(map[int64]bool, 4) // periods (rounded to tolerance) already advanced by this burst
	for _, tr := range f.tracks {
		if tr.extend(bst) {
			extended[tr.period64()/trackTol] = true
			if tr.episode == nil && f.trackConfirmed(tr, at) {
				f.confirmTrack(tr, at)
			}
		}
	}
	// Spawn tracks at the distances to the recent bursts, except where a
	// live track already runs at that period, or at a multiple of it.
	for i := len(f.bursts) - 1; i >= 0 && i >= len(f.bursts)-trackSpawn; i-- {
		u := f.bursts[i]
		p := bst.at - u.at
		if p < trackMinP || p > trackMaxP {
			continue
		}
		if extended[p/trackTol] || extended[p/trackTol-1] || extended[p/trackTol+1] || f.harmonic(p, bst.at) {
			continue
		}
		if len(f.tracks) == maxTracks {
			f.tracks = slices.Delete(f.tracks, 0, 1) // the oldest
		}
		tr := &track{period: float64(p), first: u.at, last: bst.at, since: u.start, n: 2, span: 1}
		tr.record(0, u)
		tr.record(1, bst)
		f.tracks = append(f.tracks, tr)
	}
	f.bursts = append(f.bursts, bst)
}

// harmonic reports whether a new track at period p through time t would
// only repeat a live track at a divisor of p.
func (f *fleet) harmonic(p, t int64) bool {
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

// extend advances the track if the burst lands on its next prediction, or
// on the one after (one occurrence may be too weak to flag).
func (tr *track) extend(b burst) bool {
	p := tr.period
	n := math.Round(float64(b.at-tr.last) / p)
	if n < 1 || n > 2 {
		return false
	}
	if absInt(b.at-tr.last-int64(n*p)) > trackTol {
		return false
	}
	tr.record(tr.n, b)
	tr.n++
	tr.span += int(n)
	tr.last = b.at
	tr.period = float64(tr.last-tr.first) / float64(tr.span)
	return true
}

// trackConfirmed decides whether a train's coincidences are unlikely enough
// to be chance. Under the null, unrelated bursts arrive as a Poisson process
// of rate λ, estimated over the last hour from the bursts outside the track
// and floored at minBurstHz; each occurrence beyond the first two landed
// within ±trackTol of its prediction, which chance does with probability
// q = 2·trackTol·λ. Each burst spawns up to trackSpawn (16) tracks, so
// the number of tracks at risk per day is about trackSpawn·λ·86400, and
// requiring
//
//	(n − 2)·ln(1/q) ≥ ln(trackSpawn·λ·86400 / α)
//
// bounds the false periodic alarms at α per day (union bound). In a clean
// background this confirms at the third occurrence; with unrelated bursts
// once a minute it takes six.
func (f *fleet) trackConfirmed(tr *track, now int64) bool {
	if tr.n < 3 {
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
	need := math.Log(trackSpawn * lambda * 86400 / alphaPerDay)
	return float64(tr.n-2)*math.Log(1/q) >= need
}

// confirmTrack opens (or promotes the pending) episode for a confirmed
// train.
func (f *fleet) confirmTrack(tr *track, at int64) {
	p := snapPeriod(tr.period, max(float64(trackTol)/float64(tr.span), float64(binRes)))
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
	f.fire(ep, at)
}

// snapPeriod returns the period a train estimated at p ± u (ns) most likely
// has: a candidate fold period if one lies within the uncertainty, else a
// whole number of seconds if one does, else p itself. Burst times are
// quantized to bins, so three occurrences of a 60-s gap may well measure
// 59.875 s; and phases are reported modulo the period from the Unix epoch,
// where an error of a fraction of a second in the period scrambles the
// phase. Periodic faults come from timers, which count in whole seconds.
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
	ref := floorMod(ts[0], p)
	d := make([]int64, len(ts))
	for i, t := range ts {
		x := floorMod(t, p) - ref
		if x > p/2 {
			x -= p
		} else if x < -p/2 {
			x += p
		}
		d[i] = x
	}
	slices.Sort(d)
	return floorMod(ref+d[len(d)/2], p)
}

func floorMod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

// promote turns the pending episode into a gap of period p with the phase
// window [start, end) (ns into the period), or opens a new one. It returns
// nil when an open firing episode already names the same gap, or when fewer
// than minGapSeries series miss slots in the window: a handful of checks
// that died in the same second look just like that, and their own absences
// report them.
func (f *fleet) promote(since, p, start, end, at int64) *gapEpisode {
	for _, ep := range f.episodes {
		if ep.state == StateFiring && ep.sameGap(p, start, end) {
			return nil
		}
	}
	// Counting the series scans them all, so a window found to hold too
	// few is not counted again for a few periods.
	key := [2]int64{p, floorMod(start, p) / binRes}
	if t, ok := f.tooFew[key]; ok && at < t+tooFewMemory*p {
		return nil
	}
	cand := gapEpisode{since: since, period: p, phaseStart: start, phaseEnd: end}
	if f.e.seriesMissingIn(&cand, minGapSeries) < minGapSeries {
		if len(f.tooFew) >= maxTooFew {
			clear(f.tooFew)
		}
		f.tooFew[key] = at
		return nil
	}
	var ep *gapEpisode
	for i, x := range f.episodes {
		if x.state == StatePending {
			if x.since >= since-trackTol {
				ep = x
			} else {
				// The pending burst was not part of this train.
				f.episodes = slices.Delete(f.episodes, i, i+1)
				f.e.emitFleet(x, StateResolved, x.lastBurst)
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

// fire emits an episode's firing event and starts checking its occurrences.
func (f *fleet) fire(ep *gapEpisode, at int64) {
	ep.state = StateFiring
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
	f.e.emitFleet(ep, StateFiring, at)
	f.e.fleetConfirmed(ep)
}

// expireTracks drops tracks whose next two predictions have passed without
// a burst.
func (f *fleet) expireTracks(now int64) {
	f.tracks = slices.DeleteFunc(f.tracks, func(tr *track) bool {
		return now > tr.last+int64(2*tr.period)+trackTol+f.lag+4*binRes
	})
}

// gapEpisode is a fleet periodic gap, pending (bursts seen, no period yet)
// or firing.
type gapEpisode struct {
	mark                 uint32 // unique; series and absences refer to it
	state                State
	since                int64 // start of the first burst
	period               int64 // ns; 0 while pending
	phaseStart, phaseEnd int64 // lossy window, ns into the period (phaseEnd may pass period)
	firedAt              int64
	firingID             string

	lastBurst  int64 // pending: when the last burst was flagged
	seriesEst  int   // series lost per occurrence
	distinct   int   // distinct series counted with a miss in the window since firing
	late, lost uint64
	clean      int    // clean occurrences in a row
	silent     int    // series whose absence it explains that are still silent
	peakSilent int    // the most that ever were at once
	lossE      uint64 // slots expected in the windows of its lossy occurrences
	lossM      uint64 // … and missed: its own miss rate, which occurrences are judged against
	nextCheck  int64  // period index of the next occurrence to check
	nextSettle int64  // period index of the next occurrence to settle for late fills
	inhibited  []uint32
}

// occurrenceAfter returns the index of the first occurrence whose window
// ends after t.
func (ep *gapEpisode) occurrenceAfter(t int64) int64 {
	return floorDiv(t-ep.phaseEnd, ep.period) + 1
}

// window returns the absolute window of occurrence n.
func (ep *gapEpisode) window(n int64) (a, b int64) {
	base := n * ep.period
	return base + ep.phaseStart, base + ep.phaseEnd
}

// windowSlack widens the lossy window when asking whether a slot falls
// inside it: the expected arrivals of the lost slots straddle its edges by
// the arrival jitter.
const windowSlack = int64(500 * 1e6)

// covers reports whether a firing episode's window holds time t.
func (ep *gapEpisode) covers(t int64) bool {
	return ep.state == StateFiring && ep.inWindow(t)
}

// inWindow reports whether time t falls in the episode's lossy window, give
// or take windowSlack.
func (ep *gapEpisode) inWindow(t int64) bool {
	ph := floorMod(t-ep.phaseStart+windowSlack, ep.period)
	return ph < ep.phaseEnd-ep.phaseStart+2*windowSlack
}

// sameGap reports whether the episode names the gap of period p and window
// [start, end): the same period (or a multiple or divisor of it) and
// overlapping windows.
func (ep *gapEpisode) sameGap(p, start, end int64) bool {
	small, large := min(p, ep.period), max(p, ep.period)
	k := (large + small/2) / small
	if absInt(large-k*small) > trackTol*k {
		return false
	}
	a := floorMod(start, small)
	b := floorMod(ep.phaseStart, small)
	d := absInt(a - b)
	d = min(d, small-d)
	return d <= max(end-start, ep.phaseEnd-ep.phaseStart)+2*windowSlack
}

// windowCounts sums the bins of occurrence n's window.
func (f *fleet) windowCounts(ep *gapEpisode, n int64) (e, m, late, lost uint32) {
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
func (f *fleet) checkEpisodes(now int64) {
	for i := 0; i < len(f.episodes); i++ {
		ep := f.episodes[i]
		if ep.state == StatePending {
			if now >= ep.lastBurst+pendingQuiet {
				f.episodes = slices.Delete(f.episodes, i, i+1)
				i--
				f.e.emitFleet(ep, StateResolved, ep.lastBurst+pendingQuiet)
			}
			continue
		}
		f.settleOccurrences(ep, now)
		for {
			_, b := ep.window(ep.nextCheck)
			at := b + windowSlack + binRes + f.lag
			if at > now || f.e.closed && b > f.e.horizon {
				break // not complete yet, or after the end of input
			}
			e, m, _, _ := f.windowCounts(ep, ep.nextCheck)
			ep.nextCheck++
			switch ep.occurrence(e, m, f.missRate()) {
			case occurrenceEmpty:
				continue
			case occurrenceLossy:
				ep.clean = 0
				ep.seriesEst = max(ep.seriesEst, int(m)+ep.silent)
				continue
			}
			if ep.clean++; ep.clean >= cleanToResolve {
				f.episodes = slices.Delete(f.episodes, i, i+1)
				i--
				f.settleOccurrences(ep, now)
				f.forget(ep)
				f.e.emitFleet(ep, StateResolved, at)
				f.e.uninhibit(ep, at)
				break
			}
		}
	}
}

// forget drops a resolved gap's evidence from the folds at its period's
// multiples (at each of its phases there) and divisors, so that none of them
// reports the ended gap again.
func (f *fleet) forget(ep *gapEpisode) {
	for _, fd := range f.folds {
		switch {
		case fd.period%ep.period == 0:
			for off := int64(0); off < fd.period; off += ep.period {
				fd.forget(ep.phaseStart+off, ep.phaseEnd+off)
			}
		case ep.period%fd.period == 0:
			fd.forget(ep.phaseStart, ep.phaseEnd)
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
func (ep *gapEpisode) occurrence(e, m uint32, p float64) int {
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
func (f *fleet) settleOccurrences(ep *gapEpisode, now int64) {
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
func (ep *gapEpisode) lateFraction() float64 {
	if ep.late+ep.lost == 0 {
		return math.NaN()
	}
	return float64(ep.late) / float64(ep.late+ep.lost)
}

// explainsRun returns the firing episode whose window holds every slot of
// the series' current run of lost slots, if any.
func (f *fleet) explainsRun(t *tracker) *gapEpisode {
	for _, ep := range f.episodes {
		if ep.state != StateFiring {
			continue
		}
		all := true
		for k := t.lateK - int32(t.lostRun); k < t.lateK; k++ {
			if !ep.covers(t.rxExp(k)) {
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

// episodeByMark returns the open episode with the given mark.
func (f *fleet) episodeByMark(mark uint32) *gapEpisode {
	for _, ep := range f.episodes {
		if ep.mark == mark {
			return ep
		}
	}
	return nil
}

// firing returns the open firing episodes.
func (f *fleet) firing(yield func(*gapEpisode) bool) {
	for _, ep := range f.episodes {
		if ep.state == StateFiring && !yield(ep) {
			return
		}
	}
}
