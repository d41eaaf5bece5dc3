package clock

import (
	"context"
	"time"
)

// WithTimeout is context.WithTimeout on c's time: the context ends d from
// now on c, when parent ends, or when cancel is called. On Real it is
// context.WithTimeout; on a Fake the deadline is a timer of the Fake
// (counted by Waiters until the context ends) that cancels the context
// when the clock reaches it. Neither starts a goroutine while the context
// runs, so it costs next to nothing per call; any other Clock gets a
// goroutine that waits for its timer.
//
// On Real the context is context.WithTimeout's; on any other Clock it
// reports no Deadline and, once ended, the Err context.Canceled.
func WithTimeout(parent context.Context, c Clock, d time.Duration) (context.Context, context.CancelFunc) {
	switch c := c.(type) {
	case realClock:
		return context.WithTimeout(parent, d)
	case *Fake:
		ctx, cancel := context.WithCancel(parent)
		w := &fakeWaiter{fn: cancel}
		c.mu.Lock()
		c.arm(w, d)
		c.mu.Unlock()
		disarm := func() {
			c.mu.Lock()
			c.disarm(w)
			c.mu.Unlock()
		}
		// However the context ends (its parent, its deadline, cancel), the
		// timer stops counting in Waiters.
		stop := context.AfterFunc(ctx, disarm)
		return ctx, func() {
			cancel()
			stop()
			disarm()
		}
	}
	ctx, cancel := context.WithCancel(parent)
	t := c.NewTimer(d)
	go func() {
		select {
		case <-t.C():
			cancel()
		case <-ctx.Done():
			t.Stop()
		}
	}()
	return ctx, cancel
}
