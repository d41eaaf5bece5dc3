package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
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

	"github.com/stretchr/testify/require"
)

// Helpers of the tests that run the built binary in real time.

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// faultlineBinary builds the command once per test run.
func faultlineBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "faultline-bin")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "faultline")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	require.NoError(t, binErr)
	return binPath
}

// syncBuffer collects a process's output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// proc is a running faultline.
type proc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *syncBuffer
	mu     sync.Mutex
	lines  []string // of stdout, complete ones
	exited chan struct{}
	err    error // Wait's, once exited is closed
	addr   string
}

var listeningRE = regexp.MustCompile(`msg="serving the write APIs" addr=(\S+)`)

// start runs faultline with args until the test ends. For run, it waits
// until the HTTP server listens and sets addr.
func start(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(faultlineBinary(t), args...), stderr: &syncBuffer{}, exited: make(chan struct{})}
	var err error
	p.stdin, err = p.cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := p.cmd.StdoutPipe()
	require.NoError(t, err)
	p.cmd.Stderr = p.stderr
	require.NoError(t, p.cmd.Start())
	read := make(chan struct{})
	go func() {
		defer close(read)
		r := bufio.NewReaderSize(stdout, 1<<20)
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return
			}
			p.mu.Lock()
			p.lines = append(p.lines, strings.TrimSuffix(l, "\n"))
			p.mu.Unlock()
		}
	}()
	go func() {
		<-read
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Signal(syscall.SIGKILL)
			<-p.exited
		}
		if t.Failed() {
			t.Logf("faultline %s stderr:\n%s", strings.Join(args, " "), p.stderr.String())
		}
	})
	if len(args) > 0 && args[0] == "run" {
		eventually(t, 10*time.Second, func() bool {
			if m := listeningRE.FindStringSubmatch(p.stderr.String()); m != nil {
				p.addr = m[1]
				return true
			}
			select {
			case <-p.exited:
				t.Fatalf("faultline exited before it listened (%v):\n%s", p.err, p.stderr.String())
			default:
			}
			return false
		}, "faultline listening")
	}
	return p
}

// stdout returns the complete lines printed so far.
func (p *proc) stdout() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines...)
}

// stop sends SIGTERM and requires a clean exit within 15 s.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	p.wait(t, 15*time.Second)
}

// wait requires the process to exit 0 within d.
func (p *proc) wait(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(d):
		t.Fatalf("faultline did not exit within %v:\n%s", d, p.stderr.String())
	}
	require.NoError(t, p.err, p.stderr.String())
}

// event is an event as run prints it.
type event struct {
	ID     string            `json:"id"`
	Kind   string            `json:"kind"`
	Rule   string            `json:"rule"`
	State  string            `json:"state"`
	At     time.Time         `json:"at"`
	Since  time.Time         `json:"since"`
	Labels map[string]string `json:"labels"`
	Value  float64           `json:"value"`
}

func (p *proc) events(t *testing.T) []event {
	t.Helper()
	var out []event
	for _, l := range p.stdout() {
		var ev event
		require.NoError(t, json.Unmarshal([]byte(l), &ev), l)
		out = append(out, ev)
	}
	return out
}

// find returns the events of that kind and state whose labels include
// labels (name, value pairs).
func find(evs []event, kind, state string, labels ...string) []event {
	var out []event
	for _, ev := range evs {
		if ev.Kind != kind || ev.State != state {
			continue
		}
		ok := true
		for i := 0; i+1 < len(labels); i += 2 {
			ok = ok && ev.Labels[labels[i]] == labels[i+1]
		}
		if ok {
			out = append(out, ev)
		}
	}
	return out
}

func eventually(t *testing.T, d time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// write posts line protocol to a running faultline's API v2 and returns
// the status and body of the answer.
func write(t *testing.T, client *http.Client, base, body string, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/api/v2/write?org=o&bucket=b", strings.NewReader(body))
	require.NoError(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// scrape returns the /metrics text.
func scrape(t *testing.T, client *http.Client, base string) string {
	t.Helper()
	resp, err := client.Get(base + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/plain; version=0.0.4; charset=utf-8", resp.Header.Get("Content-Type"))
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// sampleValue returns the value of the sample line `series` (name and
// labels, as written) in a scrape, or -1.
func sampleValue(text, series string) float64 {
	for _, l := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

// requireTyped checks that every sample of a scrape follows a HELP and a
// TYPE line of its name, and that each name is described once.
func requireTyped(t *testing.T, text string) {
	t.Helper()
	help, typ := map[string]bool{}, map[string]string{}
	samples := 0
	for _, l := range strings.Split(strings.TrimSpace(text), "\n") {
		switch {
		case strings.HasPrefix(l, "# HELP "):
			name := strings.Fields(l)[2]
			require.False(t, help[name], "HELP %s twice", name)
			help[name] = true
			require.Greater(t, len(strings.Fields(l)), 3, "empty help: %s", l)
		case strings.HasPrefix(l, "# TYPE "):
			f := strings.Fields(l)
			require.Len(t, f, 4, l)
			require.Contains(t, []string{"counter", "gauge"}, f[3], l)
			require.Empty(t, typ[f[2]], "TYPE %s twice", f[2])
			typ[f[2]] = f[3]
		default:
			name := l[:strings.IndexAny(l, "{ ")]
			require.True(t, help[name], "no HELP before %s", l)
			require.NotEmpty(t, typ[name], "no TYPE before %s", l)
			if typ[name] == "counter" {
				require.True(t, strings.HasSuffix(name, "_total"), "counter %s", name)
			}
			samples++
		}
	}
	require.Positive(t, samples)
}
