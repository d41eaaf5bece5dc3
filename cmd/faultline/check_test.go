package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
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
