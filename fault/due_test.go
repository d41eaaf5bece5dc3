package fault

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/stream"
)

// dueKept reports whether e.due is no later than every deadline advance
// checks, as rearm would take them now: advance's fast path then skips
// nothing.
func dueKept(e *Engine) bool {
	due := e.due
	e.rearm()
	ok := due <= e.due
	e.due = due
	return ok
}

// TestDueKept: whatever brings a deadline earlier between two samples
// leaves e.due no later than it: a feedback loop and a skip disarm it; a
// bad record's deadline is a minute or more away, never before e.due (at
// most a wheel tick), so BadInputs needs no disarm — which fails here if
// that ever changes.
func TestDueKept(t *testing.T) {
	ctx := context.Background()
	e, _ := newEngine(t, Config{})
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	sec := int64(time.Second)
	feed := func(from, to int64) {
		t.Helper()
		for ts := from; ts < to; ts += 10 * sec {
			batch := []stream.Sample{smp("cpu", ts, ts+sec, 1, "host", "a"), smp("cpu", ts, ts+2*sec, 1, "host", "a")}
			require.NoError(t, e.Process(ctx, batch))
			require.True(t, dueKept(e), "after a sample at %d", ts)
		}
	}
	feed(base, base+5*time.Minute.Nanoseconds())
	require.Greater(t, e.due, e.now, "the fast path is taken between deadlines")

	// Mid-tick: a deadline before the next tick would be missed.
	mid := smp("cpu", e.now, e.now+time.Millisecond.Nanoseconds(), 1, "host", "c")
	require.NoError(t, e.Process(ctx, []stream.Sample{mid}))
	e.BadInput("stdin", errors.New("bad line"))
	require.True(t, dueKept(e), "after a bad record")
	feed(base+5*time.Minute.Nanoseconds(), base+10*time.Minute.Nanoseconds())

	looped := smp("cpu", e.now, e.now, 1, "host", "b", OriginLabel, "other")
	require.NoError(t, e.Process(ctx, []stream.Sample{looped}))
	require.True(t, dueKept(e), "after a looped sample")
	feed(base+10*time.Minute.Nanoseconds(), base+15*time.Minute.Nanoseconds())

	require.NoError(t, e.Skip(ctx, e.now, e.now+time.Hour.Nanoseconds()))
	require.True(t, dueKept(e), "after a skip")
	feed(e.now, e.now+5*time.Minute.Nanoseconds())
}
