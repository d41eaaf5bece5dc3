package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// inCommand runs the command in this process on stdin and returns its exit
// code and stderr; a command still running after 10 s (one that started
// where it should have refused to) fails the test. The bound only detects
// a hang.
func inCommand(t *testing.T, stdin string, args ...string) (int, string) {
	t.Helper()
	return inCommandFrom(t, strings.NewReader(stdin), args...)
}

// inCommandFrom is inCommand on a reader: one left open keeps execd
// running until it refuses to start.
func inCommandFrom(t *testing.T, stdin io.Reader, args ...string) (int, string) {
	t.Helper()
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(args, stdin, &out, &errb) }()
	select {
	case code := <-done:
		return code, errb.String()
	case <-time.After(10 * time.Second):
		t.Fatalf("faultline %s still running after 10 s:\n%s", strings.Join(args, " "), errb.String())
		return 0, ""
	}
}

// passLine writes a line to a running execd and waits until it comes back
// on its stdout: the process has started (its state restored, its lock
// taken) and is working.
func passLine(t *testing.T, p *proc, line string) {
	t.Helper()
	_, err := p.stdin.Write([]byte(line + "\n"))
	require.NoError(t, err)
	eventually(t, 10*time.Second, func() bool {
		for _, l := range p.stdout() {
			if l == line {
				return true
			}
		}
		return false
	}, "execd passing "+line+" through")
}

// A --state is used by one process at a time. While an execd runs on it,
// a second execd, a run or a replay on the same state refuses to start
// (exit 1), naming the state and the process that holds it, rather than
// checkpointing over the first's; the first goes on working and stops
// cleanly with its checkpoint, after which the state can be used again.
func TestStateIsLockedWhileInUse(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	first := start(t, "execd", "--state", state, "--shards", "1")
	ts := time.Now().UnixNano()
	passLine(t, first, fmt.Sprintf("up,host=a value=1 %d", ts))

	inUse := func(cmd, stderr string) {
		t.Helper()
		require.Contains(t, stderr, "faultline "+cmd+": --state "+state+": in use by another process (PID "+strconv.Itoa(first.cmd.Process.Pid)+")")
		require.Contains(t, stderr, state+".lock")
	}
	code, stderr := inCommand(t, "", "execd", "--state", state, "--shards", "1")
	require.Equal(t, exitFail, code, stderr)
	inUse("execd", stderr)
	code, stderr = inCommand(t, "", "run", "--listen", "127.0.0.1:0", "--ui=false", "--state", state, "--shards", "1")
	require.Equal(t, exitFail, code, stderr)
	inUse("run", stderr)
	code, stderr = inCommand(t, "", "replay", "--state", state)
	require.Equal(t, exitFail, code, stderr)
	inUse("replay", stderr)

	passLine(t, first, fmt.Sprintf("up,host=a value=1 %d", ts+int64(time.Second)))
	require.NoError(t, first.stdin.Close())
	first.wait(t, 10*time.Second)
	require.FileExists(t, state, "the first execd's checkpoint")

	code, stderr = inCommand(t, "", "execd", "--state", state, "--shards", "1")
	require.Equal(t, exitOK, code, stderr)
}

// The lock dies with its process: a process killed with SIGKILL leaves its
// lock file, but not its lock, and the next one starts.
func TestStateLockDiesWithItsProcess(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	p := start(t, "execd", "--state", state, "--shards", "1")
	passLine(t, p, fmt.Sprintf("up,host=a value=1 %d", time.Now().UnixNano()))
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
	<-p.exited

	// replay first: it reads no checkpoint of execd's format.
	code, stderr := inCommand(t, "", "replay", "--state", state)
	require.Equal(t, exitOK, code, stderr)
	code, stderr = inCommand(t, "", "execd", "--state", state, "--shards", "1")
	require.Equal(t, exitOK, code, stderr)
}

// A checkpoint write killed between its temporary file's creation and its
// rename leaves that file (STATE.tmp-NUMBER, frame.WriteFile's) beside the
// state, possibly as large as a checkpoint. run, execd and replay, once
// they hold the state's lock (so that no write of another process is under
// way), remove those of their state at start, and nothing else: not the
// temporary files of other states, nor files that only look like them.
func TestStartRemovesLeftoverCheckpointTemps(t *testing.T) {
	leftovers := []string{"state.tmp-1234567890", "state.tmp-7"}
	others := []string{
		"state.tmp-", "state.tmp-12x", "state.tmp-1.bak", "state.tmp--1",
		"other.tmp-1", "xstate.tmp-1", "state2.tmp-1", ".state.123", "state.lock.tmp-1",
	}
	for _, cmd := range []string{"execd", "replay", "run"} {
		t.Run(cmd, func(t *testing.T) {
			dir := t.TempDir()
			state := filepath.Join(dir, "state")
			for _, name := range append(append([]string{}, leftovers...), others...) {
				require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("checkpoint being written"), 0o600))
			}
			// A directory of that name is not a temporary file.
			require.NoError(t, os.Mkdir(filepath.Join(dir, "state.tmp-99"), 0o755))
			others := append(others, "state.tmp-99")

			switch cmd {
			case "run":
				p := start(t, "run", "--listen", "127.0.0.1:0", "--ui=false", "--state", state, "--shards", "1")
				p.stop(t)
			case "execd":
				code, stderr := inCommand(t, "", "execd", "--state", state, "--shards", "1")
				require.Equal(t, exitOK, code, stderr)
			default:
				code, stderr := inCommand(t, "", "replay", "--state", state)
				require.Equal(t, exitOK, code, stderr)
			}
			for _, name := range leftovers {
				require.NoFileExists(t, filepath.Join(dir, name), "a leftover of a killed checkpoint write")
			}
			for _, name := range others {
				_, err := os.Stat(filepath.Join(dir, name))
				require.NoError(t, err, "%s is not this state's temporary file", name)
			}
		})
	}
}
