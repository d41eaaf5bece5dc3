package pipeline

import (
	"fmt"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/internal/frame"
	"github.com/faultline-go/faultline/stream"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// gapEvent is a member's fleet gap event: its episode began at since;
// firing and resolved, it names a gap of period with a window 1.5 s wide
// from phase.
func gapEvent(episode string, state fault.State, since int64, period, phase time.Duration) fault.Event {
	id, _ := fault.EventIDs(fault.KindPeriodicGap, "periodic_gap", 0, since, state)
	ev := fault.Event{ID: id, Episode: episode, Kind: fault.KindPeriodicGap, Rule: "periodic_gap", State: state,
		At: since + int64(2*time.Minute), Since: since, Value: math.NaN()}
	if state != fault.StatePending {
		ev.Gap = &fault.Gap{Period: period, PhaseStart: phase, PhaseEnd: phase + 1500*time.Millisecond, Series: 8}
	}
	return ev
}

// phaseOf is the phase of time t in period p, as the engine states it:
// the time modulo the period from the Unix epoch.
func phaseOf(t int64, p time.Duration) time.Duration { return time.Duration(t % int64(p)) }

// input is one member event.
type input struct {
	member int32
	ev     fault.Event
}

// run feeds m the inputs and returns what it passed on; restoreAt ≥ 0
// replaces m, before that input, by a Merger restored from its state.
func run(t *testing.T, inputs []input, restoreAt int) []fault.Event {
	t.Helper()
	m := NewMerger()
	var out []fault.Event
	for i, x := range inputs {
		if i == restoreAt {
			var err error
			m, err = RestoreMerger(m.AppendState(nil))
			require.NoError(t, err)
		}
		out = m.Add(out, x.member, x.ev)
	}
	return out
}

func jsonOf(evs []fault.Event) (out []string) {
	for _, ev := range evs {
		out = append(out, string(ev.AppendJSON(nil)))
	}
	return out
}

// Three members find one gap, with re-emissions, one of them with a
// period a third of a second off (so its phases, relative to its own
// period, are seconds off): one pending, one firing and one resolved event
// come out, the explained absence links to the group's firing event, and
// a Merger restored from its state midway continues alike.
func TestMergerGroupsOneGap(t *testing.T) {
	at := t0.Add(12 * time.Minute).UnixNano() // 12 s into a minute, below
	p60, p59 := time.Minute, 59656250*time.Microsecond
	since1, since2 := at+int64(250*time.Millisecond), at+int64(250*time.Millisecond+time.Minute)
	m1 := gapEvent("m1", fault.StateFiring, since1, p60, phaseOf(since1, p60))
	m2 := gapEvent("m2", fault.StateFiring, since2, p59, phaseOf(since2, p59))
	absence := fault.Event{ID: "abs1", Episode: "absep", Kind: fault.KindAbsence, Rule: "absence", State: fault.StateFiring,
		Labels: stream.NewLabels("__name__", "x"), Value: math.NaN(), Series: 7, InhibitedBy: m2.ID}
	inputs := []input{
		{1, gapEvent("m1", fault.StatePending, since1, 0, 0)},
		{2, gapEvent("m2", fault.StatePending, at+int64(500*time.Millisecond), 0, 0)},
		{1, m1},
		{1, m1}, // a re-emission
		{2, m2},
		{2, absence},
		{3, gapEvent("m3", fault.StateFiring, at, p60, 12*time.Second)},
		{1, gapEvent("m1", fault.StateResolved, since1, p60, m1.Gap.PhaseStart)},
		{2, gapEvent("m2", fault.StateResolved, since2, p59, m2.Gap.PhaseStart)},
		{3, gapEvent("m3", fault.StateResolved, at, p60, 12*time.Second)},
		{3, gapEvent("m3", fault.StateResolved, at, p60, 12*time.Second)}, // a re-emission
	}
	m := NewMerger()
	var out []fault.Event
	for _, x := range inputs {
		out = m.Add(out, x.member, x.ev)
	}
	var states []string
	for _, ev := range out {
		states = append(states, string(ev.Kind)+"/"+ev.State.String())
		if ev.Kind == fault.KindPeriodicGap {
			require.Equal(t, "m1", ev.Episode, "the group's episode is its first member's")
		}
	}
	require.Equal(t, []string{"periodic_gap/pending", "periodic_gap/firing", "absence/firing", "periodic_gap/resolved"}, states)
	require.Equal(t, m1.ID, out[1].ID, "its first member fired it: that member's ID")
	require.Equal(t, out[1].ID, out[2].InhibitedBy, "the absence links to the group's firing event")
	require.Equal(t, groupID("m1", fault.StateResolved), out[3].ID, "another member resolved it: an ID of the group's")
	require.Equal(t, MergerStats{In: 11, Out: 4, Merged: 5, Duplicates: 2}, m.Stats())
	for i := range inputs {
		require.Equal(t, jsonOf(out), jsonOf(run(t, inputs, i)), "restored before input %d", i)
	}
}

// Two estimates of one gap, of periods 60 s and 59.65 s, found a period
// apart: their phases, each relative to its own period, are seconds
// apart, so comparing phases (as the runtime's merger did) made two faults
// of them. Compared where they are in time, they are one.
func TestMergerOneGapOfTwoEstimates(t *testing.T) {
	p60, p59 := time.Minute, 59650*time.Millisecond
	since1 := t0.Add(12*time.Minute + 12250*time.Millisecond).UnixNano()
	since2 := since1 + int64(p60) // the same burst train, a period later
	a := gapEvent("a", fault.StateFiring, since1, p60, phaseOf(since1, p60))
	b := gapEvent("b", fault.StateFiring, since2, p59, phaseOf(since2, p59))

	// What the phase comparison saw: windows 1.5 s wide whose phases are
	// further apart than that and half a second.
	d := (a.Gap.PhaseStart - b.Gap.PhaseStart) % p59
	d = min(d.Abs(), p59-d.Abs())
	require.Greater(t, d, 2*time.Second, "phases %v and %v", a.Gap.PhaseStart, b.Gap.PhaseStart)

	require.True(t, sameGap(a.Gap, a.Since, b.Gap, b.Since))
	m := NewMerger()
	out := m.Add(nil, 1, a)
	out = m.Add(out, 2, b)
	require.Len(t, out, 1, "one fault: %v", out)
	require.Len(t, m.groups, 1)
	require.Equal(t, uint64(1), m.Stats().Merged)
}

func TestSameGap(t *testing.T) {
	g := func(p, start time.Duration) *fault.Gap {
		return &fault.Gap{Period: p, PhaseStart: start, PhaseEnd: start + 1500*time.Millisecond}
	}
	at := t0.UnixNano()
	minute := int64(time.Minute)
	require.True(t, sameGap(g(time.Minute, 0), at, g(time.Minute, 0), at+3*minute))
	require.True(t, sameGap(g(time.Minute, 0), at, g(2*time.Minute, 0), at+2*minute), "a multiple")
	require.True(t, sameGap(g(time.Minute, 0), at, g(59656*time.Millisecond, 33*time.Second), at+minute+int64(time.Second)), "phases differ, times agree")
	require.False(t, sameGap(g(time.Minute, 0), at, g(time.Minute, 0), at+minute+int64(20*time.Second)), "20 s off")
	require.False(t, sameGap(g(time.Minute, 0), at, g(time.Minute, 0), at+minute+int64(2100*time.Millisecond)), "just past width and slack")
	require.True(t, sameGap(g(time.Minute, 0), at, g(time.Minute, 0), at+minute+int64(1900*time.Millisecond)), "within width and slack")
	require.False(t, sameGap(g(time.Minute, 0), at, g(47*time.Second, 0), at), "periods apart")
	require.False(t, sameGap(g(0, 0), at, g(time.Minute, 0), at), "no period")
}

// A gap of another phase is another fault; so is a storm of other labels;
// a feedback loop is one whichever looped series each member named.
func TestMergerKeepsFaultsApart(t *testing.T) {
	at := t0.Add(12 * time.Minute).UnixNano()
	m := NewMerger()
	out := m.Add(nil, 1, gapEvent("g1", fault.StateFiring, at, time.Minute, 12*time.Second))
	out = m.Add(out, 2, gapEvent("g2", fault.StateFiring, at+int64(30*time.Second), time.Minute, 42*time.Second))
	storm := func(ep, source string) fault.Event {
		return fault.Event{ID: ep + "/f", Episode: ep, Kind: fault.KindDuplicateStorm, Rule: "duplicate_storm", State: fault.StateFiring,
			Labels: stream.NewLabels("source", source)}
	}
	out = m.Add(out, 1, storm("s1", "a"))
	out = m.Add(out, 2, storm("s2", "b"))
	out = m.Add(out, 3, storm("s3", "a"))
	loop := func(ep, name string) fault.Event {
		return fault.Event{ID: ep + "/f", Episode: ep, Kind: fault.KindFeedbackLoop, Rule: "feedback_loop", State: fault.StateFiring,
			Labels: stream.NewLabels("__name__", name)}
	}
	out = m.Add(out, 1, loop("l1", "echo_1"))
	out = m.Add(out, 2, loop("l2", "echo_2"))
	var eps []string
	for _, ev := range out {
		eps = append(eps, ev.Episode)
	}
	require.Equal(t, []string{"g1", "g2", "s1", "s2", "l1"}, eps)
	require.Len(t, m.groups, 5)
}

// A member re-emits its events (it re-processed its input): the states its
// episode reached are dropped, including once the episode resolved and its
// group closed, and counted.
func TestMergerDropsReEmittedMemberEvents(t *testing.T) {
	at := t0.Add(12 * time.Minute).UnixNano()
	pending := gapEvent("a", fault.StatePending, at, 0, 0)
	firing := gapEvent("a", fault.StateFiring, at, time.Minute, 12*time.Second)
	resolved := gapEvent("a", fault.StateResolved, at, time.Minute, 12*time.Second)
	m := NewMerger()
	var out []fault.Event
	for _, ev := range []fault.Event{pending, firing, pending, firing, resolved, pending, firing, resolved} {
		out = m.Add(out, 4, ev)
	}
	require.Equal(t, jsonOf([]fault.Event{pending, firing, resolved}), jsonOf(out), "each event once, unchanged")
	require.Equal(t, MergerStats{In: 8, Out: 3, Duplicates: 5}, m.Stats())
	require.Empty(t, m.groups)

	// The same episode of another member is another member's.
	out = m.Add(nil, 5, pending)
	require.Len(t, out, 1)
}

// A pending member that joined a gap group does not hold it open: the
// group resolves with its last firing member, and the pending member's
// firing, with another gap, is a fault of its own.
func TestMergerMemberLeavesForAnotherGap(t *testing.T) {
	at := t0.Add(12 * time.Minute).UnixNano()
	m := NewMerger()
	var out []fault.Event
	for _, x := range []input{
		{1, gapEvent("x", fault.StateFiring, at, time.Minute, 12*time.Second)},
		{2, gapEvent("y", fault.StatePending, at+int64(time.Second), 0, 0)},
		{1, gapEvent("x", fault.StateResolved, at, time.Minute, 12*time.Second)},
		{2, gapEvent("y", fault.StateFiring, at+int64(30*time.Second), time.Minute, 42*time.Second)},
	} {
		out = m.Add(out, x.member, x.ev)
	}
	var got []string
	for _, ev := range out {
		got = append(got, ev.Episode+"/"+ev.State.String())
	}
	require.Equal(t, []string{"x/firing", "x/resolved", "y/firing"}, got)
	require.Equal(t, "x/resolved", out[1].Episode+"/"+out[1].State.String())
	require.Equal(t, 12*time.Second, out[1].Gap.PhaseStart, "the group's gap")
	require.Len(t, m.groups, 1)
}

// A pending member dropped from a group that resolved is not heard from
// again until it fires: its resolution, never having fired, is dropped.
func TestMergerDropsPendingMemberOfResolvedGroup(t *testing.T) {
	at := t0.Add(12 * time.Minute).UnixNano()
	m := NewMerger()
	var out []fault.Event
	for _, x := range []input{
		{1, gapEvent("x", fault.StateFiring, at, time.Minute, 12*time.Second)},
		{2, gapEvent("y", fault.StatePending, at+int64(time.Minute), 0, 0)},
		{1, gapEvent("x", fault.StateResolved, at, time.Minute, 12*time.Second)},
		{2, gapEvent("y", fault.StateResolved, at+int64(time.Minute), 0, 0)},
	} {
		out = m.Add(out, x.member, x.ev)
	}
	var got []string
	for _, ev := range out {
		got = append(got, ev.Episode+"/"+ev.State.String())
	}
	require.Equal(t, []string{"x/firing", "x/resolved"}, got)
	require.Equal(t, uint64(1), m.Stats().Duplicates)
	require.Empty(t, m.groups)
}

// Past maxGroups open groups a member event that would open one more
// passes unmerged, counted; links forget their oldest past maxLinks.
func TestMergerBounds(t *testing.T) {
	storm := func(i int, state fault.State) fault.Event {
		ep := "s" + strconv.Itoa(i)
		return fault.Event{ID: ep + "/" + state.String(), Episode: ep, Kind: fault.KindDuplicateStorm, Rule: "duplicate_storm",
			State: state, Labels: stream.NewLabels("source", strconv.Itoa(i))}
	}
	m := NewMerger()
	for i := range maxGroups {
		require.Len(t, m.Add(nil, 1, storm(i, fault.StateFiring)), 1)
	}
	over := storm(maxGroups, fault.StateFiring)
	require.Equal(t, []fault.Event{over}, m.Add(nil, 1, over), "passed unmerged")
	require.Equal(t, uint64(1), m.Stats().Overflow)
	require.Len(t, m.groups, maxGroups)

	for i := range maxLinks + 1 {
		m.links.add("from"+strconv.Itoa(i), "to")
	}
	require.Len(t, m.links.m, maxLinks)
	_, kept := m.links.get("from0")
	require.False(t, kept, "the oldest link is forgotten")
	got, err := RestoreMerger(m.AppendState(nil))
	require.NoError(t, err)
	require.Equal(t, m.links.keys[m.links.next], got.links.keys[0], "oldest first")
	require.Equal(t, m.AppendState(nil), got.AppendState(nil))
}

// A state that cannot be read is an error, never a panic: corrupted,
// truncated, of another version, or breaking the Merger's invariants.
func TestRestoreMergerRefusesBadState(t *testing.T) {
	at := t0.Add(12 * time.Minute).UnixNano()
	m := NewMerger()
	m.Add(nil, 1, gapEvent("a", fault.StateFiring, at, time.Minute, 12*time.Second))
	m.Add(nil, 2, gapEvent("b", fault.StateFiring, at, time.Minute, 12*time.Second))
	m.Add(nil, 3, gapEvent("c", fault.StatePending, at, 0, 0))
	m.Add(nil, 3, gapEvent("c", fault.StateResolved, at, time.Minute, 12*time.Second))
	raw := m.AppendState(nil)
	_, err := RestoreMerger(raw)
	require.NoError(t, err)
	for i := range raw {
		bad := append([]byte(nil), raw...)
		bad[i] ^= 0x41
		_, err := RestoreMerger(bad)
		require.Error(t, err, "byte %d flipped", i)
	}
	for n := range len(raw) {
		_, err := RestoreMerger(raw[:n])
		require.Error(t, err, "truncated to %d", n)
	}

	w := frame.Begin(nil, mergerMagic, mergerVersion+1)
	_, err = RestoreMerger(w.Finish())
	require.ErrorContains(t, err, fmt.Sprintf("pipeline: merger state: version %d, this build reads version %d", mergerVersion+1, mergerVersion))

	w = frame.Begin(nil, mergerMagic, mergerVersion)
	w.Uv(1)
	w.Str(string(fault.KindAbsence))
	w.Str("")
	w.Str("ep")
	w.I64(0)
	w.U8(uint8(fault.StateFiring))
	w.Str("")
	w.Bool(false)
	w.Uv(1)
	w.I32(1)
	w.Str("ep")
	w.U8(uint8(fault.StateFiring))
	w.Uv(0)
	w.Uv(0)
	_, err = RestoreMerger(w.Finish())
	require.ErrorContains(t, err, `group 0: kind "absence" is not grouped`)
}

// A member of a kind other than a gap that is pending keeps its group
// open when the firing member resolves: its condition holds, not yet for
// long enough, and its firing continues the same fault.
func TestMergerPendingMemberKeepsAStorm(t *testing.T) {
	at := t0.Add(12 * time.Minute).UnixNano()
	storm := func(episode string, state fault.State) fault.Event {
		return fault.Event{ID: fault.StateID(episode, state), Episode: episode, Kind: fault.KindDuplicateStorm,
			Rule: string(fault.KindDuplicateStorm), State: state, Since: at, At: at, Labels: stream.NewLabels("host", "a")}
	}
	m := NewMerger()
	var out []fault.Event
	for _, x := range []input{
		{1, storm("x", fault.StateFiring)},
		{2, storm("y", fault.StatePending)},
		{1, storm("x", fault.StateResolved)},
		{2, storm("y", fault.StateFiring)},
		{2, storm("y", fault.StateResolved)},
	} {
		out = m.Add(out, x.member, x.ev)
	}
	var got []string
	for _, ev := range out {
		got = append(got, ev.Episode+"/"+ev.State.String())
	}
	require.Equal(t, []string{"x/firing", "x/resolved"}, got)
	require.Equal(t, fault.StateID("x", fault.StateResolved), out[1].ID)
	require.Empty(t, m.groups)
}
