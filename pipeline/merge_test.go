package pipeline

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/fault"
)

// The merger hands events on in time order, even when a shard emits them
// out of order: an engine judges the series due in one tick of its clock
// one after the other, and what falls due in the last tick before a call's
// time at the next call, so its events may be a tick out of order.
func TestMergerOrdersEachShardsEvents(t *testing.T) {
	for _, shards := range []int{1, 2} {
		var got []int64
		m := newMerger(shards, func(ev fault.Event) { got = append(got, ev.At-t0.UnixNano()) })
		ev := func(ms int64) fault.Event {
			return fault.Event{Kind: fault.KindAbsence, State: fault.StateFiring, At: t0.UnixNano() + ms*int64(time.Millisecond)}
		}
		mark := func(ms int64) int64 { return t0.UnixNano() + ms*int64(time.Millisecond) }
		m.add(shardOut{shard: 0, events: []fault.Event{ev(10_200), ev(10_050)}, mark: mark(10_250)})
		m.add(shardOut{shard: 0, events: []fault.Event{ev(10_150)}, mark: mark(10_500)})
		for s := range shards {
			m.add(shardOut{shard: s, mark: mark(20_000)})
		}
		m.release(true)
		ms := func(v ...int64) []int64 {
			for i := range v {
				v[i] *= int64(time.Millisecond)
			}
			return v
		}
		require.Equal(t, ms(10_050, 10_150, 10_200), got, "%d shards", shards)
	}
}
