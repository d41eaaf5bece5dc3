package dedup

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/internal/align"
	"github.com/faultline-go/faultline/stream"
)

const (
	sec    = int64(time.Second)
	minute = int64(time.Minute)
	t0     = int64(1_700_000_000) * sec // an ordinary sample time
)

// newTest returns a Deduper that is Reset when the test ends.
func newTest(t testing.TB, cfg Config) *Deduper {
	t.Helper()
	d, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(d.Reset)
	return d
}

func TestVerdictString(t *testing.T) {
	require.Equal(t, "fresh", Fresh.String())
	require.Equal(t, "duplicate", Duplicate.String())
	require.Equal(t, "conflict", Conflict.String())
	require.Equal(t, "too_late", TooLate.String())
	require.Equal(t, "verdict(9)", Verdict(9).String())
}

func TestNewConfig(t *testing.T) {
	f := func(cfg Config, wantErr string, gens int, maxBytes uint64) {
		t.Helper()
		d, err := New(cfg)
		if wantErr != "" {
			require.ErrorContains(t, err, wantErr)
			require.Nil(t, d)
			return
		}
		require.NoError(t, err)
		defer d.Reset()
		s := d.Stats()
		require.Equal(t, gens, s.Generations)
		require.Equal(t, maxBytes, s.MaxBytes)
		require.LessOrEqual(t, s.MaxBytes, uint64(max(cmp.Or(cfg.MaxBytes, DefaultMaxBytes), MinMaxBytes)))
	}
	slots := func(mb int) uint64 { return uint64(mb / entryBytes / 8 * 8 * entryBytes) }
	f(Config{Window: -1}, "Window must not be negative", 0, 0)
	f(Config{MaxBytes: -1}, "MaxBytes must not be negative", 0, 0)
	f(Config{MaxBytes: math.MaxInt}, "too large", 0, 0)
	f(Config{}, "", 8, slots(64<<20))                        // defaults
	f(Config{MaxBytes: 1}, "", 8, slots(MinMaxBytes))        // raised to the floor
	f(Config{MaxBytes: 100 << 20}, "", 8, slots(100<<20))    // rounded down to whole slots
	f(Config{MaxBytes: 1 << 30}, "", 8, slots(1<<30))        // 8 × 128 MiB
	f(Config{Window: time.Nanosecond}, "", 8, slots(64<<20)) // tiny windows are valid
}

func TestGeometryCoversWindow(t *testing.T) {
	// The admissible range [wm-window, wm] must meet at most len(gens)
	// generations, for any watermark.
	rng := rand.New(rand.NewPCG(1, 2))
	for _, w := range []time.Duration{1, 7, time.Second, 15 * time.Minute, 1000*time.Hour + 3} {
		width := genWidth(w, gensCount)
		for range 1000 {
			wm := rng.Int64() - rng.Int64()
			span := align.FloorDiv(wm, width) - align.FloorDiv(satSub(wm, int64(w)), width) + 1
			require.LessOrEqual(t, span, int64(gensCount), "window %v wm %d", w, wm)
		}
	}
}

// step is one delivery and the verdict it must get.
type step struct {
	series stream.SeriesID
	ts     int64
	value  float64
	want   Verdict
}

func run(t *testing.T, d *Deduper, steps []step) {
	t.Helper()
	for i, s := range steps {
		require.Equal(t, s.want, d.Admit(s.series, s.ts, s.value), "step %d: %+v", i, s)
	}
}

func TestAdmitVerdicts(t *testing.T) {
	const w = 10 * minute
	nan1 := math.Float64frombits(0x7ff8000000000001)
	nan2 := math.Float64frombits(0x7ff8000000000002)
	d := newTest(t, Config{Window: time.Duration(w)})
	require.Equal(t, int64(math.MinInt64), d.Watermark())
	run(t, d, []step{
		{1, t0, 1.5, Fresh},
		{1, t0, 1.5, Duplicate},
		{1, t0, 2.5, Conflict},  // the first value wins
		{1, t0, 1.5, Duplicate}, // and stays: a third delivery with it is a duplicate
		{1, t0, 2.5, Conflict},  // the conflicting value is never recorded
		{2, t0, 1.5, Fresh},     // another series, same time
		{1, t0 + 1, 1.5, Fresh}, // same series, another time
		{3, t0, nan1, Fresh},
		{3, t0, nan1, Duplicate}, // NaN payloads are compared bit for bit
		{3, t0, nan2, Conflict},
		{4, t0, 0, Fresh},
		{4, t0, math.Copysign(0, -1), Conflict}, // so is the sign of zero
	})
	require.Equal(t, t0+1, d.Watermark())

	// Window edges: the watermark moves to t0+w+1, so t0+1 is exactly on
	// the edge and t0 is one nanosecond past it.
	run(t, d, []step{
		{5, t0 + w + 1, 1, Fresh},
		{1, t0 + 1, 1.5, Duplicate}, // ts == wm-window: still judged
		{1, t0 + 1, 9, Conflict},
		{6, t0 + 1, 1, Fresh}, // never seen, on the edge: fresh
		{1, t0, 1.5, TooLate}, // ts == wm-window-1
		{7, t0, 1, TooLate},   // never seen, but too late all the same
	})
	require.Equal(t, t0+w+1, d.Watermark(), "only Fresh deliveries above it move the watermark")

	// Deliveries behind the watermark do not move it.
	run(t, d, []step{{8, t0 + w, 1, Fresh}})
	require.Equal(t, t0+w+1, d.Watermark())

	s := d.Stats()
	require.Equal(t, Stats{
		Fresh: 8, Duplicate: 4, Conflict: 5, TooLate: 2,
		// the watermark moved on by a window: each generation it crossed
		// replaced one
		Rotations: uint64(align.FloorDiv(t0+w+1, d.width) - align.FloorDiv(t0, d.width)),
		Entries:   8, BytesUsed: s.BytesUsed, MaxBytes: s.MaxBytes, Generations: 8,
	}, s)
	require.Equal(t, uint64(7), s.Rotations)
	require.Equal(t, uint64(2*minSlots*entryBytes), s.BytesUsed, "two tables took keys")
	require.Positive(t, s.BytesUsed)
}

func TestRotationForgetsOnlyBehindWindow(t *testing.T) {
	const w = 15 * minute
	d := newTest(t, Config{Window: time.Duration(w), MaxBytes: 256 << 20})
	require.Equal(t, 8, d.Stats().Generations)

	// One series per 10 s step, each delivered once as the watermark walks
	// forward over many generations; after every step all earlier keys
	// inside the window must be Duplicate and all older ones TooLate.
	const steps = 400 // 4000 s: over four windows
	for i := range int64(steps) {
		ts := t0 + i*10*sec
		require.Equal(t, Fresh, d.Admit(stream.SeriesID(i), ts, float64(i)))
		for j := range i + 1 {
			old := t0 + j*10*sec
			want := Duplicate
			if old < ts-w {
				want = TooLate
			}
			require.Equal(t, want, d.Admit(stream.SeriesID(j), old, float64(j)), "key %d at watermark step %d", j, i)
		}
	}
	s := d.Stats()
	require.Positive(t, s.Rotations)
	require.Zero(t, s.Overflow)
	require.Equal(t, uint64(steps), s.Fresh)
	// Rotation frees memory: only keys of the live generations remain,
	// about Window·8/7 of them.
	require.Less(t, s.Entries, uint64(w/(10*sec)*8/7+8))
	require.GreaterOrEqual(t, s.Entries, uint64(w/(10*sec)))
}

func TestJumpResetsAllGenerations(t *testing.T) {
	const w = 15 * minute
	d := newTest(t, Config{Window: time.Duration(w)})
	for i := range int64(100) {
		require.Equal(t, Fresh, d.Admit(1, t0+i*sec, 1))
	}
	require.Zero(t, d.Stats().Rotations)

	// A jump of many windows: every generation is reset and the old keys
	// are TooLate, never Fresh again.
	far := t0 + 100*w
	require.Equal(t, Fresh, d.Admit(1, far, 1))
	s := d.Stats()
	require.Equal(t, uint64(gensCount), s.Rotations)
	require.Equal(t, uint64(1), s.Entries)
	for i := range int64(100) {
		require.Equal(t, TooLate, d.Admit(1, t0+i*sec, 1))
	}
	require.Equal(t, Duplicate, d.Admit(1, far, 1))
	require.Equal(t, Fresh, d.Admit(1, far-w, 1))
	require.Equal(t, Duplicate, d.Admit(1, far-w, 1))
}

func TestExtremeTimestamps(t *testing.T) {
	for _, w := range []time.Duration{time.Nanosecond, 15 * time.Minute, math.MaxInt64} {
		d := newTest(t, Config{Window: w})
		run(t, d, []step{
			{1, math.MinInt64, 1, Fresh},
			{1, math.MinInt64, 1, Duplicate},
			{1, math.MinInt64 + 1, 1, Fresh},
			{1, t0, 1, Fresh},
			{1, math.MaxInt64 - 1, 1, Fresh}, // an absurd future sample moves the watermark...
			{1, math.MaxInt64, 1, Fresh},
			{1, math.MaxInt64, 1, Duplicate},
			{1, math.MaxInt64 - 1, 1, Duplicate},
		})
		require.Equal(t, int64(math.MaxInt64), d.Watermark())
		want := TooLate // ...and later ordinary samples are TooLate (counted)
		if w == math.MaxInt64 {
			want = Fresh // unless the window reaches back to them
		}
		require.Equal(t, want, d.Admit(2, t0, 1), "window %v", w)
		require.Equal(t, TooLate, d.Admit(2, math.MinInt64, 1), "window %v", w)

		d.Reset() // the way out
		require.Equal(t, Fresh, d.Admit(1, t0, 1))
		require.Equal(t, Duplicate, d.Admit(1, t0, 1))
	}
}

func TestReset(t *testing.T) {
	d := newTest(t, Config{})
	require.Equal(t, Fresh, d.Admit(1, t0, 1))
	require.Equal(t, Duplicate, d.Admit(1, t0, 1))
	d.Reset()
	require.Equal(t, int64(math.MinInt64), d.Watermark())
	s := d.Stats()
	require.Equal(t, Stats{MaxBytes: s.MaxBytes, Generations: 8}, s)
	require.Positive(t, s.MaxBytes)
	require.Equal(t, Fresh, d.Admit(1, t0, 1))
}

// delivery is one delivery in a generated stream.
type delivery struct {
	key     int32 // index of the key (series, ts) in its stream
	arrival int64
}

// genStream returns n distinct keys and their deliveries in arrival order:
// each key is delivered 1 to maxCopies times, each copy delayed by up to
// maxDelay after its sample time, so sample times are out of order by up to
// maxDelay. Key i has series id i%series, sample times spread over span.
func genStream(rng *rand.Rand, n, series int, span, maxDelay int64, maxCopies int) (ts []int64, ds []delivery) {
	ts = make([]int64, n)
	step := span / int64(n/series) // each series reports once per step...
	for i := range ts {
		// ...at its own phase within the step.
		ts[i] = t0 + int64(i/series)*step + int64(i%series)*(step/int64(series))
		copies := 1 + rng.IntN(maxCopies)
		for range copies {
			ds = append(ds, delivery{int32(i), ts[i] + rng.Int64N(maxDelay)})
		}
	}
	slices.SortFunc(ds, func(a, b delivery) int {
		if c := cmp.Compare(a.arrival, b.arrival); c != 0 {
			return c
		}
		return cmp.Compare(a.key, b.key)
	})
	return ts, ds
}

func TestZeroFalseDrops(t *testing.T) {
	// 200k distinct keys, each delivered 1–4 times, disorder up to 10 min
	// under a 15 min window, across several generation rotations, within
	// the byte budget: exactly the first delivery of each key is Fresh.
	const (
		series = 1000
		w      = 15 * minute
	)
	n := 200_000
	if raceEnabled {
		n = 40_000
	}
	rng := rand.New(rand.NewPCG(7, 11))
	ts, ds := genStream(rng, n, series, 4*w, 10*minute, 4)
	for _, mb := range []int{0, 256 << 20} {
		d := newTest(t, Config{Window: time.Duration(w), MaxBytes: mb})
		seen := make([]bool, n)
		for _, x := range ds {
			want := Duplicate
			if !seen[x.key] {
				want, seen[x.key] = Fresh, true
			}
			got := d.Admit(stream.SeriesID(x.key%series), ts[x.key], float64(x.key))
			if got != want {
				require.Equal(t, want, got, "key %d ts %d arrival %d watermark %d", x.key, ts[x.key], x.arrival, d.Watermark())
			}
		}
		s := d.Stats()
		require.Equal(t, uint64(n), s.Fresh)
		require.Equal(t, uint64(len(ds)-n), s.Duplicate)
		require.Zero(t, s.Overflow)
		require.Zero(t, s.TooLate)
		require.Positive(t, s.Rotations)
		d.Reset()
	}
}

func TestZeroFalseDropsUnderEviction(t *testing.T) {
	// The smallest budget (1 MiB: eight tables of 5,461 slots, each
	// holding 4,095 keys) and 40,000 distinct keys in one generation: the
	// table must evict. Each key is delivered once, one in four again a
	// little later, and then a replay wave redelivers one key in eight
	// from the start. No first delivery may be Duplicate or Conflict. Some
	// redeliveries of evicted keys are admitted again (false admits):
	// never more than Overflow, and none before Overflow starts counting.
	const n = 40_000
	rng := rand.New(rand.NewPCG(3, 5))
	d := newTest(t, Config{Window: time.Hour, MaxBytes: 1})
	key := func(i int) (stream.SeriesID, int64) {
		return stream.SeriesID(i), t0 + int64(i/1000)*int64(time.Millisecond)
	}
	var falseAdmits, firstOverflowAt uint64
	redeliver := func(i int) {
		s, ts := key(i)
		switch got := d.Admit(s, ts, float64(i)); got {
		case Duplicate:
		case Fresh:
			falseAdmits++
			if d.counts.overflow == 0 {
				require.Fail(t, "false admit before any overflow", "key %d", i)
			}
		default:
			require.Equal(t, Duplicate, got, "key %d", i)
		}
	}
	for i := range n {
		s, ts := key(i)
		if got := d.Admit(s, ts, float64(i)); got != Fresh {
			require.Equal(t, Fresh, got, "first delivery of key %d", i)
		}
		if d.counts.overflow > 0 && firstOverflowAt == 0 {
			firstOverflowAt = d.counts.fresh
		}
		if i >= 10 && rng.IntN(4) == 0 {
			redeliver(i - rng.IntN(10))
		}
	}
	for i := 0; i < n; i += 8 {
		redeliver(i) // the replay wave
	}

	s := d.Stats()
	t.Logf("keys %d, overflow %d (first after %d keys), false admits %d", n, s.Overflow, firstOverflowAt, falseAdmits)
	gen := &d.gens[d.slot(align.FloorDiv(t0, d.width))]
	require.Equal(t, d.maxSlots, len(gen.t.slots), "grown to its bound")
	require.Equal(t, limit(d.maxSlots), gen.t.n, "three quarters full")
	require.Equal(t, uint64(limit(d.maxSlots)+1), firstOverflowAt, "the first key past three quarters evicts one")
	require.True(t, gen.t.reachable())
	require.Positive(t, falseAdmits)
	require.LessOrEqual(t, falseAdmits, s.Overflow, "each overflow evicts one key, which can be falsely admitted once")
	require.Equal(t, uint64(n)+falseAdmits, s.Fresh)
	require.Equal(t, s.Fresh-uint64(limit(d.maxSlots)), s.Overflow, "every Fresh key past the bound evicted one")
	require.Zero(t, s.Conflict)
	require.Zero(t, s.TooLate)
}

// TestEvictionModel checks the eviction policy against a model, verdict by
// verdict, on a table at its bound: the model holds the set of keys the
// table holds, learns which key each Fresh admit evicted from the table
// itself, and predicts every verdict; a first delivery is always Fresh,
// and Overflow counts exactly the evictions.
func TestEvictionModel(t *testing.T) {
	d := newTest(t, Config{Window: time.Hour, MaxBytes: 1})
	rng := rand.New(rand.NewPCG(9, 9))
	const keys = 12_000
	gen := &d.gens[d.slot(align.FloorDiv(t0, d.width))]
	var held []uint64             // the model: keys the table holds
	inTable := make([]bool, keys) // the table's, read after each Fresh admit
	heldNow := make([]bool, keys)
	next, evictions := uint64(0), 0
	for next < keys {
		k := next
		if next > 0 && rng.IntN(2) == 0 {
			k = rng.Uint64N(next) // a redelivery of any earlier key
		} else {
			next++
		}
		want := Fresh
		if heldNow[k] {
			want = Duplicate
		}
		require.Equal(t, want, d.Admit(stream.SeriesID(k), t0, 1), "key %d", k)
		if want == Duplicate {
			continue
		}
		clear(inTable)
		for _, e := range gen.t.slots {
			if e.off != 0 {
				inTable[e.series] = true
			}
		}
		require.True(t, inTable[k])
		kept := held[:0]
		for _, h := range held {
			if inTable[h] {
				kept = append(kept, h)
			} else {
				heldNow[h] = false
				evictions++
			}
		}
		require.LessOrEqual(t, len(held)-len(kept), 1, "one key evicted at most")
		held = append(kept, k)
		heldNow[k] = true
		require.Equal(t, gen.t.n, len(held))
	}
	require.Equal(t, uint64(evictions), d.Stats().Overflow)
	require.Positive(t, evictions)
}

func TestAdmitDoesNotAllocate(t *testing.T) {
	d := newTest(t, Config{})
	for i := range 10_000 {
		d.Admit(stream.SeriesID(i), t0, 1)
	}
	var i int
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"duplicate", func() { d.Admit(stream.SeriesID(i%10_000), t0, 1); i++ }},
		{"conflict", func() { d.Admit(stream.SeriesID(i%10_000), t0, 2); i++ }},
		{"too late", func() { d.Admit(1, t0-time.Hour.Nanoseconds(), 1) }},
		{"fresh", func() { d.Admit(stream.SeriesID(i%1000), t0+1+int64(i/1000), 1); i++ }},
	} {
		i = 0
		require.Zero(t, testing.AllocsPerRun(1000, tc.f), tc.name)
	}
}

// TestLocate: the generation and offset locate finds without dividing are
// those that dividing gives, for any watermark and sample time, the ends
// of int64 included (where a generation's start may not be an int64, and
// wrapping offsets are ambiguous; FuzzAdmit found both).
func TestLocate(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 8))
	ends := []int64{math.MinInt64, math.MinInt64 + 1, math.MinInt64 + 500, -1, 0, 1, t0, math.MaxInt64 - 500, math.MaxInt64 - 1, math.MaxInt64}
	for _, window := range []time.Duration{1, 7, 3000, 15 * time.Minute, math.MaxInt64} {
		d := newTest(t, Config{Window: window})
		w := d.width
		near := func(x int64) int64 { return x + rng.Int64N(4*w+1) - 2*w } // may wrap: any int64 will do
		for range 2000 {
			wm := ends[rng.IntN(len(ends))]
			if rng.IntN(2) == 0 {
				wm = near(wm)
			}
			d.hasWM, d.wm = true, wm
			d.setTop(align.FloorDiv(wm, w))
			for range 20 {
				var ts int64
				switch rng.IntN(3) {
				case 0:
					ts = near(wm)
				case 1:
					ts = near(ends[rng.IntN(len(ends))])
				default:
					ts = rng.Int64() - rng.Int64()
				}
				g, off := d.locate(ts)
				want := align.FloorDiv(ts, w)
				require.Equal(t, want, g, "window %d wm %d ts %d", window, wm, ts)
				require.Equal(t, uint64(ts)-uint64(want)*uint64(w)+1, off, "window %d wm %d ts %d", window, wm, ts)
			}
		}
	}
}
