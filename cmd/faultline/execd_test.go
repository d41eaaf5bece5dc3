package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
	"github.com/stretchr/testify/require"
)

// execdCommandRE finds the command of the README's processors.execd
// snippet.
var execdCommandRE = regexp.MustCompile(`(?s)\[\[processors\.execd\]\].*?command = \[([^\]]*)\]`)

// readmeExecd returns the README's processors.execd command, made to run
// here: the faultline binary for its program, and for each absolute path
// among its arguments, a file of that name in dir (the README's files are
// written there).
func readmeExecd(t *testing.T, dir string) []string {
	t.Helper()
	src, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	m := execdCommandRE.FindSubmatch(src)
	require.NotNil(t, m, "the README shows a processors.execd snippet")
	var argv []string
	for _, q := range regexp.MustCompile(`"(?:[^"\\]|\\.)*"`).FindAllString(string(m[1]), -1) {
		s, err := strconv.Unquote(q) // a TOML basic string, as Go reads it
		require.NoError(t, err, q)
		argv = append(argv, s)
	}
	require.GreaterOrEqual(t, len(argv), 2)
	require.Equal(t, "faultline", filepath.Base(argv[0]))
	require.Equal(t, "execd", argv[1])
	files, _ := readmeBlocks(t)
	for name, body := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
	}
	argv[0] = faultlineBinary(t)
	for i := 2; i < len(argv); i++ {
		if filepath.IsAbs(argv[i]) {
			argv[i] = filepath.Join(dir, filepath.Base(argv[i]))
		}
	}
	return argv
}

// telegraf drives a processor as Telegraf's processors.execd does: it
// writes each metric, serialised as line protocol, with one write to the
// process's stdin; it reads the process's stdout as a stream of line
// protocol metrics; it logs each line of its stderr; to stop it, it closes
// stdin and waits 5 s before SIGTERM, then 5 s before SIGKILL.
type telegraf struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	mu      sync.Mutex
	out     []string // stdout lines, each a metric
	bad     []string // stdout lines that are not valid line protocol
	stderr  []string
	exited  chan struct{}
	waitErr error
}

func startTelegrafProcessor(t *testing.T, argv []string) *telegraf {
	t.Helper()
	tg := &telegraf{cmd: exec.Command(argv[0], argv[1:]...), exited: make(chan struct{})}
	var err error
	tg.stdin, err = tg.cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := tg.cmd.StdoutPipe()
	require.NoError(t, err)
	stderr, err := tg.cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, tg.cmd.Start())
	var readers sync.WaitGroup
	readers.Go(func() {
		r := bufio.NewReaderSize(stdout, 1<<20)
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return
			}
			dec := lineprotocol.NewDecoderWithBytes([]byte(l))
			ok := dec.Next()
			if ok {
				_, err = dec.Measurement()
				for err == nil {
					var k []byte
					if k, _, err = dec.NextTag(); k == nil {
						break
					}
				}
				for err == nil {
					var k []byte
					if k, _, err = dec.NextField(); k == nil {
						break
					}
				}
				if err == nil {
					_, err = dec.Time(lineprotocol.Nanosecond, time.Time{})
				}
			}
			tg.mu.Lock()
			tg.out = append(tg.out, l)
			if !ok || err != nil {
				tg.bad = append(tg.bad, fmt.Sprintf("%q: %v", l, err))
			}
			tg.mu.Unlock()
		}
	})
	readers.Go(func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			tg.mu.Lock()
			tg.stderr = append(tg.stderr, sc.Text())
			tg.mu.Unlock()
			t.Logf("E! [processors.execd] stderr: %q", sc.Text())
		}
	})
	go func() {
		readers.Wait()
		tg.waitErr = tg.cmd.Wait()
		close(tg.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-tg.exited:
		default:
			_ = tg.cmd.Process.Kill()
			<-tg.exited
		}
	})
	return tg
}

// add writes one metric, as Telegraf's Add does.
func (tg *telegraf) add(t *testing.T, line string) {
	t.Helper()
	_, err := tg.stdin.Write([]byte(line))
	require.NoError(t, err)
}

func (tg *telegraf) lines() []string {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return append([]string(nil), tg.out...)
}

// stop stops the process as Telegraf does and reports how: "eof" if it
// exited within 5 s of its stdin closing, "sigterm" or "sigkill" if it
// took those.
func (tg *telegraf) stop() string {
	_ = tg.stdin.Close()
	select {
	case <-tg.exited:
		return "eof"
	case <-time.After(5 * time.Second):
	}
	_ = tg.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-tg.exited:
		return "sigterm"
	case <-time.After(5 * time.Second):
	}
	_ = tg.cmd.Process.Kill()
	<-tg.exited
	return "sigkill"
}

// events returns the faultline_event lines among lines with their tags.
func events(lines []string) []map[string]string {
	var out []map[string]string
	for _, l := range lines {
		if !strings.HasPrefix(l, "faultline_event,") {
			continue
		}
		dec := lineprotocol.NewDecoderWithBytes([]byte(l))
		if !dec.Next() {
			continue
		}
		tags := map[string]string{}
		for {
			k, v, err := dec.NextTag()
			if err != nil || k == nil {
				break
			}
			tags[string(k)] = string(v)
		}
		out = append(out, tags)
	}
	return out
}

// TestExecdAsTelegrafDrivesIt runs the README's processors.execd snippet
// as Telegraf runs it. Every metric comes back on stdout byte for byte, in
// order, awkward ones included (escapes, string fields, a 100 KiB line, a
// record faultline itself rejects); the README's rule fires as a
// faultline_event metric; fed back in, that event passes through and is
// rejected by the loop guard (one feedback_loop event). Closing stdin
// stops it within Telegraf's 5 s, exit 0, with its checkpoint written; a
// second run on that state stops at SIGTERM, exit 0.
func TestExecdAsTelegrafDrivesIt(t *testing.T) {
	dir := t.TempDir()
	argv := readmeExecd(t, dir)
	tg := startTelegrafProcessor(t, argv)

	ts := time.Now().UnixNano()
	var in []string
	for i, host := range []string{"db1", "db2"} {
		used := []int{97, 40}[i]
		in = append(in,
			fmt.Sprintf("cpu,cpu=cpu-total,host=%s usage_idle=97.5,usage_user=1.25 %d\n", host, ts),
			fmt.Sprintf("disk,device=sda1,fstype=ext4,host=%s,mode=rw,path=/ free=1024i,total=20480i,used=19456i,used_percent=%d %d\n", host, used, ts),
		)
	}
	in = append(in,
		fmt.Sprintf("syslog,appname=cron,host=db1 message=\"job \\\"backup\\\" done in C:\\\\tmp: ünïcödé\",severity_code=6i %d\n", ts),
		fmt.Sprintf("win_disk,host=db1,instance=C:\\ drive,object=Logical\\,Disk\\=x free_megabytes=1024 %d\n", ts),
		fmt.Sprintf("net,host=db1,interface=eth0 bytes_recv=123u,up=true %d\n", ts),
		fmt.Sprintf("big,host=db1 blob=\"%s\",n=1i %d\n", strings.Repeat("x", 100<<10), ts),
		fmt.Sprintf("weird,__meta=x value=1 %d\n", ts), // faultline rejects the tag, Telegraf does not
	)
	for _, l := range in {
		tg.add(t, l)
	}
	eventually(t, 10*time.Second, func() bool {
		for _, ev := range events(tg.lines()) {
			if ev["faultline_rule"] == "DiskAlmostFull" && ev["faultline_state"] == "firing" && ev["host"] == "db1" {
				return true
			}
		}
		return false
	}, "DiskAlmostFull firing for db1")
	var fired string
	for _, l := range tg.lines() {
		if strings.HasPrefix(l, "faultline_event,") && strings.Contains(l, "faultline_rule=DiskAlmostFull") {
			fired = l
		}
	}
	require.Contains(t, fired, "faultline_origin=faultline")
	require.Contains(t, fired, "severity=page")
	// Fed back, as by an output that reaches an input of the same Telegraf.
	in = append(in, fired)
	tg.add(t, fired)
	eventually(t, 10*time.Second, func() bool {
		for _, ev := range events(tg.lines()) {
			if ev["faultline_kind"] == "feedback_loop" {
				return true
			}
		}
		return false
	}, "the feedback loop reported")

	require.Equal(t, "eof", tg.stop(), "it exits within 5 s of its stdin closing")
	require.NoError(t, tg.waitErr)
	_, err := os.Stat(filepath.Join(dir, "faultline.state"))
	require.NoError(t, err, "the checkpoint written at the end")

	// Every metric passed through unchanged, in order; the other lines are
	// faultline's events.
	out := tg.lines()
	require.Empty(t, tg.bad, "stdout is line protocol")
	next, emitted := 0, 0
	for _, l := range out {
		if next < len(in) && l == in[next] {
			next++
			continue
		}
		require.True(t, strings.HasPrefix(l, "faultline_event,"), "a line that is neither passed through nor an event: %.200q", l)
		emitted++
	}
	require.Equal(t, len(in), next, "every metric passed through, byte for byte, in order")
	require.GreaterOrEqual(t, emitted, 2)
	for _, l := range tg.stderr {
		require.NotContains(t, l, "level=INFO", "Telegraf logs stderr as errors: only warnings and errors go there")
	}

	// Restarted on the state; SIGTERM stops it while its stdin is open.
	tg = startTelegrafProcessor(t, argv)
	line := fmt.Sprintf("cpu,cpu=cpu-total,host=db1 usage_idle=90 %d\n", time.Now().UnixNano())
	tg.add(t, line)
	eventually(t, 10*time.Second, func() bool {
		for _, l := range tg.lines() {
			if l == line {
				return true
			}
		}
		return false
	}, "the metric passed through")
	require.NoError(t, tg.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-tg.exited:
	case <-time.After(5 * time.Second):
		t.Fatal("no exit within 5 s of SIGTERM")
	}
	require.NoError(t, tg.waitErr)
	var kinds []string
	for _, ev := range events(tg.lines()) {
		kinds = append(kinds, ev["faultline_kind"]+"/"+ev["faultline_state"])
	}
	require.Equal(t, []string{"collector_down/resolved"}, kinds, "the downtime between the runs; db1's disk alert stays open, not repeated")
}

// faultline execd stops at SIGTERM even when the last read from stdin ended
// in the middle of a line: the events of the shutdown are written, the
// open line is ended, and it exits 0.
func TestExecdStopsMidLine(t *testing.T) {
	rules := writeRules(t, "rules.yaml", `groups:
  - name: disks
    rules:
      - alert: DiskAlmostFull
        match: disk_used_percent
        expr: value > 90
`)
	pr, pw := io.Pipe()
	defer pw.Close()
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run([]string{"execd", "--rules", rules, "--shards", "1"}, pr, &out, &errb)
	}()
	// One write, as a pipe may deliver it: a whole line that fires the
	// rule, and the start of the next line.
	_, err := fmt.Fprintf(pw, "disk,host=a used_percent=97 %d\ndisk,host=b used_perc", time.Now().UnixNano())
	require.NoError(t, err)
	eventually(t, 10*time.Second, func() bool { return strings.Contains(out.String(), "used_perc") }, "the partial line passed through")
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGTERM))
	select {
	case code := <-done:
		require.Equal(t, exitOK, code, errb.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("faultline execd did not exit within 30 s of SIGTERM; stdout so far:\n%s\nstderr:\n%s", out.String(), errb.String())
	}
	require.Contains(t, out.String(), "disk,host=b used_perc\n", "the open line ended")
	require.Contains(t, out.String(), "faultline_event,", "the shutdown's events written")
}

// faultline execd whose stdout has no reader any more (Telegraf died) is
// not killed by SIGPIPE, which Go delivers for a write to a broken pipe on
// file descriptor 1: the write fails, and it stops with its last
// checkpoint.
func TestExecdOutlivesABrokenStdout(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	cmd := exec.Command(faultlineBinary(t), "execd", "--state", state)
	r, w, err := os.Pipe()
	require.NoError(t, err)
	cmd.Stdout = w
	var errb syncBuffer
	cmd.Stderr = &errb
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	require.NoError(t, w.Close())
	require.NoError(t, r.Close()) // no reader: the next write to stdout breaks
	_, err = fmt.Fprintf(stdin, "disk,host=a used_percent=50 %d\n", time.Now().UnixNano())
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("execd did not stop within 30 s of its stdout breaking:\n%s", errb.String())
	}
	ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
	require.False(t, ws.Signaled(), "killed by %v:\n%s", ws.Signal(), errb.String())
	require.Equal(t, exitFail, cmd.ProcessState.ExitCode(), errb.String())
	require.FileExists(t, state, "the last checkpoint")
	_ = stdin.Close()
}
