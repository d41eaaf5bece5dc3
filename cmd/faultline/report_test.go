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

// TestReplayReportRefusesResumedState: the report is drawn from what the
// engine observes while it runs, and a checkpoint does not hold it, so a
// replay resumed from --state would draw only the records after the
// checkpoint ("No fleet periodic gap" for a run that had one). Resuming
// with --report is refused, exit 1, before anything is printed or written.
func TestReplayReportRefusesResumedState(t *testing.T) {
	in := upCapture(600, nil)
	dir := t.TempDir()
	state, page := filepath.Join(dir, "state"), filepath.Join(dir, "report.html")
	code, _, stderr := runCLI(t, in, "replay", "--capture", "--state", state, "--checkpoint-every", "1m", "--report", page)
	require.Equal(t, exitOK, code, stderr)
	require.FileExists(t, page, "a run that starts afresh writes its report")
	require.NoError(t, os.Remove(page))

	code, stdout, stderr := runCLI(t, in, "replay", "--capture", "--state", state, "--report", page)
	require.Equal(t, exitFail, code, stderr)
	require.Empty(t, stdout)
	require.Contains(t, stderr, "--report")
	require.Contains(t, stderr, state)
	require.NoFileExists(t, page, "no report of part of the input")

	// Without --report, the same state resumes.
	code, _, stderr = runCLI(t, in, "replay", "--capture", "--state", state)
	require.Equal(t, exitOK, code, stderr)
}

// TestReplayRefusesADirectoryAsOutput: a --report or --state that names a
// directory is refused before anything is read, exit 1, naming the flag.
// A --report directory passed the check made before reading, so the whole
// input was replayed, for as long as that takes, before the report's
// rename failed ("rename …/.out.123 …/out: file exists").
func TestReplayRefusesADirectoryAsOutput(t *testing.T) {
	dir := t.TempDir()
	in := upCapture(600, nil)
	for _, flag := range []string{"--report", "--state"} {
		code, stdout, stderr := runCLI(t, in, "replay", "--capture", flag, dir, "-")
		require.Equal(t, exitFail, code, flag)
		require.Empty(t, stdout, flag)
		require.Equal(t, "faultline replay: "+flag+" "+dir+": is a directory\n", stderr, flag)
	}
	require.NoFileExists(t, dir+".lock", "refused before the state is locked")
}
