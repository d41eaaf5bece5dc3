package clock

import (
	"slices"
	"sync"
	"time"
)

// Fake is a Clock that moves only when Advance or Set moves it, firing
// the timers and ticks that fall due on the way, in time order. Its
// channels have a buffer of one, like the real ones: a tick nobody
// receives before the next one is dropped.
//
// Tests drive a component in virtual time with it: advance the clock,
// then wait for what the component does in response. Waiters tells how
// many timers and tickers are active, so a test can wait until the
// component has armed the timer it is about to fire.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	waiters []*fakeWaiter
	changed chan struct{} // closed and replaced whenever waiters change
}

// NewFake returns a Fake clock set to t.
func NewFake(t time.Time) *Fake {
	return &Fake{now: t, changed: make(chan struct{})}
}

type fakeWaiter struct {
	c      chan time.Time
	fn     func() // called instead of sending on c (WithTimeout)
	at     time.Time
	period time.Duration // 0 for a timer
	active bool
}

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// NewTimer returns a timer that fires when the clock reaches now+d.
func (f *Fake) NewTimer(d time.Duration) Timer {
	w := &fakeWaiter{c: make(chan time.Time, 1)}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.arm(w, d)
	return fakeTimer{f, w}
}

// NewTicker returns a ticker that fires every d of fake time.
func (f *Fake) NewTicker(d time.Duration) Ticker {
	if d <= 0 {
		panic("clock: non-positive interval for NewTicker")
	}
	w := &fakeWaiter{c: make(chan time.Time, 1), period: d}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.arm(w, d)
	return fakeTicker{f, w}
}

// arm (with f.mu held) makes w fire d from now.
func (f *Fake) arm(w *fakeWaiter, d time.Duration) {
	w.at = f.now.Add(d)
	if !w.active {
		w.active = true
		f.waiters = append(f.waiters, w)
	}
	f.notify()
	if d <= 0 {
		f.fire(f.now)
	}
}

// disarm (with f.mu held) stops w and reports whether it was active.
func (f *Fake) disarm(w *fakeWaiter) bool {
	if !w.active {
		return false
	}
	w.active = false
	f.waiters = slices.DeleteFunc(f.waiters, func(x *fakeWaiter) bool { return x == w })
	f.notify()
	return true
}

func (f *Fake) notify() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// Advance moves the clock forward by d, firing what falls due.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fire(f.now.Add(d))
}

// Set moves the clock to t, firing what falls due; a t before the clock's
// time sets it back without firing anything.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t.Before(f.now) {
		f.now = t
		return
	}
	f.fire(t)
}

// fire (with f.mu held) moves the clock to t, firing every waiter due by
// then in time order, each at its own deadline.
func (f *Fake) fire(t time.Time) {
	for {
		var next *fakeWaiter
		for _, w := range f.waiters {
			if !w.at.After(t) && (next == nil || w.at.Before(next.at)) {
				next = w
			}
		}
		if next == nil {
			break
		}
		f.now = next.at
		if next.fn != nil {
			next.fn()
		} else {
			select {
			case next.c <- next.at:
			default: // the receiver is behind: the tick is dropped
			}
		}
		if next.period > 0 {
			next.at = next.at.Add(next.period)
		} else {
			f.disarm(next)
		}
	}
	f.now = t
}

// Waiters returns the number of active timers and tickers.
func (f *Fake) Waiters() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.waiters)
}

// WaitFor blocks until at least n timers and tickers are active, or done
// is closed; it reports whether n were reached.
func (f *Fake) WaitFor(n int, done <-chan struct{}) bool {
	for {
		f.mu.Lock()
		got, changed := len(f.waiters), f.changed
		f.mu.Unlock()
		if got >= n {
			return true
		}
		select {
		case <-changed:
		case <-done:
			return false
		}
	}
}

type fakeTimer struct {
	f *Fake
	w *fakeWaiter
}

func (t fakeTimer) C() <-chan time.Time { return t.w.c }

func (t fakeTimer) Stop() bool {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	drained := drain(t.w.c)
	return t.f.disarm(t.w) || drained
}

func (t fakeTimer) Reset(d time.Duration) bool {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	was := drain(t.w.c) || t.w.active
	t.f.arm(t.w, d)
	return was
}

type fakeTicker struct {
	f *Fake
	w *fakeWaiter
}

func (t fakeTicker) C() <-chan time.Time { return t.w.c }

func (t fakeTicker) Stop() {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	drain(t.w.c)
	t.f.disarm(t.w)
}

// drain empties c and reports whether it held a value: a timer whose
// value nobody received has not fired yet, as with time.Timer since Go
// 1.23.
func drain(c chan time.Time) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
