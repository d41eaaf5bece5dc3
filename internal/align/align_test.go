package align_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/internal/align"
)

func TestFloor(t *testing.T) {
	for _, c := range []struct{ a, b, div, mod int64 }{
		{7, 3, 2, 1}, {-7, 3, -3, 2}, {6, 3, 2, 0}, {-6, 3, -2, 0}, {0, 5, 0, 0},
		{math.MinInt64, 60, math.MinInt64/60 - 1, math.MinInt64 - (math.MinInt64/60-1)*60},
	} {
		require.Equal(t, c.div, align.FloorDiv(c.a, c.b), "%d / %d", c.a, c.b)
		require.Equal(t, c.mod, align.FloorMod(c.a, c.b), "%d mod %d", c.a, c.b)
		require.Equal(t, c.a, align.FloorDiv(c.a, c.b)*c.b+align.FloorMod(c.a, c.b))
	}
	require.EqualValues(t, -3, align.FloorDiv(7, -3))
}
