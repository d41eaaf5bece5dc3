package mqtt_test

import (
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/internal/testsvc"
)

// The tests run a real Mosquitto: each broker is a process of its own, on
// a free port of 127.0.0.1, with its config and persistence in a temporary
// directory, stopped by its PID when the test ends.

// broker is one Mosquitto process.
type broker struct {
	t    testing.TB
	bin  string
	dir  string
	conf string
	port int

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
}

// brokerOpts are extra settings of a broker.
type brokerOpts struct {
	passwordFile string   // users; anonymous clients are refused
	tls          []string // cafile, certfile, keyfile
	maxQoS0      bool     // the listener grants QoS 0 at most
}

func startBroker(t testing.TB, o brokerOpts) *broker {
	t.Helper()
	b := &broker{t: t, bin: testsvc.Binary(t, "mosquitto", "mosquitto", "/usr/sbin", "/usr/local/sbin"), dir: t.TempDir(), port: testsvc.FreePort(t)}
	u, err := user.Current()
	require.NoError(t, err)
	var conf strings.Builder
	fmt.Fprintf(&conf, "listener %d 127.0.0.1\n", b.port)
	if o.maxQoS0 {
		conf.WriteString("max_qos 0\n")
	}
	if o.passwordFile != "" {
		fmt.Fprintf(&conf, "allow_anonymous false\npassword_file %s\n", o.passwordFile)
	} else {
		conf.WriteString("allow_anonymous true\n")
	}
	if len(o.tls) == 3 {
		fmt.Fprintf(&conf, "cafile %s\ncertfile %s\nkeyfile %s\n", o.tls[0], o.tls[1], o.tls[2])
	}
	fmt.Fprintf(&conf, "persistence true\npersistence_location %s/\n", b.dir)
	fmt.Fprintf(&conf, "log_dest file %s\n", filepath.Join(b.dir, "mosquitto.log"))
	fmt.Fprintf(&conf, "sys_interval 1\nset_tcp_nodelay true\nuser %s\n", u.Username)
	b.conf = filepath.Join(b.dir, "mosquitto.conf")
	require.NoError(t, os.WriteFile(b.conf, []byte(conf.String()), 0o600))
	b.start()
	t.Cleanup(b.stop)
	return b
}

func (b *broker) url() string { return "tcp://127.0.0.1:" + strconv.Itoa(b.port) }

// start starts the process and waits until it accepts connections.
func (b *broker) start() {
	b.t.Helper()
	cmd := exec.Command(b.bin, "-c", b.conf)
	out, err := os.Create(filepath.Join(b.dir, "stdout"))
	require.NoError(b.t, err)
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(b.t, cmd.Start())
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		_ = out.Close()
		close(done)
	}()
	b.mu.Lock()
	b.cmd, b.done = cmd, done
	b.mu.Unlock()
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-done:
			b.t.Fatalf("mosquitto exited at start:\n%s", b.logs())
		default:
		}
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", b.port), time.Second)
		if err == nil {
			_ = c.Close()
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("mosquitto does not accept connections on port %d: %v\n%s", b.port, err, b.logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop ends the process with SIGTERM (Mosquitto then saves its
// persistence), and with SIGKILL if it is still there after 10 s.
func (b *broker) stop() {
	b.mu.Lock()
	cmd, done := b.cmd, b.done
	b.cmd = nil
	b.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// restart stops the broker and starts it again on the same port, with the
// same persistence.
func (b *broker) restart() {
	b.t.Helper()
	b.stop()
	b.start()
}

func (b *broker) logs() string {
	var s strings.Builder
	for _, f := range []string{"mosquitto.log", "stdout"} {
		data, _ := os.ReadFile(filepath.Join(b.dir, f))
		s.Write(data)
	}
	return s.String()
}

// testClient is a plain paho client of the tests: a device, an observer.
type testClient struct {
	t  testing.TB
	pc paho.Client

	mu   sync.Mutex
	msgs []message
}

type message struct {
	topic    string
	payload  string
	retained bool
}

// dial connects a test client; with filters, it records what they match.
// A client with clean false keeps its session (and its QoS 1 publishes
// across a broker restart).
func dial(t testing.TB, url, id string, clean bool, filters ...string) *testClient {
	t.Helper()
	tc := &testClient{t: t}
	o := paho.NewClientOptions().AddBroker(url).SetClientID(id).SetCleanSession(clean).
		SetProtocolVersion(4).SetAutoReconnect(true).SetMaxReconnectInterval(500 * time.Millisecond).
		SetConnectTimeout(5 * time.Second).SetWriteTimeout(5 * time.Second).
		SetOnConnectHandler(func(pc paho.Client) {
			for _, f := range filters {
				pc.Subscribe(f, 1, nil)
			}
		}).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
			tc.mu.Lock()
			tc.msgs = append(tc.msgs, message{m.Topic(), string(m.Payload()), m.Retained()})
			tc.mu.Unlock()
		})
	tc.pc = paho.NewClient(o)
	tok := tc.pc.Connect()
	require.True(t, tok.WaitTimeout(10*time.Second), "connecting %s", id)
	require.NoError(t, tok.Error())
	if len(filters) > 0 {
		m := map[string]byte{}
		for _, f := range filters {
			m[f] = 1
		}
		tok := tc.pc.SubscribeMultiple(m, nil)
		require.True(t, tok.WaitTimeout(10*time.Second))
		require.NoError(t, tok.Error())
	}
	t.Cleanup(func() { tc.pc.Disconnect(100) })
	return tc
}

// publish publishes and waits until the broker has it (QoS 1) or it is
// written (QoS 0).
func (tc *testClient) publish(topic string, qos byte, payload string) {
	tc.t.Helper()
	tok := tc.pc.Publish(topic, qos, false, payload)
	require.True(tc.t, tok.WaitTimeout(30*time.Second), "publishing on %s", topic)
	require.NoError(tc.t, tok.Error())
}

// publishAsync publishes and returns the token.
func (tc *testClient) publishAsync(topic string, qos byte, payload string) paho.Token {
	return tc.pc.Publish(topic, qos, false, payload)
}

func (tc *testClient) received() []message {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return append([]message(nil), tc.msgs...)
}

// sysWatcher keeps the latest values of the broker's $SYS topics.
type sysWatcher struct {
	mu     sync.Mutex
	values map[string]float64
}

func watchSys(t testing.TB, b *broker, topics ...string) *sysWatcher {
	w := &sysWatcher{values: map[string]float64{}}
	o := paho.NewClientOptions().AddBroker(b.url()).SetClientID("sys-watcher").SetProtocolVersion(4).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
			v, err := strconv.ParseFloat(strings.TrimSpace(string(m.Payload())), 64)
			if err != nil {
				return
			}
			w.mu.Lock()
			w.values[m.Topic()] = v
			w.mu.Unlock()
		})
	pc := paho.NewClient(o)
	tok := pc.Connect()
	require.True(t, tok.WaitTimeout(10*time.Second))
	require.NoError(t, tok.Error())
	for _, tp := range topics {
		tok := pc.Subscribe(tp, 0, nil)
		require.True(t, tok.WaitTimeout(10*time.Second))
		require.NoError(t, tok.Error())
	}
	t.Cleanup(func() { pc.Disconnect(100) })
	return w
}

// settled returns the values of the $SYS topics as of now: Mosquitto
// publishes those that changed every sys_interval (1 s here), so it waits
// two intervals for the update that counts what happened until now.
func (w *sysWatcher) settled(t testing.TB) map[string]float64 {
	t.Helper()
	time.Sleep(2200 * time.Millisecond)
	w.mu.Lock()
	defer w.mu.Unlock()
	require.NotEmpty(t, w.values, "no $SYS values")
	return maps.Clone(w.values)
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t testing.TB, timeout time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v: %s", timeout, fmt.Sprintf(format, args...))
		}
		time.Sleep(time.Millisecond)
	}
}

// Mosquitto runs and is stopped by PID; a missing binary is a failure, not
// a skip.
func TestBrokerStartsAndStops(t *testing.T) {
	b := startBroker(t, brokerOpts{})
	c := dial(t, b.url(), "probe", true, "x/#")
	c.publish("x/y", 1, "hello")
	waitFor(t, 5*time.Second, func() bool { return len(c.received()) == 1 }, "the message comes back")
	b.stop()
	_, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", b.port), time.Second)
	require.Error(t, err, "stopped")
}
