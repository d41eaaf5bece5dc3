package fault

import (
	"context"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/internal/seriesgap"
)

// The slot tracker must fit the 96 bytes per series the gap design allows.
func TestTrackerSize(t *testing.T) {
	require.Equal(t, uintptr(64), unsafe.Sizeof(tracker{}), "one cache line")
	require.LessOrEqual(t, unsafe.Sizeof(tracker{})+unsafe.Sizeof(seriesgap.Misses{}), uintptr(96))
	require.LessOrEqual(t, unsafe.Sizeof(series{}), uintptr(48))
}

// A series whose cadence is short next to τ (100 ms at τ = 1 s, 1 s at
// τ = 10 s) is tracked on its lattice: never re-anchored, nearly every slot
// expected, none missed, nothing raised. Such a series used to re-anchor
// every ninth sample and never be judged, its on-time samples running τ/Δ
// slots ahead of the next slot to judge (found in review).
func TestShortCadencesAreTracked(t *testing.T) {
	for _, c := range []struct {
		tau, cadence time.Duration
	}{{time.Second, 100 * time.Millisecond}, {10 * time.Second, time.Second}} {
		e, rec := newEngine(t, Config{OnTimeBudget: c.tau})
		d := c.cadence.Seconds()
		for s := 0.0; s < 600; s += d {
			process(t, e, smp("m", sec(s), sec(s+0.02), 1, "id", "a"))
		}
		require.NoError(t, e.Close(context.Background()))
		st := e.Stats()
		require.Zero(t, st.Reanchors, "τ %v, Δ %v", c.tau, c.cadence)
		require.Greater(t, st.SlotsExpected, uint64(0.9*600/d))
		require.Zero(t, st.SlotsMissed)
		require.Empty(t, rec.events)
	}
}

// A series' miss list stores slot numbers modulo 2¹⁶ and ages them out:
// six misses in one phase bin, then one more 65,536 slots later, where the
// six would sit 20 to 120 slots back had their numbers wrapped round,
// confirm no periodic gap of the series. Without ageing they came back as
// recent and the one lost sample confirmed a gap (found in review).
func TestOldMissesDoNotComeBack(t *testing.T) {
	e, rec := newEngine(t, Config{})
	lost := map[int]bool{}
	for k := 300; k <= 400; k += 20 { // six misses in one 20-s phase bin
		lost[k] = true
	}
	// One more, 18 h later, where the six would be 20, 40, … 120 slots back
	// in the same bin if their slot numbers wrapped round.
	lost[420+65536] = true
	for k := 0; k < 420+65536+60; k++ {
		if !lost[k] {
			process(t, e, smp("m", sec(float64(k)), sec(float64(k)+0.05), 1, "id", "a"))
		}
	}
	require.NoError(t, e.Close(context.Background()))
	for _, ev := range rec.events {
		require.NotEqual(t, KindSeriesPeriodicGap, ev.Kind, "%v at %s", ev.State, FormatTime(ev.At))
	}
}
