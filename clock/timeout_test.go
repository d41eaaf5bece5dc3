package clock_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/clock"
)

func ended(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return true
	default:
		return false
	}
}

// On a Fake, the context ends when the clock reaches its deadline, and
// its timer is a waiter until then or until it is canceled.
func TestWithTimeoutOnFake(t *testing.T) {
	f := clock.NewFake(t0)
	ctx, cancel := clock.WithTimeout(context.Background(), f, 2*time.Second)
	defer cancel()
	require.Equal(t, 1, f.Waiters())
	f.Advance(1999 * time.Millisecond)
	require.False(t, ended(ctx))
	f.Advance(time.Millisecond)
	require.True(t, ended(ctx))
	require.ErrorIs(t, ctx.Err(), context.Canceled)
	require.Zero(t, f.Waiters())

	ctx, cancel = clock.WithTimeout(context.Background(), f, time.Second)
	cancel()
	require.True(t, ended(ctx))
	require.Zero(t, f.Waiters(), "cancel disarms the timer")

	parent, stop := context.WithCancel(context.Background())
	ctx, cancel = clock.WithTimeout(parent, f, time.Second)
	defer cancel()
	stop()
	require.True(t, ended(ctx), "ends with its parent")
	require.Eventually(t, func() bool { return f.Waiters() == 0 }, 10*time.Second, time.Millisecond,
		"its timer stops counting in Waiters when the parent ends, before cancel")

	ctx, cancel = clock.WithTimeout(context.Background(), f, 0)
	defer cancel()
	require.True(t, ended(ctx), "a deadline already reached")
}

// otherClock is a Clock WithTimeout does not know.
type otherClock struct{ clock.Clock }

// Any other Clock gets the same behaviour, through its timer.
func TestWithTimeoutOnOtherClock(t *testing.T) {
	f := clock.NewFake(t0)
	ctx, cancel := clock.WithTimeout(context.Background(), otherClock{f}, time.Second)
	defer cancel()
	require.Equal(t, 1, f.Waiters())
	require.False(t, ended(ctx))
	f.Advance(time.Second)
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("not ended at its deadline")
	}
	ctx, cancel = clock.WithTimeout(context.Background(), otherClock{f}, time.Second)
	cancel()
	require.True(t, ended(ctx))
	require.Eventually(t, func() bool { return f.Waiters() == 0 }, 10*time.Second, time.Millisecond, "cancel stops the timer")
}

// On Real it is context.WithTimeout.
func TestWithTimeoutOnReal(t *testing.T) {
	ctx, cancel := clock.WithTimeout(context.Background(), clock.Real(), 5*time.Millisecond)
	defer cancel()
	dl, ok := ctx.Deadline()
	require.True(t, ok)
	require.WithinDuration(t, time.Now().Add(5*time.Millisecond), dl, time.Second)
	<-ctx.Done()
	require.ErrorIs(t, ctx.Err(), context.DeadlineExceeded)
}
