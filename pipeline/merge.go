package pipeline

import (
	"cmp"
	"context"
	"math"
	"slices"
	"strconv"
	"sync/atomic"

	"github.com/cespare/xxhash/v2"

	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/internal/align"
	"github.com/faultline-go/faultline/internal/fleetgap"
)

// markSlack is how far before a shard's clock an event it emits later may
// still be dated: a judgment due within the last ticks of the wheel is
// made at the next call. Events are released only once every shard's
// clock is that far past them.
const markSlack = 2 * fleetgap.BinRes

// merger merges the shards' events into one stream, in order of time, and
// reports the faults several shards found as one (see the package doc). It
// runs on one goroutine; only its counters are read from others.
type merger struct {
	queues  [][]fault.Event // per shard, in the order emitted
	marks   []int64         // per shard: its engine's clock
	groups  []*group        // open groups
	links   linkMap         // member firing IDs → their group's
	deliver func(fault.Event)

	released atomic.Uint64
	merged   atomic.Uint64 // member events folded into a group's
}

func newMerger(shards int, deliver func(fault.Event)) *merger {
	m := &merger{queues: make([][]fault.Event, shards), marks: make([]int64, shards), deliver: deliver}
	for i := range m.marks {
		m.marks[i] = math.MinInt64
	}
	return m
}

// add takes a shard's output and releases what is due.
func (m *merger) add(o shardOut) {
	m.queues[o.shard] = append(m.queues[o.shard], o.events...)
	m.marks[o.shard] = max(m.marks[o.shard], o.mark)
	m.release(false)
}

// release hands on, in order, every queued event that no shard can precede
// any more; with all, every queued event (the shards are paused or done).
// The next event is the earliest head of a shard queue (ties: the lower
// shard); it is due when every other shard's clock is past it.
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
			for s, mark := range m.marks {
				if s != next && (mark == math.MinInt64 || ev.At > mark-int64(markSlack)) {
					return
				}
			}
		}
		m.queues[next][0] = fault.Event{}
		m.queues[next] = m.queues[next][1:]
		if len(m.queues[next]) == 0 {
			m.queues[next] = nil
		}
		m.emit(next, ev)
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

// groupKinds are the kinds of fleet-wide events that several shards may
// raise for one fault.
var groupKinds = map[fault.Kind]bool{
	fault.KindPeriodicGap:    true,
	fault.KindFeedbackLoop:   true,
	fault.KindDuplicateStorm: true,
	fault.KindIngestLag:      true,
	fault.KindCohort:         true,
}

// group is one fault found by one or more shards.
type group struct {
	kind    fault.Kind
	key     string     // labels, for the kinds other than gaps
	gap     *fault.Gap // a firing gap's, once known
	episode string     // the first member's episode ID
	state   fault.State
	firing  string // its firing event's ID, once it fired
	members map[member]fault.State
}

// member is one shard's episode.
type member struct {
	shard   int
	episode string
}

// emit passes an event of shard s on, as its group's if it belongs to one.
func (m *merger) emit(s int, ev fault.Event) {
	if ev.InhibitedBy != "" {
		ev.InhibitedBy = m.links.resolve(ev.InhibitedBy)
	}
	if ev.Series != 0 || !groupKinds[ev.Kind] {
		m.out(ev)
		return
	}
	mb := member{shard: s, episode: ev.Episode}
	g := m.groupOf(mb, &ev)
	if g == nil {
		if ev.State == fault.StateResolved {
			m.out(ev) // a member the merger never saw open: pass it on
			return
		}
		g = &group{kind: ev.Kind, key: groupKey(&ev), episode: ev.Episode, members: map[member]fault.State{}}
		m.groups = append(m.groups, g)
	}
	if ev.State == fault.StateResolved {
		delete(g.members, mb)
	} else {
		g.members[mb] = ev.State
	}
	if ev.Gap != nil && ev.State == fault.StateFiring && g.gap == nil {
		g.gap = ev.Gap
	}
	state := ev.State
	if len(g.members) > 0 {
		state = fault.StatePending
		for _, st := range g.members {
			state = max(state, st)
		}
	}
	switch {
	case state == fault.StateResolved:
		m.closeGroup(g)
	case state > g.state:
	default:
		if ev.State == fault.StateFiring && g.firing != "" {
			m.links.add(ev.ID, g.firing)
		}
		m.merged.Add(1)
		return // nothing new for the group
	}
	g.state = state
	out := ev
	out.State = state
	if ev.Episode != g.episode {
		out.Episode = g.episode
		out.ID = m.groupID(g, state, &ev)
	}
	if state == fault.StateFiring {
		g.firing = out.ID
		m.links.add(ev.ID, out.ID)
	}
	m.out(out)
}

// groupOf returns the open group a member's event belongs to, if any: the
// group it is in; else, for a gap, the open gap group naming the same gap
// (any open gap group for a pending member, which knows no period yet);
// for the other kinds, the open group with the same labels.
func (m *merger) groupOf(mb member, ev *fault.Event) *group {
	for _, g := range m.groups {
		if _, in := g.members[mb]; in {
			if ev.Kind == fault.KindPeriodicGap && ev.Gap != nil && g.gap != nil && !sameGap(g.gap, ev.Gap) {
				delete(g.members, mb) // it names another gap after all
				break
			}
			return g
		}
	}
	for i := len(m.groups) - 1; i >= 0; i-- {
		g := m.groups[i]
		if g.kind != ev.Kind {
			continue
		}
		if ev.Kind == fault.KindPeriodicGap {
			if ev.Gap == nil || g.gap == nil || sameGap(g.gap, ev.Gap) {
				return g
			}
			continue
		}
		if g.key == groupKey(ev) {
			return g
		}
	}
	return nil
}

func (m *merger) closeGroup(g *group) {
	for i, x := range m.groups {
		if x == g {
			m.groups = append(m.groups[:i], m.groups[i+1:]...)
			return
		}
	}
}

// groupID returns the ID of a group's event in state, when the member
// that moves it is not its first: derived from the group's episode, so
// that it is the same whichever member moves it.
func (m *merger) groupID(g *group, state fault.State, ev *fault.Event) string {
	if ev.Episode == g.episode {
		return ev.ID
	}
	return strconv.FormatUint(xxhash.Sum64String(g.episode+"\xff"+state.String()), 16)
}

func (m *merger) out(ev fault.Event) {
	m.released.Add(1)
	m.deliver(ev)
}

// groupKey is what identifies a fleet-wide fault other than a gap: its
// kind, rule and labels; a feedback loop is one per runtime, whichever
// looped series each shard saw first (its labels name it).
func groupKey(ev *fault.Event) string {
	if ev.Kind == fault.KindFeedbackLoop {
		return string(ev.Kind)
	}
	return string(ev.Kind) + "\xff" + ev.Rule + "\xff" + ev.Labels.String()
}

// sameGap reports whether two gaps are one: the same period (or a
// multiple) and windows that overlap, give or take half a second.
func sameGap(a, b *fault.Gap) bool {
	pa, pb := int64(a.Period), int64(b.Period)
	if pa <= 0 || pb <= 0 || !fleetgap.Harmonic(pa, pb) {
		return false
	}
	p := min(pa, pb)
	d := align.FloorMod(int64(a.PhaseStart)-int64(b.PhaseStart), p)
	d = min(d, p-d)
	return d <= max(int64(a.PhaseEnd-a.PhaseStart), int64(b.PhaseEnd-b.PhaseStart))+int64(5e8)
}

// linkMap maps the firing IDs of group members to their group's firing
// ID, so that the events a member explains link to the group's event. It
// remembers the latest maxLinks.
type linkMap struct {
	m    map[string]string
	ring []string
	next int
}

const maxLinks = 4096

func (l *linkMap) add(from, to string) {
	if from == to {
		return
	}
	if l.m == nil {
		l.m = make(map[string]string)
		l.ring = make([]string, maxLinks)
	}
	if old := l.ring[l.next]; old != "" {
		delete(l.m, old)
	}
	l.ring[l.next] = from
	l.next = (l.next + 1) % maxLinks
	l.m[from] = to
}

func (l *linkMap) resolve(id string) string {
	if to, ok := l.m[id]; ok {
		return to
	}
	return id
}

// flushing asks the merger to release everything it holds; done is closed
// when it has.
func flushMerger(ctx context.Context, flush chan<- chan struct{}) {
	done := make(chan struct{})
	select {
	case flush <- done:
	case <-ctx.Done():
		return
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// sortedMembers returns a group's members in (shard, episode) order.
func sortedMembers(ms map[member]fault.State) []member {
	out := make([]member, 0, len(ms))
	for mb := range ms {
		out = append(out, mb)
	}
	slices.SortFunc(out, func(a, b member) int {
		return cmp.Or(cmp.Compare(a.shard, b.shard), cmp.Compare(a.episode, b.episode))
	})
	return out
}
