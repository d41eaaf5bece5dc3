package input

import (
	"net"
	"sync"
)

// limitListener closes at once, and counts, the connections accepted
// while max are open; it counts the others in the input's metrics.
type limitListener struct {
	net.Listener
	b   *base
	max int64
}

func newLimitListener(ln net.Listener, max int, b *base) *limitListener {
	if max <= 0 {
		max = DefaultMaxConns
	}
	return &limitListener{Listener: ln, b: b, max: int64(max)}
}

// Accept returns the next connection within the bound.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.b.ctr.conns.Add(1) > l.max {
			l.b.ctr.conns.Add(-1)
			l.b.limit(LimitConnections)
			_ = c.Close()
			continue
		}
		l.b.ctr.connsTotal.Add(1)
		return &countedConn{Conn: c, b: l.b}, nil
	}
}

// countedConn is a connection counted as open until it is first closed.
type countedConn struct {
	net.Conn
	b    *base
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.b.ctr.conns.Add(-1) })
	return c.Conn.Close()
}
