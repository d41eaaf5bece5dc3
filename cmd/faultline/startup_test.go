package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// startupRules is a valid rule file for the startup tests.
const startupRules = `groups:
  - name: disks
    rules:
      - alert: DiskAlmostFull
        match: disk_used_percent
        expr: value > 90
`

// liveArgs returns the arguments of cmd, run or execd, on the rule file
// rules and the state, with one shard, logging at info; run listens on a
// free port, without its UI.
func liveArgs(cmd, rules, state string) []string {
	args := []string{cmd, "--rules", rules, "--state", state, "--shards", "1", "--log-level", "info"}
	if cmd == "run" {
		args = append(args, "--listen", "127.0.0.1:0", "--ui=false")
	}
	return args
}

// openFIFOToWrite opens the FIFO path to write, on a goroutine of its own:
// the file comes on opened once a reader has opened the FIFO. free
// releases that goroutine when no reader came.
func openFIFOToWrite(path string) (opened <-chan *os.File, free func()) {
	ch := make(chan *os.File, 1)
	go func() {
		if f, err := os.OpenFile(path, os.O_WRONLY, 0); err == nil {
			ch <- f
		}
	}()
	return ch, func() {
		if f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	}
}

// A signal that comes while run or execd is starting (reading its rules,
// restoring a large checkpoint) is handled as one that comes later:
// SIGHUP (systemctl reload) reloads the rules once it runs, SIGTERM stops
// it cleanly with its checkpoint; neither kills it. Its rule file is a FIFO,
// so the test knows when the process is reading it: the signal is sent
// then, and the rules written after it. The real-time bounds only detect a
// hang or a death.
func TestSignalDuringStartup(t *testing.T) {
	bin := faultlineBinary(t)
	for _, tc := range []struct {
		cmd string
		sig syscall.Signal
	}{
		{"execd", syscall.SIGHUP},
		{"execd", syscall.SIGTERM},
		{"run", syscall.SIGHUP},
		{"run", syscall.SIGTERM},
	} {
		t.Run(tc.cmd+" "+tc.sig.String(), func(t *testing.T) {
			dir := t.TempDir()
			rules := filepath.Join(dir, "rules.yaml")
			require.NoError(t, syscall.Mkfifo(rules, 0o600))
			state := filepath.Join(dir, "state")
			cmd := exec.Command(bin, liveArgs(tc.cmd, rules, state)...)
			stdin, err := cmd.StdinPipe() // left open: execd runs until a signal
			require.NoError(t, err)
			defer stdin.Close()
			var errb syncBuffer
			cmd.Stderr = &errb
			require.NoError(t, cmd.Start())
			exited := make(chan struct{})
			go func() { _ = cmd.Wait(); close(exited) }()
			defer func() {
				select {
				case <-exited:
				default:
					_ = cmd.Process.Kill()
					<-exited
				}
			}()

			// Opening the FIFO to write returns once faultline has opened
			// it to read its rules.
			opened, free := openFIFOToWrite(rules)
			var fifo *os.File
			select {
			case fifo = <-opened:
			case <-exited:
				free()
				t.Fatalf("faultline exited before it read its rules:\n%s", errb.String())
			}
			// A reload reads a plain file: the FIFO is replaced under the
			// open descriptor.
			next := filepath.Join(dir, "next.yaml")
			require.NoError(t, os.WriteFile(next, []byte(startupRules), 0o644))
			require.NoError(t, os.Rename(next, rules))
			require.NoError(t, cmd.Process.Signal(tc.sig))
			_, err = fifo.WriteString(startupRules)
			require.NoError(t, err)
			require.NoError(t, fifo.Close())

			if tc.sig == syscall.SIGHUP {
				eventually(t, 10*time.Second, func() bool {
					select {
					case <-exited:
						t.Fatalf("faultline %s died of a %v during its startup (%v):\n%s", tc.cmd, tc.sig, cmd.ProcessState, errb.String())
					default:
					}
					return strings.Contains(errb.String(), "rules reloaded")
				}, "the reload the SIGHUP asked for")
				require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
			}
			select {
			case <-exited:
			case <-time.After(15 * time.Second):
				t.Fatalf("faultline %s did not exit within 15 s of SIGTERM:\n%s", tc.cmd, errb.String())
			}
			require.Equal(t, exitOK, cmd.ProcessState.ExitCode(), "%v:\n%s", cmd.ProcessState, errb.String())
			require.FileExists(t, state, "the checkpoint of the shutdown")
		})
	}
}

// A SIGTERM that comes while a reload (SIGHUP) is under way stops run or
// execd cleanly, exit 0, with its last checkpoint; the reload is abandoned
// (the old rules stay, the next start reads the files) and the log says
// so. The reload used to run on the loop that waits for SIGTERM: one stuck
// reading a rule file (here a FIFO that no one writes, as a hung network
// file system would leave it) kept the process from stopping at all. The
// real-time bounds only detect a hang.
func TestSignalDuringReload(t *testing.T) {
	for _, cmd := range []string{"execd", "run"} {
		t.Run(cmd, func(t *testing.T) {
			dir := t.TempDir()
			rules := filepath.Join(dir, "rules.yaml")
			require.NoError(t, os.WriteFile(rules, []byte(startupRules), 0o644))
			state := filepath.Join(dir, "state")
			p := start(t, liveArgs(cmd, rules, state)...)
			if cmd == "execd" {
				passLine(t, p, fmt.Sprintf("up,host=a value=1 %d", time.Now().UnixNano())) // it runs
			}

			// The rule file becomes a FIFO: opening it to write returns once
			// the reload has opened it to read, which then waits for its
			// text.
			require.NoError(t, os.Remove(rules))
			require.NoError(t, syscall.Mkfifo(rules, 0o600))
			opened, free := openFIFOToWrite(rules)
			require.NoError(t, p.cmd.Process.Signal(syscall.SIGHUP))
			select {
			case fifo := <-opened:
				defer fifo.Close()
			case <-time.After(10 * time.Second):
				free()
				t.Fatalf("faultline %s did not read its rules at SIGHUP:\n%s", cmd, p.stderr.String())
			}

			p.stop(t)
			require.FileExists(t, state, "the checkpoint of the shutdown")
			require.Contains(t, p.stderr.String(), "stopping during a reload: it is abandoned")
			require.NotContains(t, p.stderr.String(), "level=ERROR")
		})
	}
}

// A certificate or key run cannot load is named with its flag: crypto/tls
// says only "certificate input" or "key input".
func TestRunNamesTheTLSFilesItCannotLoad(t *testing.T) {
	dir := t.TempDir()
	cert, key, _ := selfSigned(t, dir)
	junk := filepath.Join(dir, "junk.pem")
	require.NoError(t, os.WriteFile(junk, []byte("junk\n"), 0o600))
	for _, files := range [][2]string{{junk, key}, {cert, junk}, {cert, cert}} {
		code, _, stderr := runCLI(t, "", "run", "--listen", "127.0.0.1:0", "--tls-cert", files[0], "--tls-key", files[1])
		require.Equal(t, exitFail, code, stderr)
		require.Contains(t, stderr, "faultline run: --tls-cert "+files[0]+", --tls-key "+files[1]+": tls: ")
	}
}

// run and execd refuse at start a --state they cannot write a checkpoint
// to (here its directory is missing), as they refuse one they cannot read:
// they used to run without one, logging an error a minute, and to lose
// their state at the restart.
func TestLiveRefusesAStateItCannotWrite(t *testing.T) {
	state := filepath.Join(t.TempDir(), "missing", "state")
	// execd's input stays open: only a refusal at start ends it.
	pr, pw := io.Pipe()
	defer pw.Close()
	code, stderr := inCommandFrom(t, pr, "execd", "--state", state, "--shards", "1")
	require.Equal(t, exitFail, code, stderr)
	require.Contains(t, stderr, "faultline execd: --state "+state+": ")
	// run is given an address it cannot listen on: if it started, it
	// would end at once, but on another error.
	code, _, stderr = runCLI(t, "", "run", "--listen", "127.0.0.1:-1", "--state", state, "--shards", "1", "--ui=false")
	require.Equal(t, exitFail, code, stderr)
	require.Contains(t, stderr, "faultline run: --state "+state+": ")
}

// A limit or an interval out of range is a usage error that names its
// flag. run, execd and replay used to take 0 (and for the inputs' limits
// any value below 0) for the default without a word: --max-conns 0 was
// 1,024 connections, --busy-timeout 0 a second, --checkpoint-every 0 a
// minute, --on-time-budget 0 a second; and they refused a negative
// --shards, --absent-after or --dedup-window with exit 1 and without the
// flag's name. --read-timeout, --write-timeout and --idle-timeout 0 (or
// below) used to lift the HTTP server's bound altogether: a client sending
// a byte a minute held its connection, one of --max-conns, for ever.
func TestFlagsOutOfRange(t *testing.T) {
	for _, tc := range []struct{ cmd, flag, value string }{
		{"run", "max-body", "0"},
		{"run", "max-line", "-5"},
		{"run", "max-conns", "0"},
		{"run", "busy-timeout", "0s"},
		{"run", "tcp-idle-timeout", "-1s"},
		{"run", "read-timeout", "0s"},
		{"run", "write-timeout", "0s"},
		{"run", "idle-timeout", "-1s"},
		{"run", "checkpoint-every", "0s"},
		{"run", "on-time-budget", "0s"},
		{"run", "lateness", "0s"},
		{"run", "shards", "-1"},
		{"run", "absent-after", "-1s"},
		{"run", "dedup-window", "-1s"},
		{"execd", "max-line", "0"},
		{"execd", "checkpoint-every", "-1s"},
		{"execd", "on-time-budget", "0s"},
		{"execd", "shards", "-1"},
		{"replay", "on-time-budget", "0s"},
		{"replay", "lateness", "0s"},
	} {
		args := []string{tc.cmd, "--" + tc.flag, tc.value}
		if tc.cmd == "run" {
			// An address it cannot listen on ends it at once if it starts.
			args = append(args, "--listen", "127.0.0.1:-1", "--ui=false")
		}
		code, _, stderr := runCLI(t, "", args...)
		require.Equal(t, exitUsage, code, "%v: %s", args, stderr)
		require.Contains(t, stderr, "faultline "+tc.cmd+": --"+tc.flag+" must be ", args)
	}
	code, _, stderr := runCLI(t, "", "execd", "--shards", "0", "--absent-after", "0s", "--dedup-window", "0s")
	require.Equal(t, exitOK, code, "0 is their documented default: %s", stderr)
}
