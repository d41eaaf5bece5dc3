package sink_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
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

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/sink"
	"github.com/faultline-go/faultline/stream"
)

// alertmanagerBinary finds Debian's Alertmanager, or fails the test.
func alertmanagerBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("prometheus-alertmanager"); err == nil {
		return p
	}
	const p = "/usr/bin/prometheus-alertmanager"
	if _, err := os.Stat(p); err == nil {
		return p
	}
	t.Fatal("prometheus-alertmanager is not installed: this test runs a real Alertmanager. " +
		"Install Debian's package: apt-get install -y prometheus-alertmanager (.ci/run does)")
	return ""
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// lockedBuffer collects a process's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// startAlertmanager runs Alertmanager on 127.0.0.1 with a temporary
// configuration and storage, clustering off, until the test ends, and
// returns its base URL once it is ready.
func startAlertmanager(t *testing.T) string {
	t.Helper()
	bin := alertmanagerBinary(t)
	dir := t.TempDir()
	cfg, err := os.ReadFile(filepath.Join("testdata", "alertmanager.yml"))
	require.NoError(t, err)
	cfgPath := filepath.Join(dir, "alertmanager.yml")
	require.NoError(t, os.WriteFile(cfgPath, cfg, 0o644))
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	cmd := exec.Command(bin,
		"--config.file="+cfgPath,
		"--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--cluster.listen-address=",
		"--log.level=warn",
	)
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		pid := cmd.Process.Pid
		_ = syscall.Kill(pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(pid, syscall.SIGKILL)
			<-exited
		}
		if t.Failed() {
			t.Logf("alertmanager output:\n%s", out.String())
		}
	})

	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-exited:
			t.Fatalf("alertmanager exited before it was ready (%v):\n%s", err, out.String())
		default:
		}
		resp, err := http.Get(base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("alertmanager not ready at %s after 30s:\n%s", base, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// gettable is an alert as GET /api/v2/alerts lists it.
type gettable struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Status       struct {
		State string `json:"state"`
	} `json:"status"`
}

// listAlerts returns the alerts Alertmanager lists with check=check.
func listAlerts(t *testing.T, base, check string) []gettable {
	t.Helper()
	resp, err := http.Get(base + "/api/v2/alerts")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var all, out []gettable
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&all))
	for _, a := range all {
		if a.Labels["check"] == check {
			out = append(out, a)
		}
	}
	return out
}

// TestRealAlertmanager is the issue's "in real time, an absence arrives in
// a real Alertmanager and its resolution ends the alert there".
func TestRealAlertmanager(t *testing.T) {
	base := startAlertmanager(t)
	s := sink.NewAlertmanager(base, &sink.AlertmanagerOptions{
		Options:      sink.Options{Name: "real"},
		GeneratorURL: "http://collector.example:8080/faultline",
	})
	require.NoError(t, s.Start())
	t.Cleanup(func() { _ = closeNow(s) })

	check := fmt.Sprintf("c%d", time.Now().UnixNano()%1e6)
	firedAt := time.Now().Add(-time.Second).Truncate(time.Millisecond)
	fire := fault.Event{
		ID: "a1f1", Episode: "a1", Kind: fault.KindAbsence, Rule: "absence", State: fault.StateFiring,
		At: firedAt.UnixNano(), Since: firedAt.Add(-5 * time.Minute).UnixNano(),
		Labels: stream.NewLabels("__name__", "check_latency", "check", check, "region.name", "eu-1", fault.OriginLabel, "collector-1"),
		Value:  math.NaN(),
	}
	require.NoError(t, s.Emit(context.Background(), fire))

	var got []gettable
	eventually(t, func() bool { got = listAlerts(t, base, check); return len(got) == 1 }, "the absence listed by Alertmanager")
	a := got[0]
	require.Equal(t, map[string]string{
		"alertname": "absence", "__name__": "check_latency", "check": check, "region_name": "eu-1", fault.OriginLabel: "collector-1",
	}, a.Labels)
	require.Equal(t, "active", a.Status.State)
	require.Equal(t, "a1f1", a.Annotations["faultline_id"])
	require.Equal(t, fmt.Sprintf(`check_latency{check="%s", region.name="eu-1"} stopped reporting`, check), a.Annotations["summary"])
	require.True(t, a.StartsAt.Equal(firedAt), "startsAt %s, want %s", a.StartsAt, firedAt)
	require.WithinDuration(t, time.Now().Add(4*time.Minute), a.EndsAt, 30*time.Second)
	require.Equal(t, "http://collector.example:8080/faultline", a.GeneratorURL)

	resolve := fire
	resolve.ID, resolve.State, resolve.At = "a1r", fault.StateResolved, time.Now().UnixNano()
	require.NoError(t, s.Emit(context.Background(), resolve))
	eventually(t, func() bool { return len(listAlerts(t, base, check)) == 0 }, "the resolution ending the alert in Alertmanager")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, s.Close(ctx))
	st := s.Stats()
	require.GreaterOrEqual(t, st.Sent, uint64(2))
	require.Zero(t, st.DroppedTotal())
}
