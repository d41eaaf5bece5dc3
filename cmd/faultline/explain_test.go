package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReplayExplain: --explain prints, on stderr, what each rule made of
// each evaluated sample of the selected series, and nothing for the
// others; the events on stdout are those of a run without it.
func TestReplayExplain(t *testing.T) {
	dir := t.TempDir()
	rulesPath := filepath.Join(dir, "rules.yaml")
	require.NoError(t, os.WriteFile(rulesPath, []byte(`groups:
  - name: g
    rules:
      - alert: Busy
        match: requests_total
        levels:
          - {severity: warning, expr: 'rate(1m) > 1', resolve: 'rate(1m) < 0.5'}
          - {severity: critical, expr: 'rate(1m) > 3'}
`), 0o644))
	var in strings.Builder
	for i, v := range []int{0, 240, 480, 540, 550} {
		for _, h := range []string{"a", "b"} {
			fmt.Fprintf(&in, "requests_total,host=%s value=%d %d\n", h, v, t0+int64(30*i)*1e9)
		}
	}
	code, stdout, stderr := runCLI(t, in.String(), "replay", "--rules", rulesPath, "--explain", `requests_total{host="a"}`, "-")
	require.Equal(t, exitOK, code, stderr)
	_, plain, _ := runCLI(t, in.String(), "replay", "--rules", rulesPath, "-")
	require.Equal(t, plain, stdout)
	require.Equal(t, 5, strings.Count(stderr, "\nexplain ")+btoi(strings.HasPrefix(stderr, "explain ")))
	require.NotContains(t, stderr, `host="b"`)
	require.Contains(t, stderr, `requests_total{host="a"} = 240 at`)
	require.Contains(t, stderr, "  Busy ("+rulesPath+":4:9): inactive → firing critical, emitted threshold/firing\n"+
		"    warning rate(1m) > 1 = true; rate(1m) = 4\n")
	require.Contains(t, stderr, "firing warning → inactive, emitted threshold/resolved")

	code, _, stderr = runCLI(t, "", "replay", "--explain", `up{`, "-")
	require.Equal(t, exitUsage, code)
	require.Contains(t, stderr, "--explain: invalid selector")
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestReplayExplainSaysWhenNothingIsExplained: an --explain that explains
// nothing (a selector that matches no series of the input, as a typo
// does; a series no rule selects; no --rules at all) says so on stderr,
// instead of printing nothing, as if the series had never been evaluated
// for a reason the operator has to guess. The events are unchanged and
// the exit status is 0.
func TestReplayExplainSaysWhenNothingIsExplained(t *testing.T) {
	rulesPath := writeRules(t, "rules.yaml", `groups:
  - name: g
    rules:
      - alert: Hot
        match: cpu
        expr: value > 2
`)
	var in strings.Builder
	for i := range 5 {
		for _, name := range []string{"cpu", "mem"} {
			fmt.Fprintf(&in, "%s,host=a value=%d %d\n", name, i, t0+int64(10*i)*1e9)
		}
	}
	_, plain, _ := runCLI(t, in.String(), "replay", "--rules", rulesPath, "-")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--rules", rulesPath, "--explain", `cpu{host="b"}`}, `--explain cpu{host="b"}: nothing explained: no sample of the input matches it`},
		{[]string{"--rules", rulesPath, "--explain", `mem`}, `--explain mem: nothing explained: 5 samples match it, but no rule evaluated them: no rule of --rules selects their series (or the engine took none of those samples as fresh and in order: see the summary)`},
		{[]string{"--explain", `cpu`}, `--explain cpu: nothing explained: 5 samples match it, but no rule evaluated them: without --rules there are none (the built-in detectors are not explained)`},
	} {
		code, stdout, stderr := runCLI(t, in.String(), append(append([]string{"replay"}, c.args...), "-")...)
		require.Equal(t, exitOK, code, stderr)
		require.Contains(t, stderr, "faultline replay: "+c.want+"\n", c.args)
		if len(c.args) > 2 {
			require.Equal(t, plain, stdout)
		}
	}
	// When something is explained, no such line.
	_, _, stderr := runCLI(t, in.String(), "replay", "--rules", rulesPath, "--explain", "cpu", "-")
	require.Contains(t, stderr, "explain ")
	require.NotContains(t, stderr, "nothing explained")
}
