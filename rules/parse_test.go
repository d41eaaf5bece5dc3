package rules

import (
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/alert"
	"github.com/faultline-go/faultline/stream"
)

func parseFixture(t *testing.T, name string) (*Ruleset, error) {
	t.Helper()
	path := filepath.Join("testdata", name)
	src, err := os.ReadFile(path)
	require.NoError(t, err)
	return Parse(path, src)
}

func TestParseGoodFixtures(t *testing.T) {
	files, err := filepath.Glob("testdata/*.good.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			rs, err := parseFixture(t, filepath.Base(f))
			require.NoError(t, err)
			require.NotNil(t, rs)
		})
	}
}

func TestParseFull(t *testing.T) {
	rs, err := parseFixture(t, "full.good.yaml")
	require.NoError(t, err)
	rules := rs.Rules()
	require.Len(t, rules, 4)
	require.Equal(t, 4, rs.Len())

	type want struct {
		group, alert, match string
		forD                time.Duration
		line, col           int
	}
	wants := []want{
		{"api", "HighErrorRate", `http_errors{job="api", env=~"prod|stage"}`, 2 * time.Minute, 5, 9},
		{"api", "OfficeHours", "", 90 * time.Minute, 14, 9},
		{"fleet", "Reconnects", `{__name__=~"reconnects_.*", firmware!=""}`, 0, 22, 9},
		{"fleet", "AnySeries", "", 0, 27, 9},
	}
	for i, w := range wants {
		r := rules[i]
		require.Equal(t, i, r.Index)
		require.Same(t, r, rs.Rule(i))
		require.Equal(t, w.group, r.Group)
		require.Equal(t, w.alert, r.Alert)
		require.Equal(t, w.forD, r.For)
		require.Equal(t, filepath.Join("testdata", "full.good.yaml"), r.File)
		require.Equal(t, w.line, r.Line, r.Alert)
		require.Equal(t, w.col, r.Col, r.Alert)
		if w.match == "" {
			require.Nil(t, r.Match)
		} else {
			require.Equal(t, w.match, r.Match.String())
		}
	}
	require.Equal(t, "value > 0.05 && labels.job == \"api\"", rules[0].Expr)
	require.Equal(t, "value > 100\n  && ts.Hour() >= 8\n  && ts.Hour() < 20\n", rules[1].Expr)
	require.Equal(t, "labels.firmware in [\"1.2.0\", \"1.2.1\"] and value > 50", rules[2].Expr)

	require.Equal(t, stream.NewLabels("severity", "page"), rules[0].Labels)
	require.Equal(t, stream.NewLabels("severity", "ticket", "team", "core"), rules[3].Labels)
	require.True(t, rules[3].Labels.IsSorted())
	require.Equal(t, stream.Labels{
		{Name: "description", Value: "Error ratio {{ $value | humanizePercentage }} for job {{ $labels.job }}.\n"},
		{Name: "summary", Value: "errors at {{ $value }} on {{ $labels.instance }}"},
	}, rules[0].Annotations)

	specs := rs.SeriesSpecs()
	require.Len(t, specs, 2)
	require.Equal(t, `check_up{region="eu"}`, specs[0].Match.String())
	require.Equal(t, time.Minute, specs[0].Cadence)
	require.Equal(t, 5*time.Minute, specs[0].AbsentAfter)
	require.Equal(t, 33, specs[0].Line)
	require.Equal(t, 5, specs[0].Col)
	require.Equal(t, `{job="batch"}`, specs[1].Match.String())
	require.Zero(t, specs[1].Cadence)
	require.Zero(t, specs[1].AbsentAfter)
}

// wantErr is one expected problem of a bad fixture.
type wantErr struct {
	line, col int
	sentinel  error
	substr    string
}

func requireErrors(t *testing.T, err error, file string, want []wantErr) {
	t.Helper()
	require.Error(t, err)
	var errs Errors
	require.ErrorAs(t, err, &errs)
	var got []string
	for _, e := range errs {
		got = append(got, e.Error())
	}
	require.Len(t, errs, len(want), "got:\n%s", strings.Join(got, "\n"))
	for i, w := range want {
		e := errs[i]
		require.Equal(t, file, e.File)
		require.Equal(t, w.line, e.Line, "error %d: %s", i, e)
		require.Equal(t, w.col, e.Col, "error %d: %s", i, e)
		require.ErrorIs(t, e, w.sentinel, "error %d: %s", i, e)
		require.Contains(t, e.Error(), w.substr, "error %d", i)
	}
}

// TestParseThreeMistakes is the acceptance test of the issue: a file with
// an unknown field, a bad duration and an expression that does not compile
// gets all three reported, with line:col.
func TestParseThreeMistakes(t *testing.T) {
	rs, err := parseFixture(t, "three_mistakes.bad.yaml")
	require.Nil(t, rs)
	file := filepath.Join("testdata", "three_mistakes.bad.yaml")
	requireErrors(t, err, file, []wantErr{
		{7, 9, ErrUnknownField, `unknown field "severity"`},
		{10, 14, ErrDuration, `rule "SlowRequests": for: invalid duration "5 minutes"`},
		{12, 31, ErrExpr, `rule "BrokenExpr": invalid expression: unknown name lables`},
	})
	require.Equal(t, file+`:7:9: group "api": rule "HighErrorRate": unknown field "severity" in a rule (want alert, match, expr, resolve, levels, for, for_tolerance, keep_firing_for, no_data, flapping, labels, annotations, cohort)`,
		err.(Errors)[0].Error())
	require.Len(t, strings.Split(err.Error(), "\n"), 3)
}

func TestParseBadFixtures(t *testing.T) {
	cases := map[string][]wantErr{
		"structure.bad.yaml": {
			{3, 5, ErrUnknownField, `unknown field "interval" in a group`},
			{5, 9, ErrMissing, `group "api": missing field "alert"`},
			{6, 9, ErrMissing, `rule "NoExpr": missing field "expr"`},
			{9, 9, ErrDuplicate, `duplicate field "expr" (first at line 8)`},
			{10, 16, ErrMissing, `missing field "alert": it is empty`},
			{12, 9, ErrUnknownField, `recording rules are not supported`},
			{12, 9, ErrMissing, `missing field "alert"`},
			{13, 15, ErrNotBool, `it gives float64`},
			{14, 11, ErrDuplicate, `duplicate group name "api" (first at line 2)`},
			{15, 12, ErrType, `rules must be a list, not a mapping`},
			{16, 5, ErrMissing, `missing field "name"`},
			{19, 5, ErrType, `a group must be a mapping, not a scalar`},
			{21, 3, ErrType, `series must be a list, not a mapping`},
		},
		"values.bad.yaml": {
			{5, 39, ErrSelector, `unexpected 'e', want ',' or '}'`},
			{8, 23, ErrSelector, "bad regex for label \"env\": error parsing regexp: missing closing ): `prod|(`"},
			{11, 15, ErrNotBool, `rule "NotBool": expression is not boolean`},
			{15, 11, ErrLabelName, `"__reserved" in labels: names starting with __ are reserved`},
			{16, 11, ErrLabelName, `"bad-name" in labels`},
			{17, 15, ErrType, `value of label "ok" must be a string, not a list`},
			{21, 21, ErrTemplate, `annotation "summary": invalid template: unclosed action`},
			{22, 11, ErrLabelName, `"bad name" in annotations`},
			{25, 14, ErrDuration, `"-5m": must not be negative`},
			{27, 15, ErrType, `expr must be a string, not a list`},
			{28, 14, ErrType, `for must be a string, not a mapping`},
			{30, 5, ErrMissing, `missing field "match"`},
			{32, 14, ErrDuration, `cadence: invalid duration "0": must be positive`},
			{33, 19, ErrDuration, `absent_after: invalid duration "1.5m": unexpected "."`},
			{35, 14, ErrDuration, `cadence: invalid duration "-10s": must not be negative`},
			{36, 5, ErrUnknownField, `unknown field "every" in a series entry`},
			{39, 19, ErrValue, `absent_after 24h0m0s is more than 65535 cadences of 1s`},
			// 18h12m15s is 65535 s: allowed.
		},
		// The alert lifecycle fields: each error at its node.
		"lifecycle.bad.yaml": {
			{5, 9, ErrConflict, `rule "Both": conflicting fields: expr and levels exclude each other`},
			{6, 9, ErrConflict, `resolve and levels exclude each other`},
			{10, 22, ErrNotBool, `it gives float64`},
			{11, 23, ErrDuplicate, `duplicate severity "warning" (first at line 8)`},
			{12, 19, ErrExpr, `unknown name valu`},
			{13, 13, ErrMissing, `missing field "severity"`},
			{14, 13, ErrUnknownField, `unknown field "when" in a level (want severity, expr, resolve)`},
			{17, 24, ErrValue, `for_tolerance "-1": want an integer from 0 to 255`},
			{18, 26, ErrDuration, `keep_firing_for: invalid duration "5 minutes"`},
			{19, 18, ErrValue, `no_data "ignore": want keep, resolve or alert`},
			{20, 19, ErrValue, `flapping low 40 must be below high 30`},
			{20, 39, ErrUnknownField, `unknown field "window" in flapping (want low, high)`},
			{22, 9, ErrConflict, `rule "MoreValues": conflicting fields: expr and levels`},
			{23, 24, ErrType, `for_tolerance must be an integer, not a list`},
			{24, 26, ErrValue, `high "101": want a percentage from 0 to 100`},
			{25, 17, ErrMissing, `missing field "levels": it is empty`},
			{26, 28, ErrConflict, `label severity and levels exclude each other`},
			{26, 38, ErrTemplate, `label "x": invalid template: unclosed action`},
			{30, 28, ErrConflict, `rule "SeverityTwice": conflicting fields: label severity`},
			{32, 19, ErrType, `flapping must be a mapping, not a scalar`},
			{34, 13, ErrMissing, `rule "NoLevelExpr": missing field "expr"`},
			{34, 42, ErrMissing, `missing field "resolve": it is empty`},
			// 12 decimals (FineThresholds, line 37) compare exactly; more do not.
			{40, 26, ErrValue, `high "30.000000000000001": want at most 12 digits after the decimal point`},
		},
		// Expression and template errors point inside the value, whatever
		// the style of the YAML scalar.
		"expr_positions.bad.yaml": {
			{5, 28, ErrExpr, `rule "Plain": invalid expression: unknown name foo`},
			{7, 41, ErrExpr, `unknown name bar`},
			{9, 46, ErrExpr, `unknown name baz`},
			{13, 16, ErrExpr, `unknown name qux`},
			{17, 14, ErrExpr, `unknown name quux`},
			{20, 14, ErrExpr, `unknown name corge`},
			{26, 25, ErrTemplate, `function "nope" not defined`},
		},
		// The decoder says line 4, where the list began; the key that is
		// indented wrongly is on line 6. The column is unknown.
		"syntax.bad.yaml": {
			{6, 0, ErrSyntax, `YAML syntax error: did not find expected '-' indicator`},
		},
	}
	files, err := filepath.Glob("testdata/*.bad.yaml")
	require.NoError(t, err)
	require.Len(t, files, len(cases)+1) // + three_mistakes.bad.yaml
	for name, want := range cases {
		t.Run(name, func(t *testing.T) {
			rs, err := parseFixture(t, name)
			require.Nil(t, rs)
			requireErrors(t, err, filepath.Join("testdata", name), want)
		})
	}
}

func TestParseSmall(t *testing.T) {
	ok := func(src string, rules, series int) {
		t.Helper()
		rs, err := Parse("f.yaml", []byte(src))
		require.NoError(t, err)
		require.Equal(t, rules, rs.Len())
		require.Len(t, rs.SeriesSpecs(), series)
	}
	ok("", 0, 0)
	ok("# only a comment\n", 0, 0)
	ok("~\n", 0, 0)
	ok("{}\n", 0, 0)
	ok("groups:\n", 0, 0)
	ok("groups: []\nseries: []\n", 0, 0)
	ok("groups:\n- name: g\n", 0, 0)
	ok("groups:\n- name: g\n  rules: []\n", 0, 0)
	ok("groups:\n- name: g\n  rules:\n  - {alert: A, expr: 'value > 1', for: 0}\n", 1, 0)
	ok("groups:\n- name: g\n  rules:\n  - {alert: 1, expr: true}\n", 1, 0)
	// Anchors and aliases are resolved.
	ok("groups:\n- name: g\n  rules:\n  - {alert: A, expr: 'value > 1', labels: &l {severity: page}}\n  - {alert: B, expr: 'value > 2', labels: *l}\n", 2, 0)
	ok("series:\n- match: 'up'\n  cadence: 1m\n", 0, 1)

	bad := func(src string, line, col int, sentinel error, substr string) {
		t.Helper()
		_, err := Parse("f.yaml", []byte(src))
		requireErrors(t, err, "f.yaml", []wantErr{{line, col, sentinel, substr}})
	}
	bad("groups: 5\n", 1, 9, ErrType, "groups must be a list, not a scalar")
	bad("- a\n", 1, 1, ErrType, "the rule file must be a mapping, not a list")
	bad("rules: []\n", 1, 1, ErrUnknownField, `unknown field "rules" in the rule file (want groups, series)`)
	bad("groups: []\n---\ngroups: []\n", 2, 1, ErrSyntax, "one YAML document")
	bad("a: b: c\n", 1, 0, ErrSyntax, "mapping values are not allowed")
	bad("groups:\n- name: g\n  rules:\n  - {alert: A, expr: 'value > 1', labels: *nope}\n", 4, 43, ErrSyntax, "unknown anchor 'nope' referenced")
	bad("groups:\n- name: g\n  rules:\n  - {alert: A, expr: 'value > 1', for: 1h1h}\n", 4, 40, ErrDuration, "units must go from largest to smallest")
	bad("groups:\n- name: g\n  rules:\n  - {alert: A, expr: 'now() > ts'}\n", 4, 23, ErrExpr, "unknown name now")
	bad("groups:\n- name: g\n  rules:\n  - {alert: A, expr: '$env.value > 1'}\n", 4, 23, ErrExpr, "$env is not available")
	bad("groups:\n- name: g\n  rules:\n  - {alert: A, expr: 'labels.job + 1 > 0'}\n", 4, 34, ErrExpr, "invalid operation")
	bad("groups:\n- name: g\n  rules:\n  - {alert: A, expr: 'labels.job'}\n", 4, 23, ErrNotBool, "it gives string")
	bad("groups:\n- name: g\n  rules:\n  - {alert: A, expr: 'value > 1', match: ''}\n", 4, 43, ErrSelector, "empty selector")
	bad("groups:\n- name: g\n  rules:\n  - {alert: A, match: x, cohort: {by: [a, b, c, d, e, f, g, h, i], window: 1m}, expr: 'cohort.avg > 1'}\n", 4, 39, ErrValue, "a cohort is named by at most 8 labels")
	// Windows line ends.
	bad("groups:\r\n- name: g\r\n  rules:\r\n  - alert: A\r\n    expr: |\r\n      value > 1\r\n        && foo\r\n", 7, 12, ErrExpr, "unknown name foo")
	// Where the value cannot be replayed (a tag before it), the value's node.
	bad("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: !!str value > foo\n", 5, 11, ErrExpr, "unknown name foo")
	// A comment after a plain scalar is not part of it.
	bad("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: value > foo # foo\n", 5, 19, ErrExpr, "unknown name foo")
	// An unfinished expression: expr points at its last token.
	bad("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: \"value >\"\n", 5, 18, ErrExpr, "unexpected token EOF")
}

func TestParseMergeKey(t *testing.T) {
	_, err := Parse("f.yaml", []byte("base: &b {alert: A}\n"))
	require.ErrorIs(t, err, ErrUnknownField)
	_, err = Parse("f.yaml", []byte("groups:\n- name: g\n  rules:\n  - &r {alert: A, expr: 'value > 1'}\n  - <<: *r\n    alert: B\n"))
	requireErrors(t, err, "f.yaml", []wantErr{
		{5, 5, ErrUnknownField, "merge keys (<<) are not supported"},
		{5, 5, ErrMissing, `missing field "expr"`},
	})
}

func TestParseAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("groups:\n- &g\n  name: g\n  rules:\n")
	for range 200 {
		b.WriteString("  - {alert: A, expr: 'value > 1'}\n")
	}
	b.WriteString("- *g\n")
	for range 100 {
		b.WriteString("- *g\n")
	}
	_, err := Parse("f.yaml", []byte(b.String()))
	require.ErrorIs(t, err, ErrSyntax)
	require.Contains(t, err.Error(), "aliases expand to more than")
}

// TestFileNamedTwiceIsReadOnce: a rule file named twice, as rules/*.yaml
// and rules/disk.yaml both do, gave two copies of each of its rules, so
// every alert was raised twice, with the same event IDs. Prometheus keys
// rule groups by file and name, so a file named twice loads once; ParseFiles
// and ReadSources read each file once too, at its first place.
func TestFileNamedTwiceIsReadOnce(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.yaml")
	b := filepath.Join(dir, "b.yaml")
	require.NoError(t, os.WriteFile(a, []byte("groups:\n- name: a\n  rules:\n  - {alert: A, expr: 'value > 1'}\n"), 0o600))
	require.NoError(t, os.WriteFile(b, []byte("groups:\n- name: b\n  rules:\n  - {alert: B, expr: 'value > 1'}\n"), 0o600))
	again := dir + "/./a.yaml" // the same file, spelled otherwise
	rs, err := ParseFiles(a, b, a, again)
	require.NoError(t, err)
	var names []string
	for _, r := range rs.Rules() {
		names = append(names, r.Alert)
	}
	require.Equal(t, []string{"A", "B"}, names)

	srcs, err := ReadSources(a, b, again)
	require.NoError(t, err)
	require.Len(t, srcs, 2)
	require.Equal(t, a, srcs[0].Name)
	require.Equal(t, b, srcs[1].Name)
}

func TestParseFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(src), 0o600))
		return p
	}
	a := write("a.yaml", "groups:\n- name: a\n  rules:\n  - {alert: A1, expr: 'value > 1'}\n  - {alert: A2, expr: 'value > 2'}\n")
	b := write("b.yaml", "groups:\n- name: a\n  rules:\n  - {alert: B1, expr: 'value > 3'}\nseries:\n- match: up\n")
	rs, err := ParseFiles(a, b)
	require.NoError(t, err)
	rules := rs.Rules()
	require.Len(t, rules, 3)
	for i, r := range rules {
		require.Equal(t, i, r.Index)
	}
	require.Equal(t, []string{"A1", "A2", "B1"}, []string{rules[0].Alert, rules[1].Alert, rules[2].Alert})
	require.Equal(t, a, rules[1].File)
	require.Equal(t, b, rules[2].File)
	require.Len(t, rs.SeriesSpecs(), 1)

	// Errors of all files come together, a missing file included, in the
	// order the files were given.
	bad1 := write("bad1.yaml", "groups:\n- name: x\n  rules:\n  - {alert: X, expr: 'value >'}\n  - {alert: Y, expr: 'value > 1', for: 1x}\n")
	missing := filepath.Join(dir, "missing.yaml")
	bad2 := write("bad2.yaml", "groups:\n- name: x\n  bogus: 1\n")
	rs, err = ParseFiles(bad1, missing, a, bad2)
	require.Nil(t, rs)
	var errs Errors
	require.ErrorAs(t, err, &errs)
	require.Len(t, errs, 4, err.Error())
	require.Equal(t, bad1, errs[0].File)
	require.ErrorIs(t, errs[0], ErrExpr)
	require.Equal(t, bad1, errs[1].File)
	require.ErrorIs(t, errs[1], ErrDuration)
	require.Equal(t, missing, errs[2].File)
	require.ErrorIs(t, errs[2], ErrRead)
	require.ErrorIs(t, errs[2], os.ErrNotExist)
	require.Equal(t, missing+": cannot read rule file: no such file or directory", errs[2].Error())
	require.Equal(t, bad2, errs[3].File)
	require.ErrorIs(t, errs[3], ErrUnknownField)

	rs, err = ParseFiles()
	require.NoError(t, err)
	require.Zero(t, rs.Len())
}

func TestErrorFormat(t *testing.T) {
	cause := errors.New("boom")
	f := func(e *Error, want string) {
		t.Helper()
		require.Equal(t, want, e.Error())
		require.ErrorIs(t, e, cause)
	}
	f(&Error{File: "r.yaml", Line: 3, Col: 7, Group: "g", Rule: "R", Err: cause}, `r.yaml:3:7: group "g": rule "R": boom`)
	f(&Error{File: "r.yaml", Line: 3, Err: cause}, `r.yaml:3: boom`)
	f(&Error{File: "r.yaml", Err: cause}, `r.yaml: boom`)
	f(&Error{Line: 3, Col: 1, Rule: "R", Err: cause}, `3:1: rule "R": boom`)
	f(&Error{Err: cause}, `boom`)

	errs := Errors{
		{File: "a", Line: 1, Col: 1, Err: cause},
		{File: "a", Line: 2, Col: 1, Err: ErrDuration},
	}
	require.Equal(t, "a:1:1: boom\na:2:1: invalid duration", errs.Error())
	require.ErrorIs(t, errs, cause)
	require.ErrorIs(t, errs, ErrDuration)
	require.NotErrorIs(t, errs, ErrExpr)
	var e *Error
	require.ErrorAs(t, errs, &e)
	require.Equal(t, 1, e.Line)
}

func TestParseEveryErrorHasPosition(t *testing.T) {
	files, err := filepath.Glob("testdata/*.bad.yaml")
	require.NoError(t, err)
	for _, f := range files {
		_, err := parseFixture(t, filepath.Base(f))
		var errs Errors
		require.ErrorAs(t, err, &errs)
		for i, e := range errs {
			require.GreaterOrEqual(t, e.Line, 1, e.Error())
			if i > 0 {
				prev := errs[i-1]
				require.True(t, prev.Line < e.Line || prev.Line == e.Line && prev.Col <= e.Col, "not sorted: %s before %s", prev, e)
			}
		}
	}
}

func TestRulesetEqual(t *testing.T) {
	parse := func(src string) *Ruleset {
		t.Helper()
		rs, err := Parse("f.yaml", []byte(src))
		require.NoError(t, err)
		return rs
	}
	base := "groups:\n- name: g\n  rules:\n  - {alert: A, expr: 'value > 1', match: 'up{a=\"1\"}', labels: {s: p}}\nseries:\n- {match: up, cadence: 1m}\n"
	a := parse(base)
	require.True(t, a.Equal(parse(base)))
	// Positions and formatting do not matter.
	require.True(t, a.Equal(parse("\n\n"+strings.ReplaceAll(base, "up{a=\"1\"}", "up{ a = `1` }"))))
	require.False(t, a.Equal(parse(strings.Replace(base, "value > 1", "value > 2", 1))))
	require.False(t, a.Equal(parse(strings.Replace(base, "s: p", "s: q", 1))))
	require.False(t, a.Equal(parse(strings.Replace(base, "cadence: 1m", "cadence: 2m", 1))))
	require.False(t, a.Equal(parse(strings.Replace(base, `a="1"`, `a="2"`, 1))))
	require.False(t, a.Equal(nil))
	var none *Ruleset
	require.True(t, none.Equal(nil))
	require.True(t, none.Equal(parse("")))
	require.True(t, a.Rule(0).Equal(parse(base).Rule(0)))
}

func TestSelect(t *testing.T) {
	rs, err := Parse("f.yaml", []byte(`groups:
- name: g
  rules:
  - {alert: R0, expr: 'value > 0', match: 'cpu{host="a"}'}
  - {alert: R1, expr: 'value > 0'}
  - {alert: R2, expr: 'value > 0', match: 'mem'}
  - {alert: R3, expr: 'value > 0', match: '{env=~"prod|stage"}'}
  - {alert: R4, expr: 'value > 0', match: 'cpu'}
  - {alert: R5, expr: 'value > 0', match: '{__name__="cpu", env!="dev"}'}
  - {alert: R6, expr: 'value > 0', match: '{__name__=~"cpu|mem"}'}
series:
- {match: 'cpu{host="a"}', cadence: 10s}
- {match: '{env="prod"}', cadence: 20s}
- {match: 'cpu', cadence: 30s}
`))
	require.NoError(t, err)
	f := func(name string, labels stream.Labels, want ...int) {
		t.Helper()
		got := rs.Select(name, labels, nil)
		if len(want) == 0 {
			require.Empty(t, got)
		} else {
			require.Equal(t, want, got)
		}
		for i := 0; i < rs.Len(); i++ {
			require.Equal(t, rs.Rule(i).Matches(name, labels), containsInt(got, i), "rule %d", i)
		}
	}
	f("cpu", stream.NewLabels("host", "a", "env", "prod"), 0, 1, 3, 4, 5, 6)
	f("cpu", stream.NewLabels("host", "b", "env", "dev"), 1, 4, 6)
	f("mem", nil, 1, 2, 6)
	f("disk", stream.NewLabels("env", "stage"), 1, 3)
	f("disk", nil, 1)

	// Select appends to dst.
	dst := rs.Select("mem", nil, []int{42})
	require.Equal(t, []int{42, 1, 2, 6}, dst)

	var none *Ruleset
	require.Empty(t, none.Select("cpu", nil, nil))
	require.Zero(t, none.Len())
	require.Nil(t, none.Rules())
	_, ok := none.Series("cpu", nil)
	require.False(t, ok)

	spec, ok := rs.Series("cpu", stream.NewLabels("host", "a", "env", "prod"))
	require.True(t, ok)
	require.Equal(t, 10*time.Second, spec.Cadence)
	spec, ok = rs.Series("cpu", stream.NewLabels("host", "b", "env", "prod"))
	require.True(t, ok)
	require.Equal(t, 20*time.Second, spec.Cadence)
	spec, ok = rs.Series("cpu", stream.NewLabels("host", "b"))
	require.True(t, ok)
	require.Equal(t, 30*time.Second, spec.Cadence)
	_, ok = rs.Series("mem", stream.NewLabels("host", "a"))
	require.False(t, ok)
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestParseLifecycle checks what the alert lifecycle fields parse to, and
// that a rule without them keeps the defaults of the old format.
func TestParseLifecycle(t *testing.T) {
	rs, err := parseFixture(t, "lifecycle.good.yaml")
	require.NoError(t, err)
	rules := rs.Rules()
	require.Len(t, rules, 3)

	disk := rules[0]
	require.Empty(t, disk.Expr)
	require.Equal(t, 2*time.Minute, disk.For)
	require.Equal(t, 1, disk.ForTolerance)
	require.Equal(t, 5*time.Minute, disk.KeepFiringFor)
	require.Equal(t, alert.NoDataKeep, disk.NoData)
	require.Equal(t, alert.Flapping{Low: 20, High: 30}, disk.Flapping)
	require.Len(t, disk.Levels, 2)
	require.Equal(t, []string{"warning", "value > 0.8", "value < 0.7", "critical", "value > 0.95", "value < 0.9"},
		[]string{disk.Levels[0].Severity, disk.Levels[0].Expr, disk.Levels[0].Resolve, disk.Levels[1].Severity, disk.Levels[1].Expr, disk.Levels[1].Resolve})
	require.Equal(t, 14, disk.Levels[0].Line)
	require.Equal(t, alert.Rule{For: 2 * time.Minute, ForTolerance: 1, KeepFiringFor: 5 * time.Minute, Flapping: alert.Flapping{Low: 20, High: 30}}, disk.AlertRule())

	hot := rules[1]
	require.Equal(t, "value > 80", hot.Expr)
	require.Equal(t, "value < 70", hot.Resolve)
	require.Equal(t, []Level{{Expr: "value > 80", Resolve: "value < 70", Line: hot.Line, Col: hot.Col}},
		[]Level{{Severity: hot.Levels[0].Severity, Expr: hot.Levels[0].Expr, Resolve: hot.Levels[0].Resolve, Line: hot.Levels[0].Line, Col: hot.Levels[0].Col}})
	require.Equal(t, alert.NoDataAlert, hot.NoData)
	require.Equal(t, alert.Flapping{Low: alert.DefaultFlapLow, High: alert.DefaultFlapHigh}, hot.Flapping, "flapping: {} is on with Nagios' defaults")

	quiet := rules[2]
	require.Equal(t, alert.NoDataResolve, quiet.NoData)
	require.False(t, quiet.Flapping.Enabled(), "flapping: ~ is off")

	// The old format: one level, no resolve, keep, no flapping.
	old, err := Parse("f.yaml", []byte("groups:\n- name: g\n  rules:\n  - {alert: A, expr: 'value > 1', for: 1m}\n"))
	require.NoError(t, err)
	r := old.Rule(0)
	require.Len(t, r.Levels, 1)
	require.Equal(t, alert.Rule{For: time.Minute}, r.AlertRule())
	require.False(t, r.HasResolve(1))
	require.True(t, hot.HasResolve(1))

	// Equal sees every new field.
	again, err := parseFixture(t, "lifecycle.good.yaml")
	require.NoError(t, err)
	require.True(t, rs.Equal(again), "the same file parsed twice")
	for _, change := range []string{"for_tolerance: 1", "keep_firing_for: 5m", "no_data: resolve", "flapping: {}", "resolve: value < 0"} {
		other, err := Parse("f.yaml", []byte("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: 'value > 1'\n    for: 1m\n    "+change+"\n"))
		require.NoError(t, err, change)
		require.False(t, old.Equal(other), change)
	}
}

// TestEvalLevels checks Level and Resolves on a rule with levels, and on
// the fast path and the VM alike.
func TestEvalLevels(t *testing.T) {
	rs, err := parseFixture(t, "lifecycle.good.yaml")
	require.NoError(t, err)
	disk := rs.Rule(0)
	ev := NewEvaluator()
	for _, tc := range []struct {
		v       float64
		level   int
		resolve [3]bool // levels 0 (none), 1, 2
	}{
		{0.5, 0, [3]bool{true, true, true}},
		{0.75, 0, [3]bool{true, false, true}},
		{0.85, 1, [3]bool{true, false, true}},
		{0.92, 1, [3]bool{true, false, false}},
		{0.99, 2, [3]bool{true, false, false}},
	} {
		s := stream.NewSample("disk_used_ratio", stream.NewLabels("mount", "/"), 1, tc.v, 1)
		l, err := ev.Level(disk, &s)
		require.NoError(t, err)
		require.Equal(t, tc.level, l, "value %v", tc.v)
		holds, err := ev.Eval(disk, &s)
		require.NoError(t, err)
		require.Equal(t, tc.level > 0, holds)
		for lvl := 0; lvl <= 2; lvl++ {
			got, err := ev.Resolves(disk, lvl, &s)
			require.NoError(t, err)
			require.Equal(t, tc.resolve[lvl], got, "value %v level %d", tc.v, lvl)
			if lvl > 0 {
				vm, err := ev.evalProgram(disk, disk.Levels[lvl-1].reset.program, &s)
				require.NoError(t, err)
				require.Equal(t, got, vm)
			}
		}
	}
	s := stream.NewSample("disk_used_ratio", stream.NewLabels("mount", "/"), 1, 0.99, 1)
	allocs := testing.AllocsPerRun(100, func() {
		_, _ = ev.Level(disk, &s)
		_, _ = ev.Resolves(disk, 1, &s)
	})
	require.Zero(t, allocs)
}

// TestExpandLabels checks that label values are templates with the
// series' labels and the value, and that plain ones are shared as they
// are.
func TestExpandLabels(t *testing.T) {
	rs, err := parseFixture(t, "lifecycle.good.yaml")
	require.NoError(t, err)
	disk, hot := rs.Rule(0), rs.Rule(1)
	got, err := disk.ExpandLabels(stream.NewLabels("mount", "/var"), 0.9)
	require.NoError(t, err)
	require.Equal(t, stream.NewLabels("mount", "/var", "team", "storage"), got)
	got, err = hot.ExpandLabels(stream.NewLabels("mount", "/var"), 0.9)
	require.NoError(t, err)
	require.Equal(t, stream.NewLabels("severity", "page"), got)
	require.Same(t, &hot.Labels[0], &got[0], "plain labels are shared")

	ann, err := disk.ExpandAnnotations(stream.NewLabels("mount", "/var", "severity", "critical"), 0.97)
	require.NoError(t, err)
	require.Equal(t, stream.NewLabels("summary", "critical: /var at 97%"), ann)
}

// TestPercentDecimalsCompareAsWritten checks the reason maxPercentDecimals
// is safe: for every percent state change 5n/76 the flap detector can
// reach, the decimals with maxPercentDecimals digits nearest it (below,
// above, and it itself when it is one) lie on the same side of it as
// their float64, which is what alert compares.
func TestPercentDecimalsCompareAsWritten(t *testing.T) {
	unit := new(big.Int).Exp(big.NewInt(10), big.NewInt(maxPercentDecimals), nil)
	for n := range int64(1521) {
		p := big.NewRat(5*n, 76)
		scaled := new(big.Rat).Mul(p, new(big.Rat).SetInt(unit))
		floor := new(big.Int).Quo(scaled.Num(), scaled.Denom())
		for _, k := range []*big.Int{floor, new(big.Int).Add(floor, big.NewInt(1))} {
			d := new(big.Rat).SetFrac(k, unit)
			s := d.FloatString(maxPercentDecimals)
			f, err := strconv.ParseFloat(s, 64)
			require.NoError(t, err)
			exact, ok := new(big.Rat).SetString(s)
			require.True(t, ok)
			require.Equal(t, exact.Cmp(p), new(big.Rat).SetFloat64(f).Cmp(p), "threshold %s against 5·%d/76", s, n)
		}
	}
}

// TestApplyLabels checks that rule labels are set on the series' labels as
// Prometheus' labels.Builder.Set sets them: an empty value, written or
// expanded, removes the label, the series' own included
// (TestAlertingRuleEmptyLabelFromTemplate in Prometheus' rules package),
// and every template sees the series' labels as they were.
func TestApplyLabels(t *testing.T) {
	rs, err := Parse("labels.yaml", []byte(`groups:
  - name: g
    rules:
      - alert: EmptyLabel
        expr: value < 100
        labels: {empty_label: ""}
      - alert: Remove
        expr: value < 100
        labels: {instance: "", was: '{{ $labels.instance }}', job: ~}
      - alert: Template
        expr: value < 100
        labels:
          mount: '{{ $labels.mount }}'
          job: '{{ if ne $labels.job "app-server" }}{{ $labels.job }}{{ end }}'
          team: storage
`))
	require.NoError(t, err)
	series := func(kv ...string) stream.Labels {
		return stream.NewLabels(append([]string{"__name__", "http_requests", "job", "app-server", "instance", "0"}, kv...)...)
	}
	f := func(r *Rule, in, want stream.Labels) {
		t.Helper()
		got, err := r.ApplyLabels(in, 75)
		require.NoError(t, err)
		require.Equal(t, want, got, r.Alert)
	}
	f(rs.Rule(0), series(), series())
	f(rs.Rule(1), series(), stream.NewLabels("__name__", "http_requests", "was", "0"))
	f(rs.Rule(2), series(), stream.NewLabels("__name__", "http_requests", "instance", "0", "team", "storage"))
	f(rs.Rule(2), series("mount", "/var"), stream.NewLabels("__name__", "http_requests", "instance", "0", "mount", "/var", "team", "storage"))
	f(rs.Rule(2), stream.NewLabels("job", "db"), stream.NewLabels("job", "db", "team", "storage"))

	// The rule's own labels are left as they are, for the next series.
	require.Equal(t, stream.NewLabels("empty_label", ""), rs.Rule(0).Labels)
	got, err := rs.Rule(2).ExpandLabels(series(), 75)
	require.NoError(t, err)
	require.Equal(t, stream.NewLabels("job", "", "mount", "", "team", "storage"), got, "ExpandLabels keeps the empty values that remove")
}

// TestOriginLabelIsReserved checks that a rule label can neither replace
// nor remove the provenance label the engine sets on every event.
func TestOriginLabelIsReserved(t *testing.T) {
	_, err := Parse("origin.yaml", []byte("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: value > 1\n        labels: {faultline_origin: \"\"}\n"))
	requireErrors(t, err, "origin.yaml", []wantErr{{6, 18, ErrLabelName, `"faultline_origin" in labels: the engine sets it on every event`}})
}
