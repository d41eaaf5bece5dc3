package mqtt_test

import (
	"context"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/contrib/mqtt"
)

// signalHandler is a slog handler that closes seen at the first record
// whose message contains substr.
type signalHandler struct {
	slog.Handler
	substr string
	seen   chan struct{}
}

func (h *signalHandler) Handle(ctx context.Context, r slog.Record) error {
	if strings.Contains(r.Message, h.substr) {
		select {
		case <-h.seen:
		default:
			close(h.seen)
		}
	}
	return nil
}

func (h *signalHandler) Enabled(context.Context, slog.Level) bool { return true }

// pahoConnecting returns the stacks of paho's goroutines that connect or
// wait to disconnect, if any.
func pahoConnecting() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		// The stack writes the package paho%2emqtt%2egolang.
		if strings.Contains(g, "eclipse/paho") && (strings.Contains(g, ".(*client).Connect.func") || strings.Contains(g, ".(*client).Disconnect.func")) {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}

// Run's context ends while paho waits for the broker's CONNACK (a broker
// that accepts the TCP connection and says nothing). paho cannot abort
// the attempt; Run returned after Disconnect's 250 ms and left paho's
// connecting goroutine running for up to ConnectTimeout. Now Run waits
// for the attempt to end, so nothing of the client outlives it.
func TestRunReturnsWhenPahoHasStopped(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		if conn, err := ln.Accept(); err == nil {
			accepted <- conn // read nothing, answer nothing
		}
	}()
	h := &signalHandler{Handler: slog.DiscardHandler, substr: "waiting for the connection attempt", seen: make(chan struct{})}
	c, err := mqtt.New(mqtt.Config{Broker: "tcp://" + ln.Addr().String(), ClientID: "silent", ConnectTimeout: 60 * time.Second,
		Backoff: backoff, Logger: slog.New(h)})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, nil) }()
	var conn net.Conn
	select {
	case conn = <-accepted:
	case <-time.After(10 * time.Second):
		t.Fatal("the client does not connect")
	}
	defer conn.Close()
	cancel()
	select {
	case <-h.seen: // Run waits for the attempt: make it fail now
		require.NoError(t, conn.Close())
		require.NoError(t, <-done)
	case err := <-done:
		require.NoError(t, err)
	}
	// Run has returned: paho's goroutines end (a goroutine may still be
	// leaving its last function), not the attempt a minute later.
	var left string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if left = pahoConnecting(); left == "" {
			break
		}
	}
	require.Empty(t, left, "paho goroutines outlive Run")
}
