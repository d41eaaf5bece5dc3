package persource

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/internal/episode"
)

// TestLagHistogram checks the lag histogram's buckets (contiguous, 8 per
// octave) and that its interpolated median is within a bucket's relative
// width of the exact one.
func TestLagHistogram(t *testing.T) {
	prev := -1
	for v := int64(0); v < 1<<(lagOctaves+2); v += 1 + v/64 {
		i := lagBucket(v << lagUnitShift)
		require.GreaterOrEqual(t, i, prev, "monotone at %d", v)
		require.LessOrEqual(t, i, prev+1, "contiguous at %d", v)
		prev = i
		lo, w := lagBucketRange(i)
		if i < lagBuckets-1 {
			require.True(t, float64(v) >= lo && float64(v) < lo+w, "%d in bucket %d [%v, %v)", v, i, lo, lo+w)
			require.LessOrEqual(t, w, max(1, lo/8))
		}
	}
	require.Equal(t, lagBuckets-1, prev)
	require.Equal(t, 0, lagBucket(-5))

	rng := rand.New(rand.NewPCG(11, 12))
	for range 200 {
		n := 1 + rng.IntN(500)
		scale := int64(1) << (10 + rng.IntN(30))
		var h lagHist
		lags := make([]int64, n)
		for i := range lags {
			lags[i] = rng.Int64N(scale) + rng.Int64N(scale/4+1)
			h[lagBucket(lags[i])]++
		}
		slices.Sort(lags)
		exact := lags[(n-1)/2]
		got := h.median(uint64(n))
		require.InDelta(t, exact, got, float64(max(exact/8, 2<<lagUnitShift)), "n %d", n)
	}
}

// TestLagJitterIsNoRise feeds a source whose lag is 100 ms plus a uniform
// jitter of up to 1 s, one sample a minute (each minute's median is that
// sample), for a day: once its noise is learned, no minute counts as a
// rise, so a backlog's start cannot be moved by jitter. Then a backlog
// adding 20 s a minute starts a rising run at its first minute and fires.
func TestLagJitterIsNoRise(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	d := New(4)
	d.Start(0)
	i, _ := d.Of("a")
	var fired []episode.Transition
	minute := func(m int64, lag int64) {
		d.Fresh(i, lag)
		for _, tr := range d.Minutes((m+1)*Minute, false, 0) {
			fired = append(fired, tr)
		}
	}
	const day = 24 * 60
	rises := 0
	for m := range int64(day) {
		minute(m, int64(100*time.Millisecond)+rng.Int64N(int64(time.Second)))
		if m >= 3*learnMinutes && d.list[i].lagRun > 0 {
			rises++
		}
	}
	require.Zero(t, rises, "minutes counted as rises once the noise is learned (noise %v)", time.Duration(d.list[i].lagNoise))
	require.InDelta(t, float64(time.Second)/3, d.list[i].lagNoise, float64(100*time.Millisecond), "a uniform jitter's mean change is a third of its width")
	require.Empty(t, fired)
	ratio, lag := d.Learned(i)
	require.Zero(t, ratio, "a day of minutes: the learned counts saturate, they do not wrap")
	require.InDelta(t, float64(600*time.Millisecond), lag, float64(100*time.Millisecond))

	for k := range int64(10) {
		minute(day+k, int64(2*time.Second)+k*int64(20*time.Second)+rng.Int64N(int64(time.Second)))
	}
	require.NotEmpty(t, fired)
	require.Equal(t, episode.Firing, fired[0].State)
	// Dated by its first minute past the midpoint between the normal lag
	// (0.6 s) and the firing threshold (30.6 s): 22 s, the second.
	require.Equal(t, int64(day+1)*Minute, fired[0].Since, "the backlog's first minute past the midpoint")
}
