package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// liveRules: hosts report every half second and are absent after 2 s.
const liveRules = `
series:
  - {match: up, cadence: 500ms, absent_after: 2s}
`

// heartbeat writes up for each host every half second, until stopped, and
// fails the test on an answer other than 204. Hosts can be paused.
type heartbeat struct {
	mu     sync.Mutex
	paused map[string]bool
	stop   context.CancelFunc
	done   chan struct{}
}

func beat(t *testing.T, base string, header []string, hosts ...string) *heartbeat {
	ctx, cancel := context.WithCancel(context.Background())
	hb := &heartbeat{paused: map[string]bool{}, stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(hb.done)
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			var b strings.Builder
			hb.mu.Lock()
			for _, h := range hosts {
				if !hb.paused[h] {
					fmt.Fprintf(&b, "up,host=%s value=1\n", h)
				}
			}
			hb.mu.Unlock()
			if b.Len() > 0 {
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v2/write", strings.NewReader(b.String()))
				for i := 0; i+1 < len(header); i += 2 {
					req.Header.Set(header[i], header[i+1])
				}
				resp, err := http.DefaultClient.Do(req)
				if ctx.Err() != nil {
					return
				}
				if err != nil || resp.StatusCode != http.StatusNoContent {
					t.Errorf("heartbeat write: %v %v", err, resp)
					return
				}
				resp.Body.Close()
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(hb.end)
	return hb
}

func (hb *heartbeat) pause(host string, paused bool) {
	hb.mu.Lock()
	hb.paused[host] = paused
	hb.mu.Unlock()
}

func (hb *heartbeat) end() {
	hb.stop()
	<-hb.done
}

// TestRunLive is faultline run in real time: HTTP writes for a few hosts,
// one stops; its absence is printed on stdout and arrives in a real
// Alertmanager; when it reports again, the resolution is printed and ends
// the alert there. A request with bad lines keeps its good lines; /metrics
// is typed; a reload with invalid rules keeps the old ones, logs every
// positioned error and is counted; SIGTERM exits 0. Alertmanager runs with
// the README's configuration.
func TestRunLive(t *testing.T) {
	files, _ := readmeBlocks(t)
	require.Contains(t, files, "alertmanager.yml", "the README shows Alertmanager's configuration")
	am := startAlertmanager(t, files["alertmanager.yml"])
	dir := t.TempDir()
	rulesPath := filepath.Join(dir, "rules.yaml")
	require.NoError(t, os.WriteFile(rulesPath, []byte(liveRules), 0o644))
	p := start(t, "run", "--listen", "127.0.0.1:0", "--rules", rulesPath, "--state", filepath.Join(dir, "state"),
		"--alertmanager", am, "--shards", "2")
	base := "http://" + p.addr
	c := http.DefaultClient

	resp, err := c.Get(base + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	// A partial write: the good lines are taken, the bad ones named.
	code, body := write(t, c, base, "temp,host=x value=20\ntemp,host=y value=hot\ntemp,host=z value=21\n")
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, body, `"code":"invalid"`)
	require.Contains(t, body, `partial write: 1 of 3 records rejected, the others taken: line 2, column 19: `)
	m := scrape(t, c, base)
	require.Equal(t, 2.0, sampleValue(m, "faultline_runtime_samples_total"), "the two good lines were taken")
	require.Equal(t, 1.0, sampleValue(m, `faultline_input_bad_records_total{input="http"}`))

	// A reload with invalid rules keeps the old rules, logs each error
	// with its position, and is counted; so is one through /-/reload.
	require.NoError(t, os.WriteFile(rulesPath, []byte("series:\n  - {match: up, cadence: 1x}\ngroups:\n  - name: g\n    rules:\n      - {alert: X, expr: 'value >'}\n"), 0o644))
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGHUP))
	eventually(t, 5*time.Second, func() bool { return strings.Contains(p.stderr.String(), rulesPath+":6:") }, "the reload's errors logged")
	require.Contains(t, p.stderr.String(), rulesPath+":2:")
	req, err := http.NewRequest(http.MethodPost, base+"/-/reload", nil)
	require.NoError(t, err)
	resp, err = c.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Equal(t, 2.0, sampleValue(scrape(t, c, base), "faultline_runtime_reload_errors_total"))

	// Under the old rules, c is absent 2 s after it stops.
	hb := beat(t, base, nil, "a", "b", "c")
	time.Sleep(2500 * time.Millisecond) // cadences learned
	hb.pause("c", true)
	eventually(t, 10*time.Second, func() bool { return len(find(p.events(t), "absence", "firing", "host", "c")) == 1 }, "c's absence on stdout")
	eventually(t, 10*time.Second, func() bool { return len(listAlerts(t, am, "c")) == 1 }, "c's absence in Alertmanager")
	require.Equal(t, "active", listAlerts(t, am, "c")[0].Status.State)
	require.Equal(t, "absence", listAlerts(t, am, "c")[0].Labels["alertname"])
	hb.pause("c", false)
	eventually(t, 10*time.Second, func() bool { return len(find(p.events(t), "absence", "resolved", "host", "c")) == 1 }, "c's resolution on stdout")
	eventually(t, 10*time.Second, func() bool { return len(listAlerts(t, am, "c")) == 0 }, "the resolution ending the alert in Alertmanager")
	for _, ev := range p.events(t) {
		require.NotEqual(t, "a", ev.Labels["host"], "a kept reporting: %v", ev)
		require.NotEqual(t, "b", ev.Labels["host"], "b kept reporting: %v", ev)
	}

	m = scrape(t, c, base)
	requireTyped(t, m)
	for _, name := range []string{
		"faultline_runtime_samples_total", "faultline_runtime_queue", "faultline_input_requests_total",
		"faultline_input_connections", "faultline_sink_sent_total", "faultline_samples_total", "faultline_build_info",
	} {
		require.Contains(t, m, "# TYPE "+name+" ", name)
	}
	require.Positive(t, sampleValue(m, `faultline_sink_sent_total{sink="alertmanager:`+strings.TrimPrefix(am, "http://")+`"}`))

	hb.end()
	p.stop(t)
	require.Contains(t, p.stderr.String(), `msg=stopped`)
	_, err = os.Stat(filepath.Join(dir, "state"))
	require.NoError(t, err, "the checkpoint written at shutdown")
}

// TestRunRestartReportsItsDowntimeOnce is the restart contract in real
// time: hosts report, one of them (c) stops and is absent, the rules are
// reloaded, faultline stops (SIGTERM: checkpoint), 25 s pass, it restarts
// on the same state while a and b report again. It prints one event, for
// its own downtime, and nothing else: no absence for the hosts that kept
// reporting, nothing of the first run again (c's absence stays open).
func TestRunRestartReportsItsDowntimeOnce(t *testing.T) {
	dir := t.TempDir()
	rulesPath := filepath.Join(dir, "rules.yaml")
	require.NoError(t, os.WriteFile(rulesPath, []byte(liveRules), 0o644))
	args := []string{"run", "--listen", "127.0.0.1:0", "--rules", rulesPath, "--state", filepath.Join(dir, "state"), "--shards", "2"}

	p := start(t, args...)
	base := "http://" + p.addr
	hb := beat(t, base, nil, "a", "b", "c")
	time.Sleep(2 * time.Second)
	hb.pause("c", true)
	eventually(t, 10*time.Second, func() bool { return len(find(p.events(t), "absence", "firing", "host", "c")) == 1 }, "c's absence")
	// A reload (a rule added) before the restart loses no state.
	require.NoError(t, os.WriteFile(rulesPath, []byte(liveRules+"groups:\n  - name: g\n    rules:\n      - {alert: Down, match: up, expr: 'value < 1'}\n"), 0o644))
	resp, err := http.Post(base+"/-/reload", "", nil)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	time.Sleep(time.Second)
	hb.end()
	p.stop(t)
	stopped := time.Now()
	first := p.events(t)
	require.Len(t, first, 1, "c's absence: %v", p.stdout())

	time.Sleep(25 * time.Second)
	p2 := start(t, args...)
	restarted := time.Now()
	hb = beat(t, "http://"+p2.addr, nil, "a", "b")
	time.Sleep(5 * time.Second) // more than absent_after and the lateness of the slots around the downtime
	hb.end()
	p2.stop(t)

	got := p2.events(t)
	require.Len(t, got, 1, "only the downtime: %v", p2.stdout())
	down := got[0]
	require.Equal(t, "collector_down", down.Kind)
	require.Equal(t, "resolved", down.State)
	require.NotEqual(t, first[0].ID, down.ID)
	require.WithinDuration(t, stopped, down.Since, time.Second, "from the last checkpoint, at the stop")
	require.WithinDuration(t, restarted, down.At, time.Second, "to the restart")
	require.InDelta(t, down.At.Sub(down.Since).Seconds(), down.Value, 0.001)
	require.GreaterOrEqual(t, down.Value, 25.0)
	require.Less(t, down.Value, 30.0)
}
