package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReplayAlertLifecycle replays a per-minute series through a rule with
// severity levels and flap detection: the output names each level in the
// severity label, and a flapping episode appears as kind flapping, followed
// by the state held back while it flapped.
func TestReplayAlertLifecycle(t *testing.T) {
	values := []int{85, 97, 85, 50, 97, 50, 97, 50, 97, 50, 97}
	for len(values) < 40 {
		values = append(values, 50)
	}
	var b strings.Builder
	for i, v := range values {
		fmt.Fprintf(&b, "disk,mount=/var used=%d %d\n", v, t0+int64(i)*60e9)
	}
	rulesPath := filepath.Join(t.TempDir(), "rules.yaml")
	require.NoError(t, os.WriteFile(rulesPath, []byte(`
groups:
  - name: g
    rules:
      - alert: DiskFull
        match: disk_used
        flapping: {}
        levels:
          - {severity: warning, expr: value > 80, resolve: value < 70}
          - {severity: critical, expr: value > 95, resolve: value < 90}
        annotations: {summary: '{{ $labels.severity }} on {{ $labels.mount }}'}
`), 0o644))
	code, stdout, stderr := runCLI(t, b.String(), "replay", "--rules", rulesPath, "-")
	require.Equal(t, exitOK, code, stderr)
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		kind, state, sev := field(line, "kind"), field(line, "state"), field(line, "severity")
		got = append(got, strings.TrimSpace(kind+" "+state+" "+sev))
	}
	// Warning, critical, back to warning (85 is below critical's resolve
	// of 90), resolved at 50, critical again: five changes of state, level
	// changes included. The sixth (resolving at minute 5) makes it flap:
	// held back, and emitted when flapping ends, with the severity of the
	// last state emitted on the flapping events.
	require.Equal(t, []string{
		"threshold firing warning", "threshold firing critical", "threshold firing warning", "threshold resolved warning",
		"threshold firing critical",
		"flapping firing critical",
		"flapping resolved critical", "threshold resolved critical",
	}, got, stdout)
	require.Contains(t, stdout, `"summary":"critical on /var"`)
}

// field extracts a string field from one JSON line, crudely: enough for
// the fixed key order of the replay output.
func field(line, key string) string {
	_, rest, ok := strings.Cut(line, `"`+key+`":"`)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, `"`)
	return v
}
