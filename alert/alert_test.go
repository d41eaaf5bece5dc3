package alert

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
)

const minute = int64(time.Minute)

// eval is one evaluation at minute at: the highest level whose condition
// holds (0: none), whether the current level's resolve condition holds, or
// no data.
type eval struct {
	at     int64
	level  int
	reset  bool
	noData bool
}

// on and off are evaluations of a one-level rule without a resolve
// condition at the given minutes.
func on(at ...int64) []eval  { return evals(1, at) }
func off(at ...int64) []eval { return evals(0, at) }

func evals(level int, at []int64) []eval {
	out := make([]eval, len(at))
	for i, t := range at {
		out[i] = eval{at: t, level: level, reset: true}
	}
	return out
}

func seq(parts ...[]eval) []eval {
	var out []eval
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func span(from, to int64) []int64 {
	var out []int64
	for t := from; t <= to; t++ {
		out = append(out, t)
	}
	return out
}

// run steps a zero State through the evaluations and renders the
// transitions as "minute:kind[level]" (since in minutes after @ when it is
// not the minute itself).
func run(t *testing.T, r Rule, evs []eval) []string {
	t.Helper()
	var s State
	var out []string
	buf := make([]Transition, 0, 4)
	for _, e := range evs {
		buf = s.Step(e.at*minute, Outcome{Level: e.level, Reset: e.reset, NoData: e.noData}, &r, buf[:0])
		for _, tr := range buf {
			out = append(out, render(e.at, tr))
		}
	}
	return out
}

func render(at int64, tr Transition) string {
	s := fmt.Sprintf("%d:%s[%d]", at, tr.Kind, tr.Level)
	if tr.Since != at*minute {
		s += fmt.Sprintf("@%d", tr.Since/minute)
	}
	return s
}

// TestPrometheusForAndKeepFiringFor reproduces the behaviour of
// Prometheus' `for` and `keep_firing_for` (docs/configuration/
// alerting_rules.md and rules/alerting.go): pending until ts − ActiveAt ≥
// for; a pending alert is reset by one evaluation without the condition;
// a firing alert whose condition stops holding keeps firing while
// ts − KeepFiringSince < keep_firing_for, where KeepFiringSince is the first
// evaluation without it, and a condition that holds again cancels that.
// One difference, intended: Prometheus drops a pending alert silently,
// faultline emits a resolved event for it (the episode was announced as
// pending).
func TestPrometheusForAndKeepFiringFor(t *testing.T) {
	m := time.Minute
	tests := []struct {
		name string
		rule Rule
		evs  []eval
		want []string
	}{
		{"no for fires at once", Rule{}, seq(on(0, 1), off(2)),
			[]string{"0:firing[1]", "2:resolved[1]@0"}},
		{"for 5m fires at ts-ActiveAt >= 5m", Rule{For: 5 * m}, on(span(0, 7)...),
			[]string{"0:pending[1]", "5:firing[1]@0"}},
		{"for counts sample time, not evaluations", Rule{For: 5 * m}, on(0, 4, 6),
			[]string{"0:pending[1]", "6:firing[1]@0"}},
		{"one false evaluation resets for", Rule{For: 5 * m}, seq(on(0, 1, 2), off(3), on(span(4, 9)...)),
			[]string{"0:pending[1]", "3:resolved[1]@0", "4:pending[1]", "9:firing[1]@4"}},
		{"keep_firing_for from the first evaluation that misses", Rule{KeepFiringFor: 10 * m}, seq(on(0), off(span(1, 12)...)),
			[]string{"0:firing[1]", "11:resolved[1]@0"}},
		{"condition again cancels keep_firing_for", Rule{KeepFiringFor: 10 * m}, seq(on(0), off(1, 2, 3), on(4), off(span(5, 16)...)),
			[]string{"0:firing[1]", "15:resolved[1]@0"}},
		{"keep_firing_for does not protect a pending alert", Rule{For: 5 * m, KeepFiringFor: 10 * m}, seq(on(0, 1, 2), off(3)),
			[]string{"0:pending[1]", "3:resolved[1]@0"}},
		{"for then keep_firing_for", Rule{For: 5 * m, KeepFiringFor: 10 * m}, seq(on(span(0, 6)...), off(span(7, 20)...)),
			[]string{"0:pending[1]", "5:firing[1]@0", "17:resolved[1]@0"}},
		{"a resolved alert starts a new episode", Rule{For: 2 * m}, seq(on(0, 2), off(3), on(4, 5, 6)),
			[]string{"0:pending[1]", "2:firing[1]@0", "3:resolved[1]@0", "4:pending[1]", "6:firing[1]@4"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, run(t, tc.rule, tc.evs))
		})
	}
}

// TestForAndKeepFiringForAcrossTheInt64Range: for and keep_firing_for
// compare t − since with the duration exactly, whatever the two times: an
// episode that began at a (bogus) time near math.MinInt64 fires, or stops
// keeping firing, at an evaluation near math.MaxInt64. t − since wrapped to
// a negative duration there, so the alert stayed pending, or kept firing,
// for ever.
func TestForAndKeepFiringForAcrossTheInt64Range(t *testing.T) {
	const lo, hi = math.MinInt64 + 1, math.MaxInt64 - 1
	step := func(s *State, r *Rule, at int64, level int) []Transition {
		return s.Step(at, Outcome{Level: level, Reset: true}, r, nil)
	}

	r := Rule{For: time.Minute}
	var s State
	require.Equal(t, []Transition{{Kind: KindPending, Level: 1, Since: lo}}, step(&s, &r, lo, 1))
	require.Equal(t, []Transition{{Kind: KindFiring, Level: 1, Since: lo}}, step(&s, &r, hi, 1), "for has passed")

	r = Rule{KeepFiringFor: time.Minute}
	s = State{}
	require.Equal(t, []Transition{{Kind: KindFiring, Level: 1, Since: lo}}, step(&s, &r, lo, 1))
	require.Empty(t, step(&s, &r, lo+1, 0), "keep_firing_for starts")
	require.Equal(t, []Transition{{Kind: KindResolved, Level: 1, Since: lo}}, step(&s, &r, hi, 0), "keep_firing_for has passed")
}

// TestForTolerance checks that a pending alert survives ForTolerance
// consecutive evaluations without the condition, keeps its for clock, and
// never fires on one of them.
func TestForTolerance(t *testing.T) {
	m := time.Minute
	tests := []struct {
		name string
		rule Rule
		evs  []eval
		want []string
	}{
		{"tolerance 1 forgives alternate misses (pint#966)", Rule{For: 5 * m, ForTolerance: 1},
			seq(on(0), off(1), on(2), off(3), on(4), off(5), on(6)),
			[]string{"0:pending[1]", "6:firing[1]@0"}},
		{"one more consecutive miss ends the episode", Rule{For: 5 * m, ForTolerance: 1},
			seq(on(0), off(1, 2), on(3)),
			[]string{"0:pending[1]", "2:resolved[1]@0", "3:pending[1]"}},
		{"tolerance 2", Rule{For: 5 * m, ForTolerance: 2},
			seq(on(0), off(1, 2), on(3), off(4, 5), on(6)),
			[]string{"0:pending[1]", "6:firing[1]@0"}},
		{"never fires on a miss", Rule{For: 2 * m, ForTolerance: 3},
			seq(on(0), off(2, 3), on(4)),
			[]string{"0:pending[1]", "4:firing[1]@0"}},
		{"tolerance 255, the most a State counts", Rule{For: time.Hour, ForTolerance: 255},
			seq(on(0), off(span(1, 255)...), off(256)),
			[]string{"0:pending[1]", "256:resolved[1]@0"}},
		{"tolerance above 255 counts as 255", Rule{For: time.Hour, ForTolerance: 1000},
			seq(on(0), off(span(1, 256)...)),
			[]string{"0:pending[1]", "256:resolved[1]@0"}},
		{"tolerance does not apply once firing", Rule{For: 1 * m, ForTolerance: 3},
			seq(on(0, 1), off(2)),
			[]string{"0:pending[1]", "1:firing[1]@0", "2:resolved[1]@0"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, run(t, tc.rule, tc.evs))
		})
	}
}

// kapacitorLevels are the thresholds of Kapacitor's documented hysteresis
// example (pipeline/alert.go): info > 60 / reset < 50, warn > 70 / reset <
// 60, crit > 80 / reset < 70.
var kapacitorLevels = []struct{ fire, reset float64 }{{60, 50}, {70, 60}, {80, 70}}

// outcome evaluates the levels on a value as a caller would: the highest
// level whose condition holds, and the reset of the current level.
func outcome(v float64, cur int) Outcome {
	o := Outcome{Reset: true}
	for i := len(kapacitorLevels); i >= 1; i-- {
		if v > kapacitorLevels[i-1].fire {
			o.Level = i
			break
		}
	}
	if cur > 0 {
		o.Reset = v < kapacitorLevels[cur-1].reset
	}
	return o
}

// TestKapacitorHysteresis reproduces Kapacitor's documented example: the
// values 61 73 64 85 62 56 47 give INFO WARNING WARNING CRITICAL INFO INFO
// OK.
func TestKapacitorHysteresis(t *testing.T) {
	names := []string{"OK", "INFO", "WARNING", "CRITICAL"}
	var s State
	var r Rule
	var got, events []string
	for i, v := range []float64{61, 73, 64, 85, 62, 56, 47} {
		for _, tr := range s.Step(int64(i)*minute, outcome(v, s.Level()), &r, nil) {
			events = append(events, render(int64(i), tr))
		}
		got = append(got, names[s.Level()])
	}
	require.Equal(t, strings.Fields("INFO WARNING WARNING CRITICAL INFO INFO OK"), got)
	require.Equal(t, []string{"0:firing[1]", "1:firing[2]@0", "3:firing[3]@0", "4:firing[1]@0", "6:resolved[1]@0"}, events)
}

// TestResolveExpression checks a one-level rule with a resolve condition,
// Zabbix' recovery expression: fire above 80, resolve below 70 only.
func TestResolveExpression(t *testing.T) {
	var s State
	r := Rule{KeepFiringFor: 2 * time.Minute}
	var got []string
	for i, v := range []float64{85, 75, 79, 65, 81, 60, 60, 60} {
		o := Outcome{Reset: v < 70}
		if v > 80 {
			o.Level = 1
		}
		for _, tr := range s.Step(int64(i)*minute, o, &r, nil) {
			got = append(got, render(int64(i), tr))
		}
	}
	// 75 and 79 are in the band: it stays. 65 would resolve, but
	// keep_firing_for 2m holds it until minute 5; 81 cancels that; 60 at 5
	// starts it again, and at 7 it has run out.
	require.Equal(t, []string{"0:firing[1]", "7:resolved[1]@0"}, got)
}

// TestNoData checks the three no-data policies.
func TestNoData(t *testing.T) {
	m := time.Minute
	nd := func(at int64) []eval { return []eval{{at: at, noData: true}} }
	tests := []struct {
		name string
		rule Rule
		evs  []eval
		want []string
	}{
		{"keep leaves a firing alert firing", Rule{}, seq(on(0), nd(3), on(9), off(10)),
			[]string{"0:firing[1]", "10:resolved[1]@0"}},
		{"keep leaves a pending alert pending, for running", Rule{For: 5 * m}, seq(on(0), nd(3), on(9)),
			[]string{"0:pending[1]", "9:firing[1]@0"}},
		{"keep on an inactive alert does nothing", Rule{}, nd(3), nil},
		{"resolve resolves, keep_firing_for or not", Rule{NoData: NoDataResolve, KeepFiringFor: time.Hour}, seq(on(0), nd(3)),
			[]string{"0:firing[1]", "3:resolved[1]@0"}},
		{"resolve ends a pending episode", Rule{NoData: NoDataResolve, For: 5 * m}, seq(on(0), nd(3)),
			[]string{"0:pending[1]", "3:resolved[1]@0"}},
		{"resolve on an inactive alert does nothing", Rule{NoData: NoDataResolve}, nd(3), nil},
		{"alert fires an inactive alert at level 1, skipping for", Rule{NoData: NoDataAlert, For: time.Hour}, seq(nd(3), off(4)),
			[]string{"3:firing[1]", "4:resolved[1]@3"}},
		{"alert fires a pending alert at its level", Rule{NoData: NoDataAlert, For: time.Hour}, seq([]eval{{at: 0, level: 2}}, nd(3)),
			[]string{"0:pending[2]", "3:firing[2]@0"}},
		{"alert leaves a firing alert firing", Rule{NoData: NoDataAlert}, seq(on(0), nd(3)),
			[]string{"0:firing[1]"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, run(t, tc.rule, tc.evs))
		})
	}
}

// TestLevelsWithFor checks that for gates the start of an episode only: a
// pending alert follows the highest level that holds and fires at it;
// escalation while firing is immediate.
func TestLevelsWithFor(t *testing.T) {
	r := Rule{For: 2 * time.Minute}
	lv := func(at int64, level int, reset bool) eval { return eval{at: at, level: level, reset: reset} }
	got := run(t, r, []eval{lv(0, 1, false), lv(1, 2, false), lv(2, 1, false), lv(3, 2, false), lv(4, 1, false), lv(5, 0, true)})
	require.Equal(t, []string{"0:pending[1]", "2:firing[1]@0", "3:firing[2]@0", "5:resolved[2]@0"}, got)
}

// nagiosPercent is Nagios' percent state change (base/flapping.c,
// check_for_service_flapping) over a history of HistoryLen states, oldest
// first, written from its documented formula: the x-th pair of adjacent
// states (x = 1 … 20) that differ adds (x−1)·(1.25−0.75)/(21−2) + 0.75, and
// the sum is scaled by 100/(21−1).
func nagiosPercent(history [HistoryLen]int) float64 {
	var changes float64
	for x := 1; x < HistoryLen; x++ {
		if history[x] != history[x-1] {
			changes += float64(x-1)*(1.25-0.75)/float64(HistoryLen-2) + 0.75
		}
	}
	return changes * 100 / float64(HistoryLen-1)
}

// TestNagiosFlapping drives a for-less one-level rule with Nagios'
// default thresholds through a known history: it alternates for six
// evaluations, then stays OK. The percent change after each evaluation is
// checked against Nagios' formula on a 21-state history kept here, and at
// the thresholds against values worked out by hand. Flapping starts at the
// sixth change (35.5 ≥ 30, the fifth gave 29.9); the resolve it holds back
// is emitted when flapping ends, 16 evaluations later, as the percentage
// falls from 20.07 to 15.79 ≤ 20 (nagioscore#91, icinga2#9449).
func TestNagiosFlapping(t *testing.T) {
	w := func(x int) float64 { return 0.75 + float64(x-1)*0.5/19 } // weight of pair x, by hand
	hand := map[int64]float64{
		5:  (w(20) + w(19) + w(18) + w(17) + w(16)) * 5,         // 29.93: five changes, newest pairs
		6:  (w(20) + w(19) + w(18) + w(17) + w(16) + w(15)) * 5, // 35.52
		21: (w(5) + w(4) + w(3) + w(2) + w(1)) * 5,              // 20.07: the first change fell out
		22: (w(4) + w(3) + w(2) + w(1)) * 5,                     // 15.79
	}
	require.InDelta(t, 29.93, hand[5], 0.01)
	require.InDelta(t, 35.52, hand[6], 0.01)
	require.InDelta(t, 20.07, hand[21], 0.01)
	require.InDelta(t, 15.79, hand[22], 0.01)

	r := Rule{Flapping: Flapping{Low: DefaultFlapLow, High: DefaultFlapHigh}}
	var s State
	var history [HistoryLen]int
	var got []string
	flapping := false
	for at := int64(1); at <= 30; at++ {
		level := 0
		if at <= 6 && at%2 == 1 {
			level = 1
		}
		for _, tr := range s.Step(at*minute, Outcome{Level: level, Reset: true}, &r, nil) {
			got = append(got, render(at, tr))
		}
		copy(history[:], history[1:])
		history[HistoryLen-1] = level
		want := nagiosPercent(history)
		require.InDelta(t, want, s.FlapPercent(), 1e-9, "minute %d", at)
		if p, ok := hand[at]; ok {
			require.InDelta(t, p, s.FlapPercent(), 1e-9, "minute %d", at)
		}
		switch {
		case want >= r.Flapping.High:
			flapping = true
		case want <= r.Flapping.Low:
			flapping = false
		}
		require.Equal(t, flapping, s.Flapping(), "minute %d", at)
	}
	require.Equal(t, []string{
		"1:firing[1]", "2:resolved[1]@1", "3:firing[1]", "4:resolved[1]@3", "5:firing[1]",
		"6:flapping_start[1]",
		"22:flapping_end[1]@6", "22:resolved[1]@5",
	}, got)
	require.True(t, s.Idle(), "an alert whose history emptied is idle")
}

// TestFlappingEndEmitsCurrentState checks that flapping ending on a firing
// alert emits its current episode when the last one emitted was resolved,
// and nothing more when the last emitted state is still current.
func TestFlappingEndEmitsCurrentState(t *testing.T) {
	r := Rule{Flapping: Flapping{Low: 20, High: 30}}
	var evs []eval
	for at := int64(1); at <= 6; at++ {
		evs = append(evs, eval{at: at, level: int(at % 2), reset: true})
	}
	evs = append(evs, on(span(7, 40)...)...) // firing for good from minute 7
	got := run(t, r, evs)
	require.Equal(t, []string{
		"1:firing[1]", "2:resolved[1]@1", "3:firing[1]", "4:resolved[1]@3", "5:firing[1]",
		"6:flapping_start[1]",
		"23:flapping_end[1]@6", "23:resolved[1]@5", "23:firing[1]@7",
	}, got)

	// Flapping while the last emitted state stays the current one: only the
	// flapping events.
	evs = evs[:0]
	for at := int64(1); at <= 7; at++ {
		evs = append(evs, eval{at: at, level: int(at % 2), reset: true})
	}
	evs = append(evs, off(span(8, 40)...)...)
	got = run(t, r, evs)
	require.Equal(t, []string{
		"1:firing[1]", "2:resolved[1]@1", "3:firing[1]", "4:resolved[1]@3", "5:firing[1]",
		"6:flapping_start[1]",
		"24:flapping_end[1]@6", "24:resolved[1]@5",
	}, got)
}

// TestEncoding checks that a state decoded from its encoding carries on
// exactly as the original, at every point of a scenario with timers, a
// flap history and flapping, and that malformed input is refused.
func TestEncoding(t *testing.T) {
	r := Rule{For: 2 * time.Minute, ForTolerance: 1, KeepFiringFor: 3 * time.Minute, Flapping: Flapping{Low: 20, High: 30}}
	var evs []eval
	for at := int64(0); at < 60; at++ {
		evs = append(evs, eval{at: at, level: int(at*7%5) % 3, reset: at%3 == 0})
	}
	var a State
	for i, e := range evs {
		enc := a.AppendBinary([]byte{0xAA})
		require.LessOrEqual(t, len(enc)-1, 51)
		b, rest, err := DecodeState(enc[1:])
		require.NoError(t, err)
		require.Empty(t, rest)
		require.Equal(t, a, b)
		o := Outcome{Level: e.level, Reset: e.reset}
		ta := a.Step(e.at*minute, o, &r, nil)
		tb := b.Step(e.at*minute, o, &r, nil)
		require.Equal(t, ta, tb, "evaluation %d", i)

		for cut := 0; cut < len(enc)-1; cut++ {
			_, _, err := DecodeState(enc[1 : 1+cut])
			require.ErrorIs(t, err, ErrBadState, "truncated at %d", cut)
		}
	}
	_, _, err := DecodeState([]byte{2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	require.ErrorIs(t, err, ErrBadState)
	_, _, err = DecodeState([]byte{1, 3, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	require.ErrorIs(t, err, ErrBadState)
}

// TestDecodeRefusesKeepTimerOutsideFiring: only a firing alert counts
// keep_firing_for down (close clears the countdown), but DecodeState
// accepted an inactive or pending state with the countdown running. Such
// a state, restored from a damaged snapshot, skipped keep_firing_for at
// the next episode: its countdown had started long before, so the alert
// resolved at the first evaluation that would resolve it. DecodeState
// refuses it as bytes AppendBinary never writes.
func TestDecodeRefusesKeepTimerOutsideFiring(t *testing.T) {
	r := Rule{KeepFiringFor: 3 * time.Minute}
	// version, phase, level, shown, shown level, misses, flags (keep),
	// hist, since, keepSince (1 ns), shownSince, flapSince.
	for _, b := range [][]byte{
		{1, byte(Inactive), 0, byte(Inactive), 0, 0, flagKeep, 0, 0, 2, 0, 0},
		{1, byte(Pending), 1, byte(Pending), 1, 0, flagKeep, 0, 0, 2, 0, 0},
	} {
		s, _, err := DecodeState(b)
		if err == nil {
			// What the damaged state would do: fire at 10m, then resolve
			// at 11m, keep_firing_for notwithstanding.
			s.Step(10*minute, Outcome{Level: 1}, &r, nil)
			got := s.Step(11*minute, Outcome{Reset: true}, &r, nil)
			t.Errorf("decoded %x; firing at 10m it then gives %v at 11m", b, got)
		}
		require.ErrorIs(t, err, ErrBadState)
	}
}

// TestStepDoesNotAllocate checks the hot path.
func TestStepDoesNotAllocate(t *testing.T) {
	r := Rule{For: time.Minute, KeepFiringFor: time.Minute, Flapping: Flapping{Low: 20, High: 30}}
	var s State
	buf := make([]Transition, 0, 4)
	at := int64(0)
	allocs := testing.AllocsPerRun(1000, func() {
		at += minute
		buf = s.Step(at, Outcome{Level: int(at / minute % 3), Reset: true}, &r, buf[:0])
	})
	require.Zero(t, allocs)
}

func TestStrings(t *testing.T) {
	for _, n := range []NoData{NoDataKeep, NoDataResolve, NoDataAlert} {
		got, ok := ParseNoData(n.String())
		require.True(t, ok)
		require.Equal(t, n, got)
	}
	_, ok := ParseNoData("ignore")
	require.False(t, ok)
	require.Equal(t, "firing", Firing.String())
	require.Equal(t, "flapping_start", KindFlappingStart.String())
	require.False(t, math.IsNaN((&State{}).FlapPercent()))
}

// TestStateIsSmall keeps the per-alert state at the size the package
// documentation gives: one exists per open alert.
func TestStateIsSmall(t *testing.T) {
	require.LessOrEqual(t, unsafe.Sizeof(State{}), uintptr(48))
}

// TestForgetClosesWhatWasShown checks that forgetting an alert (its rule
// removed, its series evicted) closes exactly what its consumers last saw: nothing for an inactive one, a resolve of the
// pending or firing episode last emitted (at its level, with its since),
// and a flapping end before the resolve of the state shown when flapping
// began, not of a state held back since; and that the state is zero after.
func TestForgetClosesWhatWasShown(t *testing.T) {
	f := func(r Rule, evs []eval, want []string) {
		t.Helper()
		var s State
		buf := make([]Transition, 0, 4)
		for _, e := range evs {
			buf = s.Step(e.at*minute, Outcome{Level: e.level, Reset: e.reset}, &r, buf[:0])
		}
		var got []string
		for _, tr := range s.Forget(nil) {
			got = append(got, render(99, tr))
		}
		require.Equal(t, want, got)
		require.Equal(t, State{}, s)
		require.Empty(t, s.Forget(nil), "forgetting twice emits nothing")
	}
	f(Rule{}, nil, nil)
	f(Rule{}, seq(on(1), off(2)), nil)
	f(Rule{For: 5 * time.Minute}, on(1, 2), []string{"99:resolved[1]@1"})
	f(Rule{}, []eval{{at: 1, level: 1}, {at: 2, level: 2}}, []string{"99:resolved[2]@1"})
	f(Rule{KeepFiringFor: time.Hour}, seq(on(1), off(2, 3)), []string{"99:resolved[1]@1"})
	flappy := Rule{Flapping: Flapping{Low: 20, High: 30}}
	var evs []eval
	for at := int64(1); at <= 8; at++ {
		evs = append(evs, eval{at: at, level: int(at % 2), reset: true})
	}
	// Flapping from minute 6, with the episode of minute 5 last emitted.
	f(flappy, evs, []string{"99:flapping_end[1]@6", "99:resolved[1]@5"})
	// A flap history alone (idle otherwise) closes nothing.
	f(flappy, seq(on(1), off(2)), nil)
}

// flapOracle returns, for every flap history (bit b set: the pair b from
// the newest changed), its percent state change as an exact fraction
// num/den, from Nagios' formula read as rationals: pair i (1 the oldest,
// 20 the newest) weighs 3/4 + (i−1)·(1/2)/19, and the percentage is the
// sum of the weights of the pairs that changed times 100/20. The sums of
// the ten newest and of the ten oldest pairs are computed with math/big
// and brought to their least common denominator, so that a history's sum
// is one integer addition.
func flapOracle(t *testing.T) (num func(hist uint32) int64, den int64) {
	weight := func(i int64) *big.Rat {
		w := big.NewRat(i-1, 2*19)
		return w.Add(w, big.NewRat(3, 4))
	}
	var sums [2][1 << 10]*big.Rat // [0]: the ten newest pairs, [1]: the ten oldest
	lcm := big.NewInt(1)
	for half := range 2 {
		for p := range 1 << 10 {
			sum := new(big.Rat)
			for b := range 10 {
				if p&(1<<b) != 0 {
					sum.Add(sum, weight(int64(histPairs-10*half-b)))
				}
			}
			sum.Mul(sum, big.NewRat(100, histPairs))
			sums[half][p] = sum
			g := new(big.Int).GCD(nil, nil, lcm, sum.Denom())
			lcm.Mul(lcm, new(big.Int).Quo(sum.Denom(), g))
		}
	}
	require.True(t, lcm.IsInt64())
	var nums [2][1 << 10]int64
	for half := range 2 {
		for p, sum := range sums[half] {
			n := new(big.Int).Mul(sum.Num(), new(big.Int).Quo(lcm, sum.Denom()))
			require.True(t, n.IsInt64())
			nums[half][p] = n.Int64()
		}
	}
	return func(hist uint32) int64 { return nums[0][hist&(1<<10-1)] + nums[1][hist>>10] }, lcm.Int64()
}

// TestFlapThresholdsExact steps every one of the 2^20 flap histories into
// place, once on an alert that is not flapping and once on one that is,
// and checks against the exact percentage that flapping starts exactly
// when it is at least 30 (Nagios' high default) and stops exactly when it
// is at most 20, as in Nagios' flapping.c. Of the histories, 1,242 are at
// exactly 30 % and 177 at exactly 20 %: the sum of the weights in floating
// point, newest first (as FlapPercent did), misses 123 of the first and 2
// of the second.
func TestFlapThresholdsExact(t *testing.T) {
	num, den := flapOracle(t)
	require.Less(t, den, int64(1<<20), "numerators and denominators are exact in float64")
	// The float sum this replaced, to show that the boundary is tested.
	floatPercent := func(hist uint32) float64 {
		var sum float64
		for b := range histPairs {
			if hist&(1<<b) != 0 {
				x := histPairs - b
				sum += float64(x-1)*(1.25-0.75)/float64(HistoryLen-2) + 0.75
			}
		}
		return sum * 100 / float64(HistoryLen-1)
	}
	r := Rule{Flapping: Flapping{Low: DefaultFlapLow, High: DefaultFlapHigh}}
	high, low := 30*den, 20*den
	var at30, at20, floatMissed30, floatMissed20 int
	buf := make([]Transition, 0, 4)
	for hist := range uint32(1 << histPairs) {
		n := num(hist)
		want := float64(n) / float64(den) // correctly rounded: both are exact
		wantStart, wantEnd := n >= high, n <= low
		if n == high {
			at30++
			if floatPercent(hist) < DefaultFlapHigh {
				floatMissed30++
			}
		}
		if n == low {
			at20++
			if floatPercent(hist) > DefaultFlapLow {
				floatMissed20++
			}
		}
		// The newest pair changes when an inactive alert fires (no for).
		o := Outcome{Level: int(hist & 1)}
		for _, flapping := range []bool{false, true} {
			s := State{hist: hist >> 1}
			if flapping {
				s.flags, s.flapSince = flagFlapping, 1
			}
			buf = s.Step(2, o, &r, buf[:0])
			if s.hist != hist {
				t.Fatalf("history %020b: stepped to %020b", hist, s.hist)
			}
			if s.FlapPercent() != want {
				t.Fatalf("history %020b: FlapPercent %v, want %v (%d/%d)", hist, s.FlapPercent(), want, n, den)
			}
			started := len(buf) > 0 && buf[0].Kind == KindFlappingStart
			ended := len(buf) > 0 && buf[0].Kind == KindFlappingEnd
			switch {
			case !flapping && started != wantStart:
				t.Fatalf("history %020b at %d/%d %%: flapping started %v, want %v", hist, n, den, started, wantStart)
			case flapping && ended != wantEnd:
				t.Fatalf("history %020b at %d/%d %%: flapping ended %v, want %v", hist, n, den, ended, wantEnd)
			case s.Flapping() != (flapping && !wantEnd || !flapping && wantStart):
				t.Fatalf("history %020b: flapping %v after the step", hist, s.Flapping())
			}
		}
	}
	require.Equal(t, 1242, at30)
	require.Equal(t, 177, at20)
	require.Equal(t, 123, floatMissed30)
	require.Equal(t, 2, floatMissed20)
}

// TestCmp76 checks the exact comparison of 5n/76 with a threshold against
// math/big, at the thresholds where it matters: every percentage 5n/76
// rounded to float64 and the float64s beside it, every percentage with two
// decimals, and special and random values, each against the integers
// around 76 times it.
func TestCmp76(t *testing.T) {
	var hs []float64
	for n := range 1521 {
		p := float64(5*n) / 76
		hs = append(hs, p, math.Nextafter(p, math.Inf(1)), math.Nextafter(p, math.Inf(-1)))
	}
	for k := range 10001 {
		hs = append(hs, float64(k)/100)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		hs = append(hs, rng.Float64()*100)
	}
	hs = append(hs, 0, math.Copysign(0, -1), -1, 5e-324, -5e-324, 1e-300, 1e300, math.MaxFloat64, math.Inf(1), math.Inf(-1))
	for _, h := range hs {
		var exact *big.Rat
		if !math.IsInf(h, 0) {
			exact = new(big.Rat).SetFloat64(h)
			exact.Mul(exact, big.NewRat(76, 1))
		}
		base := 0
		if 76*h > 0 && 76*h < 1e6 {
			base = int(76 * h)
		}
		for _, m := range []int{0, 1, 7600, base - 2, base - 1, base, base + 1, base + 2} {
			if m < 0 {
				continue
			}
			want := 1
			switch {
			case math.IsInf(h, 1):
				want = -1
			case exact != nil:
				want = new(big.Rat).SetInt64(int64(m)).Cmp(exact)
			}
			if got := cmp76(m, h); got != want {
				t.Fatalf("cmp76(%d, %v) = %d, want %d", m, h, got, want)
			}
		}
	}
}

// TestFlapThresholdsOtherThanDefault checks thresholds that are not
// integers at the percentages either side of them: 5·387/76 = 25.46… and
// 5·388/76 = 25.52… lie either side of 25.5, and 1.25 (5·19/76) is a
// percentage itself.
func TestFlapThresholdsOtherThanDefault(t *testing.T) {
	f := func(high float64, n int, want bool) {
		t.Helper()
		require.Equal(t, want, cmp76(5*n, high) >= 0, "5·%d/76 ≥ %v", n, high)
	}
	f(25.5, 387, false)
	f(25.5, 388, true)
	f(1.25, 19, true)
	f(1.25, 18, false)
	f(30, 456, true)
	f(30, 455, false)
}
