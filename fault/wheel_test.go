package fault

import (
	"testing"

	"github.com/stretchr/testify/require"
)

type hit struct {
	series uint32
	tick   int64
}

// wheelHarness delivers like the engine: a series whose due tick is still
// ahead is linked again.
type wheelHarness struct {
	w   *wheel
	due map[uint32]int64
	got []hit
}

func newHarness(res int64, bits uint, series int) *wheelHarness {
	h := &wheelHarness{w: newWheel(res, bits), due: map[uint32]int64{}}
	h.w.grow(series)
	return h
}

func (h *wheelHarness) schedule(s uint32, d int64) {
	h.due[s] = h.w.tickOf(d)
	h.w.schedule(s, h.due[s])
}

func (h *wheelHarness) advance(now int64) {
	h.w.advance(now, func(s uint32, tick int64) {
		if h.due[s] > tick {
			h.w.schedule(s, h.due[s])
			return
		}
		h.got = append(h.got, hit{s, tick})
	})
}

func TestWheelDeliversInTickOrderNeverEarly(t *testing.T) {
	h := newHarness(250, 4, 8) // 16 buckets: one lap is 4000 ns
	h.schedule(1, 1000)        // tick 4
	h.schedule(2, 1001)        // tick 5
	h.schedule(3, 1000)        // tick 4
	h.schedule(4, 9000)        // tick 36: two laps ahead, same bucket as 4
	h.schedule(5, 250*20)      // tick 20

	h.advance(1000) // tick 4 starts at 1000: not strictly before now
	require.Empty(t, h.got)
	h.advance(1001)
	require.ElementsMatch(t, []hit{{1, 4}, {3, 4}}, h.got)
	h.advance(5001)
	require.Equal(t, []hit{{2, 5}, {5, 20}}, h.got[2:])
	h.advance(9000)
	require.Len(t, h.got, 4, "a wake-up two laps ahead waits for its lap")
	h.advance(9001)
	require.Equal(t, hit{4, 36}, h.got[4])
	require.Zero(t, h.w.n)
}

func TestWheelRescheduleMovesAndUnlinks(t *testing.T) {
	h := newHarness(10, 3, 8)
	for s := uint32(0); s < 6; s++ {
		h.schedule(s, 50) // all in one bucket: heads, middles, tails
	}
	h.schedule(0, 90) // the last linked, first in the list
	h.schedule(3, 70) // a middle one
	h.schedule(5, 30) // earlier
	h.w.unlink(4)     // gone
	h.w.unlink(4)     // twice is fine
	require.False(t, h.w.linked(4))
	require.Equal(t, 5, h.w.n)
	h.advance(1000)
	require.Equal(t, []hit{{5, 3}, {2, 5}, {1, 5}, {3, 7}, {0, 9}}, h.got)
	require.Zero(t, h.w.n)
}

func TestWheelPastDeadlineAndEmptyJump(t *testing.T) {
	h := newHarness(10, 3, 2)
	h.w.advance(1_000_000, func(uint32, int64) { t.Fatal("nothing scheduled") })
	require.Equal(t, int64(100_000), h.w.next)
	h.schedule(1, 5) // in the past: delivered at the next tick
	h.advance(1_000_001)
	require.Equal(t, []hit{{1, 100_000}}, h.got)
}
