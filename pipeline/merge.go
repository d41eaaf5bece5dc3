package pipeline

import (
	"cmp"
	"context"
	"math"
	"slices"

	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/internal/fleetgap"
)

// markSlack is how far before a shard's clock an event it emits later may
// still be dated: a judgment due within the last ticks of the wheel is
// made at the next call. Events are released only once every shard's
// clock is that far past them.
const markSlack = 2 * fleetgap.BinRes

// merger merges the shards' events into one stream, in order of time, and
// hands them to a Merger, which reports the faults several shards found as
// one (see the package doc). It runs on one goroutine; only the Merger's
// Stats are read from others.
type merger struct {
	queues  [][]fault.Event // per shard, in the order emitted
	marks   []int64         // per shard: its engine's clock
	group   *Merger
	out     []fault.Event // what group passed on, reused
	deliver func(fault.Event)
}

func newMerger(shards int, deliver func(fault.Event)) *merger {
	m := &merger{queues: make([][]fault.Event, shards), marks: make([]int64, shards), group: NewMerger(), deliver: deliver}
	for i := range m.marks {
		m.marks[i] = math.MinInt64
	}
	return m
}

// add takes a shard's output and releases what is due. A shard's events
// come in time order only to within a tick of its engine's clock (see
// fault's package doc): its queue is kept sorted by time (stably: events
// of one time keep the order they were emitted in).
func (m *merger) add(o shardOut) {
	n := len(m.queues[o.shard])
	q := append(m.queues[o.shard], o.events...)
	if !slices.IsSortedFunc(q[max(n-1, 0):], byAt) { // the new events, after the last one held
		slices.SortStableFunc(q, byAt)
	}
	m.queues[o.shard] = q
	m.marks[o.shard] = max(m.marks[o.shard], o.mark)
	m.release(false)
}

// byAt orders events by time.
func byAt(a, b fault.Event) int { return cmp.Compare(a.At, b.At) }

// release hands on, in order, every queued event that no shard can precede
// any more; with all, every queued event (the shards are paused or done).
// The next event is the earliest head of a shard queue (ties: the lower
// shard); it is due when every shard's clock, its own too, is markSlack
// past it.
func (m *merger) release(all bool) {
	for {
		next := -1
		for s, q := range m.queues {
			if len(q) > 0 && (next < 0 || q[0].At < m.queues[next][0].At) {
				next = s
			}
		}
		if next < 0 {
			return
		}
		ev := m.queues[next][0]
		if !all {
			for _, mark := range m.marks {
				if mark == math.MinInt64 || ev.At > mark-int64(markSlack) {
					return
				}
			}
		}
		m.queues[next][0] = fault.Event{}
		m.queues[next] = m.queues[next][1:]
		if len(m.queues[next]) == 0 {
			m.queues[next] = nil
		}
		m.out = m.group.Add(m.out[:0], int32(next), ev)
		for i := range m.out {
			m.deliver(m.out[i])
			m.out[i] = fault.Event{}
		}
	}
}

// run merges until in is closed.
func (m *merger) run(in <-chan shardOut, flush <-chan chan struct{}) {
	for {
		select {
		case o, ok := <-in:
			if !ok {
				m.release(true)
				return
			}
			m.add(o)
		case done := <-flush:
			// The shards are paused, and everything they emitted is in:
			// drain what the channel still holds, then release it all.
			for drained := false; !drained; {
				select {
				case o := <-in:
					m.add(o)
				default:
					drained = true
				}
			}
			m.release(true)
			close(done)
		}
	}
}

// flushMerger asks the merger to release everything it holds and waits
// until it has, or until ctx ends (then it returns ctx's error) or the
// runtime stopped (ErrStopped).
func flushMerger(ctx context.Context, flush chan<- chan struct{}, stopped <-chan struct{}) error {
	done := make(chan struct{})
	select {
	case flush <- done:
	case <-ctx.Done():
		return ctx.Err()
	case <-stopped:
		return ErrStopped
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
