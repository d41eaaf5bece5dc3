// Package clock is the wall clock of faultline's live parts, behind an
// interface so that their tests run in virtual time.
//
// The engine (package fault) never reads a clock: time comes in with the
// data. The pipeline, the sinks and the adapters do read one, for arrival
// stamps, tickers, timeouts and retries, and they read it only through a
// Clock. Real is the system clock; Fake is a clock that moves only when a
// test moves it.
//
// This package must not know about samples, engines or sinks.
package clock

import "time"

// Clock tells the time and makes timers. Implementations are safe for
// concurrent use.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// NewTimer returns a timer that sends the time on its channel once,
	// after d.
	NewTimer(d time.Duration) Timer
	// NewTicker returns a ticker that sends the time on its channel every
	// d; like time.Ticker, it drops ticks a slow receiver misses. d must
	// be positive.
	NewTicker(d time.Duration) Ticker
}

// Timer is a one-shot timer made by a Clock.
type Timer interface {
	// C returns the channel the timer sends on.
	C() <-chan time.Time
	// Stop prevents the timer from firing; it reports whether it did. A
	// value sent but not yet received is dropped and counts as not fired,
	// as with time.Timer since Go 1.23.
	Stop() bool
	// Reset makes the timer fire d from now; it reports whether the timer
	// was active. As with time.Timer since Go 1.23, no stale value is
	// received after Reset or Stop.
	Reset(d time.Duration) bool
}

// Ticker is a periodic ticker made by a Clock.
type Ticker interface {
	// C returns the channel the ticker sends on.
	C() <-chan time.Time
	// Stop turns the ticker off; as with time.Ticker since Go 1.23, no
	// tick is received after it.
	Stop()
}

// Real returns the system clock.
func Real() Clock { return realClock{} }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

func (realClock) NewTicker(d time.Duration) Ticker { return realTicker{time.NewTicker(d)} }

type realTimer struct{ t *time.Timer }

func (t realTimer) C() <-chan time.Time        { return t.t.C }
func (t realTimer) Stop() bool                 { return t.t.Stop() }
func (t realTimer) Reset(d time.Duration) bool { return t.t.Reset(d) }

type realTicker struct{ t *time.Ticker }

func (t realTicker) C() <-chan time.Time { return t.t.C }
func (t realTicker) Stop()               { t.t.Stop() }
