package rules

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/stream"
)

// hist builds a history from (seconds, value) pairs, split between Older
// and Newer at split (as a ring buffer that has wrapped holds it).
func hist(split int, tv ...float64) *History {
	var pts []Point
	for i := 0; i+1 < len(tv); i += 2 {
		pts = append(pts, Point{T: int64(tv[i] * 1e9), V: tv[i+1]})
	}
	split = min(split, len(pts))
	return &History{Older: pts[:split], Newer: pts[split:]}
}

// TestWindowRatePrometheus checks rate, increase and delta against
// Prometheus' extrapolatedRate (promql/functions.go, as of 2.52 and 3.x),
// computed by hand; the range always ends at the last sample, which is
// the sample being evaluated.
func TestWindowRatePrometheus(t *testing.T) {
	ramp := func(t0, v0 float64) []float64 { // 6 samples, every 10 s, +10 each
		var tv []float64
		for i := range 6 {
			tv = append(tv, t0+10*float64(i), v0+10*float64(i))
		}
		return tv
	}
	cases := []struct {
		name                  string
		tv                    []float64
		rng                   time.Duration
		rate, increase, delta float64
	}{
		// Samples at 10..60 s, 10..60, range (0, 60]: the first sample is
		// 10 s from the start, under the 11 s threshold (1.1 × the 10 s
		// average), so the 50 measured extrapolate to 60 s: ×1.2.
		// durationToZero = 50 × 10/50 = 10 is not below 10.
		{"full range", ramp(10, 10), time.Minute, 1, 60, 60},
		// 10, 20, 30, 5, 15, 25: one reset (5 < 30) adds 30, so the
		// increase measured is 25 − 10 + 30 = 45, ×1.2 = 54, 0.9/s. delta
		// ignores resets: 15 × 1.2 = 18. durationToZero = 50 × 10/45 =
		// 11.1 > 10.
		{"counter reset", []float64{10, 10, 20, 20, 30, 30, 40, 5, 50, 15, 60, 25}, time.Minute, 0.9, 54, 18},
		// Two resets: 10, 20, 5, 8, 2, 12: adds 20 and 8: 2 + 28 = 30,
		// ×1.2 = 36.
		{"two resets", []float64{10, 10, 20, 20, 30, 5, 40, 8, 50, 2, 60, 12}, time.Minute, 0.6, 36, 2.4},
		// 1, 11, ... 51: the counter would reach zero 50 × 1/50 = 1 s
		// before the first sample, which is sooner than the 10 s to the
		// start: extrapolate by 1 s only: 50 × 51/50 = 51.
		{"counter near zero", ramp(10, 1), time.Minute, 51.0 / 60, 51, 60},
		// A series that starts late in a 5m range: samples at 250..300 s,
		// 250 s from the start, beyond the threshold: extrapolate by half
		// an interval, 5 s: 50 × 55/50 = 55; rate 55/300.
		{"starts within range", ramp(250, 100), 5 * time.Minute, 55.0 / 300, 55, 55},
		// As above from 8: durationToZero = 50 × 8/50 = 8 s, which is not
		// below the 5 s of half an interval: 55. (Prometheus before 2.52
		// clamped to the zero point first and gave 58.)
		{"zero point beyond half interval", ramp(250, 8), 5 * time.Minute, 55.0 / 300, 55, 55},
		// A gauge going down: delta −50 × 1.2 = −60; as a counter every
		// step is a reset, adding its predecessor: −50 + 60 + 50 + 40 + 30
		// + 20 = 150; durationToZero = 50 × 60/150 = 20 > 10: ×1.2 = 180.
		{"falling", []float64{10, 60, 20, 50, 30, 40, 40, 30, 50, 20, 60, 10}, time.Minute, 3, 180, -60},
		// Only samples in (t−1m, t] count: the one at exactly t−1m (0 s)
		// is out, as in Prometheus 3 (left-open ranges).
		{"left-open", append([]float64{0, 1000}, ramp(10, 10)...), time.Minute, 1, 60, 60},
	}
	for _, c := range cases {
		for split := 0; split <= len(c.tv)/2; split += 3 {
			h := hist(split, c.tv...)
			rate := windowCall{fn: winRate, rng: int64(c.rng)}.eval(h)
			inc := windowCall{fn: winIncrease, rng: int64(c.rng)}.eval(h)
			delta := windowCall{fn: winDelta, rng: int64(c.rng)}.eval(h)
			require.InDelta(t, c.rate, rate, 1e-9, "%s: rate", c.name)
			require.InDelta(t, c.increase, inc, 1e-9, "%s: increase", c.name)
			require.InDelta(t, c.delta, delta, 1e-9, "%s: delta", c.name)
		}
	}
	// Fewer than two samples in the window: no result (NaN), as Prometheus
	// returns no series.
	for _, fn := range []winFunc{winRate, winIncrease, winDelta} {
		require.True(t, math.IsNaN(windowCall{fn: fn, rng: int64(time.Minute)}.eval(hist(0, 0, 1, 100, 2))))
		require.True(t, math.IsNaN(windowCall{fn: fn, rng: int64(time.Minute)}.eval(&History{})))
	}
}

func TestWindowOverTime(t *testing.T) {
	// 0:NaN?, no: values 4, 2, 8, 6 at 10..40 s; a sample at 0 s outside a
	// 35s window ending at 40 s (window (5, 40]).
	h := hist(2, 0, 100, 10, 4, 20, 2, 30, 8, 40, 6)
	f := func(fn winFunc, rng time.Duration, want float64) {
		t.Helper()
		got := windowCall{fn: fn, rng: int64(rng)}.eval(h)
		require.InDelta(t, want, got, 1e-12, windowFuncs[fn])
	}
	w := 35 * time.Second
	f(winAvg, w, 5)
	f(winMin, w, 2)
	f(winMax, w, 8)
	f(winSum, w, 20)
	f(winCount, w, 4)
	f(winStddev, w, math.Sqrt(5)) // deviations −1 −3 3 1: (1+9+9+1)/4
	f(winLast, w, 6)
	f(winChanges, w, 3)
	f(winResets, w, 2) // 4→2, 8→6
	f(winPrevious, 0, 8)
	f(winCount, time.Hour, 5)
	f(winMax, time.Hour, 100)
	// One sample: previous is NaN, count 1, avg the value.
	one := hist(0, 5, 7)
	require.True(t, math.IsNaN(windowCall{fn: winPrevious}.eval(one)))
	require.Equal(t, 1.0, windowCall{fn: winCount, rng: int64(time.Minute)}.eval(one))
	require.Equal(t, 7.0, windowCall{fn: winAvg, rng: int64(time.Minute)}.eval(one))
}

func TestWindowExpressions(t *testing.T) {
	e := NewEvaluator()
	h := hist(3, 10, 10, 20, 20, 30, 30, 40, 5, 50, 15, 60, 25) // increase(1m) = 54
	s := stream.NewSample("reconnects_total", stream.NewLabels("firmware", "4.2.1"), 60e9, 25, 0)
	f := func(expr string, want bool, fast bool) {
		t.Helper()
		r := compileRule(t, expr)
		require.Equal(t, fast, r.fast != nil, "fast path: %s", expr)
		require.True(t, r.UsesHistory(), expr)
		got, err := e.EvalHistory(r, &s, h)
		require.NoError(t, err, expr)
		require.Equal(t, want, got, expr)
		if r.fast != nil { // the VM agrees
			got, err := e.EvalHistory(vmOnly(r), &s, h)
			require.NoError(t, err, expr)
			require.Equal(t, want, got, "VM: %s", expr)
		}
		if !strings.HasPrefix(expr, "min(") { // a builtin's result is boxed by expr
			require.Zero(t, testing.AllocsPerRun(50, func() { _, _ = e.EvalHistory(r, &s, h) }), expr)
		}
	}
	f(`rate(1m) > 0.8`, true, true)
	f(`rate(1m) > 0.95`, false, true)
	f(`increase(1m) >= 54 && increase(1m) < 54.0001`, true, true)
	f(`rate(1m) * 60 > 50 && value > 1`, true, true)
	f(`(rate(1m) - rate(30s)) / 2 < 100`, true, true)
	f(`previous() == 15 && value > previous()`, true, true)
	f(`avg_over_time(25s) == 15 && max_over_time(1h) == 30`, true, true)
	f(`resets(1m) == 1 && changes(1m) == 5 && count_over_time(1m) == 6`, true, true)
	f(`rate( 1m ) > 0.8 or labels.firmware == "x"`, true, true)
	f(`rate("1m") > 0.8`, true, true) // the quoted form works too
	f(`len(labels.firmware) == 5 && rate(1m) > 0.8`, true, false)
	f(`min(rate(1m), 1) > 0.8`, true, false)
	f(`let r = rate(1m); r > 0.8 && r < 1`, true, false)

	// Without a history, a windowed rule sees the sample alone.
	r := compileRule(t, `count_over_time(5m) == 1 && !(rate(5m) > 0)`)
	got, err := e.Eval(r, &s)
	require.NoError(t, err)
	require.True(t, got)
}

func TestWindowParse(t *testing.T) {
	r := compileRule(t, `rate(5m) > 1 && avg_over_time(1h30m) < 3 || previous() > 0`)
	require.Equal(t, 90*time.Minute, r.Window)
	require.True(t, r.UsesHistory())
	r = compileRule(t, `previous() > value`)
	require.Equal(t, time.Duration(0), r.Window)
	require.True(t, r.UsesHistory())
	r = compileRule(t, `value > 1 && labels.rate == "x"`)
	require.False(t, r.UsesHistory())

	// Errors point at the offending character of the expression as
	// written (the quotes added around bare durations do not shift them).
	bad := func(expr, wantMsg string, wantCol int) {
		t.Helper()
		src := "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: " + expr + "\n"
		_, err := Parse("w.yaml", []byte(src))
		require.Error(t, err, expr)
		var errs Errors
		require.True(t, errors.As(err, &errs))
		require.Contains(t, errs[0].Error(), wantMsg, expr)
		require.Equal(t, 5, errs[0].Line, expr)
		require.Equal(t, 11+wantCol, errs[0].Col, "%s: %v", expr, errs[0])
	}
	bad(`rate(0s) > 1`, "window must be positive", 5)
	bad(`rate(5x) > 1`, `invalid duration "5x"`, 5)
	bad(`value > 1 && increase(2d) > 1`, "longer than the longest allowed", 22)
	bad(`rate(value) > 1`, "must be a constant duration", 5)
	bad(`rate(5m, "1m") > 1`, "takes one argument", 0)
	bad(`rate(5m, 1m) > 1`, "takes one argument", 0)
	bad(`value > 2 && rate( 5m ,1m, 3h) > 1`, "takes one argument", 13)
	bad(`previous(1m) > 1`, "previous() takes no argument", 0)
	bad(`rate(5m) + lables > 1`, "unknown name lables", 11)
	bad(`rate(5m) + rate(1m)`, "it gives float64", 0)
	bad(`delta(1m) > delta(2m) && nope`, "unknown name nope", 25)

	// At most 16 different windowed calls.
	var b strings.Builder
	for i := 1; i <= 17; i++ {
		if i > 1 {
			b.WriteString(" + ")
		}
		b.WriteString("rate(" + time.Duration(i*int(time.Minute)).String() + ")")
	}
	expr := strings.ReplaceAll(b.String(), "0s", "") + " > 0"
	_, err := Parse("w.yaml", []byte("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: "+expr+"\n"))
	require.ErrorContains(t, err, "at most 16")
}

func TestDurationLiterals(t *testing.T) {
	for _, c := range []struct{ in, out string }{
		{`rate(5m) > 1`, `rate("5m") > 1`},
		{`rate(1h30m)>x.rate(5m)`, `rate("1h30m")>x.rate(5m)`},
		{`"rate(5m)" == name // rate(5m)`, `"rate(5m)" == name // rate(5m)`},
		{`rate( 250ms ) /* rate(1m) */`, `rate( "250ms" ) /* rate(1m) */`},
		{`rate(5) + rate(m)`, `rate(5) + rate(m)`},
		{`prate(5m)`, `prate(5m)`},
		{`'it''s' + rate(1d)`, `'it''s' + rate("1d")`},
	} {
		got, ins := durationLiterals(c.in)
		require.Equal(t, c.out, got, c.in)
		require.Equal(t, strings.Count(c.out, `"`)-strings.Count(c.in, `"`), len(ins), c.in)
	}
	// Offsets map back.
	_, ins := durationLiterals(`rate(5m) + rate(10s) > x`)
	require.Equal(t, 0, origOffset(0, ins))
	require.Equal(t, 5, origOffset(6, ins)) // 5 of "5m"
	require.Equal(t, 11, origOffset(13, ins))
	require.Equal(t, 23, origOffset(27, ins)) // x
}

func TestCohortParse(t *testing.T) {
	rs, err := Parse("c.yaml", []byte(`groups:
- name: fleet
  rules:
  - alert: CohortStorm
    match: device_reconnects_total
    cohort: {by: [firmware], window: 5m}
    expr: cohort.rate / cohort.series >= 5 * others.rate / others.series && cohort.series >= 3
    labels: {severity: page}
`))
	require.NoError(t, err)
	r := rs.Rule(0)
	require.Equal(t, &Cohort{By: []string{"firmware"}, Window: 5 * time.Minute}, r.Cohort)
	require.Equal(t, 5*time.Minute, r.Window)
	require.Nil(t, r.fast)

	e := NewEvaluator()
	c := Aggregate{Series: 4, Samples: 40, Increase: 240, Rate: 0.8}
	o := Aggregate{Series: 100, Samples: 1000, Increase: 300, Rate: 1}
	ok, err := e.EvalCohort(r, stream.NewLabels("firmware", "4.2.1"), &c, &o, &o)
	require.NoError(t, err)
	require.True(t, ok) // 0.2 per series against 0.01
	c.Series = 2
	ok, err = e.EvalCohort(r, nil, &c, &o, &o)
	require.NoError(t, err)
	require.False(t, ok)
	_, err = e.Eval(r, testSample())
	require.ErrorIs(t, err, ErrExpr)

	bad := func(cohort, expr, want string, line, col int) {
		t.Helper()
		src := "groups:\n- name: g\n  rules:\n  - alert: A\n    cohort: " + cohort + "\n    expr: " + expr + "\n"
		_, err := Parse("c.yaml", []byte(src))
		require.Error(t, err)
		var errs Errors
		require.True(t, errors.As(err, &errs))
		require.Contains(t, errs[0].Error(), want)
		require.Equal(t, line, errs[0].Line, errs[0].Error())
		require.Equal(t, col, errs[0].Col, errs[0].Error())
	}
	bad(`{by: [firmware], window: 0s}`, `cohort.rate > 1`, "must be positive", 5, 38)
	bad(`{by: [firmware], window: 5m, every: 1m}`, `cohort.rate > 1`, `unknown field "every" in a cohort`, 5, 42)
	bad(`{window: 5m}`, `cohort.rate > 1`, `"by"`, 5, 13)
	bad(`{by: [firmware, firmware], window: 5m}`, `cohort.rate > 1`, `duplicate label "firmware"`, 5, 29)
	bad(`{by: [__name__], window: 5m}`, `cohort.rate > 1`, `"__name__"`, 5, 19)
	bad(`{by: [firmware], window: 5m}`, `value > 1`, "unknown name value", 6, 11)
	bad(`{by: [firmware], window: 5m}`, `cohort.rte > 1`, "rte", 6, 18)
	bad(`{by: [firmware], window: 5m}`, `rate(5m) > 1`, "unknown name rate", 6, 11)
	bad(`{by: [firmware], window: 5m}`, `cohort.rate`, "compare it, as in cohort.rate", 6, 11)
}

func TestCohortEqual(t *testing.T) {
	parse := func(cohort string) *Ruleset {
		rs, err := Parse("e.yaml", []byte("groups:\n- name: g\n  rules:\n  - {alert: A, cohort: "+cohort+", expr: 'cohort.avg > 1'}\n"))
		require.NoError(t, err)
		return rs
	}
	a := parse("{by: [fw], window: 5m}")
	require.True(t, a.Equal(parse("{by: [fw], window: 5m}")))
	require.False(t, a.Equal(parse("{by: [fw], window: 1m}")))
	require.False(t, a.Equal(parse("{by: [fw, model], window: 5m}")))
	require.False(t, a.Equal(parse("{by: [model], window: 5m}")))
}

// TestWindowedLevels: the conditions of levels and resolve may call
// windowed functions; each reads the history with its own windows, on the
// fast path and on the VM alike, and the rule keeps the longest window.
func TestWindowedLevels(t *testing.T) {
	rs, err := Parse("l.yaml", []byte(`
groups:
  - name: g
    rules:
      - alert: Reconnects
        match: reconnects_total
        levels:
          - {severity: warning, expr: 'rate(1m) > 0.5', resolve: 'rate(30s) < 0.1'}
          - {severity: critical, expr: 'increase(1m) > 50 && labels.firmware != ""', resolve: 'max_over_time(2m) < 100'}
`))
	require.NoError(t, err)
	r := rs.Rule(0)
	require.True(t, r.UsesHistory())
	require.Equal(t, 2*time.Minute, r.Window, "the longest window of any condition")
	e := NewEvaluator()
	s := stream.NewSample("reconnects_total", stream.NewLabels("firmware", "4.2.1"), 60e9, 25, 0)
	h := hist(3, 10, 10, 20, 20, 30, 30, 40, 5, 50, 15, 60, 25) // increase(1m) = 54, rate(1m) = 0.9
	for _, rule := range []*Rule{r, vmOnly(r)} {
		l, err := e.LevelHistory(rule, &s, h)
		require.NoError(t, err)
		require.Equal(t, 2, l, "critical: increase(1m) = 54")
		ok, err := e.ResolvesHistory(rule, 2, &s, h)
		require.NoError(t, err)
		require.True(t, ok, "max_over_time(2m) = 30 < 100")
		ok, err = e.ResolvesHistory(rule, 1, &s, h)
		require.NoError(t, err)
		require.False(t, ok, "rate(30s) = 0.5 is not < 0.1")
		require.Zero(t, testing.AllocsPerRun(20, func() { _, _ = e.LevelHistory(rule, &s, h) }))
	}
	// Without a history, the sample alone: too few samples, NaN, false.
	l, err := e.Level(r, &s)
	require.NoError(t, err)
	require.Zero(t, l)
}

// TestCohortRefusesLifecycleFields: a cohort rule's episodes have their
// own state machine, with for only.
func TestCohortRefusesLifecycleFields(t *testing.T) {
	_, err := Parse("c.yaml", []byte(`
groups:
  - name: g
    rules:
      - alert: Storm
        cohort: {by: [firmware], window: 1m}
        expr: cohort.rate > 1
        resolve: cohort.rate < 1
        keep_firing_for: 5m
`))
	var errs Errors
	require.ErrorAs(t, err, &errs)
	var got []string
	for _, e := range errs {
		got = append(got, e.Error())
	}
	require.Contains(t, got, `c.yaml:8:9: group "g": rule "Storm": conflicting fields: resolve does not apply to cohort rules`)
	require.Contains(t, got, `c.yaml:9:9: group "g": rule "Storm": conflicting fields: keep_firing_for does not apply to cohort rules`)
}
