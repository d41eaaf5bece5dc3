package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/bench/scenario"
)

// TestReplayReport: --report writes the page of what the replay saw; a
// report that cannot be written fails the run.
func TestReplayReport(t *testing.T) {
	spec := scenario.MustNamed("B02").WithN(1500).WithIncident(10*time.Minute, 10*time.Minute).WithHorizon(30 * time.Minute)
	ds, err := scenario.Generate(spec, 7)
	require.NoError(t, err)
	dir := t.TempDir()
	capture := filepath.Join(dir, "stratcond.capture")
	f, err := os.Create(capture)
	require.NoError(t, err)
	require.NoError(t, ds.WriteCapture(f))
	require.NoError(t, f.Close())

	out := filepath.Join(dir, "report.html")
	code, stdout, stderr := runCLI(t, "", "replay", "--capture", "--report", out, capture)
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stdout, `"kind":"periodic_gap"`, "the events still go to stdout")
	page, err := os.ReadFile(out)
	require.NoError(t, err)
	require.Contains(t, string(page), "One fleet periodic gap: every 1m0s")
	require.Contains(t, string(page), `class="window"`)
	require.Contains(t, string(page), "explained by fleet gap 1 (not paged)")

	missing := filepath.Join(dir, "missing", "report.html")
	code, _, stderr = runCLI(t, "", "replay", "--capture", "--report", missing, capture)
	require.Equal(t, exitFail, code)
	require.Contains(t, stderr, "faultline replay: --report "+missing+": ")
}
