package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/internal/testsvc"
	"github.com/faultline-go/faultline/sink"
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
	am := testsvc.Alertmanager(t, files["alertmanager.yml"])
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
	eventually(t, 10*time.Second, func() bool { return len(testsvc.Alerts(t, am, "host", "c")) == 1 }, "c's absence in Alertmanager")
	require.Equal(t, "active", testsvc.Alerts(t, am, "host", "c")[0].Status.State)
	require.Equal(t, "absence", testsvc.Alerts(t, am, "host", "c")[0].Labels["alertname"])
	// The live report lists the open absence, and its state answers.
	page := get(t, c, base+"/ui/")
	require.Contains(t, page, "<!DOCTYPE html>")
	require.Regexp(t, `1 open[\s\S]*up{host=&#34;c&#34;}`, page)
	require.Contains(t, get(t, c, base+"/ui/state.json?v=0"), `"version":`)
	hb.pause("c", false)
	eventually(t, 10*time.Second, func() bool { return len(find(p.events(t), "absence", "resolved", "host", "c")) == 1 }, "c's resolution on stdout")
	eventually(t, 10*time.Second, func() bool { return len(testsvc.Alerts(t, am, "host", "c")) == 0 }, "the resolution ending the alert in Alertmanager")
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
	require.WithinDuration(t, stopped, down.Since, 2*time.Second, "from the last checkpoint, at the stop")
	require.WithinDuration(t, restarted, down.At, 2*time.Second, "to the restart")
	require.InDelta(t, down.At.Sub(down.Since).Seconds(), down.Value, 0.001)
	require.GreaterOrEqual(t, down.Value, 25.0)
	require.Less(t, down.Value, 30.0)
}

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns
// their paths and a pool that trusts it.
func selfSigned(t *testing.T, dir string) (certPath, keyPath string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "faultline test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	kder, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644))
	require.NoError(t, os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600))
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certPath, keyPath, pool
}

// TestRunTokenTLSAndSlowClient: over HTTPS with a token, a write without
// it (or with another) is refused with 401 and counted; one with it, as
// InfluxDB's Token or as Bearer, is taken. A client that sends its body
// one byte a second does not delay the others' writes, and is cut off at
// the read timeout (408, counted).
func TestRunTokenTLSAndSlowClient(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath, pool := selfSigned(t, dir)
	tokenPath := filepath.Join(dir, "token")
	require.NoError(t, os.WriteFile(tokenPath, []byte("s3cret\n"), 0o600))
	p := start(t, "run", "--listen", "127.0.0.1:0", "--token-file", tokenPath, "--tls-cert", certPath, "--tls-key", keyPath,
		"--read-timeout", "3s", "--shards", "1")
	require.Contains(t, p.stderr.String(), "scheme=https token=true")
	base := "https://" + p.addr
	tlsCfg := &tls.Config{RootCAs: pool}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}, Timeout: 10 * time.Second}

	code, body := write(t, c, base, "up,host=a value=1\n")
	require.Equal(t, http.StatusUnauthorized, code)
	require.Contains(t, body, `"code":"unauthorized"`)
	code, _ = write(t, c, base, "up,host=a value=1\n", "Authorization", "Token wrong")
	require.Equal(t, http.StatusUnauthorized, code)
	resp, err := c.Post(base+"/-/reload", "", nil)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "reloads need the token too")
	m := scrape(t, c, base)
	require.Equal(t, 3.0, sampleValue(m, `faultline_input_unauthorized_total{input="http"}`))
	require.Equal(t, 0.0, sampleValue(m, "faultline_runtime_samples_total"))
	code, _ = write(t, c, base, "up,host=a value=1\n", "Authorization", "Token s3cret")
	require.Equal(t, http.StatusNoContent, code)
	code, _ = write(t, c, base, "up,host=b value=1\n", "Authorization", "Bearer s3cret")
	require.Equal(t, http.StatusNoContent, code)

	// The slow client: headers at once, then its body a byte a second.
	slow, err := tls.Dial("tcp", p.addr, tlsCfg)
	require.NoError(t, err)
	defer slow.Close()
	line := "up,host=slow value=1\n"
	_, err = fmt.Fprintf(slow, "POST /api/v2/write HTTP/1.1\r\nHost: %s\r\nAuthorization: Token s3cret\r\nContent-Length: %d\r\n\r\n", p.addr, 10*len(line))
	require.NoError(t, err)
	dripped := make(chan struct{})
	go func() {
		defer close(dripped)
		for i := range 10 * len(line) {
			if _, err := slow.Write([]byte{line[i%len(line)]}); err != nil {
				return // cut off
			}
			time.Sleep(time.Second)
		}
	}()
	time.Sleep(500 * time.Millisecond)
	var worst time.Duration
	for i := range 10 {
		began := time.Now()
		code, body := write(t, c, base, fmt.Sprintf("up,host=fast%d value=1\n", i), "Authorization", "Token s3cret")
		require.Equal(t, http.StatusNoContent, code, body)
		worst = max(worst, time.Since(began))
	}
	require.Less(t, worst, 2*time.Second, "the other writes are not held up by the slow client (it is cut off at 3 s)")
	select {
	case <-dripped:
		t.Fatal("the slow client was done before the others' writes")
	default:
	}
	require.NoError(t, slow.SetReadDeadline(time.Now().Add(10*time.Second)))
	status, err := bufio.NewReader(slow).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "HTTP/1.1 408 Request Timeout\r\n", status, "cut off at the read timeout")
	m = scrape(t, c, base)
	require.Equal(t, 1.0, sampleValue(m, `faultline_input_limits_total{input="http",limit="timeout"}`))
	require.Equal(t, 12.0, sampleValue(m, `faultline_input_requests_total{code="204",input="http"}`))
	p.stop(t)
}

// A --token-file holds one token on one line, around which blanks and
// newlines are trimmed. One whose token goes on over another line used to
// be taken whole, newline included: no request can carry it in a header,
// so every write and reload was refused (401) by a server that had started
// well. It is refused at start, naming the file and the line.
func TestRunTokenFileOfOneLine(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ content, line string }{
		{"s3cret\nmore\n", ":2:"},
		{"\n  s3cret\r\n\n more\n", ":4:"},
	} {
		path := filepath.Join(dir, "token")
		require.NoError(t, os.WriteFile(path, []byte(tc.content), 0o600))
		// An address it cannot listen on ends it at once if it starts.
		code, _, stderr := runCLI(t, "", "run", "--listen", "127.0.0.1:-1", "--ui=false", "--token-file", path)
		require.Equal(t, exitFail, code, stderr)
		require.Contains(t, stderr, "faultline run: --token-file "+path+tc.line+" ", "%q", tc.content)
		require.Contains(t, stderr, "one line")
		require.NotContains(t, stderr, "cannot listen", "refused before it starts")
	}

	path := filepath.Join(dir, "token")
	require.NoError(t, os.WriteFile(path, []byte(" s3cret \r\n\n"), 0o600))
	code, _, stderr := runCLI(t, "", "run", "--listen", "127.0.0.1:-1", "--ui=false", "--token-file", path)
	require.Equal(t, exitFail, code, stderr)
	require.Contains(t, stderr, "cannot listen", "a token with blanks and newlines around it is taken")
}

// run listens on 127.0.0.1 unless told otherwise, and refuses settings
// that do not go together.
func TestRunFlags(t *testing.T) {
	_, _, stderr := runCLI(t, "", "run", "-h")
	require.Contains(t, stderr, `(default "127.0.0.1:8086")`)

	code, _, stderr := runCLI(t, "", "run", "--tcp", "127.0.0.1:0", "--token-file", "x")
	require.Equal(t, exitUsage, code)
	require.Contains(t, stderr, "carries no credentials")
	code, _, stderr = runCLI(t, "", "run", "--tls-cert", "x")
	require.Equal(t, exitUsage, code)
	require.Contains(t, stderr, "go together")
	code, _, _ = runCLI(t, "", "run", "--alertmanager", "localhost:9093")
	require.Equal(t, exitUsage, code)

	code, stdout, stderr := runCLI(t, "", "run", "--rules", "testdata/three-mistakes.bad.yaml")
	require.Equal(t, exitFail, code)
	require.Empty(t, stdout)
	require.Len(t, nonEmptyLines(stderr), 3, "every mistake with its position")
	require.Contains(t, stderr, "testdata/three-mistakes.bad.yaml:6:14:")
	code, _, stderr = runCLI(t, "", "execd", "--rules", "testdata/three-mistakes.bad.yaml")
	require.Equal(t, exitFail, code)
	require.Contains(t, stderr, "testdata/three-mistakes.bad.yaml:9:9:")

	code, stdout, _ = runCLI(t, "", "--version")
	require.Equal(t, exitOK, code)
	require.Regexp(t, `^faultline \S+.* \(go1\.\d+`, stdout)
}

// get returns the body of a GET of url, which must answer 200.
func get(t *testing.T, c *http.Client, url string) string {
	t.Helper()
	resp, err := c.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "GET %s: %s", url, b)
	return string(b)
}

// faultline run exits 1 when its --tcp address is in use, as the package
// doc says ("Both exit 1 when they cannot start (… an address in use)").
// The real-time bound only detects a hang; nothing waits on it otherwise.
func TestRunExitsWhenTCPAddressInUse(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run([]string{"run", "--listen", "127.0.0.1:0", "--tcp", busy.Addr().String(), "--shards", "1", "--ui=false"},
			strings.NewReader(""), &out, &errb)
	}()
	select {
	case code := <-done:
		require.Equal(t, exitFail, code, errb.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("faultline run did not exit within 20 s of failing to listen on --tcp:\n%s", errb.String())
	}
}

// A stop that was asked for exits 0 when all that went wrong is events a
// sink could not deliver (its receiver was down), and 1 when anything
// else did, such as a checkpoint not written; each is logged.
func TestStoppedCode(t *testing.T) {
	var logged bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logged, nil))
	undelivered := fmt.Errorf("pipeline: closing a sink: %w", fmt.Errorf("%w: 3 in sink %q", sink.ErrUndelivered, "webhook"))
	checkpoint := errors.New("pipeline: checkpoint: no space left on device")
	require.Equal(t, exitOK, stoppedCode(log, nil))
	require.Empty(t, logged.String())
	require.Equal(t, exitOK, stoppedCode(log, errors.Join(errors.Join(nil, undelivered), undelivered)))
	require.Equal(t, 2, strings.Count(logged.String(), "events undelivered at shutdown"))
	require.Equal(t, exitFail, stoppedCode(log, errors.Join(errors.Join(checkpoint), undelivered)))
	require.Contains(t, logged.String(), "no space left on device")
	require.Equal(t, exitFail, stoppedCode(log, checkpoint))
}
