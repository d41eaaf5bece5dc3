package kafka

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/rules"
	"github.com/faultline-go/faultline/stream"
)

func TestStateRecord(t *testing.T) {
	st := state{kind: stageEngine, next: 1234, epoch: 7, taken: t0.UnixNano(),
		sources: []rules.Source{{Name: "a.yaml", Data: []byte("groups: []")}}, snapshot: []byte("snapshot bytes")}
	raw := st.encode()
	got, err := decodeState(raw)
	require.NoError(t, err)
	require.Equal(t, st, *got)

	// Every corruption is refused with ErrBadState, never a panic.
	for i := range raw {
		bad := append([]byte(nil), raw...)
		bad[i] ^= 0x41
		_, err := decodeState(bad)
		require.ErrorIs(t, err, ErrBadState, "byte %d flipped", i)
	}
	for n := range len(raw) {
		_, err := decodeState(raw[:n])
		require.ErrorIs(t, err, ErrBadState, "truncated to %d", n)
	}
	require.Equal(t, "g:metrics/3", stateKey("g", "metrics", 3))
	require.Equal(t, int32(1), statePartition(7, 6))
}

// gapEvent is a member's fleet gap event.
func gapEvent(episode string, state fault.State, since int64, period, phase time.Duration) fault.Event {
	id, _ := fault.EventIDs(fault.KindPeriodicGap, "periodic_gap", 0, since, state)
	ev := fault.Event{ID: id, Episode: episode, Kind: fault.KindPeriodicGap, Rule: "periodic_gap", State: state,
		At: since + int64(2*time.Minute), Since: since, Value: math.NaN()}
	if state != fault.StatePending {
		ev.Gap = &fault.Gap{Period: period, PhaseStart: phase, PhaseEnd: phase + 1500*time.Millisecond, Series: 8, LateFraction: 0}
	}
	return ev
}

// TestFleetStage feeds the fleet stage the gap three partitions found,
// with duplicates, one of them with a period a third of a second off (so
// its phases, relative to its own period, are seconds off): one pending,
// one firing and one resolved event come out, the explained absence links
// to the group's firing event, and a stage restored from its state midway
// continues alike.
func TestFleetStage(t *testing.T) {
	at := t0.Add(12 * time.Minute).UnixNano() // 12.25 s into a minute, below
	p60, p59 := time.Minute, 59656250*time.Microsecond
	phase59 := time.Duration((at + int64(250*time.Millisecond)) % int64(p59))
	absence := fault.Event{ID: "abs1", Episode: "absep", Kind: fault.KindAbsence, Rule: "absence", State: fault.StateFiring,
		Labels: stream.NewLabels("__name__", "x"), Value: math.NaN()}
	type in struct {
		p  int32
		ev fault.Event
	}
	m1 := gapEvent("m1", fault.StateFiring, at+int64(250*time.Millisecond), p60, 12250*time.Millisecond)
	m2 := gapEvent("m2", fault.StateFiring, at+int64(250*time.Millisecond)+int64(time.Minute), p59, phase59)
	absence.InhibitedBy = m2.ID
	inputs := []in{
		{1, gapEvent("m1", fault.StatePending, at+int64(250*time.Millisecond), 0, 0)},
		{2, gapEvent("m2", fault.StatePending, at+int64(500*time.Millisecond), 0, 0)},
		{1, m1},
		{1, m1}, // a re-emission
		{2, m2},
		{2, absence},
		{3, gapEvent("m3", fault.StateFiring, at, p60, 12*time.Second)},
		{1, gapEvent("m1", fault.StateResolved, at+int64(250*time.Millisecond), p60, 12250*time.Millisecond)},
		{2, gapEvent("m2", fault.StateResolved, at+int64(250*time.Millisecond)+int64(time.Minute), p59, phase59)},
		{3, gapEvent("m3", fault.StateResolved, at, p60, 12*time.Second)},
		{3, gapEvent("m3", fault.StateResolved, at, p60, 12*time.Second)}, // a re-emission
	}
	run := func(restoreAt int) []fault.Event {
		f := newFleetStage()
		var out []fault.Event
		for i, x := range inputs {
			if i == restoreAt {
				var ok bool
				f, ok = restoreFleetStage(f.appendState(nil))
				require.True(t, ok)
			}
			out = append(out, f.add(x.p, x.ev)...)
		}
		return out
	}
	out := run(-1)
	var states []string
	for _, ev := range out {
		states = append(states, string(ev.Kind)+"/"+ev.State.String())
		if ev.Kind == fault.KindPeriodicGap {
			require.Equal(t, "m1", ev.Episode, "the group's episode is its first member's")
		}
	}
	require.Equal(t, []string{"periodic_gap/pending", "periodic_gap/firing", "absence/firing", "periodic_gap/resolved"}, states)
	require.Equal(t, out[1].ID, out[2].InhibitedBy, "the absence links to the group's firing event")
	require.Equal(t, m1.ID, out[1].ID)
	js := func(evs []fault.Event) (out []string) {
		for _, ev := range evs {
			out = append(out, string(ev.AppendJSON(nil)))
		}
		return out
	}
	for i := range inputs {
		require.Equal(t, js(out), js(run(i)), "restored before input %d", i)
	}

	// A gap of another phase is another fault.
	f := newFleetStage()
	f.add(1, m1)
	other := gapEvent("m9", fault.StateFiring, at+int64(30*time.Second), p60, 42*time.Second)
	require.Len(t, f.add(2, other), 1)
	require.Len(t, f.groups, 2)

	_, ok := restoreFleetStage([]byte{0xff})
	require.False(t, ok)
}

func TestSameGap(t *testing.T) {
	g := func(p, start time.Duration) *fault.Gap {
		return &fault.Gap{Period: p, PhaseStart: start, PhaseEnd: start + 1500*time.Millisecond}
	}
	at := t0.UnixNano()
	min := int64(time.Minute)
	require.True(t, sameGap(g(time.Minute, 0), at, g(time.Minute, 0), at+3*min))
	require.True(t, sameGap(g(time.Minute, 0), at, g(2*time.Minute, 0), at+2*min), "a multiple")
	require.True(t, sameGap(g(time.Minute, 0), at, g(59656*time.Millisecond, 33*time.Second), at+min+int64(time.Second)), "phases differ, times agree")
	require.False(t, sameGap(g(time.Minute, 0), at, g(time.Minute, 0), at+min+int64(20*time.Second)))
	require.False(t, sameGap(g(time.Minute, 0), at, g(47*time.Second, 0), at))
}

func TestParseEvent(t *testing.T) {
	ev := fault.Event{ID: "0123456789abcdef", Episode: "fedcba9876543210", Kind: fault.KindPeriodicGap, Rule: "periodic_gap",
		State: fault.StateFiring, At: t0.Add(1500 * time.Millisecond).UnixNano(), Since: t0.UnixNano(),
		Labels:      stream.NewLabels("faultline_origin", "faultline", "z", "last"),
		Annotations: stream.Labels{{Name: "summary", Value: "a \"quoted\"\nline"}, {Name: "a", Value: "after"}},
		Value:       0.25, InhibitedBy: "1111111111111111",
		Gap: &fault.Gap{Period: time.Minute, PhaseStart: 12250 * time.Millisecond, PhaseEnd: 13750 * time.Millisecond, Series: 195, LateFraction: 0.5}}
	b := ev.AppendJSON(nil)
	got, err := ParseEvent(b)
	require.NoError(t, err)
	require.Equal(t, string(b), string(got.AppendJSON(nil)))
	require.Equal(t, ev.Annotations, got.Annotations, "order kept")

	ev.Gap, ev.Value, ev.InhibitedBy = nil, math.NaN(), ""
	got, err = ParseEvent(ev.AppendJSON(nil))
	require.NoError(t, err)
	require.Nil(t, got.Gap)
	require.True(t, math.IsNaN(got.Value))

	for _, bad := range []string{``, `[]`, `{"id":1}`, `{"id":"x","kind":"absence"}`, `{"id":"x","kind":"absence","state":"gone"}`,
		`{"id":"x","kind":"absence","state":"firing","at":"yesterday"}`, `{"id":"x","labels":{"a":1}}`} {
		_, err := ParseEvent([]byte(bad))
		require.Error(t, err, bad)
	}
}

func TestConfig(t *testing.T) {
	_, err := New(Config{})
	require.ErrorContains(t, err, "Brokers is required")
	require.ErrorContains(t, err, "Group is required")
	require.ErrorContains(t, err, "Topic is required")
	_, err = New(Config{Brokers: []string{"x:9092"}, Group: "g", Topic: "t", EventsTopic: "t"})
	require.ErrorContains(t, err, `Topic and EventsTopic are both "t"`)
	_, err = New(Config{Brokers: []string{"x:9092"}, Group: "g", Topic: "t", SASL: SASL{Mechanism: "GSSAPI"}})
	require.ErrorContains(t, err, "SASL.Mechanism")
	_, err = New(Config{Brokers: []string{"x:9092"}, Group: "g", Topic: "t", Tick: -time.Second})
	require.ErrorContains(t, err, "negative")
	_, err = New(Config{Brokers: []string{"x:9092"}, Group: "g", Topic: "t", TLS: TLS{CAFile: "/nonexistent"}})
	require.ErrorContains(t, err, "TLS")
	_, err = New(Config{Brokers: []string{"x:9092"}, Group: "g", Topic: "t", Rules: []rules.Source{{Name: "r.yaml", Data: []byte("groups: [")}}})
	require.Error(t, err)
	require.True(t, strings.HasPrefix(err.Error(), "kafka: "), err.Error())
	w, err := New(Config{Brokers: []string{"x:9092"}, Group: "g", Topic: "t"})
	require.NoError(t, err)
	require.Equal(t, DefaultEventsTopic, w.cfg.EventsTopic)
	require.Equal(t, DefaultMaxSnapshot+stateOverhead, w.cfg.MaxFetchBytes)
}
