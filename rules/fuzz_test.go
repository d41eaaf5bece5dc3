package rules

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/stream"
)

// FuzzParse checks that Parse never panics and keeps its contract on any
// input:
//
//   - it returns either a Ruleset or a non-empty Errors, never both;
//   - every error has a position (line >= 1) and a cause, names the file,
//     and the errors are sorted by position;
//   - it is deterministic: parsing again gives the same errors or an equal
//     Ruleset;
//   - the rules it accepts are well formed: Index is the position, the
//     alert name and the expression are not blank, labels and annotations
//     are sorted with unique names, and rule labels are not reserved;
//     series entries have a selector and no negative durations;
//   - Select and Series, which go through a name index, agree with a scan
//     of every selector;
//   - evaluating the rules does not panic, fails only with an *Error at the
//     rule's position, and the fast path agrees with the VM.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob("testdata/*.yaml")
	require.NoError(f, err)
	for _, file := range files {
		src, err := os.ReadFile(file)
		require.NoError(f, err)
		f.Add(src)
	}
	for _, s := range []string{
		"",
		"groups: []",
		"groups:\n- name: g\n  rules:\n  - {alert: A, expr: 'value > 1', match: 'up{a=~\"x|y\"}'}\n",
		"groups:\n- name: g\n  rules:\n  - alert: A\n    expr: |\n      labels.job == \"x\"\n        && lables.y\n",
		"series:\n- {match: '{a=\"1\"}', cadence: 1m, absent_after: 2m}\n",
		"a: &a [*a]\ngroups: *a\n",
		"groups:\n- name: g\n  rules:\n  - {alert: A, expr: 'value > 1', labels: {b: x, a: y}, annotations: {s: '{{ $value }}'}}\n  - {alert: B, match: up, expr: 'name == \"up\"'}\nseries:\n- {match: up, cadence: 10s}\n- {match: '{a=\"x\"}'}\n",
		// The alert lifecycle fields.
		"groups:\n- name: g\n  rules:\n  - alert: D\n    for: 2m\n    for_tolerance: 1\n    keep_firing_for: 5m\n    no_data: keep\n    flapping: {low: 20, high: 30}\n    levels:\n    - {severity: warning, expr: value > 0.8, resolve: value < 0.7}\n    - {severity: critical, expr: value > 0.95, resolve: value < 0.9}\n",
		"groups:\n- name: g\n  rules:\n  - {alert: H, expr: value > 80, resolve: value < 70, no_data: alert, flapping: {}, labels: {x: '{{ $labels.a }}-{{ $value }}'}}\n",
		"groups:\n- name: g\n  rules:\n  - {alert: Q, expr: value > 1, no_data: resolve, flapping: {high: 50}, for_tolerance: 255}\n",
		"groups:\n- name: g\n  rules:\n  - {alert: X, expr: value > 1, levels: [], flapping: {low: 9, high: 9}, for_tolerance: 256, labels: {severity: '{{'}}\n",
		"groups:\n- name: w\n  rules:\n  - {alert: R, match: reqs_total, expr: 'rate(5m) > 10 && previous() < value'}\n  - {alert: A, expr: 'avg_over_time(10m) > 0.9 && value > 1', for: 1m}\n  - {alert: B, expr: 'rate(0s) > 1 || increase(99y) > 1'}\n",
		"groups:\n- name: c\n  rules:\n  - alert: Storm\n    match: reconnects_total\n    cohort: {by: [firmware, model], window: 5m}\n    expr: cohort.rate / cohort.series >= 5 * others.rate / others.series && cohort.series >= 3 && labels.firmware != \"\"\n  - {alert: Bad, cohort: {by: [], window: 0s, x: 1}, expr: 'value > 1'}\n  - {alert: Bad2, cohort: [firmware], expr: 'cohort.avg > fleet.avg'}\n",
	} {
		f.Add([]byte(s))
	}
	samples := []stream.Sample{
		stream.NewSample("up", stream.NewLabels("a", "x", "job", "api"), 1e18, 1, 0),
		stream.NewSample("http_errors", stream.NewLabels("job", "api", "env", "prod", "instance", "web-1"), 0, math.NaN(), 0),
		stream.NewSample("", nil, -1, math.Inf(-1), 0),
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		rs, err := Parse("fuzz.yaml", src)
		rs2, err2 := Parse("fuzz.yaml", src)
		if err != nil {
			require.Nil(t, rs, "both a Ruleset and an error")
			var errs Errors
			require.True(t, errors.As(err, &errs) && len(errs) > 0, "error is not a non-empty Errors: %#v", err)
			for i, e := range errs {
				require.True(t, e.Line >= 1 && e.Col >= 0 && e.File == "fuzz.yaml" && e.Err != nil, "error without a position: %#v", e)
				require.True(t, strings.HasPrefix(e.Error(), "fuzz.yaml:"+strconv.Itoa(e.Line)+":"), "%q", e.Error())
				if i > 0 {
					p := errs[i-1]
					require.True(t, p.Line < e.Line || p.Line == e.Line && p.Col <= e.Col, "errors out of order: %v before %v", p, e)
				}
			}
			require.Error(t, err2)
			require.Equal(t, err.Error(), err2.Error(), "Parse is not deterministic")
			return
		}
		require.NoError(t, err2)
		require.True(t, rs.Equal(rs2), "Parse is not deterministic")

		for i, r := range rs.Rules() {
			require.Equal(t, i, r.Index)
			require.Same(t, r, rs.Rule(i))
			require.Equal(t, "fuzz.yaml", r.File)
			require.GreaterOrEqual(t, r.Line, 1)
			require.NotEmpty(t, strings.TrimSpace(r.Alert))
			require.NotEmpty(t, r.Levels)
			require.Equal(t, r.Expr == "", r.Levels[0].Severity != "", "a rule has expr or levels: %#v", r)
			severities := map[string]bool{}
			for _, l := range r.Levels {
				require.NotEmpty(t, strings.TrimSpace(l.Expr))
				require.False(t, severities[l.Severity], "duplicate severity %q", l.Severity)
				severities[l.Severity] = true
			}
			require.GreaterOrEqual(t, r.For, time.Duration(0))
			require.GreaterOrEqual(t, r.KeepFiringFor, time.Duration(0))
			require.True(t, r.ForTolerance >= 0 && r.ForTolerance <= 255)
			if fl := r.Flapping; fl.Enabled() {
				require.True(t, 0 <= fl.Low && fl.Low < fl.High && fl.High <= 100, "flapping %v", fl)
			}
			for j, l := range r.Labels {
				require.False(t, strings.HasPrefix(l.Name, "__") || l.Name == originLabel, "reserved rule label %q", l.Name)
				require.True(t, j == 0 || r.Labels[j-1].Name < l.Name, "labels not sorted and unique: %v", r.Labels)
			}
			for j, a := range r.Annotations {
				require.True(t, j == 0 || r.Annotations[j-1].Name < a.Name, "annotations not sorted and unique: %v", r.Annotations)
			}
		}
		for _, spec := range rs.SeriesSpecs() {
			require.NotNil(t, spec.Match)
			require.GreaterOrEqual(t, spec.Cadence, time.Duration(0))
			require.GreaterOrEqual(t, spec.AbsentAfter, time.Duration(0))
		}

		e := NewEvaluator()
		for _, s := range samples {
			var want []int
			for _, r := range rs.Rules() {
				if r.Matches(s.Name, s.Labels) {
					want = append(want, r.Index)
				}
			}
			require.Equal(t, want, rs.Select(s.Name, s.Labels, nil), "Select on %s%s", s.Name, s.Labels)
			spec, ok := rs.Series(s.Name, s.Labels)
			wantOK := false
			for _, sp := range rs.SeriesSpecs() {
				if sp.Match.Matches(s.Name, s.Labels) {
					require.True(t, ok, "Series misses an entry for %s%s", s.Name, s.Labels)
					require.Equal(t, sp, spec, "Series on %s%s: not the first entry", s.Name, s.Labels)
					wantOK = true
					break
				}
			}
			require.Equal(t, wantOK, ok)

			for _, r := range rs.Rules() {
				got, err := e.Eval(r, &s)
				if err != nil {
					checkEvalError(t, r, err)
				} else if r.fast != nil {
					vm, err := e.evalVM(r, &s)
					require.NoError(t, err)
					require.Equal(t, vm, got, "%q: fast path and VM disagree", r.Expr)
				}
				_, _ = r.ExpandAnnotations(s.Labels, s.Value)
				_, _ = r.ExpandLabels(s.Labels, s.Value)
				if l, err := e.Level(r, &s); err != nil {
					checkEvalError(t, r, err)
				} else {
					require.True(t, l >= 0 && l <= len(r.Levels))
					if held, err := e.Eval(r, &s); err == nil {
						require.Equal(t, l > 0, held, "Eval and Level disagree")
					}
				}
				for l := range len(r.Levels) + 1 {
					if _, err := e.Resolves(r, l, &s); err != nil {
						checkEvalError(t, r, err)
					}
				}
			}
		}
	})
}
