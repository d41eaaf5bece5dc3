package rules

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPromQLHints checks the hint each typical PromQL form gets, and that
// the hints that suggest an expression suggest one that compiles.
func TestPromQLHints(t *testing.T) {
	f := func(src string, want ...string) {
		t.Helper()
		_, err := compileExprKind(src, sampleExpr)
		require.Error(t, err, "%s compiles", src)
		hint := promqlHint(src, sampleExpr)
		require.True(t, strings.HasPrefix(hint, "; "+promqlHintPrefix), "%s: %q", src, hint)
		require.Equal(t, 1, strings.Count(hint, promqlHintPrefix), hint)
		for _, w := range want {
			require.Contains(t, hint, w, src)
		}
		requireSuggestionCompiles(t, hint)
	}
	// The three of the issue.
	f(`absent(up)`, "absent_after", "series: [{match: up, absent_after: 5m}]")
	f(`rate(x[5m]) > 10`, "match: x and expr: rate(5m) > 10")
	f(`job:request_latency_seconds:mean5m{job="myjob"} > 0.5`,
		"job:request_latency_seconds:mean5m names a recording rule's output", "write match for the series it is computed from (request_latency_seconds")

	f(`absent(up{job="api"})`, `series: [{match: 'up{job="api"}', absent_after: 5m}]`)
	f(`absent_over_time(heartbeat[10m])`, "series: [{match: heartbeat, absent_after: 10m}]")
	f(`up == 0`, "match: up and expr: value == 0")
	f(`up{job="api"} == bool 0`, `match: 'up{job="api"}' and expr: value == 0`)
	f(`{__name__="up", job='a'} < 1`, `match: '{__name__="up", job=''a''}' and expr: value < 1`)
	f(`increase(errors_total{code=~"5.."}[1h]) > 0`, `match: 'errors_total{code=~"5.."}' and expr: increase(1h) > 0`)
	f("avg_over_time(cpu[10m]) > 0.9\n  and cpu > 0.95", "match: cpu and expr: avg_over_time(10m) > 0.9 and value > 0.95")
	f(`abs(temperature - 20) > 5`, "match: temperature and expr: abs(value - 20) > 5")
	f(`sum by (job) (rate(requests_total[5m])) > 100`, "cohort rule", "match: requests_total, cohort: {by: [job], window: 5m}")
	f(`sum(rate(requests_total[5m])) by (job, env) > 100`, "cohort: {by: [job, env], window: 5m}")
	f(`count without (instance) (up == 0) > 3`, "cohort rule", "by: [job]")
	f(`max(node_load1) > 4`, "cohort rule")
	f(`topk(3, rate(x[5m])) > 1`, "cohort rule")
	f(`a / on(instance) group_left b > 1`, "an expression over a and b has no equivalent")
	f(`sum(rate(errors_total[5m])) / sum(rate(requests_total[5m])) > 0.05`, "over errors_total and requests_total")
	f(`node_filesystem_avail_bytes{mountpoint="/"} / node_filesystem_size_bytes < 0.1`, "over node_filesystem_avail_bytes and node_filesystem_size_bytes")
	f(`up unless on(job) maintenance`, "over up and maintenance")
	f(`histogram_quantile(0.99, sum by (le) (rate(latency_bucket[5m]))) > 1`, "a histogram's buckets are separate series")
	f(`predict_linear(node_filesystem_free_bytes[1h], 4 * 3600) < 0`, "predict_linear() has no equivalent", "match: node_filesystem_free_bytes")
	f(`irate(x[1m]) > 5`, "irate() has no equivalent")
	f(`x offset 1h > 5`, "offset has no equivalent", "previous()")
	f(`max_over_time(rate(x[1m])[5m:1m]) > 1`, "a subquery has no equivalent")
	f(`time() - process_start_time_seconds < 60`, "time() has no equivalent")
	f(`vector(1)`, "vector() has no equivalent")
	f(`x @ 1700000000 > 1`, "@ has no equivalent")
}

// requireSuggestionCompiles checks that the expression a hint suggests,
// if any, compiles: a cohort rule's for a cohort rule, a rule's otherwise.
func requireSuggestionCompiles(t *testing.T, hint string) {
	t.Helper()
	_, expr, ok := strings.Cut(hint, " and expr: ")
	if !ok {
		return
	}
	kind := sampleExpr
	if strings.Contains(hint, "cohort: {") {
		kind = cohortExpr
	}
	_, err := compileExprKind(expr, kind)
	require.NoError(t, err, "the suggested %q", expr)
}

// TestNoPromQLHint checks that expressions written for rules, with
// mistakes that are not PromQL, get no hint: a name that is not in the
// environment beside names that are, misspellings of the environment,
// syntax errors, refused builtins.
func TestNoPromQLHint(t *testing.T) {
	for _, src := range []string{
		`value > 1 && foo`,
		`valu > 1`,
		`vaule > 1`,
		`value > 0.05 && lables.job == "api"`,
		`lables.job == "api"`,
		`value >`,
		`value > 1 &&`,
		`rat(5m) > 1`,
		`rate(5m) > threshold`,
		`reduce(1..3, # + 1) > 1`,
		`date("2024-13-01") < ts`,
		`labels.job == "api" && bar`,
		`name == "x" || quux`,
		`up`,
		`value`,
		`foo(1) > 2`,
	} {
		_, err := compileExprKind(src, sampleExpr)
		require.Error(t, err, "%s compiles", src)
		require.Empty(t, promqlHint(src, sampleExpr), src)
	}
}

// TestPromQLHintCohort checks that PromQL in a cohort rule is pointed at
// the cohort environment, not at value.
func TestPromQLHintCohort(t *testing.T) {
	for _, src := range []string{
		`sum by (firmware) (rate(reconnects_total[1m])) > 5`,
		`rate(reconnects_total[1m]) > 1`,
	} {
		_, err := compileExprKind(src, cohortExpr)
		require.Error(t, err)
		hint := promqlHint(src, cohortExpr)
		require.Contains(t, hint, "cohort.rate > 5 * others.rate", src)
		require.NotContains(t, hint, "value", src)
	}
	require.Empty(t, promqlHint(`cohort.rate > 5 * other.rate`, cohortExpr), "a misspelt aggregate is not PromQL")
}

// TestPromQLHintInParse checks that Parse appends the hint to the error
// of an expression at the position expr gives, for expr, resolve and a
// level's expr, and that the record field says what to write instead.
func TestPromQLHintInParse(t *testing.T) {
	src := `groups:
  - name: g
    rules:
      - alert: Down
        expr: up == 0
      - alert: Rate
        match: x
        expr: value > 1
        resolve: rate(x[5m]) < 1
      - alert: Levels
        levels:
          - {severity: warning, expr: 'absent(up{job="a"})'}
      - record: job:x:sum
        expr: sum by (job) (x)
`
	_, err := Parse("prom.yaml", []byte(src))
	requireErrors(t, err, "prom.yaml", []wantErr{
		{5, 15, ErrExpr, `rule "Down": invalid expression: unknown name up; this is PromQL, which faultline does not evaluate: a rule's match picks the series and its expr reads each sample; write match: up and expr: value == 0`},
		{9, 26, ErrExpr, `rule "Rate": invalid expression: bad number syntax: "5m"; this is PromQL`},
		{12, 49, ErrExpr, `rule "Levels": invalid expression: unexpected token Bracket("{"); this is PromQL: faultline raises absence itself`},
		{13, 9, ErrUnknownField, `recording rules are not supported: write an alerting rule, with alert, match and expr`},
		{13, 9, ErrMissing, `missing field "alert"`},
		{14, 19, ErrExpr, `invalid expression: unexpected token Identifier("by"); this is PromQL`},
	})
}

// FuzzPromQLHint checks that reading any text for PromQL does not panic,
// that a hint starts as every hint does, and that an expression it
// suggests compiles.
func FuzzPromQLHint(f *testing.F) {
	for _, s := range []string{
		`rate(x[5m]) > 10`, `absent(up)`, `job:a:b{c="d"} > 1`, `sum by (job) (rate(x[5m]))`,
		`x offset 5m`, `{__name__="x"}[5m:1m]`, `a / on(b) group_left(c) d`, `up == bool 0`,
		`"unterminated`, `'\`, "`raw", `x[`, `{`, `)(][}{`, `1e+`, `.5m`, `a?.b ?? c`,
	} {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, src string, cohort bool) {
		kind := sampleExpr
		if cohort {
			kind = cohortExpr
		}
		hint := promqlHint(src, kind)
		if hint == "" {
			return
		}
		if !strings.HasPrefix(hint, "; "+promqlHintPrefix) {
			t.Fatalf("%q: hint %q", src, hint)
		}
		requireSuggestionCompiles(t, hint)
	})
}

// TestPromQLHintByLabels checks that the cohort a hint suggests is named
// by the by labels of the expression, each once.
func TestPromQLHintByLabels(t *testing.T) {
	hint := promqlHint(`sum by (job) (rate(x{code="500"}[5m])) / sum by (job, env) (rate(x[5m])) > 0.05`, sampleExpr)
	require.Contains(t, hint, `match: 'x{code="500"}', cohort: {by: [job, env], window: 5m}`)
}
