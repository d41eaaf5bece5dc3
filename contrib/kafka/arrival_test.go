package kafka

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/stream"
)

// TestBrokerStampWouldNotCureAStall backs the package doc's choice of the
// worker's clock for arrivals over the record's timestamp: after a short
// stall the first tick advances the engine past a slot's on-time deadline
// before the poll takes the record that fills it, and that record is late
// whether it is stamped with the poll's time or, as a broker would stamp
// it, on time.
func TestBrokerStampWouldNotCureAStall(t *testing.T) {
	for _, c := range []struct {
		name    string
		arrival time.Duration // after the sample's time
	}{{"poll time", 5 * time.Second}, {"broker time", 0}} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			eng, err := fault.New(fault.Config{})
			require.NoError(t, err)
			labels := stream.Labels{{Name: "__name__", Value: "temp"}, {Name: "device", Value: "d00"}}
			at := func(s time.Duration) int64 { return t0.Add(s).UnixNano() }
			var last time.Duration
			for s := time.Duration(0); s <= 3*time.Minute; s += 10 * time.Second {
				require.NoError(t, eng.Process(ctx, []stream.Sample{{Labels: labels, Time: at(s), Arrival: at(s), Value: 20}}))
				last = s
			}
			before := eng.Stats()
			next := last + 10*time.Second
			// The worker stalls 5 s past the next slot; its first tick
			// then advances the engine before it polls.
			require.NoError(t, eng.Advance(ctx, at(next+5*time.Second)))
			require.NoError(t, eng.Process(ctx, []stream.Sample{{Labels: labels, Time: at(next), Arrival: at(next + c.arrival), Value: 20}}))
			require.Equal(t, before.SlotsMissed+1, eng.Stats().SlotsMissed, "missed on time")
			// Past the lateness allowance, the slot is judged filled late
			// (those after it, without samples, lost).
			require.NoError(t, eng.Advance(ctx, at(next+fault.DefaultLateness+10*time.Second)))
			require.Equal(t, before.SlotsLate+1, eng.Stats().SlotsLate, "filled late")
		})
	}
}
