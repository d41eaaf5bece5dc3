package bench

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/stream"
)

// TestSteadyFleetIsQuiet runs a small version of BenchmarkProcess's stream
// and checks what the benchmark takes for granted: a steady fleet, every
// sample delivered four times, raises no event, misses no slot, and dedup
// sees exactly three duplicates per sample.
func TestSteadyFleetIsQuiet(t *testing.T) {
	const n, rounds, copies = 2000, 12, 4
	f := newFleet(n, time.Minute)
	eng, err := fault.New(fault.Config{})
	require.NoError(t, err)
	ctx := context.Background()
	for j := range n * rounds {
		s := f.sample(j)
		for range copies {
			require.NoError(t, eng.Process(ctx, []stream.Sample{s}))
		}
	}
	require.NoError(t, eng.Close(ctx))
	st := eng.Stats()
	require.EqualValues(t, n, st.Series)
	require.EqualValues(t, n*rounds, st.Fresh)
	require.EqualValues(t, (copies-1)*n*rounds, st.Duplicates)
	require.Zero(t, st.Events)
	require.Zero(t, st.SlotsMissed)
	// Cadences are learned after four samples; every later slot up to the
	// last arrival is judged.
	require.EqualValues(t, n*(rounds-3), st.SlotsExpected)
}
