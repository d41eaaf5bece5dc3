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

// TestSeriesIndexDelete removes and adds series at random, many with the
// same home slot so probe runs are long and wrap round the table's end,
// and checks every lookup against a map: backward-shift deletion must keep
// each remaining entry reachable and leave no stale one.
func TestSeriesIndexDelete(t *testing.T) {
	var x seriesIndex
	require.False(t, x.del(42))
	rng := rand.New(rand.NewPCG(2, 2))
	ids := map[stream.SeriesID]uint32{}
	var order []stream.SeriesID
	for i := range 60000 {
		if len(order) > 0 && rng.IntN(2) == 0 {
			j := rng.IntN(len(order))
			id := order[j]
			order[j] = order[len(order)-1]
			order = order[:len(order)-1]
			require.True(t, x.del(id))
			require.False(t, x.del(id))
			delete(ids, id)
			_, ok := x.get(id)
			require.False(t, ok)
			continue
		}
		id := stream.SeriesID(rng.Uint64())
		switch i % 3 {
		case 0:
			id = stream.SeriesID(^uint64(rng.IntN(64) << 20)) // home the last slot: runs wrap
		case 1:
			id = stream.SeriesID(uint64(rng.IntN(64)) << 20) // home 0
		}
		if _, dup := ids[id]; dup {
			continue
		}
		x.put(id, uint32(i))
		ids[id] = uint32(i)
		order = append(order, id)
		if i%1000 == 0 {
			for id, want := range ids {
				got, ok := x.get(id)
				require.True(t, ok)
				require.Equal(t, want, got)
			}
		}
	}
	require.Equal(t, len(ids), x.n)
	for id, want := range ids {
		got, ok := x.get(id)
		require.True(t, ok)
		require.Equal(t, want, got)
	}
	used := 0
	for _, s := range x.slots {
		if s.idx != 0 {
			used++
		}
	}
	require.Equal(t, len(ids), used, "no stale entries")
}
