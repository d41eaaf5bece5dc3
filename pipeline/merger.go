package pipeline

import (
	"cmp"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/internal/fleetgap"
	"github.com/faultline-go/faultline/internal/frame"
)

// Merger groups the fleet-wide events that several members (the shards of
// a Runtime, the partitions of a Kafka consumer group) raise for one
// fault, and passes every other event on, with its InhibitedBy rewritten
// to the group's event: see "One fault, however many members" in the
// package doc for the contract. It takes each member's events in the order
// the member emitted them and reads no clock. A Merger is not safe for
// concurrent use, except Stats.
type Merger struct {
	groups []*group
	links  ring[string, string] // member firing IDs → their group's firing ID
	closed ring[member, bool]   // resolved members; true for one dropped while pending (see Add)

	in, out, merged, duplicates, overflow atomic.Uint64
}

// MergerStats are a Merger's counts since it was made (a restored Merger
// counts afresh).
type MergerStats struct {
	In         uint64 // events added
	Out        uint64 // events passed on: as they were, or as their group's
	Merged     uint64 // member events folded into their group's event (nothing new for the group)
	Duplicates uint64 // member events seen before (a member that re-emits), dropped
	Overflow   uint64 // member events passed on unmerged because a bound was reached
}

// Bounds of a Merger. Past maxGroups open groups, or maxMembers members
// in a group, a member event that would need one more passes unmerged
// (counted as overflow). Links and resolved members are rings that forget
// their oldest.
const (
	maxGroups  = 1024
	maxMembers = 4096
	maxLinks   = 4096
	maxClosed  = 4096
)

// groupKinds are the kinds of fleet-wide events that several members may
// raise for one fault.
var groupKinds = map[fault.Kind]bool{
	fault.KindPeriodicGap:          true,
	fault.KindPeriodicDeliveryLoss: true,
	fault.KindFeedbackLoop:         true,
	fault.KindDuplicateStorm:       true,
	fault.KindIngestLag:            true,
	fault.KindCohort:               true,
}

// Mergeable reports whether a Merger may group ev with other members'
// events: a fleet-wide event (no series) of a kind that several members
// may raise for one fault.
func Mergeable(ev *fault.Event) bool {
	return ev.Series == 0 && groupKinds[ev.Kind]
}

// group is one fault found by one or more members.
type group struct {
	kind    fault.Kind
	key     string     // groupKey, for the kinds other than gaps
	gap     *fault.Gap // its first firing member's gap, once one fired
	since   int64      // when that gap began (its first burst), Unix ns
	episode string     // the first member's episode ID
	start   int64      // and its episode's start, Unix ns
	state   fault.State
	firing  string // its firing event's ID, once it fired
	members map[member]fault.State
}

// member is one member's episode.
type member struct {
	id      int32
	episode string
}

// NewMerger returns an empty Merger.
func NewMerger() *Merger {
	return &Merger{links: ring[string, string]{max: maxLinks}, closed: ring[member, bool]{max: maxClosed}}
}

// Stats returns the Merger's counts. It may be called concurrently with
// the other methods.
func (m *Merger) Stats() MergerStats {
	return MergerStats{In: m.in.Load(), Out: m.out.Load(), Merged: m.merged.Load(),
		Duplicates: m.duplicates.Load(), Overflow: m.overflow.Load()}
}

// Add takes an event that member emitted and appends to dst what goes on:
// nothing (a duplicate, or nothing new for its group), the event as it is,
// or its group's event; before that, when the event takes its member out
// of a group that it leaves empty, that group's resolved event.
func (m *Merger) Add(dst []fault.Event, id int32, ev fault.Event) []fault.Event {
	m.in.Add(1)
	if ev.InhibitedBy != "" {
		if to, ok := m.links.get(ev.InhibitedBy); ok {
			ev.InhibitedBy = to
		}
	}
	if !Mergeable(&ev) {
		return m.pass(dst, ev)
	}
	mb := member{id: id, episode: ev.Episode}
	g := m.groupWith(mb)
	if g == nil {
		if pending, dup := m.closed.get(mb); dup && (!pending || ev.State != fault.StateFiring) {
			m.duplicates.Add(1) // the member resolved already, or was dropped while pending
			return dst
		}
	} else {
		if ev.State <= g.members[mb] {
			m.duplicates.Add(1)
			return dst
		}
		if windowed(ev.Kind) && ev.Gap != nil && g.gap != nil && !sameGap(g.gap, g.since, ev.Gap, ev.Since) {
			dst = m.leave(dst, g, mb, &ev) // it names another gap after all
			g = nil
		}
	}
	if g == nil {
		if ev.State == fault.StateResolved {
			m.closed.add(mb, false)
			return m.pass(dst, ev) // a member the Merger never saw open
		}
		if g = m.match(&ev); g == nil {
			if len(m.groups) >= maxGroups {
				m.overflow.Add(1)
				return m.pass(dst, ev)
			}
			g = &group{kind: ev.Kind, key: groupKey(&ev), episode: ev.Episode, start: ev.Since, members: map[member]fault.State{}}
			m.groups = append(m.groups, g)
		} else if len(g.members) >= maxMembers {
			m.overflow.Add(1)
			return m.pass(dst, ev)
		}
	}
	if ev.State == fault.StateResolved {
		delete(g.members, mb)
		m.closed.add(mb, false)
	} else {
		g.members[mb] = ev.State
	}
	if ev.Gap != nil && ev.State == fault.StateFiring && g.gap == nil {
		g.gap, g.since = ev.Gap, ev.Since
	}
	state := ev.State
	if len(g.members) > 0 {
		state = fault.StatePending
		for _, st := range g.members {
			state = max(state, st)
		}
	}
	if windowed(g.kind) && g.state == fault.StateFiring && state == fault.StatePending {
		// No member's gap fires any more: the fault is over. A member
		// still pending (a burst of the gap that its engine suspects
		// anew) does not hold it open; it is dropped, and only its
		// firing, should it come, is heard from it again. (A member of
		// another kind pending is a condition holding, not yet for long
		// enough: it keeps its group.)
		for mb := range g.members {
			m.closed.add(mb, true)
		}
		clear(g.members)
		state = fault.StateResolved
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
		return dst // nothing new for the group
	}
	g.state = state
	out := ev
	out.State = state
	if ev.Episode != g.episode {
		out.Episode, out.Since = g.episode, g.start
		out.ID = groupID(g.episode, state)
	}
	if state == fault.StateFiring {
		g.firing = out.ID
		if ev.ID != out.ID {
			m.links.add(ev.ID, out.ID)
		}
	}
	return m.pass(dst, out)
}

func (m *Merger) pass(dst []fault.Event, ev fault.Event) []fault.Event {
	m.out.Add(1)
	return append(dst, ev)
}

// groupWith returns the open group that has mb as a member, if any.
func (m *Merger) groupWith(mb member) *group {
	for _, g := range m.groups {
		if _, in := g.members[mb]; in {
			return g
		}
	}
	return nil
}

// match returns the open group that a new member's event joins, if any,
// the newest first: for a gap, one naming the same gap (any gap group for
// a pending member, which knows no period yet); for the other kinds, the
// one with the same groupKey.
func (m *Merger) match(ev *fault.Event) *group {
	for i := len(m.groups) - 1; i >= 0; i-- {
		g := m.groups[i]
		if g.kind != ev.Kind {
			continue
		}
		if windowed(ev.Kind) {
			if ev.Gap == nil || g.gap == nil || sameGap(g.gap, g.since, ev.Gap, ev.Since) {
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

// leave takes mb out of g, as ev names another gap than g's. A group left
// without a member resolves: its resolved event is appended to dst.
func (m *Merger) leave(dst []fault.Event, g *group, mb member, ev *fault.Event) []fault.Event {
	delete(g.members, mb)
	if len(g.members) > 0 {
		return dst
	}
	m.closeGroup(g)
	out := *ev
	out.State, out.Episode, out.Since, out.ID, out.InhibitedBy, out.Gap = fault.StateResolved, g.episode, g.start, groupID(g.episode, fault.StateResolved), "", g.gap
	return m.pass(dst, out)
}

func (m *Merger) closeGroup(g *group) {
	m.groups = slices.DeleteFunc(m.groups, func(x *group) bool { return x == g })
}

// groupID returns the ID of a group's event in state: the ID the engine
// gives the event of the group's episode in that state (fault.StateID), so
// that it is the same whichever member moves the group, and the same as a
// single engine's.
func groupID(episode string, state fault.State) string {
	return fault.StateID(episode, state)
}

// groupKey is what identifies a fleet-wide fault other than a gap: its
// kind, rule and labels; a feedback loop is one, whichever looped series
// each member saw first (its labels name it).
func groupKey(ev *fault.Event) string {
	if ev.Kind == fault.KindFeedbackLoop {
		return string(ev.Kind)
	}
	return string(ev.Kind) + "\xff" + ev.Rule + "\xff" + ev.Labels.String()
}

// gapSlack is what two estimates of one gap's window may differ by beyond
// the windows' width and the drift of their periods.
const gapSlack = int64(500 * time.Millisecond)

// sameGap reports whether two gaps, which began at sinceA and sinceB, are
// one: periods equal or multiples (fleetgap.Harmonic), and first bursts a
// whole number of periods apart, give or take the windows' width, the
// drift that the periods' difference accumulates over the periods between
// them, and gapSlack. The windows are compared where they are in time, not
// by their phases: a phase is the arrival time modulo the gap's own period
// from the Unix epoch, so two estimates of one period a fraction of a
// second apart give phases that differ by seconds.
func sameGap(a *fault.Gap, sinceA int64, b *fault.Gap, sinceB int64) bool {
	pa, pb := int64(a.Period), int64(b.Period)
	if pa <= 0 || pb <= 0 || !fleetgap.Harmonic(pa, pb) {
		return false
	}
	p, large := min(pa, pb), max(pa, pb)
	apart := sinceA - sinceB
	if apart < 0 {
		apart = -apart
	}
	d := apart % p
	d = min(d, p-d)
	n := (apart + p/2) / p // periods of p between the first bursts
	k := (large + p/2) / p // large ≈ k·p
	drift := n * absInt(large-k*p) / k
	width := max(int64(a.PhaseEnd-a.PhaseStart), int64(b.PhaseEnd-b.PhaseStart))
	return d <= width+drift+gapSlack
}

func absInt(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// ring is a map of at most max entries that forgets its oldest.
type ring[K comparable, V any] struct {
	m    map[K]V
	keys []K // in the order added, from next on once full
	next int
	max  int
}

func (r *ring[K, V]) add(k K, v V) {
	if r.m == nil {
		r.m = make(map[K]V)
	}
	if _, ok := r.m[k]; ok {
		r.m[k] = v
		return
	}
	if len(r.keys) < r.max {
		r.keys = append(r.keys, k)
	} else {
		delete(r.m, r.keys[r.next])
		r.keys[r.next] = k
		r.next = (r.next + 1) % r.max
	}
	r.m[k] = v
}

func (r *ring[K, V]) get(k K) (V, bool) {
	v, ok := r.m[k]
	return v, ok
}

// each calls f on the ring's entries, oldest first.
func (r *ring[K, V]) each(f func(K, V)) {
	for i := range r.keys {
		k := r.keys[(r.next+i)%len(r.keys)]
		f(k, r.m[k])
	}
}

// The Merger's state is a frame (package frame) of magic "FLTMERGE",
// version 2, whose body is: the open groups (count, then each: kind, key,
// episode, its start, state, firing ID, whether it has a gap and if so
// when it began and its period, window, series and late fraction, then
// its members in (member, episode) order, each with its state); the links,
// oldest first (count, then each member firing ID and its group's); the
// resolved members, oldest first (count, then each member, episode and
// whether it was dropped while pending).
const (
	mergerMagic   = "FLTMERGE"
	mergerVersion = 2
)

// AppendState appends the Merger's state (its open groups, links and
// resolved members, not its counts) to b, for RestoreMerger.
func (m *Merger) AppendState(b []byte) []byte {
	w := frame.Begin(b, mergerMagic, mergerVersion)
	w.Uv(uint64(len(m.groups)))
	for _, g := range m.groups {
		w.Str(string(g.kind))
		w.Str(g.key)
		w.Str(g.episode)
		w.I64(g.start)
		w.U8(uint8(g.state))
		w.Str(g.firing)
		w.Bool(g.gap != nil)
		if g.gap != nil {
			w.I64(g.since)
			w.I64(int64(g.gap.Period))
			w.I64(int64(g.gap.PhaseStart))
			w.I64(int64(g.gap.PhaseEnd))
			w.I64(int64(g.gap.Series))
			w.F64(g.gap.LateFraction)
		}
		ms := make([]member, 0, len(g.members))
		for mb := range g.members {
			ms = append(ms, mb)
		}
		slices.SortFunc(ms, func(a, b member) int {
			return cmp.Or(cmp.Compare(a.id, b.id), cmp.Compare(a.episode, b.episode))
		})
		w.Uv(uint64(len(ms)))
		for _, mb := range ms {
			w.I32(mb.id)
			w.Str(mb.episode)
			w.U8(uint8(g.members[mb]))
		}
	}
	w.Uv(uint64(len(m.links.keys)))
	m.links.each(func(from, to string) {
		w.Str(from)
		w.Str(to)
	})
	w.Uv(uint64(len(m.closed.keys)))
	m.closed.each(func(mb member, pending bool) {
		w.I32(mb.id)
		w.Str(mb.episode)
		w.Bool(pending)
	})
	return w.Finish()
}

// RestoreMerger returns the Merger whose state AppendState wrote in raw.
// Input it cannot read (truncated, corrupted, of another version, or
// breaking the Merger's bounds or invariants) is an error that says where.
func RestoreMerger(raw []byte) (*Merger, error) {
	m, err := readMerger(raw)
	if err != nil {
		return nil, fmt.Errorf("pipeline: merger state: %w", err)
	}
	return m, nil
}

func readMerger(raw []byte) (*Merger, error) {
	version, r, err := frame.Open(raw, mergerMagic)
	if err != nil {
		return nil, err
	}
	if version != mergerVersion {
		return nil, fmt.Errorf("version %d, this build reads version %d", version, mergerVersion)
	}
	m := NewMerger()
	n := r.Count(7)
	if n > maxGroups {
		r.Fail("%d groups, at most %d", n, maxGroups)
	}
	for i := 0; i < n && r.Err() == nil; i++ {
		g := &group{kind: fault.Kind(r.Str()), key: r.Str(), episode: r.Str(), start: r.I64(), state: fault.State(r.U8()), firing: r.Str(),
			members: map[member]fault.State{}}
		if r.Bool() {
			g.since = r.I64()
			g.gap = &fault.Gap{Period: time.Duration(r.I64()), PhaseStart: time.Duration(r.I64()), PhaseEnd: time.Duration(r.I64()),
				Series: int(r.I64()), LateFraction: r.F64()}
		}
		k := r.Count(6)
		if k > maxMembers {
			r.Fail("group %d: %d members, at most %d", i, k, maxMembers)
		}
		for j := 0; j < k && r.Err() == nil; j++ {
			mb := member{id: r.I32(), episode: r.Str()}
			st := fault.State(r.U8())
			if _, twice := g.members[mb]; twice || !open(st) {
				r.Fail("group %d: member %d/%q twice or in state %d", i, mb.id, mb.episode, st)
			}
			g.members[mb] = st
		}
		switch {
		case r.Err() != nil:
		case !groupKinds[g.kind]:
			r.Fail("group %d: kind %q is not grouped", i, g.kind)
		case !open(g.state):
			r.Fail("group %d: state %d", i, g.state)
		case len(g.members) == 0:
			r.Fail("group %d: no member", i)
		}
		m.groups = append(m.groups, g)
	}
	n = r.Count(2)
	if n > maxLinks {
		r.Fail("%d links, at most %d", n, maxLinks)
	}
	for i := 0; i < n && r.Err() == nil; i++ {
		m.links.add(r.Str(), r.Str())
	}
	n = r.Count(6)
	if n > maxClosed {
		r.Fail("%d resolved members, at most %d", n, maxClosed)
	}
	for i := 0; i < n && r.Err() == nil; i++ {
		m.closed.add(member{id: r.I32(), episode: r.Str()}, r.Bool())
	}
	if err := r.Done(); err != nil {
		return nil, err
	}
	return m, nil
}

// open reports whether st is the state of an open episode.
func open(st fault.State) bool {
	return st == fault.StatePending || st == fault.StateFiring
}

// windowed reports whether events of kind name a window of a period
// (a fleet periodic gap, a periodic delivery loss): their members are one
// fault only when their windows agree (sameGap).
func windowed(kind fault.Kind) bool {
	return kind == fault.KindPeriodicGap || kind == fault.KindPeriodicDeliveryLoss
}
