package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/bench/scenario"
)

const stateRules = `
series:
  - match: 'check_up{check=~"c00000."}'
    cadence: 60s
groups:
  - name: state
    rules:
      - alert: High
        expr: value > 7
        for: 2m
      - alert: Spike
        match: 'check_up{check=~"c0000[0-3]."}'
        expr: value >= 9
`

// stateCapture returns a capture of a small stratcond-like fleet losing
// samples (fleet gap, absences) whose values move (threshold episodes),
// with redeliveries about a minute late and a few malformed records.
func stateCapture(t *testing.T) []string {
	t.Helper()
	spec := scenario.MustNamed("B02").WithN(500).WithIncident(8*time.Minute, 6*time.Minute).WithHorizon(18 * time.Minute)
	ds, err := scenario.Generate(spec, 21)
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, ds.WriteCapture(&buf))
	var out []string
	var redeliver [][]string
	sc := bufio.NewScanner(&buf)
	for i := 0; sc.Scan(); i++ {
		line := sc.Text()
		// <arrival> check_up,check=c000042 value=1 <sample time>
		if f := strings.Fields(line); len(f) == 4 && f[2] == "value=1" {
			h := fnv.New32a()
			h.Write([]byte(f[1]))
			ts := f[3]
			min := ts[:len(ts)-10] // sample time in units of 10 s
			h.Write([]byte(min[:len(min)-1]))
			f[2] = fmt.Sprintf("value=%d", h.Sum32()%10)
			line = strings.Join(f, " ")
		}
		out = append(out, line)
		if f := strings.Fields(line); len(f) == 4 && i%3 == 0 {
			// Redelivered a minute later (about 500 records on), with that
			// record's arrival time: often across a checkpoint.
			redeliver = append(redeliver, f)
		}
		if len(redeliver) > 0 && i%3 == 2 && i >= 1500 {
			f := redeliver[0]
			redeliver = redeliver[1:]
			out = append(out, strings.Join(append([]string{strings.Fields(line)[0]}, f[1:]...), " "))
		}
		if i%4000 == 1999 {
			out = append(out, "1767225600000000000 not a record")
		}
	}
	return out
}

// kill says when runBinary kills the binary with SIGKILL: once the first
// records input lines are written to its stdin, or once it has printed
// lines events; with neither (both < 0) it runs to completion.
type kill struct{ records, lines int }

// runBinary runs the faultline binary on input and returns the complete
// lines it printed before it ended or was killed, and its stderr.
func runBinary(t *testing.T, bin string, input []string, k kill, args ...string) ([]string, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	killed := k.records >= 0 || k.lines >= 0
	written := make(chan struct{})
	go func() {
		defer close(written)
		w := bufio.NewWriter(stdin)
		n := len(input)
		if k.records >= 0 {
			n = k.records
		}
		for _, line := range input[:n] {
			if _, err := w.WriteString(line + "\n"); err != nil {
				break // killed
			}
		}
		_ = w.Flush()
		if k.records >= 0 {
			_ = cmd.Process.Signal(syscall.SIGKILL)
		}
		_ = stdin.Close()
	}()
	var lines []string
	r := bufio.NewReader(stdout)
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			break // at the end, a line cut by the kill is not an event
		}
		lines = append(lines, strings.TrimSuffix(l, "\n"))
		if len(lines) == k.lines {
			_ = cmd.Process.Signal(syscall.SIGKILL)
		}
	}
	<-written
	err = cmd.Wait()
	if !killed {
		require.NoError(t, err, stderr.String())
	}
	return lines, stderr.String()
}

// TestReplayStateSurvivesKill9 is replay --state's contract: a replay
// killed with SIGKILL at arbitrary points, and run again each time on the
// same input from the beginning, prints, over all its runs, exactly the
// events of an uninterrupted run: no transition lost, none different.
func TestReplayStateSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "faultline")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())
	rulesPath := filepath.Join(dir, "rules.yaml")
	require.NoError(t, os.WriteFile(rulesPath, []byte(stateRules), 0o644))
	input := stateCapture(t)

	args := []string{"replay", "--capture", "--rules", rulesPath, "--batch", "64"}
	want, wantSummary := runBinary(t, bin, input, kill{-1, -1}, args...)
	kinds := map[string]bool{}
	wantSet := map[string]bool{}
	for _, l := range want {
		var ev struct{ ID, Kind string }
		require.NoError(t, json.Unmarshal([]byte(l), &ev))
		kinds[ev.Kind] = true
		require.False(t, wantSet[l], "the uninterrupted run prints each event once")
		wantSet[l] = true
	}
	for _, k := range []string{"periodic_gap", "absence", "threshold"} {
		require.True(t, kinds[k], "the capture raises %s: %v", k, kinds)
	}
	var fresh, dups int
	_, err := fmt.Sscanf(wantSummary[strings.Index(wantSummary, "fresh "):], "fresh %d, duplicates %d", &fresh, &dups)
	require.NoError(t, err, wantSummary)
	require.Greater(t, dups, fresh/4, "redeliveries: %s", wantSummary)

	state := filepath.Join(dir, "replay.state")
	args = append(args, "--state", state, "--checkpoint-every", "90s")
	rng := rand.New(rand.NewPCG(5, 8))
	got := map[string]string{} // id → line
	union := map[string]bool{}
	add := func(lines []string) {
		for _, l := range lines {
			var ev struct{ ID string }
			require.NoError(t, json.Unmarshal([]byte(l), &ev), l)
			if prev, ok := got[ev.ID]; ok {
				require.Equal(t, prev, l, "event %s printed twice, differently", ev.ID)
			}
			got[ev.ID] = l
			union[l] = true
		}
	}
	resumed := 0
	for i := range 20 {
		k := kill{records: -1, lines: -1}
		ck, err := readCheckpoint(state)
		if err == nil {
			resumed++
		}
		if i%2 == 0 {
			// Some way past the checkpoint, in the input …
			k.records = int(ck.position) + 1 + rng.IntN(len(input)-int(ck.position))
		} else {
			// … or in the output.
			k.lines = 1 + rng.IntN(200)
		}
		lines, _ := runBinary(t, bin, input, k, args...)
		t.Logf("run %d from record %d, killed at %+v: %d events", i, ck.position, k, len(lines))
		add(lines)
	}
	require.GreaterOrEqual(t, resumed, 10, "most runs resume from a checkpoint")
	lines, summary := runBinary(t, bin, input, kill{-1, -1}, args...)
	add(lines)
	require.Equal(t, wantSummary, summary, "the summary counts what the uninterrupted run's does")
	for l := range wantSet {
		require.True(t, union[l], "event lost: %s", l)
	}
	for l := range union {
		require.True(t, wantSet[l], "event not in the uninterrupted run: %s", l)
	}
}

// TestReplayStateRefusesBadCheckpoints: a damaged state file, or one saved
// under other flags, is refused with exit 1 and a reason, not resumed.
func TestReplayStateRefusesBadCheckpoints(t *testing.T) {
	in := upCapture(600, nil)
	state := filepath.Join(t.TempDir(), "state")
	code, _, stderr := runCLI(t, in, "replay", "--capture", "--state", state, "--checkpoint-every", "1m")
	require.Equal(t, exitOK, code, stderr)
	good, err := os.ReadFile(state)
	require.NoError(t, err)
	ck, err := readCheckpoint(state)
	require.NoError(t, err)
	require.Positive(t, ck.position)

	code, _, stderr = runCLI(t, in, "replay", "--capture", "--state", state, "--lateness", "2m")
	require.Equal(t, exitFail, code)
	require.Contains(t, stderr, "other rules or flags")

	for _, bad := range [][]byte{good[:len(good)/2], append(bytes.Clone(good[:40]), good[41:]...), []byte("junk")} {
		require.NoError(t, os.WriteFile(state, bad, 0o644))
		code, stdout, stderr := runCLI(t, in, "replay", "--capture", "--state", state)
		require.Equal(t, exitFail, code)
		require.Empty(t, stdout)
		require.Contains(t, stderr, "not a readable checkpoint")
	}
}

// TestReplayStateRefusesAnotherInput: a checkpoint covers the records it
// was taken after; resuming on another input, or on a shorter one, is
// refused with exit 1 and nothing printed, and the same input resumes.
func TestReplayStateRefusesAnotherInput(t *testing.T) {
	input := func(host string, n int) string {
		var in strings.Builder
		for s := int64(0); s < int64(n); s += 10 {
			ts := t0 + s*int64(time.Second)
			fmt.Fprintf(&in, "%d up,host=%s value=1 %d\n", ts, host, ts)
		}
		return in.String()
	}
	state := filepath.Join(t.TempDir(), "state")
	a := input("a", 600)
	code, _, stderr := runCLI(t, a, "replay", "--capture", "--state", state, "--checkpoint-every", "1m")
	require.Equal(t, exitOK, code, stderr)
	ck, err := readCheckpoint(state)
	require.NoError(t, err)
	require.Positive(t, ck.position)

	for _, other := range []string{
		input("b", 600), // another host: every record differs
		strings.Replace(a, "value=1", "value=2", 1), // the first record differs
		a[:strings.Index(a, "\n")+1],                // shorter than the checkpoint
	} {
		code, stdout, stderr := runCLI(t, other, "replay", "--capture", "--state", state)
		require.Equal(t, exitFail, code, stderr)
		require.Empty(t, stdout)
		require.Contains(t, stderr, "does not match the checkpoint")
		require.Contains(t, stderr, "remove it to start afresh")
	}
	// Blank lines and comments are not records: the same records resume.
	code, _, stderr = runCLI(t, "# a comment\n\n"+a, "replay", "--capture", "--state", state)
	require.Equal(t, exitOK, code, stderr)
}
