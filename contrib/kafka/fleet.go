package kafka

import (
	"encoding/binary"
	"encoding/hex"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/faultline-go/faultline/fault"
)

// The fleet stage: the aggregation of what every partition's engine found
// about the fleet as a whole (see "The fleet across partitions" in the
// package doc). Its grouping rules are those of package pipeline's merger
// (pipeline/merge.go: emit, groupOf, groupID, sameGap and linkMap), which
// this file adapts to records read in topic order: no clock, no marks, and
// duplicates of member events (a partition that re-processes its input
// after a crash emits them again) are recognised and dropped.

// groupKinds are the kinds of fleet-wide events that several partitions
// may raise for one fault (pipeline/merge.go).
var groupKinds = map[fault.Kind]bool{
	fault.KindPeriodicGap:    true,
	fault.KindFeedbackLoop:   true,
	fault.KindDuplicateStorm: true,
	fault.KindIngestLag:      true,
	fault.KindCohort:         true,
}

// toFleet reports whether an engine's event goes through the fleet stage:
// a fleet-wide one, or one that another event explains (its InhibitedBy
// names a partition's fleet gap, which the stage turns into the group's).
func toFleet(ev *fault.Event) bool {
	return ev.Series == 0 && groupKinds[ev.Kind] || ev.InhibitedBy != ""
}

// Bounds of the fleet stage. Past maxGroups a member that would open a
// group passes unmerged (counted); links and closed members are rings
// that forget their oldest.
const (
	maxGroups = 1024
	maxLinks  = 4096
	maxClosed = 4096
)

// fleetStage merges the partitions' fleet-wide events into one fault per
// group of members that name the same fault. It is used by one goroutine.
type fleetStage struct {
	groups []*group
	links  ring // member firing IDs → their group's
	closed ring // member episodes whose group closed → ""
	ctr    fleetCounters
}

type fleetCounters struct {
	in, out, merged, duplicates, overflow atomic.Uint64
}

// group is one fault found by one or more partitions.
type group struct {
	kind    fault.Kind
	key     string     // kind, rule and labels, for the kinds other than gaps
	gap     *fault.Gap // a firing gap's, once known
	since   int64      // when that gap began (its first burst), Unix ns
	episode string     // the first member's episode ID
	state   fault.State
	firing  string // its firing event's ID, once it fired
	members map[member]fault.State
}

// member is one partition's episode.
type member struct {
	partition int32
	episode   string
}

// add takes one member event, from input partition p, and returns what
// goes downstream: nothing, the event as it is, or the group's event.
func (f *fleetStage) add(p int32, ev fault.Event) []fault.Event {
	f.ctr.in.Add(1)
	if ev.InhibitedBy != "" {
		if to, ok := f.links.get(ev.InhibitedBy); ok {
			ev.InhibitedBy = to
		}
	}
	if !groupKinds[ev.Kind] {
		return f.out(ev)
	}
	mb := member{partition: p, episode: ev.Episode}
	if _, dup := f.closed.get(closedKey(mb)); dup {
		f.ctr.duplicates.Add(1) // the member resolved already: a re-emission
		return nil
	}
	g := f.groupOf(mb, &ev)
	if g == nil {
		if ev.State == fault.StateResolved {
			return f.out(ev) // a member the stage never saw open
		}
		if len(f.groups) >= maxGroups {
			f.ctr.overflow.Add(1)
			return f.out(ev)
		}
		g = &group{kind: ev.Kind, key: groupKey(&ev), episode: ev.Episode, members: map[member]fault.State{}}
		f.groups = append(f.groups, g)
	}
	if old, in := g.members[mb]; in && ev.State <= old {
		f.ctr.duplicates.Add(1)
		return nil
	}
	if ev.State == fault.StateResolved {
		delete(g.members, mb)
		f.closed.add(closedKey(mb), "")
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
	switch {
	case state == fault.StateResolved:
		f.closeGroup(g)
	case state > g.state:
	default:
		if ev.State == fault.StateFiring && g.firing != "" {
			f.links.add(ev.ID, g.firing)
		}
		f.ctr.merged.Add(1)
		return nil // nothing new for the group
	}
	g.state = state
	out := ev
	out.State = state
	if ev.Episode != g.episode {
		out.Episode = g.episode
		out.ID = groupID(g, state)
	}
	if state == fault.StateFiring {
		g.firing = out.ID
		if ev.ID != out.ID {
			f.links.add(ev.ID, out.ID)
		}
	}
	return f.out(out)
}

func (f *fleetStage) out(ev fault.Event) []fault.Event {
	f.ctr.out.Add(1)
	return []fault.Event{ev}
}

func closedKey(mb member) string {
	return string(binary.AppendVarint([]byte(mb.episode), int64(mb.partition)))
}

// groupOf returns the open group a member's event belongs to, if any: the
// group it is in; else, for a gap, the open gap group naming the same gap
// (any open gap group for a pending member, which knows no period yet);
// for the other kinds, the open group with the same labels.
func (f *fleetStage) groupOf(mb member, ev *fault.Event) *group {
	for _, g := range f.groups {
		if _, in := g.members[mb]; in {
			if ev.Kind == fault.KindPeriodicGap && ev.Gap != nil && g.gap != nil && !sameGap(g.gap, g.since, ev.Gap, ev.Since) {
				delete(g.members, mb) // it names another gap after all
				break
			}
			return g
		}
	}
	for i := len(f.groups) - 1; i >= 0; i-- {
		g := f.groups[i]
		if g.kind != ev.Kind {
			continue
		}
		if ev.Kind == fault.KindPeriodicGap {
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

func (f *fleetStage) closeGroup(g *group) {
	f.groups = slices.DeleteFunc(f.groups, func(x *group) bool { return x == g })
}

// groupID returns the ID of a group's event in state when a member other
// than its first moves it: derived from the group's episode, so that it is
// the same whichever member moves it.
func groupID(g *group, state fault.State) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], xxhash.Sum64String(g.episode+"\xff"+state.String()))
	return hex.EncodeToString(b[:])
}

// groupKey is what identifies a fleet-wide fault other than a gap: its
// kind, rule and labels.
func groupKey(ev *fault.Event) string {
	return string(ev.Kind) + "\xff" + ev.Rule + "\xff" + ev.Labels.String()
}

// sameGap reports whether two gaps, which began at sinceA and sinceB, are
// one: the same period (or a multiple), and windows that line up, give or
// take half a second. The windows are compared where they are in time, not
// by their phases: a phase is the arrival time modulo the gap's own period
// from the Unix epoch, so two estimates of one period a fraction of a
// second apart give the same window phases that differ by seconds. Their
// first bursts must lie a whole number of periods apart, within the
// windows' width and the drift that the periods' difference accumulates
// over the periods between them. (pipeline/merge.go compares the phases,
// which holds only for equal periods.)
func sameGap(a *fault.Gap, sinceA int64, b *fault.Gap, sinceB int64) bool {
	pa, pb := int64(a.Period), int64(b.Period)
	if pa <= 0 || pb <= 0 || !harmonic(pa, pb) {
		return false
	}
	p := min(pa, pb)
	apart := sinceA - sinceB
	if apart < 0 {
		apart = -apart
	}
	d := apart % p
	d = min(d, p-d)
	n := (apart + p/2) / p // periods between the first bursts
	large := max(pa, pb)
	drift := n * absInt(large-(large+p/2)/p*p)
	width := max(int64(a.PhaseEnd-a.PhaseStart), int64(b.PhaseEnd-b.PhaseStart))
	return d <= width+drift+int64(5e8)
}

func absInt(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// harmonic reports whether period p is a multiple of q, or q of p, within
// the tolerance of the fleet detector's burst trains, 0.6 s per multiple
// (internal/fleetgap.Harmonic).
func harmonic(p, q int64) bool {
	const tol = int64(600 * time.Millisecond)
	small, large := min(p, q), max(p, q)
	k := (large + small/2) / small
	return absInt(large-k*small) <= tol*k
}

// ring is a map of at most its capacity entries that forgets the oldest.
type ring struct {
	m    map[string]string
	keys []string
	next int
	cap  int
}

func (r *ring) add(k, v string) {
	if r.m == nil {
		r.m = make(map[string]string)
		r.keys = make([]string, r.cap)
	}
	if _, ok := r.m[k]; ok {
		r.m[k] = v
		return
	}
	if old := r.keys[r.next]; old != "" {
		delete(r.m, old)
	}
	r.keys[r.next] = k
	r.next = (r.next + 1) % r.cap
	r.m[k] = v
}

func (r *ring) get(k string) (string, bool) {
	v, ok := r.m[k]
	return v, ok
}

// entries returns the ring's entries, oldest first.
func (r *ring) entries() [][2]string {
	var out [][2]string
	for i := range r.keys {
		k := r.keys[(r.next+i)%len(r.keys)]
		if k != "" {
			out = append(out, [2]string{k, r.m[k]})
		}
	}
	return out
}

func newFleetStage() *fleetStage {
	return &fleetStage{links: ring{cap: maxLinks}, closed: ring{cap: maxClosed}}
}

// appendState appends the stage's state: its open groups, links and
// closed members.
func (f *fleetStage) appendState(b []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(f.groups)))
	for _, g := range f.groups {
		b = appendBytes(b, []byte(g.kind))
		b = appendBytes(b, []byte(g.key))
		b = appendBytes(b, []byte(g.episode))
		b = append(b, byte(g.state))
		b = appendBytes(b, []byte(g.firing))
		if g.gap == nil {
			b = append(b, 0)
		} else {
			b = append(b, 1)
			b = binary.AppendVarint(b, g.since)
			b = binary.AppendVarint(b, int64(g.gap.Period))
			b = binary.AppendVarint(b, int64(g.gap.PhaseStart))
			b = binary.AppendVarint(b, int64(g.gap.PhaseEnd))
			b = binary.AppendVarint(b, int64(g.gap.Series))
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(g.gap.LateFraction))
		}
		ms := make([]member, 0, len(g.members))
		for mb := range g.members {
			ms = append(ms, mb)
		}
		slices.SortFunc(ms, func(a, b member) int {
			if a.partition != b.partition {
				return int(a.partition) - int(b.partition)
			}
			return strings.Compare(a.episode, b.episode)
		})
		b = binary.AppendUvarint(b, uint64(len(ms)))
		for _, mb := range ms {
			b = binary.AppendVarint(b, int64(mb.partition))
			b = appendBytes(b, []byte(mb.episode))
			b = append(b, byte(g.members[mb]))
		}
	}
	for _, r := range []*ring{&f.links, &f.closed} {
		es := r.entries()
		b = binary.AppendUvarint(b, uint64(len(es)))
		for _, e := range es {
			b = appendBytes(b, []byte(e[0]))
			b = appendBytes(b, []byte(e[1]))
		}
	}
	return b
}

// restoreFleetStage reads what appendState wrote.
func restoreFleetStage(raw []byte) (*fleetStage, bool) {
	f := newFleetStage()
	r := reader{b: raw}
	n := r.uvarint()
	if n > maxGroups {
		return nil, false
	}
	for i := uint64(0); i < n && r.err == nil; i++ {
		g := &group{kind: fault.Kind(r.bytes()), key: string(r.bytes()), episode: string(r.bytes()),
			state: fault.State(r.byte()), firing: string(r.bytes()), members: map[member]fault.State{}}
		if r.byte() == 1 {
			g.since = r.varint()
			g.gap = &fault.Gap{Period: time.Duration(r.varint()), PhaseStart: time.Duration(r.varint()),
				PhaseEnd: time.Duration(r.varint()), Series: int(r.varint())}
			if len(r.b) < 8 {
				return nil, false
			}
			g.gap.LateFraction = math.Float64frombits(binary.LittleEndian.Uint64(r.b))
			r.b = r.b[8:]
		}
		m := r.uvarint()
		if m > uint64(len(r.b)) {
			return nil, false
		}
		for j := uint64(0); j < m && r.err == nil; j++ {
			mb := member{partition: int32(r.varint()), episode: string(r.bytes())}
			g.members[mb] = fault.State(r.byte())
		}
		if g.state != fault.StatePending && g.state != fault.StateFiring {
			return nil, false
		}
		f.groups = append(f.groups, g)
	}
	for _, rg := range []*ring{&f.links, &f.closed} {
		m := r.uvarint()
		if m > uint64(rg.cap) {
			return nil, false
		}
		for j := uint64(0); j < m && r.err == nil; j++ {
			rg.add(string(r.bytes()), string(r.bytes()))
		}
	}
	if r.err != nil || len(r.b) != 0 {
		return nil, false
	}
	return f, true
}
