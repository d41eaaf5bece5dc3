package persource

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
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
