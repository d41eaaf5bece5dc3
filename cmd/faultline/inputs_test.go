package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// replay reads a named pipe (mkfifo) given as an input. The check that
// every input can be opened, made before any output, must not open and
// close it: that ended the writer's stream (EPIPE, or its records lost
// with the pipe, and replay waiting for a writer that never came). The
// real-time bound only detects that wait.
func TestReplayReadsANamedPipe(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "capture.lp")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	var b strings.Builder
	for s := range 10 {
		fmt.Fprintf(&b, "temp,room=a value=%d %d\n", 20+s, t0+int64(s)*10e9)
	}
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() { done <- run([]string{"replay", fifo}, strings.NewReader(""), &out, &errb) }()
	// The writer, as a shell's `cat capture.lp > fifo`: open, write, close.
	w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	require.NoError(t, err)
	_, werr := w.WriteString(b.String())
	require.NoError(t, w.Close())
	select {
	case code := <-done:
		require.NoError(t, werr, "the writer's stream was cut")
		require.Equal(t, exitOK, code, errb.String())
	case <-time.After(10 * time.Second):
		// Free replay from its wait for a writer.
		if w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			w.Close()
		}
		<-done
		t.Fatalf("replay waited for a writer of the pipe it had read (write error: %v):\n%s", werr, errb.String())
	}
	require.Contains(t, errb.String(), "records 10, samples 10", "every record read")
}

// replay refuses a directory among its inputs before it reads any, as it
// refuses a missing file. Opening a directory succeeds, so the check let it
// pass: replay failed at its read, once the inputs before it had been read
// and their bad records reported.
func TestReplayRefusesADirectoryBeforeReading(t *testing.T) {
	dir := t.TempDir()
	first := filepath.Join(dir, "first.lp")
	require.NoError(t, os.WriteFile(first, []byte("temp,room=a value=oops 1\n"), 0o644))
	code, stdout, stderr := runCLI(t, "", "replay", first, dir)
	require.Equal(t, exitFail, code, stderr)
	require.Empty(t, stdout)
	require.Equal(t, "faultline replay: "+dir+": is a directory\n", stderr)
}

// replay refuses, before it reads anything, a --report or a --state it
// could not write (here their directory is missing). It used to find out
// at the end for the report, after a whole replay's events, and at the
// first checkpoint for the state, or never if none was due.
func TestReplayRefusesOutputsItCannotWrite(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	const input = "temp,room=a value=oops 1\n" // a bad record: one bad_input event
	for _, flag := range []string{"--report", "--state"} {
		path := filepath.Join(missing, "out")
		code, stdout, stderr := runCLI(t, input, "replay", flag, path, "-")
		require.Equal(t, exitFail, code, "%s: %s", flag, stderr)
		require.Empty(t, stdout, flag)
		require.True(t, strings.HasPrefix(stderr, "faultline replay: "+flag+" "+path+": "), "%s: %s", flag, stderr)
	}
}

// TestReplayHintsAtCaptureWithoutTheFlag: a capture replayed without
// --capture fails on every record with the line protocol parser's view of
// it (the arrival time read as a measurement: "want '=' after field key"),
// which does not say what is wrong; replay says once, after the first such
// error, that the input looks like a capture and wants --capture. Line
// protocol that fails on its own gets no such hint.
func TestReplayHintsAtCaptureWithoutTheFlag(t *testing.T) {
	in := upCapture(60, nil)
	code, _, stderr := runCLI(t, in, "replay", "-")
	require.Equal(t, exitOK, code, stderr)
	hint := "faultline replay: <stdin>:1: this looks like a capture (<arrival_unix_ns> <line protocol>): replay it with --capture\n"
	require.Contains(t, stderr, hint)
	require.Equal(t, 1, strings.Count(stderr, "looks like a capture"), "said once")
	require.Less(t, strings.Index(stderr, "<stdin>:1:"), strings.Index(stderr, hint), "after the first error")

	_, _, stderr = runCLI(t, "up,host=a value= 1\nup host=a\n", "replay", "-")
	require.Contains(t, stderr, "<stdin>:1:")
	require.NotContains(t, stderr, "looks like a capture")
	_, _, stderr = runCLI(t, in, "replay", "--capture", "-")
	require.NotContains(t, stderr, "looks like a capture")
}
