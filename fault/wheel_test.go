package fault

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestWheelDeliversInTickOrderNeverEarly(t *testing.T) {
	w := newWheel(250, 4) // 16 buckets: one lap is 4000 ns
	type hit struct {
		series uint32
		tick   int64
	}
	var got []hit
	fn := func(s uint32, tick int64) { got = append(got, hit{s, tick}) }

	w.schedule(1, w.tickOf(1000))   // tick 4
	w.schedule(2, w.tickOf(1001))   // tick 5
	w.schedule(3, w.tickOf(1000))   // tick 4, after 1
	w.schedule(4, w.tickOf(9000))   // tick 36: two laps ahead, same bucket as 4
	w.schedule(5, w.tickOf(250*20)) // tick 20

	w.advance(1000, fn) // tick 4 starts at 1000: not strictly before now
	require.Empty(t, got)
	w.advance(1001, fn)
	require.Equal(t, []hit{{1, 4}, {3, 4}}, got)
	w.advance(5001, fn)
	require.Equal(t, []hit{{1, 4}, {3, 4}, {2, 5}, {5, 20}}, got)
	w.advance(9000, fn)
	require.Len(t, got, 4, "entry two laps ahead must wait for its lap")
	w.advance(9001, fn)
	require.Equal(t, hit{4, 36}, got[4])
	require.Zero(t, w.n)
}

func TestWheelRescheduleIntoCurrentTickGoesToNext(t *testing.T) {
	w := newWheel(10, 3)
	var got []int64
	var fn func(s uint32, tick int64)
	fn = func(s uint32, tick int64) {
		got = append(got, tick)
		if len(got) < 3 {
			w.schedule(s, tick) // due now: must not loop within this tick
		}
	}
	w.schedule(7, 2)
	w.advance(1000, fn)
	require.Equal(t, []int64{2, 3, 4}, got)
}

func TestWheelPastDeadlineAndEmptyJump(t *testing.T) {
	w := newWheel(10, 3)
	w.advance(1_000_000, func(uint32, int64) { t.Fatal("nothing scheduled") })
	require.Equal(t, int64(100_000), w.next)
	tick := w.schedule(1, 5) // in the past: delivered at the next tick
	require.Equal(t, int64(100_000), tick)
	var n int
	w.advance(1_000_001, func(uint32, int64) { n++ })
	require.Equal(t, 1, n)
}
