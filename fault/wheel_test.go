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
// ahead is linked again. Times are given in ticks (of wheelRes).
type wheelHarness struct {
	w        *wheel
	trackers lattices
	due      map[uint32]int64
	got      []hit
}

func newHarness(bits uint, series int) *wheelHarness {
	h := &wheelHarness{trackers: make(lattices, series), due: map[uint32]int64{}}
	h.w = newWheel(bits, &h.trackers)
	return h
}

// ticks converts a time in ticks to ns.
func ticks(t float64) int64 { return int64(t * float64(wheelRes)) }

func (h *wheelHarness) schedule(s uint32, d float64) {
	h.due[s] = h.w.tickOf(ticks(d))
	h.w.schedule(s, h.due[s])
}

func (h *wheelHarness) advance(now float64) {
	h.w.advance(ticks(now), func(s uint32, tick int64) {
		if h.due[s] > tick {
			h.w.schedule(s, h.due[s])
			return
		}
		h.got = append(h.got, hit{s, tick})
	})
}

func TestWheelDeliversInTickOrderNeverEarly(t *testing.T) {
	h := newHarness(4, 8) // 16 buckets
	h.schedule(1, 4)      // tick 4
	h.schedule(2, 4.001)  // rounds up to tick 5
	h.schedule(3, 4)      // tick 4
	h.schedule(4, 36)     // two laps ahead, in the same bucket as tick 4
	h.schedule(5, 20)

	h.advance(4) // tick 4 starts at 4: not strictly before now
	require.Empty(t, h.got)
	h.advance(4.001)
	require.ElementsMatch(t, []hit{{1, 4}, {3, 4}}, h.got)
	h.advance(20.5)
	require.Equal(t, []hit{{2, 5}, {5, 20}}, h.got[2:])
	h.advance(36)
	require.Len(t, h.got, 4, "a wake-up two laps ahead waits for its lap")
	h.advance(36.001)
	require.Equal(t, hit{4, 36}, h.got[4])
	require.Zero(t, h.w.n)
}

func TestWheelRescheduleMovesAndUnlinks(t *testing.T) {
	h := newHarness(3, 8)
	for s := uint32(0); s < 6; s++ {
		h.schedule(s, 5) // all in one bucket: heads, middles, tails
	}
	h.schedule(0, 9) // the first linked, last in the list
	h.schedule(3, 7) // a middle one
	h.schedule(5, 3) // the head, moved earlier
	h.w.unlink(4)    // gone
	h.w.unlink(4)    // twice is fine
	require.False(t, h.w.linked(4))
	require.Equal(t, 5, h.w.n)
	h.advance(100)
	require.Equal(t, []hit{{5, 3}, {2, 5}, {1, 5}, {3, 7}, {0, 9}}, h.got)
	require.Zero(t, h.w.n)
}

func TestWheelPastDeadlineAndEmptyJump(t *testing.T) {
	h := newHarness(3, 2)
	h.w.advance(ticks(100_000), func(uint32, int64) { t.Fatal("nothing scheduled") })
	require.Equal(t, int64(100_000), h.w.next)
	h.schedule(1, 5) // in the past: delivered at the next tick
	h.advance(100_000.5)
	require.Equal(t, []hit{{1, 100_000}}, h.got)
}

// New refuses a MaxSeries the timing wheel cannot index: it marks bucket
// heads with the top bit of a series index, so series stay below 2³¹.
func TestMaxSeriesIsBoundedByTheWheel(t *testing.T) {
	_, err := New(Config{MaxSeries: 1 << 31})
	require.ErrorContains(t, err, "MaxSeries")
}

// advance delivers, in tick order, every tick that starts strictly before
// now, as Engine.advance steps the wheel (without its per-tick work).
func (w *wheel) advance(now int64, fn func(series uint32, tick int64)) {
	for w.next*wheelRes < now {
		if w.n == 0 {
			w.next = w.tickOf(now) // nothing to deliver: jump
			return
		}
		w.deliver(fn)
	}
}

// linked reports whether series is in a bucket.
func (w *wheel) linked(series uint32) bool { return w.link(series).prev != 0 }
