package input_test

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/input"
)

// failingListener accepts one connection, then fails as a listener out of
// file descriptors does.
type failingListener struct {
	net.Listener
	accepted bool
}

var errAccept = errors.New("accept: too many open files")

func (l *failingListener) Accept() (net.Conn, error) {
	if l.accepted {
		return nil, errAccept
	}
	l.accepted = true
	return l.Listener.Accept()
}

// When accepting fails, Serve returns the error, though a client is still
// connected: it does not wait for every client to hang up first.
func TestTCPServeReturnsWhenAcceptFails(t *testing.T) {
	rt := newRecorder()
	in := input.NewTCP(rt, input.TCPOptions{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	c, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	served := make(chan error, 1)
	go func() { served <- in.Serve(context.Background(), &failingListener{Listener: ln}) }()
	select {
	case err := <-served:
		require.ErrorIs(t, err, errAccept)
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return the listener's error while a client stayed connected")
	}
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err = c.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF, "the connection was closed")
}
