package rules

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/internal/yamlfile"
	"github.com/faultline-go/faultline/stream"
)

type wantFinding struct {
	line, col int
	check     string
	rule      string // alert name; "" for a series entry
	contains  string // a part of the message
}

// requireFindings checks that fs are exactly the wanted findings, in order.
func requireFindings(t *testing.T, file string, fs []Finding, want []wantFinding) {
	t.Helper()
	var got strings.Builder
	for _, f := range fs {
		got.WriteString(f.String())
		got.WriteByte('\n')
	}
	require.Len(t, fs, len(want), "findings:\n%s", got.String())
	for i, w := range want {
		f := fs[i]
		require.Equal(t, file, f.File, f.String())
		require.Equal(t, fmt.Sprintf("%d:%d %s", w.line, w.col, w.check), fmt.Sprintf("%d:%d %s", f.Line, f.Col, f.Check), f.String())
		require.Equal(t, w.rule, f.Rule, f.String())
		require.Contains(t, f.Message, w.contains, f.String())
	}
}

func TestLintFixtures(t *testing.T) {
	const (
		never  = CheckNeverMatches
		shadow = CheckShadowedSeries
		dup    = CheckDuplicateName
		forC   = CheckForBelowCadence
	)
	tests := []struct {
		file string
		want []wantFinding
	}{
		{"lint_never_matches.yaml", []wantFinding{
			{6, 9, never, "TwoValues", `no value of label "env" satisfies env="prod", env="dev"`},
			{9, 9, never, "EqualAndNotEqual", `env="prod", env!="prod"`},
			{12, 9, never, "EmptyAndNonEmpty", `env=~"", env!=""`},
			{15, 9, never, "RegexExcludesEqual", `env="prod", env!~"prod|stage"`},
			{18, 9, never, "RegexesDisjoint", `env=~"prod|stage", env=~"dev|test"`},
			{21, 9, never, "GroupedRegexExcludes", `label "env"`},
			{24, 9, never, "TwoNames", `no metric name satisfies __name__="up", __name__="down"`},
			{27, 9, never, "NameAndRegex", `__name__="up", __name__=~"node_.*|down"`},
			{30, 9, never, "NothingAtAll", `env!~".*"`},
			{35, 9, never, "FoldsToFalse", "expr reduces to false, so the rule never fires"},
			{37, 9, never, "ConstantComparison", "expr reduces to false, so the rule never fires"},
			{39, 9, never, "OtherName", `name == "mem" is always false under __name__="cpu"`},
			{42, 9, never, "OtherNameInAnd", `name in ["mem_free", "mem_used"] is always false`},
			{45, 9, never, "ExcludedLabel", `labels.env == "dev" is always false under env="prod"`},
			{48, 9, never, "EitherLabel", `labels.env == "dev" is always false under env=~"prod|stage"; labels.env in ["qa", "test"] is always false`},
			{51, 9, never, "PrefixNeverHolds", `name startsWith "mem_" is always false`},
			{54, 9, never, "LabelMustBeSet", `"env" in labels always holds under env!=""`},
			{58, 5, never, "", "the entry never applies"},
		}},
		{"lint_duplicate_name.yaml", []wantFinding{
			{9, 9, dup, "HighCPU", "same alert name and match as the rule at line 5:"},
			{17, 9, dup, "HighCPU", `the rule at line 5 (group "cpu")`},
			{20, 9, dup, "Anything", `the rule at line 13 (group "cpu")`},
		}},
		{"lint_for_below_cadence.yaml", []wantFinding{
			{5, 9, forC, "NinetySeconds", "for: 1m30s is less than twice the cadence 1m declared for its series (series entry at line 22), so it waits for only one or two more samples; use for: 2m or more"},
			{9, 9, forC, "ShorterThanCadence", "for: 30s is shorter than the cadence 1m declared for its series (series entry at line 22): it fires on the next sample that still holds, as for: 1m would; use for: 2m or more"},
			{13, 9, forC, "RegexName", "for: 1m is less than twice the cadence 1m"},
			{17, 9, forC, "Batch", "for: 9m is less than twice the cadence 5m declared for its series (series entry at line 24)"},
		}},
		{"lint_shadowed_series.yaml", []wantFinding{
			{5, 5, shadow, "", "the entry at line 3 (match check_up) matches every series this one matches"},
			{7, 5, shadow, "", "the entry at line 3 (match check_up)"},
			{11, 5, shadow, "", `the entry at line 9 (match {job="batch"})`},
			{14, 5, shadow, "", "the entry at line 13 (match {})"},
		}},
		{"lint_lifecycle.yaml", []wantFinding{
			{5, 9, CheckToleranceWithoutFor, "NoFor", "for_tolerance: 2 without for"},
			{12, 9, CheckLabelFromValue, "ValueLabel", "label bucket reads $value"},
		}},
		{"lint_clean.yaml", nil},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			rs, err := parseFixture(t, tt.file)
			require.NoError(t, err)
			n := rs.Len()
			requireFindings(t, filepath.Join("testdata", tt.file), rs.Lint(), tt.want)
			// Findings are warnings: the Ruleset is unchanged and usable.
			require.Equal(t, n, rs.Len())
			again, err := parseFixture(t, tt.file)
			require.NoError(t, err)
			require.True(t, rs.Equal(again))
		})
	}
}

func TestLintFindingGroupAndString(t *testing.T) {
	rs, err := parseFixture(t, "lint_duplicate_name.yaml")
	require.NoError(t, err)
	fs := rs.Lint()
	require.Len(t, fs, 3)
	require.Equal(t, "other", fs[1].Group)
	require.Equal(t, `testdata/lint_duplicate_name.yaml:17:9: group "other": rule "HighCPU": same alert name and match as the rule at line 5 (group "cpu"): both raise HighCPU on the same series, and their events get the same IDs when both start on one sample; rename one or make the matches differ (duplicate-name)`,
		fs[1].String())

	require.Equal(t, `f.yaml:3:5: a message (shadowed-series)`,
		Finding{File: "f.yaml", Line: 3, Col: 5, Check: CheckShadowedSeries, Message: "a message"}.String())
}

// TestLintGoodFixturesHaveNoFindings: the parser's valid fixtures are
// ordinary rule files; none of them may be flagged.
func TestLintGoodFixturesHaveNoFindings(t *testing.T) {
	files, err := filepath.Glob("testdata/*.good.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		rs, err := parseFixture(t, filepath.Base(f))
		require.NoError(t, err)
		require.Empty(t, rs.Lint(), f)
	}
	var nilRS *Ruleset
	require.Empty(t, nilRS.Lint())
}

func TestLintAcrossFiles(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.yaml")
	b := filepath.Join(dir, "b.yaml")
	require.NoError(t, os.WriteFile(a, []byte(`groups:
  - name: g
    rules:
      - alert: Slow
        match: check_latency
        expr: value > 1
        for: 1m
series:
  - match: check_latency
    cadence: 1m
`), 0o644))
	require.NoError(t, os.WriteFile(b, []byte(`groups:
  - name: g
    rules:
      - alert: Slow
        match: check_latency
        expr: value > 1
series:
  - match: 'check_latency{env="prod"}'
    cadence: 10s
`), 0o644))
	// The same alert in two files is not a duplicate. With b first, its
	// narrower entry comes first: no entry shadows another, and a's rule
	// does not certainly get the 1m cadence.
	rs, err := ParseFiles(b, a)
	require.NoError(t, err)
	require.Empty(t, rs.Lint())
	// With a first, its entry covers the rule and shadows b's entry.
	rs, err = ParseFiles(a, b)
	require.NoError(t, err)
	fs := rs.Lint()
	require.Len(t, fs, 2)
	require.Equal(t, a, fs[0].File)
	require.Equal(t, CheckForBelowCadence, fs[0].Check)
	require.Contains(t, fs[0].Message, "series entry at line 9")
	require.Equal(t, b, fs[1].File)
	require.Equal(t, CheckShadowedSeries, fs[1].Check)
	require.Contains(t, fs[1].Message, fmt.Sprintf("the entry at %s:9:5 (match check_latency)", a))
}

// TestLintExpressions decides expressions against selectors: flagged ones
// never fire, the others may.
func TestLintExpressions(t *testing.T) {
	tests := []struct {
		match, expr string
		flagged     bool
	}{
		{"", "value > 1 && false", true},
		{"", "false || 1 == 2", true},
		{"", `"a" == "b" && value > 0`, true},
		{"", `value > 1 || "a" != "b"`, false}, // always true, not never
		{"", "true ? false : value > 1", true},
		{"", "value > 1 ? false : false", true},
		{"", "value > 1 ? false : true", false},
		{"", `name == "mem"`, false},
		{"cpu", `name == "mem"`, true},
		{"cpu", `"mem" == name`, true},
		{"cpu", `name != "cpu"`, true},
		{"cpu", `name == "cpu"`, false},
		{"cpu", `name endsWith "pu"`, false},
		{"cpu", `name endsWith "mem"`, true},
		{"cpu", `name contains "p"`, false},
		{"cpu", `name matches "^c"`, false},
		{"cpu", `name matches "m"`, true},
		{"cpu", `not (name in ["cpu", "mem"])`, true},
		{"cpu", `name in ["mem", "disk"] || value > 1`, false},
		{"cpu", `name == "mem" || name == "disk"`, true},
		{`{__name__=~"cpu.*"}`, `name == "mem"`, true},
		{`{__name__=~"cpu.*"}`, `name startsWith "mem"`, false}, // not decided on open regexes
		{`{__name__!="mem"}`, `name == "mem"`, true},
		{`{__name__!="mem"}`, `name != "mem"`, false},
		{`cpu{env="prod"}`, `labels.env == "dev"`, true},
		{`cpu{env="prod"}`, `labels["env"] == "prod"`, false},
		{`cpu{env="prod"}`, `labels.region == "dev"`, false},
		{`cpu{env="prod"}`, `labels.__name__ == "mem"`, false},
		{`cpu{env="prod"}`, `labels.env == labels.region`, false},
		{`cpu{env!~"dev|test"}`, `labels.env in ["dev", "test"]`, true},
		{`cpu{env!~"dev|test"}`, `labels.env in ["dev", "prod"]`, false},
		{`cpu{env=~"prod|stage"}`, `labels.env == "prod"`, false},
		{`cpu{env=~"prod|stage"}`, `labels.env startsWith "dev"`, true},
		{`cpu{env=~".+"}`, `"env" in labels`, false},
		{`cpu{env=~".+"}`, `!("env" in labels)`, true},
		{`cpu{env=""}`, `!("env" in labels)`, false},
		{`cpu{env="prod"}`, `value > 1 && (labels.env == "dev" ? true : false)`, true},
		{`cpu{env="prod"}`, `upper(labels.env) == "DEV"`, false}, // not decided on functions
		{`cpu{env="prod"}`, `ts.Hour() > 25`, false},
	}
	for _, tt := range tests {
		t.Run(tt.match+" "+tt.expr, func(t *testing.T) {
			src := fmt.Sprintf("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: %q\n", tt.expr)
			if tt.match != "" {
				src += fmt.Sprintf("    match: %q\n", tt.match)
			}
			rs, err := Parse("t.yaml", []byte(src))
			require.NoError(t, err)
			fs := rs.Lint()
			if !tt.flagged {
				require.Empty(t, fs)
				return
			}
			require.Len(t, fs, 1)
			require.Equal(t, CheckNeverMatches, fs[0].Check)
			require.Contains(t, fs[0].Message, "expr ")
		})
	}
}

func TestSelectorContradiction(t *testing.T) {
	never := []string{
		`up{a="x", a="y"}`,
		`up{a="x", a!="x"}`,
		`up{a=~"", a!=""}`,
		`up{a="", a=~".+"}`,
		`up{a!~".+", a!=""}`,
		`up{a!~".*"}`,
		`up{a="x", a=~"y|z"}`,
		`up{a=~"x|y", a!~"x|y"}`,
		`up{a=~"[ab]c?", a=~"d|e"}`,
		`up{a=~"x{2}", a!="xx"}`,
		"up{a=~`[^\\x00-\\x{10FFFF}]`}",
		`up{a=~"(?i)x", a="y"}`,
		`{__name__="a", __name__="b"}`,
		`up{__name__=~"down"}`,
	}
	possible := []string{
		`up{a="x", a!="y"}`,
		`up{a="x", b="y"}`,
		`up{a=~"x|y", a!="x"}`,
		`up{a=~"x.*", a=~"y.*"}`, // impossible, but not provable here
		`up{a=~"x.*", a!="x"}`,
		`up{a=~"(?i)x", a="X"}`,
		`up{a!~"x|y", a!=""}`,
		`up{a="", a!~".+"}`,
		`up{a=~"x*", a!=""}`,
		`up{a=~"^x$", a="x"}`,
		`{}`,
		`up{a=~"[a-z]", a!~"[a-y]"}`,
	}
	for _, s := range never {
		_, ok := factsOf(mustSelector(t, s)).contradiction()
		require.True(t, ok, s)
	}
	for _, s := range possible {
		_, ok := factsOf(mustSelector(t, s)).contradiction()
		require.False(t, ok, s)
	}
}

func TestSelectorCovers(t *testing.T) {
	tests := []struct {
		outer, inner string
		covers       bool
	}{
		{`up`, `up`, true},
		{`up`, `up{a="x"}`, true},
		{`{}`, `up{a="x"}`, true},
		{`{a="x"}`, `up{a="x", b="y"}`, true},
		{`{a=~"x|y"}`, `up{a="x"}`, true},
		{`{a=~"x|y"}`, `up{a=~"y|x"}`, true},
		{`{a=~"x.*"}`, `up{a=~"x.*"}`, true},
		{`{a!="z"}`, `up{a=~"x|y"}`, true},
		{`{a!="z"}`, `up{a="x"}`, true},
		{`{a!="z"}`, `up{a!~"z|w"}`, true},
		{`{a!~"z|w"}`, `up{a!="z", a!="w"}`, true},
		{`{a!=""}`, `up{a=~".+"}`, true},
		{`{a=~".+"}`, `up{a!=""}`, true},
		{`{a=~".*"}`, `up`, true},
		{`{__name__=~"up"}`, `up`, true},
		{`up{a="x"}`, `up`, false},
		{`up`, `{}`, false},
		{`up`, `down`, false},
		{`{a!="z"}`, `up{a=~"z.*"}`, false},
		{`{a=~"x.*"}`, `up{a=~"xy.*"}`, false}, // true, but not provable here
		{`{a!~"z|w"}`, `up{a!="z"}`, false},
		{`{a=~".+"}`, `up`, false},
	}
	for _, tt := range tests {
		got := covers(factsOf(mustSelector(t, tt.outer)), factsOf(mustSelector(t, tt.inner)))
		require.Equal(t, tt.covers, got, "%s covers %s", tt.outer, tt.inner)
	}
	require.True(t, covers(factsOf(nil), factsOf(mustSelector(t, "up"))))
	require.False(t, covers(factsOf(mustSelector(t, "up")), factsOf(nil)))

	require.True(t, disjoint(factsOf(mustSelector(t, "up")), factsOf(mustSelector(t, "down"))))
	require.True(t, disjoint(factsOf(mustSelector(t, `{a="x"}`)), factsOf(mustSelector(t, `{a!~"x|y"}`))))
	require.False(t, disjoint(factsOf(mustSelector(t, `up`)), factsOf(mustSelector(t, `{a="x"}`))))
	require.False(t, disjoint(factsOf(mustSelector(t, `up`)), factsOf(nil)))
}

func TestFiniteLanguage(t *testing.T) {
	tests := []struct {
		re   string
		want []string // nil: not finite (or too large)
	}{
		{"x", []string{"x"}},
		{"x|y", []string{"x", "y"}},
		{"(prod|stage)-(eu|us)", []string{"prod-eu", "prod-us", "stage-eu", "stage-us"}},
		{"a[bc]?", []string{"a", "ab", "ac"}},
		{"x{2,3}", []string{"xx", "xxx"}},
		{"", []string{""}},
		{"^x$", []string{"x"}},
		{"x*", nil},
		{"x.", nil},
		{"(?i)x", nil},
		{"[a-z]{4}", nil}, // 26^4 strings
	}
	for _, tt := range tests {
		got, ok := finiteLanguage(tt.re)
		if tt.want == nil {
			require.False(t, ok, tt.re)
			continue
		}
		require.True(t, ok, tt.re)
		require.Equal(t, tt.want, got, tt.re)
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                      "0s",
		90 * time.Second:       "1m30s",
		2 * time.Minute:        "2m",
		36 * time.Hour:         "1d12h",
		250 * time.Millisecond: "250ms",
		8 * 24 * time.Hour:     "1w1d",
	} {
		require.Equal(t, want, FormatDuration(d))
		back, err := yamlfile.ParseDuration(want)
		require.NoError(t, err)
		require.Equal(t, d, back)
	}
}

// TestLintSelectorsAgreeWithMatches checks the selector reasoning against
// Selector.Matches on a grid of label values: a contradiction matches none
// of them, and an entry that covers another matches all the series the
// other matches.
func TestLintSelectorsAgreeWithMatches(t *testing.T) {
	matchers := []string{
		`a="x"`, `a="y"`, `a=""`, `a!="x"`, `a!=""`, `a=~"x|y"`, `a=~"x.*"`, `a=~".+"`, `a=~".*"`,
		`a!~"x|y"`, `a!~".+"`, `a=~"(x|z)y?"`, `a!~"x.*"`,
	}
	values := []string{"", "x", "y", "z", "xy", "zy", "xx", "w"}
	var sels []*Selector
	for _, m1 := range matchers {
		sels = append(sels, mustSelector(t, "up{"+m1+"}"))
		for _, m2 := range matchers {
			sels = append(sels, mustSelector(t, "up{"+m1+", "+m2+"}"))
		}
	}
	matches := func(s *Selector, v string) bool {
		ls := stream.Labels{}
		if v != "" {
			ls = stream.NewLabels("a", v)
		}
		return s.Matches("up", ls)
	}
	for _, s := range sels {
		if _, never := factsOf(s).contradiction(); never {
			for _, v := range values {
				require.False(t, matches(s, v), "%s is said never to match, but matches a=%q", s, v)
			}
		}
	}
	for _, outer := range sels {
		fo := factsOf(outer)
		for _, inner := range sels {
			if !covers(fo, factsOf(inner)) {
				continue
			}
			for _, v := range values {
				if matches(inner, v) {
					require.True(t, matches(outer, v), "%s is said to cover %s, but not at a=%q", outer, inner, v)
				}
			}
		}
	}
}

func mustSelector(t *testing.T, s string) *Selector {
	t.Helper()
	sel, err := ParseSelector(s)
	require.NoError(t, err, s)
	return sel
}

// TestLintNeverMatchesIsSound runs the rules flagged never-matches on every
// combination of the names and label values the fixture mentions: none may
// fire.
func TestLintNeverMatchesIsSound(t *testing.T) {
	rs, err := parseFixture(t, "lint_never_matches.yaml")
	require.NoError(t, err)
	flagged := make(map[string]bool)
	for _, f := range rs.Lint() {
		if f.Rule != "" {
			flagged[f.Rule] = true
		}
	}
	require.Len(t, flagged, 17)
	names := []string{"up", "down", "cpu", "cpu_user", "cpu_system", "mem", "mem_used", "node_x"}
	envs := []string{"", "prod", "stage", "dev", "test", "qa", "prod-eu", "stage-us", "x"}
	ev := NewEvaluator()
	for _, name := range names {
		for _, env := range envs {
			ls := stream.NewLabels("region", "eu")
			if env != "" {
				ls = stream.NewLabels("env", env, "region", "eu")
			}
			s := stream.NewSample(name, ls, 1e18, 2, 0)
			for _, i := range rs.Select(s.Name, s.Labels, nil) {
				r := rs.Rule(i)
				fires, err := ev.Eval(r, &s)
				require.False(t, flagged[r.Alert] && err == nil && fires, "%s fires on %s%v", r.Alert, name, ls)
			}
		}
	}
}

// FuzzLint checks that Lint never panics on a parsed file, that each
// finding is placed and named, and that a rule flagged never-matches does
// not fire on a few samples.
func FuzzLint(f *testing.F) {
	files, err := filepath.Glob("testdata/lint_*.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		src, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	checks := []string{CheckNeverMatches, CheckShadowedSeries, CheckDuplicateName, CheckForBelowCadence, CheckToleranceWithoutFor, CheckLabelFromValue}
	samples := []stream.Sample{
		stream.NewSample("up", stream.NewLabels("env", "prod"), 1e18, 1, 0),
		stream.NewSample("cpu", stream.NewLabels("env", "dev", "job", "node"), 1e18, 0.99, 0),
		stream.NewSample("check_latency", nil, 1e18, 10, 0),
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		rs, err := Parse("fuzz.yaml", src)
		if err != nil {
			return
		}
		ev := NewEvaluator()
		for _, fd := range rs.Lint() {
			if fd.File != "fuzz.yaml" || fd.Line < 1 || fd.Col < 1 || !slices.Contains(checks, fd.Check) || fd.Message == "" {
				t.Fatalf("bad finding %#v", fd)
			}
			if fd.Check != CheckNeverMatches || fd.Rule == "" {
				continue
			}
			for _, r := range rs.Rules() {
				if r.Line != fd.Line || r.Col != fd.Col {
					continue
				}
				for i := range samples {
					s := &samples[i]
					if fires, err := ev.Eval(r, s); r.Matches(s.Name, s.Labels) && err == nil && fires {
						t.Fatalf("%s: but it fires on %v", fd, s)
					}
				}
			}
		}
	})
}

// A cohort rule's for counts windows: for-below-cadence does not apply.
func TestLintCohortFor(t *testing.T) {
	src := `groups:
- name: g
  rules:
  - {alert: A, match: x, for: 30s, expr: 'value > 1'}
  - {alert: B, match: x, for: 30s, cohort: {by: [fw], window: 1m}, expr: 'cohort.avg > others.avg'}
series:
- {match: x, cadence: 1m}
`
	rs, err := Parse("c.yaml", []byte(src))
	require.NoError(t, err)
	fs := rs.Lint()
	require.Len(t, fs, 1)
	require.Equal(t, CheckForBelowCadence, fs[0].Check)
	require.Equal(t, 4, fs[0].Line)
}

// TestLintLabelFromValueReadsTheTemplate: templates read the value as
// $value, and as .Value or $.Value, the field $value is declared from;
// label-from-value looked for the text $value only, so a label templated
// with {{ .Value }} changed the alert's identity with every event
// unflagged. It reads the parsed template now, and knows that inside with
// and range the dot is no longer the data ({{ .Value }} there is a label
// named Value), nor is $labels.Value the value.
func TestLintLabelFromValueReadsTheTemplate(t *testing.T) {
	rs, err := Parse("t.yaml", alertFile(`    labels:
      a: '{{ .Value }}'
      b: '{{ $.Value | humanize }}'
      c: '{{ if gt .Value 10.0 }}big{{ end }}'
      d: '{{ $v := $value }}{{ $v }}'
      e: '{{ printf "%s}" $value }}'
      f: '{{ with $labels }}{{ .Value }}{{ end }}'
      g: '{{ $labels.Value }} {{ .Labels.Value }} $value .Value'
      h: '{{ range $labels }}{{ . }}{{ end }}'
`))
	require.NoError(t, err)
	var got []string
	for _, f := range rs.Lint() {
		require.Equal(t, CheckLabelFromValue, f.Check)
		got = append(got, strings.Fields(f.Message)[1])
	}
	require.Equal(t, []string{"a", "b", "c", "d", "e"}, got)
}
