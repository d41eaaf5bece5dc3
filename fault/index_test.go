package fault

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/stream"
)

func TestSeriesIndex(t *testing.T) {
	var x seriesIndex
	_, ok := x.get(42)
	require.False(t, ok)
	rng := rand.New(rand.NewPCG(1, 1))
	ids := map[stream.SeriesID]uint32{}
	for i := range 20000 {
		id := stream.SeriesID(rng.Uint64())
		if i%7 == 0 {
			id = stream.SeriesID(uint64(i) << 40) // equal low bits: long probe runs
		}
		if _, dup := ids[id]; dup {
			continue
		}
		x.put(id, uint32(len(ids)))
		ids[id] = uint32(len(ids))
	}
	for id, want := range ids {
		got, ok := x.get(id)
		require.True(t, ok)
		require.Equal(t, want, got)
	}
	_, ok = x.get(stream.SeriesID(rng.Uint64()))
	require.False(t, ok)
	require.LessOrEqual(t, x.n*4, len(x.slots)*3)
}
