package ruletest

import (
	"errors"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/rules"
	"github.com/faultline-go/faultline/stream"
)

func TestParseSeriesValues(t *testing.T) {
	const o = math.MaxFloat64 // marks an omitted step in want
	for _, tc := range []struct {
		in   string
		want []float64
	}{
		{"1", []float64{1}},
		{"1+1x3 _ 5x2 stale", []float64{1, 2, 3, 4, o, 5, 5, 5, o}},
		{"-2+4x3", []float64{-2, 2, 6, 10}}, // promtool's examples
		{" 1-2x4", []float64{1, -1, -3, -5, -7}},
		{"_x3 1", []float64{o, o, o, 1}},
		{"1e3+1e2x1", []float64{1000, 1100}},
		{"1e-3-1e-3x1", []float64{0.001, 0}},
		{"Inf -Inf +Inf", []float64{math.Inf(1), math.Inf(-1), math.Inf(1)}},
		{"0x0", []float64{0}},
	} {
		got, _, err := ParseSeriesValues(tc.in, 100)
		require.NoError(t, err, tc.in)
		require.Len(t, got, len(tc.want), tc.in)
		for i, w := range tc.want {
			if w == o {
				require.True(t, got[i].Omitted, "%s: step %d", tc.in, i)
				continue
			}
			require.False(t, got[i].Omitted, "%s: step %d", tc.in, i)
			require.InDelta(t, w, got[i].Value, 1e-12, "%s: step %d", tc.in, i)
		}
	}
	got, _, err := ParseSeriesValues("NaN stale", 10)
	require.NoError(t, err)
	require.True(t, math.IsNaN(got[0].Value))
	require.True(t, got[1].Stale && got[1].Omitted)
}

func TestParseSeriesValuesErrors(t *testing.T) {
	for _, tc := range []struct {
		in  string
		off int // rune offset of the offending token
	}{
		{"1 2 abc", 4},
		{"1+x3", 0},
		{"1 1x-1", 2},
		{"1 1x+1", 2},
		{"stalex2", 0},
		{"1 2 1x200", 4}, // past the limit of 100 steps
		{"_x101", 0},
		{"1 ", 0}, // fine, for contrast: see below
		{"", 0},
		{"1+1", 0},
		{"1_000", 0},
	} {
		_, off, err := ParseSeriesValues(tc.in, 100)
		if tc.in == "1 " {
			require.NoError(t, err)
			continue
		}
		require.Error(t, err, tc.in)
		require.Equal(t, tc.off, off, "%s: %v", tc.in, err)
	}
}

func TestParseFile(t *testing.T) {
	tf, err := ParseFile("t.yaml", []byte(`
rule_files: [rules.yaml, 'more/*.yaml']
evaluation_interval: 30s
tests:
  - name: one
    start_timestamp: 2024-01-01T00:00:00Z
    input_series:
      - series: 'up{job="api", instance="a"}'
        values: '1x3 0'
    delivery:
      copies: 3
      lag: 5s
      redeliver_after: 10s
      late: [{series: 'up{instance="a"}', at: 1m, by: 2m}]
      restart_at: [1m, 90s]
      reload_at: [2m]
    alert_rule_test:
      - eval_time: 2m
        alertname: Down
        exp_alerts:
          - exp_labels: {job: api, instance: a}
            exp_annotations: {summary: down}
    transition_test:
      - exp_transitions: []
      - alertname: Down
        exp_transitions:
          - {at: 2m, state: firing, exp_labels: {job: api}}
  - interval: 1m
    input_series: [{series: x, values: '1'}]
    alert_rule_test: [{eval_time: 0, alertname: X}]
`))
	require.NoError(t, err)
	require.Equal(t, []string{"rules.yaml", "more/*.yaml"}, tf.RuleFiles)
	require.Equal(t, 30*time.Second, tf.EvaluationInterval)
	require.Len(t, tf.Tests, 2)
	g := tf.Tests[0]
	require.Equal(t, "one", g.Name)
	require.Equal(t, 30*time.Second, g.Interval, "the evaluation interval by default")
	require.Equal(t, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano(), g.Start)
	require.Equal(t, "up", g.Series[0].Name)
	require.Equal(t, stream.NewLabels("instance", "a", "job", "api"), g.Series[0].Labels)
	require.Len(t, g.Series[0].Values, 5)
	d := g.Delivery
	require.Equal(t, 3, d.Copies)
	require.Equal(t, 5*time.Second, d.Lag)
	require.Equal(t, 10*time.Second, d.RedeliverAfter)
	require.Equal(t, time.Minute, d.Late[0].At)
	require.Equal(t, 2*time.Minute, d.Late[0].By)
	require.True(t, d.Late[0].Match.Matches("up", g.Series[0].Labels))
	require.Equal(t, []time.Duration{time.Minute, 90 * time.Second}, d.RestartAt)
	require.Equal(t, []time.Duration{2 * time.Minute}, d.ReloadAt)
	require.Equal(t, []ExpAlert{{Labels: stream.NewLabels("instance", "a", "job", "api"), Annotations: stream.NewLabels("summary", "down")}}, g.AlertTests[0].ExpAlerts)
	require.Empty(t, g.TransitionTests[0].Alertname)
	require.Empty(t, g.TransitionTests[0].Transitions)
	tr := g.TransitionTests[1].Transitions[0]
	require.Equal(t, ExpTransition{At: 2 * time.Minute, State: "firing", Labels: stream.NewLabels("job", "api"), HasLabels: true, Line: 27, Col: 13}, tr)
	require.Equal(t, 1, tf.Tests[1].Delivery.Copies, "one copy by default")
	require.Equal(t, time.Minute, tf.Tests[1].Interval)
	require.Zero(t, tf.Tests[1].Start, "the Unix epoch by default, as promtool")
}

// TestParseFileErrors: every problem of a test file, each at its
// position.
func TestParseFileErrors(t *testing.T) {
	src := `rule_files: [rules.yaml]
tests:
  - name: bad
    input_series:
      - series: 'up{job=~"a.*"}'
        values: '1 2 three'
      - series: '{job="x"}'
        values: '1'
    delivery:
      copies: 0
      late: [{series: up, at: 1m}]
    alert_rule_test:
      - alertname: Down
    transition_test:
      - alertname: Down
        exp_transitions: [{at: 1m}]
      - alertname: Up
    bogus: 1
`
	_, err := ParseFile("t.yaml", []byte(src))
	var errs rules.Errors
	require.True(t, errors.As(err, &errs), "%v", err)
	var got []string
	for _, e := range errs {
		got = append(got, e.Error())
	}
	want := []string{
		`t.yaml:5:21: series: invalid selector: job=~"a.*": a series has labels, not matchers: use =`,
		`t.yaml:6:22: values: invalid series values "three": want a, a+bxn, a-bxn, axn, _, _xn or stale`,
		`t.yaml:7:18: series: invalid selector: "{job=\"x\"}" has no metric name`,
		`t.yaml:10:15: invalid value: copies "0": want a whole number from 1 to 100`,
		`t.yaml:11:14: missing field "by"`,
		`t.yaml:13:9: missing field "eval_time"`,
		`t.yaml:16:27: missing field "state"`,
		`t.yaml:17:9: missing field "exp_transitions": list the transitions, or [] for none`,
		`t.yaml:18:5: unknown field "bogus" in a test (want name, interval, start_timestamp, input_series, delivery, alert_rule_test, transition_test)`,
	}
	require.Equal(t, want, got, strings.Join(got, "\n"))

	_, err = ParseFile("e.yaml", nil)
	require.ErrorContains(t, err, `e.yaml:1: missing field "tests"`)
	// A file that is not YAML is not said to be empty as well.
	_, err = ParseFile("s.yaml", []byte("rule_files: [r.yaml]\n  bad: : x\n"))
	require.EqualError(t, err, `s.yaml:2: YAML syntax error: did not find expected key`)
	_, err = ParseFile("r.yaml", []byte("tests: []\n"))
	require.ErrorContains(t, err, `r.yaml:1:1: missing field "rule_files"`)
	_, err = ParseFile("big.yaml", []byte("rule_files: [r]\ntests:\n  - input_series: [{series: x, values: '1x600000'}, {series: y, values: '1x600000'}]\n    transition_test: [{exp_transitions: []}]\n"))
	require.EqualError(t, err, `big.yaml:3:74: values: invalid series values "1x600000": more than 1000000 steps in all`)
}

// FuzzParseTestFile: no input panics; an invalid file gives a non-empty
// rules.Errors, each error positioned and in order; a valid one keeps the
// format's bounds.
func FuzzParseTestFile(f *testing.F) {
	for _, s := range []string{
		"",
		"rule_files: [r.yaml]\ntests:\n  - input_series: [{series: 'up{a=\"1\"}', values: '1+1x3 _x2 stale -Inf'}]\n    transition_test: [{exp_transitions: []}]\n",
		"rule_files: [r.yaml]\nevaluation_interval: 30s\ntests:\n  - name: t\n    start_timestamp: 1700000000\n    delivery: {copies: 4, lag: 5s, redeliver_after: 20s, late: [{series: up, at: 1m, by: 2m}], restart_at: [3m]}\n    input_series: [{series: up, values: '0 1x5'}]\n    alert_rule_test: [{eval_time: 2m, alertname: A, exp_alerts: [{exp_labels: {a: b}, exp_annotations: {s: x}}]}]\n    transition_test: [{alertname: A, exp_transitions: [{at: 1m, state: firing, exp_labels: {}}]}]\n",
		"rule_files: [r]\ntests: [{input_series: [{series: x, values: '1x999999999'}], transition_test: []}]\n",
		"a: &a [*a, *a]\ntests: *a\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		tf, err := ParseFile("fuzz.yaml", src)
		if err != nil {
			require.Nil(t, tf)
			var errs rules.Errors
			require.True(t, errors.As(err, &errs) && len(errs) > 0, "error is not a non-empty Errors: %#v", err)
			for i, e := range errs {
				require.True(t, e.Line >= 1 && e.Col >= 0 && e.File == "fuzz.yaml", "error without a position: %#v", e)
				if i > 0 {
					p := errs[i-1]
					require.True(t, p.Line < e.Line || p.Line == e.Line && p.Col <= e.Col, "errors out of order: %v before %v", p, e)
				}
			}
			return
		}
		require.NotEmpty(t, tf.RuleFiles)
		require.Positive(t, tf.EvaluationInterval)
		for _, g := range tf.Tests {
			require.Positive(t, g.Interval)
			require.True(t, g.Delivery.Copies >= 1 && g.Delivery.Copies <= MaxCopies)
			steps := 0
			for _, in := range g.Series {
				require.NotEmpty(t, in.Name)
				require.NotEmpty(t, in.Values)
				require.True(t, in.Labels.IsSorted())
				steps += len(in.Values)
			}
			require.LessOrEqual(t, steps, MaxSteps)
		}
	})
}

// TestStepBoundHoldsWhileExpanding: MaxSteps is there so that a short
// notation cannot expand into gigabytes, but it was checked only once every
// series of a test had been expanded: a 400-byte file of one series
// '1x999999' and 20 aliases of it allocated 21 million steps (over 300 MB)
// before being refused. The bound now holds while expanding, and the
// problem of the aliased node is reported once.
func TestStepBoundHoldsWhileExpanding(t *testing.T) {
	src := "rule_files: [r.yaml]\ntests:\n  - input_series:\n      - &s {series: x, values: '1x999999'}\n" +
		strings.Repeat("      - *s\n", 20) +
		"    transition_test: [{exp_transitions: []}]\n"
	allocated, err := parseAllocating("bomb.yaml", src)
	require.EqualError(t, err, `bomb.yaml:4:33: values: invalid series values "1x999999": more than 1000000 steps in all`)
	require.Less(t, allocated, uint64(128<<20), "bytes allocated to refuse the file")
}

// TestErrorCausesAreRules: ParseFile's errors wrap rules' causes, so a Go
// program can tell them apart with errors.Is: a value out of its range or
// of the wrong form is rules.ErrValue (rules.ErrType is a node of the wrong
// YAML kind). Series values wrapped a cause of this package's own, and
// copies and start_timestamp wrapped ErrType.
func TestErrorCausesAreRules(t *testing.T) {
	for src, want := range map[string]error{
		"values: '1 abc'":                             rules.ErrValue,
		"values: '1x2000000'":                         rules.ErrValue,
		"values: '1'\n    delivery: {copies: 0}":      rules.ErrValue,
		"values: '1'\n    start_timestamp: yesterday": rules.ErrValue,
	} {
		_, err := ParseFile("t.yaml", []byte("rule_files: [r.yaml]\ntests:\n  - input_series:\n      - series: x\n        "+src+"\n    transition_test: [{exp_transitions: []}]\n"))
		var errs rules.Errors
		require.True(t, errors.As(err, &errs) && len(errs) == 1, "%s: %v", src, err)
		require.ErrorIs(t, errs[0], want, src)
	}
}

// TestFileStepBound: aliases of a whole test cannot multiply MaxSteps, as
// aliases of a series cannot: a file's tests have MaxFileSteps in all.
func TestFileStepBound(t *testing.T) {
	src := "rule_files: [r.yaml]\ntests:\n  - &t\n    input_series: [{series: x, values: '1x999999'}]\n    transition_test: [{exp_transitions: []}]\n" +
		strings.Repeat("  - *t\n", 9)
	allocated, err := parseAllocating("bomb.yaml", src)
	require.EqualError(t, err, `bomb.yaml:4:41: values: invalid series values "1x999999": more than 5000000 steps in all`)
	require.Less(t, allocated, uint64(512<<20), "bytes allocated to refuse the file")

	ok := "rule_files: [r.yaml]\ntests:\n  - &t\n    input_series: [{series: x, values: '1x999999'}]\n    transition_test: [{exp_transitions: []}]\n" +
		strings.Repeat("  - *t\n", 4)
	f, err := ParseFile("five.yaml", []byte(ok))
	require.NoError(t, err, "five tests at the test's bound")
	require.Len(t, f.Tests, 5)
}

// TestTransitionTypos: a misspelt state or kind of an expected transition
// is refused when the file is read, with its position, not reported later
// as a transition that never came.
func TestTransitionTypos(t *testing.T) {
	src := "rule_files: [r.yaml]\ntests:\n  - input_series: [{series: x, values: '1'}]\n" +
		"    transition_test:\n      - exp_transitions:\n          - {at: 1m, state: fireing}\n          - {at: 2m, state: resolved, kind: threshhold}\n"
	_, err := ParseFile("typo.yaml", []byte(src))
	var errs rules.Errors
	require.True(t, errors.As(err, &errs), "%v", err)
	require.Len(t, errs, 2, "%v", err)
	require.ErrorIs(t, errs[0], rules.ErrValue)
	require.Contains(t, errs[0].Error(), `typo.yaml:6:29: `)
	require.Contains(t, errs[0].Error(), `"fireing": want pending, firing or resolved`)
	require.Contains(t, errs[1].Error(), `typo.yaml:7:45: `)
	require.Contains(t, errs[1].Error(), `"threshhold": want one of [threshold absence`)
}

// parseAllocating parses a test file and returns the bytes allocated
// meanwhile and ParseFile's error.
func parseAllocating(name, src string) (uint64, error) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := ParseFile(name, []byte(src))
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc, err
}

// TestDuplicateInputSeries: two input series of one test with the same
// name and labels (an empty label is no label) are one series to the
// engine, whose samples the first delivered of each time wins: '0x3'
// below was silently dropped for the '95x3' before it, and a test
// expecting nothing to fire failed for a reason its file did not show.
// promtool refuses such input (a duplicate sample); so does ParseFile,
// at the second entry.
func TestDuplicateInputSeries(t *testing.T) {
	_, err := ParseFile("t.yaml", []byte(`rule_files: [rules.yaml]
tests:
  - input_series:
      - series: 'cpu{host="a"}'
        values: '95x3'
      - series: 'cpu{zone="", host="a"}'
        values: '0x3'
      - series: 'cpu{host="b"}'
        values: '0x3'
    alert_rule_test: [{eval_time: 1m, alertname: High}]
  - input_series:
      - series: 'cpu{host="a"}'
        values: '1'
    alert_rule_test: [{eval_time: 1m, alertname: High}]
`))
	var errs rules.Errors
	require.True(t, errors.As(err, &errs), "%v", err)
	require.Len(t, errs, 1)
	require.Equal(t, `t.yaml:6:9: duplicate input series cpu{host="a"} (first at line 4)`, errs[0].Error())
	require.ErrorIs(t, errs[0], rules.ErrDuplicate)
}
