package fault_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/stream"
)

// Regression tests for defects FuzzProcess found.

// A sample stamped with an arrival behind the engine clock used to end an
// absence of a series still learning its cadence and open it again at once,
// timed from that stamp: the same firing event, under the same ID, after
// its episode had resolved.
func TestStaleArrivalDoesNotReopenTheSameAbsence(t *testing.T) {
	e, rec := engine(t, fault.Config{})
	a := func(ts, arrival float64) stream.Sample {
		return stream.NewSample("m", stream.NewLabels("id", "a"), at(ts), 1, at(arrival))
	}
	clock := func(s float64) stream.Sample {
		return stream.NewSample("m", stream.NewLabels("id", "clock"), at(s), 1, at(s+0.1))
	}
	feed(t, e, a(0, 0), a(10, 10), a(20, 20)) // three sample times: still learning
	for s := 0.0; s <= 400; s += 10 {
		feed(t, e, clock(s))
	}
	feed(t, e, a(30, 20)) // a new sample stamped 380 s behind the clock, like the last one
	for s := 410.0; s <= 800; s += 10 {
		feed(t, e, clock(s))
	}
	require.NoError(t, e.Close(context.Background()))

	var got []string
	ids := map[string]bool{}
	for _, ev := range rec.events {
		require.False(t, ids[ev.ID], "duplicate ID %s", ev.ID)
		ids[ev.ID] = true
		got = append(got, ev.State.String()+" since "+fault.FormatTime(ev.Since)[14:19]+" at "+fault.FormatTime(ev.At)[14:19])
	}
	require.Equal(t, []string{
		"firing since 00:20 at 05:20",   // 5 min after the arrival at 20 s; dated by that sample's time
		"resolved since 00:20 at 06:40", // when the new sample was processed, at 400.1 s
		"firing since 00:30 at 11:40",   // timed from 400.1 s, when it really arrived; dated by its sample time, 30 s
	}, got)
}
