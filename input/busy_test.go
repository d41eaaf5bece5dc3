package input

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/clock"
)

type key struct{}

// A write's busy context arms its timer only when the runtime waits on
// it, and its deadline counts from the write's start.
func TestBusyContextArmsOnlyWhenWaitedOn(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	parent := context.WithValue(context.Background(), key{}, "v")
	ctx, cancel := newBusyContext(parent, clk, 2*time.Second)
	require.Zero(t, clk.Waiters(), "no timer before Done")
	dl, ok := ctx.Deadline()
	require.True(t, ok)
	require.Equal(t, t0.Add(2*time.Second), dl)
	require.Equal(t, "v", ctx.Value(key{}))
	clk.Advance(1500 * time.Millisecond) // decoding took that long
	done := ctx.Done()
	require.Equal(t, 1, clk.Waiters())
	require.Nil(t, ctx.Err())
	clk.Advance(499 * time.Millisecond)
	select {
	case <-done:
		t.Fatal("ended before its deadline")
	default:
	}
	clk.Advance(time.Millisecond)
	<-done
	require.Error(t, ctx.Err())
	cancel()
	require.Zero(t, clk.Waiters())

	// Canceled without ever being waited on: ended, and no timer.
	ctx, cancel = newBusyContext(context.Background(), clk, time.Second)
	cancel()
	require.Zero(t, clk.Waiters())
	<-ctx.Done()
	require.ErrorIs(t, ctx.Err(), context.Canceled)

	// It ends with the request.
	req, end := context.WithCancel(context.Background())
	ctx, cancel = newBusyContext(req, clk, time.Second)
	defer cancel()
	end()
	<-ctx.Done()
	require.ErrorIs(t, ctx.Err(), context.Canceled)
}
