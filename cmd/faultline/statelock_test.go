package main

import (
	"fmt"
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
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(args, strings.NewReader(stdin), &out, &errb) }()
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
