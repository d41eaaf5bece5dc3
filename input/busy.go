package input

import (
	"context"
	"sync"
	"time"

	"github.com/faultline-go/faultline/clock"
)

// busyContext is the context a write hands the runtime: it ends BusyTimeout
// after the write started, or with the request. Its timer is armed only
// when Done is first called, which the runtime does only when it must wait
// for room; a write that never waits costs no timer.
type busyContext struct {
	context.Context // the request's
	clk             clock.Clock
	deadline        time.Time

	once   sync.Once
	armed  context.Context // with its deadline, once Done was called
	cancel context.CancelFunc
}

// newBusyContext returns a context that ends d from now on clk, or when
// parent does, and a function that releases its timer.
func newBusyContext(parent context.Context, clk clock.Clock, d time.Duration) (*busyContext, func()) {
	c := &busyContext{Context: parent, clk: clk, deadline: clk.Now().Add(d)}
	return c, func() {
		c.once.Do(func() { // never armed: ended without a timer
			c.armed, c.cancel = context.WithCancel(parent)
		})
		c.cancel()
	}
}

func (c *busyContext) arm() {
	c.once.Do(func() {
		c.armed, c.cancel = clock.WithTimeout(c.Context, c.clk, c.deadline.Sub(c.clk.Now()))
	})
}

// Deadline returns the write's deadline.
func (c *busyContext) Deadline() (time.Time, bool) { return c.deadline, true }

// Done arms the timer and returns the channel closed at the deadline.
func (c *busyContext) Done() <-chan struct{} {
	c.arm()
	return c.armed.Done()
}

// Err reports why the context ended, or nil.
func (c *busyContext) Err() error {
	c.arm()
	return c.armed.Err()
}
