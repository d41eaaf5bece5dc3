package input_test

import (
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/input"
)

// A stream's samples reach the runtime as soon as their line does, not
// when more input comes: each dated by the read that brought it.
func TestReaderHandsOverBeforeEachRead(t *testing.T) {
	rt := newRecorder()
	r := input.NewReader(rt, input.Options{})
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- r.Run(context.Background(), pr) }()

	rt.set(t0.Add(time.Second))
	_, err := io.WriteString(pw, "up,host=a value=1\nup,host=b value=1 ")
	require.NoError(t, err)
	eventually(t, func() bool { return len(rt.got()) == 1 }, "the complete line, while the next one is not")
	requireSample(t, rt.got()[0], "up", sec(1), sec(1), 1)

	rt.set(t0.Add(2 * time.Second))
	_, err = io.WriteString(pw, "1767225601000000000\nnot a record\n")
	require.NoError(t, err)
	eventually(t, func() bool { return len(rt.got()) == 2 }, "the second line")
	requireSample(t, rt.got()[1], "up", sec(1), sec(2), 1)
	eventually(t, func() bool { return len(rt.badInputs()) == 1 }, "the bad record")
	require.True(t, strings.HasPrefix(rt.badInputs()[0], "stdin: record 3, column 6: "), rt.badInputs()[0])
	require.NoError(t, pw.Close())
	require.NoError(t, <-done)
	require.Equal(t, 3.0, value(t, r, "faultline_input_records_total", "input", "stdin"))
	require.Equal(t, 1.0, value(t, r, "faultline_input_bad_records_total", "input", "stdin"))
	require.Equal(t, 2.0, value(t, r, "faultline_input_samples_total", "input", "stdin"))
}

// While the runtime has no room, the stream is not read: the writer
// blocks. Once there is room, reading goes on.
func TestReaderPushesBack(t *testing.T) {
	rt := newRecorder()
	rt.hold = make(chan struct{})
	r := input.NewReader(rt, input.Options{})
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- r.Run(context.Background(), pr) }()
	_, err := io.WriteString(pw, "up,host=a value=1\n")
	require.NoError(t, err)
	<-rt.ingest // the reader is waiting for room
	wrote := make(chan struct{})
	go func() {
		_, _ = io.WriteString(pw, "up,host=b value=1\n")
		close(wrote)
	}()
	select {
	case <-wrote:
		t.Fatal("the stream was read while the runtime had no room")
	case <-time.After(50 * time.Millisecond):
	}
	rt.mu.Lock()
	close(rt.hold)
	rt.hold = nil
	rt.mu.Unlock()
	<-wrote
	require.NoError(t, pw.Close())
	require.NoError(t, <-done)
	require.Len(t, rt.got(), 2)
}

// TCP reads each connection line by line; a connection idle past
// IdleTimeout is closed and counted; connections past MaxConns are
// closed at once and counted; Serve returns when its context ends.
func TestTCP(t *testing.T) {
	rt := newRecorder()
	in := input.NewTCP(rt, input.TCPOptions{MaxConns: 2, IdleTimeout: 500 * time.Millisecond})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- in.Serve(ctx, ln) }()

	a, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	_, err = io.WriteString(a, "up,host=a value=1 1\nup,host=a value=oops 2\n")
	require.NoError(t, err)
	eventually(t, func() bool { return len(rt.got()) == 1 && len(rt.badInputs()) == 1 }, "a's good and bad lines")
	require.True(t, strings.HasPrefix(rt.badInputs()[0], "tcp: 127.0.0.1:"), rt.badInputs()[0])
	require.Contains(t, rt.badInputs()[0], ": record 2, column 17: ")

	b, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	eventually(t, func() bool { return value(t, in, "faultline_input_connections", "input", "tcp") == 2 }, "two open")
	c, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err = c.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF, "a third is closed at once")
	require.Equal(t, 1.0, value(t, in, "faultline_input_limits_total", "input", "tcp", "limit", "connections"))

	// b says nothing: closed after the idle timeout; a, which writes,
	// stays open.
	for range 8 {
		_, err = io.WriteString(a, "up,host=a value=1 3\n")
		require.NoError(t, err)
		time.Sleep(100 * time.Millisecond)
	}
	require.NoError(t, b.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err = b.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF, "b was closed idle")
	require.Equal(t, 1.0, value(t, in, "faultline_input_limits_total", "input", "tcp", "limit", "timeout"))
	eventually(t, func() bool { return len(rt.got()) == 9 }, "a's samples: a stayed open")

	cancel()
	require.NoError(t, <-served)
	require.NoError(t, a.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err = a.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF, "Serve closed a when its context ended")
	require.Equal(t, 0.0, value(t, in, "faultline_input_connections", "input", "tcp"))
}

// A TCP client whose samples the runtime has no room for is not read,
// while the other clients are.
func TestTCPPushesBackPerConnection(t *testing.T) {
	rt := newRecorder()
	in := input.NewTCP(rt, input.TCPOptions{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = in.Serve(ctx, ln) })
	defer func() { cancel(); wg.Wait() }()

	rt.mu.Lock()
	rt.hold = make(chan struct{})
	rt.mu.Unlock()
	slow, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer slow.Close()
	_, err = io.WriteString(slow, "up,host=slow value=1 1\n")
	require.NoError(t, err)
	<-rt.ingest // held
	rt.mu.Lock()
	rt.hold = nil // later calls pass; the held one still waits
	rt.mu.Unlock()

	fast, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer fast.Close()
	_, err = io.WriteString(fast, "up,host=fast value=1 1\n")
	require.NoError(t, err)
	eventually(t, func() bool { return len(rt.got()) == 1 }, "the fast client's sample")
	require.Equal(t, "fast", rt.got()[0].Labels.Get("host"))
}

// Options.Precision dates a stream's records in its unit; the records are
// the same samples as in nanoseconds.
func TestReaderPrecision(t *testing.T) {
	rt := newRecorder()
	r := input.NewReader(rt, input.Options{Precision: time.Second})
	rt.set(t0.Add(3 * time.Second))
	in := "up,host=a value=1 1767225601\nup,host=a value=2 1767225602000000000\n"
	require.NoError(t, r.Run(context.Background(), strings.NewReader(in)))
	require.Len(t, rt.got(), 1, "a nanosecond timestamp read in seconds is out of range")
	requireSample(t, rt.got()[0], "up", sec(1), sec(3), 1)
	require.Len(t, rt.badInputs(), 1)
	require.Contains(t, rt.badInputs()[0], `stdin: record 2, column 19: stream: invalid timestamp "1767225602000000000": out of range at precision 1s`)
}
