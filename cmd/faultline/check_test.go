package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// lintyRules is valid, with two lint findings: a duplicate alert and a for
// below twice the declared cadence.
const lintyRules = `groups:
  - name: checks
    rules:
      - alert: SlowCheck
        match: check_latency
        expr: value > 2.5
        for: 90s
      - alert: SlowCheck
        match: check_latency
        expr: value > 5
series:
  - match: check_latency
    cadence: 60s
`

// cleanRules looks like lintyRules but is fine.
const cleanRules = `groups:
  - name: checks
    rules:
      - alert: SlowCheck
        match: 'check_latency{env="prod"}'
        expr: value > 2.5
        for: 2m
      - alert: SlowCheck
        match: 'check_latency{env="dev"}'
        expr: value > 5
series:
  - match: check_latency
    cadence: 60s
`

func writeRules(t *testing.T, name, src string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(src), 0o644))
	return path
}

func nonEmptyLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

func TestCheckLintFindingsExit3(t *testing.T) {
	linty := writeRules(t, "linty.yaml", lintyRules)
	code, stdout, stderr := runCLI(t, "", "check", linty)
	require.Equal(t, exitLint, code)
	require.Equal(t, linty+": 2 rules, 2 lint findings\n", stdout)
	lines := nonEmptyLines(stderr)
	require.Len(t, lines, 2, stderr)
	require.True(t, strings.HasPrefix(lines[0], linty+`:4:9: group "checks": rule "SlowCheck": for: 1m30s is less than twice the cadence 1m`), lines[0])
	require.True(t, strings.HasSuffix(lines[0], "(for-below-cadence)"), lines[0])
	require.True(t, strings.HasPrefix(lines[1], linty+`:8:9: group "checks": rule "SlowCheck": same alert name and match as the rule at line 4`), lines[1])
	require.True(t, strings.HasSuffix(lines[1], "(duplicate-name)"), lines[1])
}

func TestCheckCleanFileExit0(t *testing.T) {
	clean := writeRules(t, "clean.yaml", cleanRules)
	code, stdout, stderr := runCLI(t, "", "check", clean)
	require.Equal(t, exitOK, code, stderr)
	require.Empty(t, stderr)
	require.Equal(t, clean+": ok (2 rules)\n", stdout)
}

func TestCheckLintNone(t *testing.T) {
	linty := writeRules(t, "linty.yaml", lintyRules)
	for _, args := range [][]string{
		{"check", "--lint=none", linty},
		{"check", "--lint", "none", linty},
		{"check", "-lint=none", linty},
	} {
		code, stdout, stderr := runCLI(t, "", args...)
		require.Equal(t, exitOK, code, "%v: %s", args, stderr)
		require.Empty(t, stderr, args)
		require.Equal(t, linty+": ok (2 rules)\n", stdout, args)
	}
	code, _, _ := runCLI(t, "", "check", "--lint=all", linty)
	require.Equal(t, exitLint, code)

	// Lints never hide errors.
	code, _, stderr := runCLI(t, "", "check", "--lint=none", "testdata/three-mistakes.bad.yaml")
	require.Equal(t, exitFail, code)
	require.Len(t, nonEmptyLines(stderr), 3, stderr)
}

func TestCheckErrorsWinOverFindings(t *testing.T) {
	linty := writeRules(t, "linty.yaml", lintyRules)
	code, stdout, stderr := runCLI(t, "", "check", linty, "testdata/three-mistakes.bad.yaml", "testdata/good.yaml")
	require.Equal(t, exitFail, code)
	// Every file is still reported: the errors of the bad one, the
	// findings of the valid one with findings, and the valid one without.
	lines := nonEmptyLines(stderr)
	require.Len(t, lines, 5, stderr)
	require.Contains(t, lines[0], "(for-below-cadence)")
	require.Contains(t, lines[1], "(duplicate-name)")
	require.Contains(t, lines[2], "testdata/three-mistakes.bad.yaml:6:14:")
	require.Equal(t, linty+": 2 rules, 2 lint findings\ntestdata/good.yaml: ok (1 rules)\n", stdout)

	// A file that cannot be read is an error too.
	code, _, stderr = runCLI(t, "", "check", linty, filepath.Join(t.TempDir(), "missing.yaml"))
	require.Equal(t, exitFail, code)
	require.Contains(t, stderr, "missing.yaml")
}

func TestCheckUsage(t *testing.T) {
	for _, args := range [][]string{
		{"check"},
		{"check", "--lint=none"},
		{"check", "--lint=some", "testdata/good.yaml"},
		{"check", "--no-such-flag", "testdata/good.yaml"},
	} {
		code, stdout, stderr := runCLI(t, "", args...)
		require.Equal(t, exitUsage, code, args)
		require.Empty(t, stdout, args)
		require.Contains(t, stderr, "faultline check", args)
	}
	code, _, stderr := runCLI(t, "", "check", "-h")
	require.Equal(t, exitOK, code)
	require.Contains(t, stderr, "--lint=all|none")
	require.Contains(t, stderr, "3 lint findings only")
}

// TestCheckPromQLHints runs check on a file of typical Prometheus rules:
// each expression is reported with exactly one hint, on a line of its
// rule at or after its expr key, and the hints for absent(), a range
// selector and a recording rule's output say what to write instead.
func TestCheckPromQLHints(t *testing.T) {
	const file = "testdata/prometheus.bad.yaml"
	src, err := os.ReadFile(file)
	require.NoError(t, err)
	var doc yaml.Node
	require.NoError(t, yaml.Unmarshal(src, &doc))
	// Each rule's expr: the line of its key, and the line of the next
	// rule (where the lines of this one end).
	type exprAt struct{ from, to int }
	var exprs []exprAt
	var rules []*yaml.Node
	groups := mapValue(doc.Content[0], "groups")
	for _, g := range groups.Content {
		rules = append(rules, mapValue(g, "rules").Content...)
	}
	for i, r := range rules {
		to := len(strings.Split(string(src), "\n")) + 1
		if i+1 < len(rules) {
			to = rules[i+1].Line
		}
		for j := 0; j+1 < len(r.Content); j += 2 {
			if r.Content[j].Value == "expr" {
				exprs = append(exprs, exprAt{r.Content[j].Line, to})
			}
		}
	}
	require.Len(t, exprs, 16)

	code, stdout, stderr := runCLI(t, "", "check", file)
	require.Equal(t, exitFail, code)
	require.Empty(t, stdout)
	hints := map[int]string{} // by line
	for _, l := range nonEmptyLines(stderr) {
		n := strings.Count(l, "this is PromQL")
		require.LessOrEqual(t, n, 1, l)
		if n == 0 {
			continue
		}
		pos := strings.Split(strings.TrimPrefix(l, file+":"), ":")
		line, err := strconv.Atoi(pos[0])
		require.NoError(t, err, l)
		require.NotContains(t, hints, line, "two hints on line %d", line)
		hints[line] = l
	}
	require.Len(t, hints, len(exprs), stderr)
	for _, e := range exprs {
		found := 0
		for line := range hints {
			if line >= e.from && line < e.to {
				found++
			}
		}
		require.Equal(t, 1, found, "hints for the expr at line %d:\n%s", e.from, stderr)
	}
	require.Contains(t, hints[21], `rule "TargetMissing": invalid expression: unexpected token Bracket("{"); this is PromQL: faultline raises absence itself, so give the series an entry with absent_after instead of a rule, as in series: [{match: 'up{job="api"}', absent_after: 5m}]`)
	require.Contains(t, hints[30], `rule "HighRequestRate": invalid expression: unexpected token Bracket("{"); this is PromQL, which faultline does not evaluate: a rule's match picks the series and its expr reads each sample; write match: 'http_requests_total{code=~"5.."}' and expr: rate(5m) > 10`)
	require.Contains(t, hints[37], `rule "HighLatency": invalid expression: unexpected token Operator(":"); this is PromQL, which faultline does not evaluate, and job:request_latency_seconds:mean5m names a recording rule's output`)
	require.True(t, strings.HasPrefix(hints[37], file+`:37:18: group "traffic": rule "HighLatency": `), "positions are expr's: %s", hints[37])
}

// mapValue returns the value of key in the YAML mapping m.
func mapValue(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return &yaml.Node{}
}

// TestCheckHelpNamesTheLintValues: --help lists --lint with the values it
// takes, as the usage line does ("-lint all|none"); it read "-lint all",
// the name of one value standing for the argument.
func TestCheckHelpNamesTheLintValues(t *testing.T) {
	code, _, stderr := runCLI(t, "", "check", "--help")
	require.Equal(t, exitOK, code)
	require.Contains(t, stderr, "\n  -lint all|none\n    \tlints to run: all|none (default \"all\")\n")
}
