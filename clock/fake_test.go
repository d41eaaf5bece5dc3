package clock_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/clock"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func recv(c <-chan time.Time) (time.Time, bool) {
	select {
	case t := <-c:
		return t, true
	default:
		return time.Time{}, false
	}
}

func TestFakeTimerFiresAtItsDeadline(t *testing.T) {
	f := clock.NewFake(t0)
	tm := f.NewTimer(10 * time.Second)
	require.Equal(t, 1, f.Waiters())
	f.Advance(9 * time.Second)
	_, ok := recv(tm.C())
	require.False(t, ok)
	f.Advance(2 * time.Second)
	got, ok := recv(tm.C())
	require.True(t, ok)
	require.Equal(t, t0.Add(10*time.Second), got, "fires at its deadline, not at the clock's new time")
	require.Equal(t, t0.Add(11*time.Second), f.Now())
	require.Zero(t, f.Waiters())
	require.False(t, tm.Stop())
}

func TestFakeTimerStopAndReset(t *testing.T) {
	f := clock.NewFake(t0)
	tm := f.NewTimer(time.Second)
	require.True(t, tm.Stop())
	f.Advance(time.Hour)
	_, ok := recv(tm.C())
	require.False(t, ok)
	require.False(t, tm.Reset(time.Minute))
	f.Advance(time.Minute)
	got, ok := recv(tm.C())
	require.True(t, ok)
	require.Equal(t, t0.Add(time.Hour+time.Minute), got)

	// A reset drops a value the timer sent but nobody received.
	tm.Reset(time.Second)
	f.Advance(time.Second)
	tm.Reset(time.Second)
	_, ok = recv(tm.C())
	require.False(t, ok)
}

func TestFakeTickerDropsMissedTicks(t *testing.T) {
	f := clock.NewFake(t0)
	tk := f.NewTicker(time.Second)
	f.Advance(5 * time.Second)
	got, ok := recv(tk.C())
	require.True(t, ok)
	require.Equal(t, t0.Add(time.Second), got, "the first tick is kept, later ones dropped")
	_, ok = recv(tk.C())
	require.False(t, ok)
	f.Advance(time.Second)
	got, ok = recv(tk.C())
	require.True(t, ok)
	require.Equal(t, t0.Add(6*time.Second), got)
	tk.Stop()
	require.Zero(t, f.Waiters())
}

func TestFakeFiresInTimeOrder(t *testing.T) {
	f := clock.NewFake(t0)
	a := f.NewTimer(3 * time.Second)
	b := f.NewTimer(time.Second)
	f.Advance(5 * time.Second)
	ta, _ := recv(a.C())
	tb, _ := recv(b.C())
	require.True(t, tb.Before(ta))
}

func TestFakeWaitFor(t *testing.T) {
	f := clock.NewFake(t0)
	done := make(chan struct{})
	go func() {
		f.NewTimer(time.Second)
		f.NewTicker(time.Second)
	}()
	require.True(t, f.WaitFor(2, done))
	close(done)
	require.False(t, f.WaitFor(3, done))
}

func TestRealClockTicks(t *testing.T) {
	c := clock.Real()
	tk := c.NewTicker(time.Millisecond)
	defer tk.Stop()
	<-tk.C()
	tm := c.NewTimer(time.Millisecond)
	<-tm.C()
	require.False(t, c.Now().IsZero())
}

// A timer whose value nobody received has not fired yet, as with
// time.Timer since Go 1.23: Stop and Reset drop the value and report true.
// The pre-1.23 idiom "if !t.Stop() { <-t.C() }" must then not block on a
// Fake any more than it does on Real.
func TestTimerStopReportsAnUnreceivedValue(t *testing.T) {
	f := clock.NewFake(t0)
	for _, c := range []struct {
		name string
		due  func(clock.Timer) // makes the timer send its value
		tm   func() clock.Timer
	}{
		{"real", func(clock.Timer) {}, func() clock.Timer { return clock.Real().NewTimer(0) }},
		{"fake", func(clock.Timer) { f.Advance(time.Second) }, func() clock.Timer { return f.NewTimer(time.Second) }},
	} {
		tm := c.tm()
		c.due(tm)
		require.True(t, tm.Stop(), "%s: Stop drops the value nobody received", c.name)
		_, ok := recv(tm.C())
		require.False(t, ok, c.name)

		tm = c.tm()
		c.due(tm)
		require.True(t, tm.Reset(time.Hour), "%s: Reset drops the value nobody received", c.name)
		_, ok = recv(tm.C())
		require.False(t, ok, c.name)
		require.True(t, tm.Stop(), c.name)
	}
}

// As with time.Ticker since Go 1.23, no tick sent before Stop is received
// after it.
func TestTickerStopDropsAnUnreceivedTick(t *testing.T) {
	f := clock.NewFake(t0)
	real := clock.Real().NewTicker(time.Nanosecond)
	<-real.C()
	fake := f.NewTicker(time.Second)
	f.Advance(time.Second)
	for name, tk := range map[string]clock.Ticker{"real": real, "fake": fake} {
		tk.Stop()
		_, ok := recv(tk.C())
		require.False(t, ok, "%s: a tick after Stop", name)
	}
}
