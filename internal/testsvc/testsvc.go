// Package testsvc runs the real services that tests talk to — Alertmanager
// and the like, from Debian's packages — as processes of their own on
// 127.0.0.1: on free ports, with temporary configuration and storage,
// stopped by their PID when the test ends. A missing binary fails the test
// with the package to install; it never skips.
package testsvc

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// FreePort returns a TCP port of 127.0.0.1 that nothing listened on a
// moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("no free port on 127.0.0.1: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Binary returns the path of the program name: on PATH, or else in one of
// dirs (Debian puts some in /usr/sbin, which is not always on PATH). If it
// is in neither, the test fails, saying to install the Debian package pkg.
func Binary(t testing.TB, name, pkg string, dirs ...string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatalf("%s is not installed: this test runs the real one. Install Debian's package: "+
		"apt-get install -y %s (./test.sh does)", name, pkg)
	return ""
}

// Process is a service started by Start.
type Process struct {
	name   string
	cmd    *exec.Cmd
	out    buffer
	exited chan struct{}
	err    error // of cmd.Wait, once exited is closed
}

// Start starts cmd, whose output it keeps, and waits up to timeout for
// ready to report true, failing the test if the process exits first or
// does not get ready. When the test ends, the process gets SIGTERM, and
// SIGKILL 10 s later if it is still there; a failed test logs its output.
func Start(t testing.TB, name string, cmd *exec.Cmd, timeout time.Duration, ready func() bool) *Process {
	t.Helper()
	p := &Process{name: name, cmd: cmd, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &p.out, &p.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.Output())
		}
	})
	deadline := time.Now().Add(timeout)
	for !ready() {
		select {
		case <-p.exited:
			t.Fatalf("%s exited before it was ready (%v):\n%s", name, p.err, p.Output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after %v:\n%s", name, timeout, p.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return p
}

// Stop ends the process: SIGTERM, then SIGKILL after 10 s. It returns once
// the process has exited; stopping a stopped process does nothing.
func (p *Process) Stop() {
	_ = syscall.Kill(p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
	}
}

// Output is what the process has written to stdout and stderr so far.
func (p *Process) Output() string { return p.out.String() }

// Alertmanager runs Debian's prometheus-alertmanager with the
// configuration cfg (YAML), clustering off, until the test ends, and
// returns its base URL once /-/ready answers 200.
func Alertmanager(t testing.TB, cfg string) string {
	t.Helper()
	bin := Binary(t, "prometheus-alertmanager", "prometheus-alertmanager", "/usr/bin")
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(FreePort(t))
	cmd := exec.Command(bin,
		"--config.file="+cfgPath,
		"--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--cluster.listen-address=",
		"--log.level=warn",
	)
	base := "http://" + addr
	Start(t, "alertmanager", cmd, 30*time.Second, func() bool {
		resp, err := http.Get(base + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return base
}

// Alert is an alert as Alertmanager's GET /api/v2/alerts lists it.
type Alert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Status       struct {
		State string `json:"state"`
	} `json:"status"`
}

// Alerts returns the alerts the Alertmanager at base lists whose label
// name is value.
func Alerts(t testing.TB, base, name, value string) []Alert {
	t.Helper()
	resp, err := http.Get(base + "/api/v2/alerts")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s/api/v2/alerts: %s", base, resp.Status)
	}
	var all, out []Alert
	if err := json.NewDecoder(resp.Body).Decode(&all); err != nil {
		t.Fatal(err)
	}
	for _, a := range all {
		if a.Labels[name] == value {
			out = append(out, a)
		}
	}
	return out
}

// buffer is a bytes.Buffer safe for a process and a test to share.
type buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
