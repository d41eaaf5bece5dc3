package fleetgap

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const t0 = int64(1767225600) * int64(time.Second)

func sec(s float64) int64 { return t0 + int64(s*float64(time.Second)) }

// newDetector returns a detector with the engine's default budgets, its
// clock started at sec(0).
func newDetector() *Detector {
	f := New(int64(time.Second), int64(time.Minute), int64(2*time.Second))
	f.Start(sec(0))
	return f
}

// noCensus counts no series.
func noCensus(*Episode, int) int { return 0 }

// endBurst feeds a burst to the tracks, as completing its last bin would,
// with no series to count.
func endBurst(f *Detector, b burst, at int64) {
	f.census = noCensus
	f.burstEnded(b, at)
	f.census = nil
}

// burstAt is a burst centred at at, half a second long.
func burstAt(at int64) burst {
	return burst{start: at - int64(250*time.Millisecond), end: at + int64(250*time.Millisecond), at: at, m: 50, e: 100}
}

// TestFleetBurstsAndTracksAreBounded floods the fleet detector with 300
// aperiodic bursts: it keeps the newest maxBursts bursts and at most
// maxTracks tracks, evicting the oldest, and a periodic train that comes
// after the flood still gets its track and is confirmed.
func TestFleetBurstsAndTracksAreBounded(t *testing.T) {
	f := newDetector()
	rng := rand.New(rand.NewPCG(7, 8))
	now := sec(0)
	var all []burst
	var oldest *track
	for range 300 {
		// At least 50 s apart, so no track is a harmonic of the train's.
		now += int64(50+rng.IntN(350)) * int64(time.Second)
		b := burstAt(now)
		endBurst(f, b, b.end)
		all = append(all, b)
		require.LessOrEqual(t, len(f.bursts), maxBursts)
		require.LessOrEqual(t, len(f.tracks), maxTracks)
		if len(f.tracks) == maxTracks && oldest == nil {
			oldest = f.tracks[0]
		}
	}
	require.NotNil(t, oldest, "the flood fills the track table")
	require.NotContains(t, f.tracks, oldest, "the oldest tracks make room")
	require.Len(t, f.tracks, maxTracks)
	require.Equal(t, all[len(all)-maxBursts:], f.bursts, "the newest bursts are kept")

	const p = int64(47 * time.Second)
	start := now + int64(100*time.Second)
	var last burst
	for i := range 6 {
		last = burstAt(start + int64(i)*p)
		endBurst(f, last, last.end)
		require.Len(t, f.tracks, maxTracks)
	}
	i := slices.IndexFunc(f.tracks, func(tr *track) bool { return tr.period64() == p })
	require.GreaterOrEqual(t, i, 0, "the train has a track")
	tr := f.tracks[i]
	require.Equal(t, 6, tr.n)
	require.True(t, f.trackConfirmed(tr, last.end))
}

// TestFleetTooFewIsBounded fills the fleet's memory of windows that held
// too few series: it holds at most maxTooFew of them and is cleared when
// full. A remembered window is not counted again, even once enough series
// miss slots in it; once forgotten, it is, and the gap is promoted.
func TestFleetTooFewIsBounded(t *testing.T) {
	f := newDetector()
	minute := int64(time.Minute)
	start, end := int64(12*time.Second), int64(13500*time.Millisecond)
	f.census = noCensus
	require.Nil(t, f.promote(sec(0), minute, start, end, sec(100)), "no series: too few")
	for i := int64(1); i < maxTooFew; i++ {
		require.Nil(t, f.promote(sec(0), minute+i*int64(time.Second), int64(50*time.Second), int64(51*time.Second), sec(100)))
	}
	require.Len(t, f.tooFew, maxTooFew)

	// Now five series miss the slot at 12.5 s into the minute.
	lost := sec(12.5)
	f.census = func(ep *Episode, limit int) int {
		if ep.Holds(lost) {
			return min(minGapSeries, limit)
		}
		return 0
	}
	cand := Episode{since: sec(0), period: minute, phaseStart: start, phaseEnd: end}
	require.True(t, cand.Holds(lost))
	require.Nil(t, f.promote(sec(0), minute, start, end, sec(200)), "remembered: not counted again")

	// One more window that holds too few overflows the memory: it is
	// cleared, and remembers only that window.
	other := int64(40 * time.Second)
	require.False(t, cand.inWindow(sec(40.5)))
	require.Nil(t, f.promote(sec(0), minute, other, other+int64(1500*time.Millisecond), sec(200)))
	require.Len(t, f.tooFew, 1)

	ep := f.promote(sec(0), minute, start, end, sec(200))
	require.NotNil(t, ep, "forgotten: counted again, and promoted")
	require.Equal(t, minute, ep.period)
	require.LessOrEqual(t, len(f.tooFew), maxTooFew)
}

// TestFleetForgetsAJumpLongerThanItsRing moves the fleet's clock further
// than its ring of bins holds (8,192 s): it completes what the ring holds,
// then forgets every bin, burst, track, fold and rate, and bins filled
// after the jump are completed as usual.
func TestFleetForgetsAJumpLongerThanItsRing(t *testing.T) {
	f := newDetector()
	for i := range 160 {
		// Observed as the wheel would: at the slot's deadline, just before
		// its bin completes (bins are cleared ahead of completion).
		rx := sec(150 + float64(i)/4)
		f.Advance(rx, false, 0, noCensus)
		f.Observe(rx, i%3 == 0)
	}
	for _, s := range []float64{10, 70, 130} {
		b := burstAt(sec(s))
		endBurst(f, b, b.end)
	}
	f.Advance(sec(200), false, 0, noCensus)
	require.NotEmpty(t, f.tracks)
	require.Len(t, f.bursts, 3)
	require.Positive(t, f.rateSumE+f.rateSumM)
	f.folds[0].sc[0].s[3] = foldH / 2

	jump := sec(200) + ringBins*binRes + int64(time.Hour)
	f.Advance(jump, false, 0, noCensus)
	require.Empty(t, f.tracks)
	require.Empty(t, f.bursts)
	require.Zero(t, f.rateSumE)
	require.Zero(t, f.rateSumM)
	require.Equal(t, binOf(jump-f.lag), f.done)
	for i := range f.bins {
		require.Equal(t, fleetBin{}, f.bins[i], "bin %d", i)
	}
	for _, fd := range f.folds {
		for k := range fd.sc {
			require.Zero(t, slices.Max(fd.sc[k].s), "fold %v scale %d", time.Duration(fd.period), k)
		}
	}

	for i := range 40 {
		rx := jump + int64(i)*binRes
		f.Advance(rx, false, 0, noCensus)
		f.Observe(rx, i == 0)
	}
	f.Advance(jump+int64(time.Minute), false, 0, noCensus)
	require.EqualValues(t, 40, f.rateSumE)
	require.EqualValues(t, 1, f.rateSumM)
}

// TestAdvanceBeforeDueDoesNothing: before Due, Advance completes no bin and
// returns nothing, so the engine may skip it; at Due one bin completes and
// Due moves on by a bin; near the end of time Due says always.
func TestAdvanceBeforeDueDoesNothing(t *testing.T) {
	f := newDetector()
	f.Start(sec(0))
	for i := range 40 {
		f.Observe(sec(float64(i)/4), i%2 == 0)
	}
	for now := sec(0); now < sec(30); now += int64(37 * time.Millisecond) {
		due, done := f.Due(), f.done
		if now < due {
			require.Empty(t, f.Advance(now, false, 0, noCensus))
			require.Equal(t, done, f.done, "at %d, before its due %d", now, due)
			continue
		}
		f.Advance(now, false, 0, noCensus)
		require.Greater(t, f.done, done, "at %d, due %d", now, due)
		require.Equal(t, f.completionTime(f.done), f.Due())
	}
	f.done = math.MaxInt64/binRes - 1
	require.Equal(t, int64(math.MinInt64), f.Due())
}
