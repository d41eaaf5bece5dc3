package scenario

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/faultline-go/faultline/stream"
)

// rng derives the contract's distributions from a PCG by fixed formulas.
type rng struct{ p *rand.PCG }

// u returns U[0, 1).
func (r rng) u() float64 { return float64(r.p.Uint64()>>11) * 0x1p-53 }

// uo returns U(0, 1), never 0 or 1.
func (r rng) uo() float64 { return (float64(r.p.Uint64()>>11) + 0.5) * 0x1p-53 }

// exp returns Exp(1).
func (r rng) exp() float64 { return -math.Log(r.uo()) }

// norm returns N(0, 1).
func (r rng) norm() float64 { return math.Sqrt2 * math.Erfinv(2*r.uo()-1) }

// bucketNs is the width of the arrival buckets of the counting sort.
const bucketNs = int64(time.Second)

// gen is one pass of the generator.
type gen struct {
	s        Spec
	r        rng
	counting bool // pass 1: count deliveries per bucket only

	windows          []Window
	incStart, incEnd int64 // incident, Unix ns

	lo      int64 // arrival of bucket 0's start
	counts  []int // pass 1: deliveries per bucket
	pos     []int // pass 2: next free index per bucket
	ends    []int // pass 2: end of each bucket
	out     []Delivery
	n       int // deliveries emitted
	replays int // replayed deliveries emitted
	err     error
	series  []Series
	drops   []Drop
}

// Generate generates spec from seed. The same (spec, seed) always yields
// the same dataset, byte for byte (on one architecture; see the package
// documentation for the contract).
func Generate(spec Spec, seed uint64) (*Dataset, error) {
	if err := spec.Validate(); err != nil {
		return nil, fmt.Errorf("scenario: invalid spec: %w", err)
	}
	spec.Cadences = slices.Clone(spec.Cadences)

	// Pass 1 counts deliveries per arrival second on the same PRNG stream,
	// so that pass 2 writes each delivery straight into its bucket of an
	// exactly sized slice.
	g := newGen(spec, seed, true)
	g.run()
	if g.err != nil {
		return nil, g.err
	}
	counts := g.counts

	g = newGen(spec, seed, false)
	g.counts = counts
	g.out = make([]Delivery, sum(counts))
	bounds := make([]int, len(counts)+1)
	for b, c := range counts {
		bounds[b+1] = bounds[b] + c
	}
	g.pos = slices.Clone(bounds[:len(counts)])
	g.ends = bounds[1:]
	g.run()
	if g.err != nil {
		return nil, g.err
	}
	if g.n != len(g.out) {
		return nil, errors.New("scenario: internal error: passes disagree")
	}
	sortBuckets(g.out, bounds, g.lo)

	ds := &Dataset{Spec: spec, Seed: seed, Series: g.series, deliveries: g.out}
	g.fillTruth(ds)
	return ds, nil
}

func sum(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}

// sortBuckets sorts each bucket out[bounds[b]:bounds[b+1]], the buckets
// spread over GOMAXPROCS goroutines. Buckets are disjoint and the order is
// total, so the result does not depend on scheduling.
func sortBuckets(out []Delivery, bounds []int, lo int64) {
	nb := len(bounds) - 1
	workers := min(runtime.GOMAXPROCS(0), max(1, len(out)/(1<<16)))
	chunk := (nb + workers - 1) / workers
	var wg sync.WaitGroup
	for first := 0; first < nb; first += chunk {
		last := min(first+chunk, nb)
		wg.Go(func() {
			var bs bucketSorter
			for b := first; b < last; b++ {
				bs.sort(out[bounds[b]:bounds[b+1]], lo+int64(b)*bucketNs)
			}
		})
	}
	wg.Wait()
}

// subBuckets is the number of sub-buckets of a bucket in its counting sort.
const subBuckets = 1024

// bucketSorter sorts one bucket: a counting sort by arrival into
// subBuckets sub-buckets through a scratch buffer, then an insertion sort
// that only has to fix the order inside sub-buckets. O(n) per bucket, in
// cache.
type bucketSorter struct {
	counts  [subBuckets + 1]int
	scratch []Delivery
}

func (bs *bucketSorter) sort(seg []Delivery, start int64) {
	if len(seg) < 2 {
		return
	}
	const width = bucketNs / subBuckets
	sub := func(a int64) int { return int(min(max(a-start, 0)/width, subBuckets-1)) }
	clear(bs.counts[:])
	for _, d := range seg {
		bs.counts[sub(d.arrival)+1]++
	}
	for i := 1; i <= subBuckets; i++ {
		bs.counts[i] += bs.counts[i-1]
	}
	bs.scratch = slices.Grow(bs.scratch[:0], len(seg))[:len(seg)]
	for _, d := range seg {
		j := sub(d.arrival)
		bs.scratch[bs.counts[j]] = d
		bs.counts[j]++
	}
	copy(seg, bs.scratch)
	for i := 1; i < len(seg); i++ {
		d := seg[i]
		j := i
		for j > 0 && compareDeliveries(d, seg[j-1]) < 0 {
			seg[j] = seg[j-1]
			j--
		}
		seg[j] = d
	}
}

func newGen(s Spec, seed uint64, counting bool) *gen {
	g := &gen{
		s:        s,
		r:        rng{rand.NewPCG(seed, Salt)},
		counting: counting,
		incStart: Origin + int64(s.Onset),
		lo:       Origin - int64(s.Jitter) - bucketNs,
	}
	g.incEnd = g.incStart + int64(s.Duration)
	if end := Origin + int64(s.Horizon); g.incEnd > end {
		g.incEnd = end
	}
	if g.incEnd < g.incStart {
		g.incEnd = g.incStart
	}
	if !counting {
		g.series = make([]Series, s.N)
	}
	return g
}

// us converts seconds after Origin to Unix ns, rounded to whole µs.
func us(sec float64) int64 {
	return Origin + int64(math.Round(sec*1e6))*int64(time.Microsecond)
}

func (g *gen) run() {
	g.makeWindows()
	g.makeSeries()
}

// makeWindows draws the outage windows: the first consumer of the PRNG.
func (g *gen) makeWindows() {
	s := &g.s
	switch s.Mode {
	case ModePeriodic, ModeCopyLoss:
		P, ph, w := int64(s.Period), int64(s.Phase), int64(s.Width)
		// First n with n·P + phase ≥ incStart (incStart > 0, so the
		// ceiling division of a non-negative numerator is plain).
		n := (g.incStart - ph + P - 1) / P
		var walk, prevEnd int64
		for start := n*P + ph; start < g.incEnd; start += P {
			skip := false
			if s.SkipProb > 0 {
				skip = g.r.u() < s.SkipProb
			}
			st := start
			if s.PhaseJitter > 0 {
				st += int64(math.Round((2*g.r.u() - 1) * float64(s.PhaseJitter)))
			}
			if s.PhaseWalk > 0 {
				if start != n*P+ph {
					walk += int64(math.Round(g.r.norm() * float64(s.PhaseWalk)))
				}
				st += walk
			}
			if !skip {
				// Never before the previous window's end: windows stay
				// disjoint and in order (a no-op unless the walk took
				// a step beyond 8σ).
				st = max(st, prevEnd)
				g.windows = append(g.windows, Window{Start: st, End: st + w})
				prevEnd = st + w
			}
		}
	case ModeAperiodic, ModeBacklog:
		w := s.Width.Seconds()
		gap := (s.Period - s.Width).Seconds()
		t := s.Onset.Seconds()
		for {
			t += w + gap*g.r.exp()
			start := us(t)
			if start >= g.incEnd {
				break
			}
			g.windows = append(g.windows, Window{Start: start, End: start + int64(s.Width)})
		}
	}
}

// window returns the index of the window holding arrival a, or −1.
func (g *gen) window(a int64) int {
	ws := g.windows
	if len(ws) == 0 || a < ws[0].Start || a >= ws[len(ws)-1].End {
		return -1
	}
	// Last window with Start ≤ a.
	lo, hi := 0, len(ws)
	for hi-lo > 1 {
		m := int(uint(lo+hi) >> 1)
		if ws[m].Start <= a {
			lo = m
		} else {
			hi = m
		}
	}
	if a < ws[lo].End {
		return lo
	}
	return -1
}

func (g *gen) makeSeries() {
	s := &g.s
	var cum []float64
	total := 0.0
	for _, c := range s.Cadences {
		total += c.Weight
		cum = append(cum, total)
	}
	var (
		horizon    = s.Horizon.Seconds()
		onset      = s.Onset.Seconds()
		jitter     = s.Jitter.Seconds()
		base       = s.BaseDelay.Seconds()
		mean       = s.DelayMean.Seconds()
		spread     = s.CopySpread.Seconds()
		replay     = int64(s.Replay.Round(time.Microsecond))
		copies     = s.Copies
		windowed   = s.Mode == ModePeriodic || s.Mode == ModeAperiodic || s.Mode == ModeBacklog
		backlog    = s.Mode == ModeBacklog
		copyDraws  = s.Mode == ModeCopyLoss || s.Mode == ModeRandomCopyLoss
		pDropPhase = 0.0
		pCopy      = 0.0
		incStart   = float64(g.incStart-Origin) / 1e9
		incEnd     = float64(g.incEnd-Origin) / 1e9
		spreads    [MaxCopies]float64
		copyU      [MaxCopies]float64
		arrivals   [MaxCopies]int64
	)
	switch s.Mode {
	case ModeRandomPhase:
		pDropPhase = s.Width.Seconds() / s.Period.Seconds()
	case ModeCopyLoss:
		pCopy = s.CopyLoss
	case ModeRandomCopyLoss:
		pCopy = s.CopyLoss * s.Width.Seconds() / s.Period.Seconds()
	}
	for i := 0; i < s.N; i++ {
		// Series parameters: five draws, always, and a sixth with clock
		// drift on.
		uC, uPhi, zS, zD, uDead := g.r.u(), g.r.u(), g.r.norm(), g.r.norm(), g.r.u()
		clock := 0.0 // clock rate error, a fraction
		if s.ClockDriftPPM > 0 {
			clock = g.r.norm() * s.ClockDriftPPM * 1e-6
		}
		ci := 0
		for ci < len(cum)-1 && uC*total >= cum[ci] {
			ci++
		}
		everyD := s.Cadences[ci].Every
		every := everyD.Seconds()
		phi := uPhi * every
		skew := zS * s.Skew.Seconds()
		driftPPM := zD * s.DriftPPM
		step := every * (1 + driftPPM*1e-6)
		dead := uDead < s.DeadFraction

		m := 0 // ModePerSeriesRandom block length, 0 = not eligible
		if s.Mode == ModePerSeriesRandom && everyD < s.Period {
			if r := int(math.Round(s.Period.Seconds() / every)); r >= 2 {
				m = r
			}
		}
		chosen := -1

		var st Series
		lastWin := -1
		for k := 0; ; k++ {
			nominal := phi + float64(k)*step
			if nominal >= horizon {
				break
			}
			// Sample draws: 3 + Copies, always.
			uJ, uL, e, uF := g.r.u(), g.r.u(), g.r.exp(), g.r.u()
			for c := 1; c < copies; c++ {
				spreads[c] = g.r.u() * spread
			}
			if copyDraws {
				for c := 1; c < copies; c++ {
					copyU[c] = g.r.u()
				}
			}
			if m > 0 && k%m == 0 {
				chosen = k + int(uF*float64(m))
			}
			st.Slots++
			send := nominal + (2*uJ-1)*jitter
			if dead && send >= onset {
				continue
			}
			st.Sent++
			if uL < s.Loss || s.LossStep > 0 && uL < s.Loss+s.LossStep && send >= incStart && send < incEnd {
				st.Lost++
				continue
			}
			ts := us(send + skew)
			if clock != 0 {
				ts = us(send + skew + clock*send)
			}
			arr := send + base + mean*e
			arrivals[0] = us(arr)
			for c := 1; c < copies; c++ {
				arrivals[c] = us(arr + spreads[c])
			}
			a0 := arrivals[0]
			inIncident := a0 >= g.incStart && a0 < g.incEnd
			whole := false // sample-level fault: all copies dropped
			switch s.Mode {
			case ModeRandomPhase:
				whole = inIncident && uF < pDropPhase
			case ModePerSeriesRandom:
				whole = inIncident && k == chosen
			}
			dropped, win := 0, -1
			for c := 0; c < copies; c++ {
				a := arrivals[c]
				drop := whole
				redeliver := a + replay // when replay > 0 or held
				switch {
				case windowed:
					if wi := g.window(a); wi >= 0 {
						drop = true
						if c == 0 {
							win = wi
						}
						if !g.counting {
							g.windows[wi].DroppedCopies++
						}
						if backlog {
							redeliver = g.release(wi, a)
						}
					}
				case c > 0 && copyU[c] < pCopy:
					if s.Mode == ModeRandomCopyLoss {
						drop = a >= g.incStart && a < g.incEnd
					} else if wi := g.window(a); wi >= 0 {
						drop = true
						if !g.counting {
							g.windows[wi].DroppedCopies++
						}
					}
				}
				if !drop {
					g.emit(a, ts, i, c, false)
					continue
				}
				dropped++
				if replay > 0 || backlog {
					g.emit(redeliver, ts, i, c, true)
				}
			}
			st.DroppedCopies += int32(dropped)
			if dropped < copies {
				continue
			}
			// Real-time drop: the slot is empty at its expected arrival.
			st.Dropped++
			if replay > 0 || backlog {
				st.Replayed++
			}
			if win >= 0 {
				if win != lastWin {
					st.Windows++
					lastWin = win
				}
				if !g.counting {
					g.windows[win].Dropped++
				}
			}
			if !g.counting {
				g.drops = append(g.drops, Drop{
					Series: int32(i), Slot: int32(k), Window: int32(win),
					Replayed: replay > 0 || backlog, Time: ts, Arrival: a0,
				})
			}
		}
		if g.err != nil {
			return
		}
		if g.counting {
			continue
		}
		label := "c" + pad6(i)
		st.Labels = stream.NewLabels(CheckLabel, label)
		st.ID = stream.Hash(Metric, st.Labels)
		st.Every = everyD
		st.Offset = time.Duration(math.Round(phi * 1e9))
		st.Skew = time.Duration(math.Round(skew * 1e9))
		st.DriftPPM = driftPPM
		st.ClockDriftPPM = clock * 1e6
		st.Dead = dead
		g.series[i] = st
	}
}

// release returns when a copy that arrived at a, held in backlog window
// wi, is delivered: the window's backlog replayed in order over Flood once
// the window ends, in whole µs.
func (g *gen) release(wi int, a int64) int64 {
	w := g.windows[wi]
	const us = int64(time.Microsecond)
	width := (w.End - w.Start) / us
	return w.End + (a-w.Start)/us*int64(g.s.Flood/time.Microsecond)/width*us
}

// pad6 formats i in at least six digits.
func pad6(i int) string {
	s := strconv.Itoa(i)
	if len(s) < 6 {
		s = "000000"[len(s):] + s
	}
	return s
}

// emit records one delivery: counted into its bucket in pass 1, written
// into it in pass 2.
func (g *gen) emit(arrival, ts int64, series, copy int, replayed bool) {
	lag := (arrival - ts) / int64(time.Microsecond)
	if lag > math.MaxInt32 || lag < math.MinInt32 {
		if g.err == nil {
			g.err = fmt.Errorf("scenario: series %d: arrival − sample time %v exceeds %v", series, time.Duration(arrival-ts), MaxLag)
		}
		return
	}
	b := int((arrival - g.lo) / bucketNs)
	if arrival < g.lo {
		b = 0
	}
	if g.counting {
		if b >= len(g.counts) {
			g.counts = append(g.counts, make([]int, b+1-len(g.counts))...)
		}
		g.counts[b]++
		return
	}
	if b >= len(g.ends) || g.pos[b] >= g.ends[b] {
		if g.err == nil {
			g.err = errors.New("scenario: internal error: passes disagree")
		}
		return
	}
	ref := uint32(series)<<seriesShift | uint32(copy)
	if replayed {
		ref |= replayedBit
	}
	g.out[g.pos[b]] = Delivery{arrival: arrival, lag: int32(lag), ref: ref}
	g.pos[b]++
	g.n++
	if replayed {
		g.replays++
	}
}

// fillTruth completes the ground truth after pass 2.
func (g *gen) fillTruth(ds *Dataset) {
	s := &g.s
	t := &ds.Truth
	t.Mode = s.Mode
	t.Period, t.Width, t.Phase = s.Period, s.Width, s.Phase
	t.Onset, t.End = g.incStart, g.incEnd
	t.Windows = g.windows
	t.Drops = g.drops
	t.Periodic = s.Mode == ModePeriodic && len(g.windows) > 0
	t.DeliveryLoss = s.Mode == ModeCopyLoss && len(g.windows) > 0
	t.Deliveries = len(g.out)
	t.ReplayedCopies = g.replays
	for i := range ds.Series {
		st := &ds.Series[i]
		if t.Periodic && st.Every < s.Period && st.Dropped >= 2 {
			st.Affected = true
			st.Core = 2*int(st.Windows) >= len(g.windows)
		}
		t.Slots += int(st.Slots)
		t.Sent += int(st.Sent)
		t.Lost += int(st.Lost)
		t.Dropped += int(st.Dropped)
		t.Replayed += int(st.Replayed)
		t.DroppedCopies += int(st.DroppedCopies)
		if st.Dropped > 0 {
			t.FleetSeries++
		}
		if st.DroppedCopies > 0 {
			t.CopySeries++
		}
		if st.Affected {
			t.Affected++
		}
		if st.Core {
			t.Core++
		}
		if st.Dead {
			t.Dead++
		}
	}
}
