package input

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/faultline-go/faultline/metrics"
)

// TCPOptions configures a TCP input. A zero TCPOptions consists entirely
// of default values.
type TCPOptions struct {
	Options
	// MaxConns bounds the connections open at once; one more is closed at
	// once and counted (limit "connections"). By default 1024.
	MaxConns int
	// IdleTimeout closes a connection that sends nothing for that long,
	// counted (limit "timeout"). By default 5m.
	IdleTimeout time.Duration
}

// TCP reads line protocol from TCP connections, as Telegraf's
// socket_writer and InfluxDB's former TCP listeners send it: one record
// per line, each read stamped with its arrival time. A connection whose
// samples the runtime has no room for is not read until it has: the
// client feels the back-pressure. It is a metrics.Source.
type TCP struct {
	base
	maxConns int
	idle     time.Duration
}

var _ metrics.Source = (*TCP)(nil)

// NewTCP returns a TCP input delivering to rt.
func NewTCP(rt Runtime, opts TCPOptions) *TCP {
	t := &TCP{base: newBase(rt, opts.Options, "tcp"), maxConns: opts.MaxConns, idle: opts.IdleTimeout}
	if t.idle <= 0 {
		t.idle = DefaultIdleTimeout
	}
	return t
}

// Serve accepts connections on ln and reads them until ctx ends; then it
// closes ln and every connection, waits for their goroutines, and returns
// nil. If accepting fails otherwise, it closes ln and every connection
// likewise, and returns the error.
func (t *TCP) Serve(ctx context.Context, ln net.Listener) error {
	ll := newLimitListener(ln, t.maxConns, &t.base)
	var (
		mu    sync.Mutex
		conns = map[net.Conn]struct{}{}
		wg    sync.WaitGroup
	)
	closeAll := func() {
		_ = ln.Close()
		mu.Lock()
		for c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
	}
	stop := context.AfterFunc(ctx, closeAll)
	defer stop()
	defer wg.Wait()
	for {
		c, err := ll.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			closeAll() // else wg.Wait waits for every client to hang up
			return err
		}
		mu.Lock()
		if ctx.Err() != nil {
			mu.Unlock()
			_ = c.Close()
			continue
		}
		conns[c] = struct{}{}
		mu.Unlock()
		wg.Go(func() {
			t.serveConn(ctx, c)
			mu.Lock()
			delete(conns, c)
			mu.Unlock()
			_ = c.Close()
		})
	}
}

// serveConn reads one connection to its end.
func (t *TCP) serveConn(ctx context.Context, c net.Conn) {
	where := c.RemoteAddr().String()
	// A socket's deadline is a point in real time, whatever Options.Clock
	// says: it is read from the system clock.
	before := func() { _ = c.SetReadDeadline(time.Now().Add(t.idle)) }
	err := t.stream(ctx, c, where, before)
	var ne net.Error
	switch {
	case err == nil, ctx.Err() != nil:
	case errors.As(err, &ne) && ne.Timeout():
		t.limit(LimitTimeout)
		t.o.Logger.Info("closing an idle connection", "input", t.o.Name, "remote", where, "idle", t.idle)
	default:
		t.o.Logger.Warn("connection ended", "input", t.o.Name, "remote", where, "err", err)
	}
}

// AppendMetrics appends the input's self-metrics: its decoders' counts, its
// bounds hit and its connections.
func (t *TCP) AppendMetrics(dst []metrics.Metric) []metrics.Metric {
	return t.appendConnMetrics(t.appendMetrics(dst))
}
