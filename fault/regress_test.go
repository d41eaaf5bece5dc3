package fault_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/bench/scenario"
	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/stream"
)

// Regression tests for defects found in review, each with the scenario that
// showed it.

// t0 is 2026-01-01T00:00:00Z.
const t0 = int64(1767225600) * int64(time.Second)

func at(s float64) int64 { return t0 + int64(s*float64(time.Second)) }

type collect struct{ events []fault.Event }

func (c *collect) Emit(_ context.Context, ev fault.Event) error {
	c.events = append(c.events, ev)
	return nil
}

func engine(t *testing.T, cfg fault.Config) (*fault.Engine, *collect) {
	t.Helper()
	c := &collect{}
	cfg.Sink = c
	e, err := fault.New(cfg)
	require.NoError(t, err)
	return e, c
}

func feed(t *testing.T, e *fault.Engine, samples ...stream.Sample) {
	t.Helper()
	require.NoError(t, e.Process(context.Background(), samples))
}

func sampleAt(ts, arrival float64) stream.Sample {
	return stream.NewSample("m", stream.NewLabels("id", "a"), at(ts), 1, at(arrival))
}

// A series whose cadence is short next to τ used to re-anchor every ninth
// sample and never be judged: its on-time samples run τ/Δ slots ahead of the
// next slot to judge.
func TestShortCadencesAreTracked(t *testing.T) {
	for _, c := range []struct {
		tau, cadence time.Duration
	}{{time.Second, 100 * time.Millisecond}, {10 * time.Second, time.Second}} {
		e, rec := engine(t, fault.Config{OnTimeBudget: c.tau})
		d := c.cadence.Seconds()
		for s := 0.0; s < 600; s += d {
			feed(t, e, sampleAt(s, s+0.02))
		}
		require.NoError(t, e.Close(context.Background()))
		st := e.Stats()
		require.Zero(t, st.Reanchors, "τ %v, Δ %v", c.tau, c.cadence)
		require.Greater(t, st.SlotsExpected, uint64(0.9*600/d))
		require.Zero(t, st.SlotsMissed)
		require.Empty(t, rec.events)
	}
}

// The miss list stores slot numbers modulo 2¹⁶: without ageing, misses of
// 65,536 slots ago came back as recent and one lost sample confirmed a
// periodic gap.
func TestOldMissesDoNotComeBack(t *testing.T) {
	e, rec := engine(t, fault.Config{})
	lost := map[int]bool{}
	for k := 300; k <= 400; k += 20 { // six misses in one 20-s phase bin
		lost[k] = true
	}
	// One more, 18 h later, where the six would be 20, 40, … 120 slots back
	// in the same bin if their slot numbers wrapped round.
	lost[420+65536] = true
	for k := 0; k < 420+65536+60; k++ {
		if !lost[k] {
			feed(t, e, sampleAt(float64(k), float64(k)+0.05))
		}
	}
	require.NoError(t, e.Close(context.Background()))
	for _, ev := range rec.events {
		require.NotEqual(t, fault.KindSeriesPeriodicGap, ev.Kind, "%v at %s", ev.State, fault.FormatTime(ev.At))
	}
}

// One sample with an arrival time a year ahead used to move the clock there:
// every series went absent and no slot was judged again.
func TestBogusArrivalDoesNotMoveTheClock(t *testing.T) {
	e, rec := engine(t, fault.Config{})
	year := 365 * 86400.0
	for s := 0.0; s < 1200; s += 60 {
		feed(t, e, sampleAt(s, s+0.1))
		if s == 300 {
			feed(t, e, stream.NewSample("m", stream.NewLabels("id", "b"), at(s), 1, at(s+year)))
		}
	}
	require.NoError(t, e.Close(context.Background()))
	st := e.Stats()
	require.EqualValues(t, 1, st.BadArrival)
	require.Empty(t, rec.events)
	require.Greater(t, st.SlotsExpected, uint64(15))
	require.Less(t, e.Now(), at(year))
}

// Checks that die inside a fleet gap used to keep it firing for ever, and
// their absences explained by it.
func TestDeadChecksDoNotPinTheFleetGap(t *testing.T) {
	spec := small("B02", 2000, 10*time.Minute).WithHorizon(10*time.Minute + 10*time.Minute + 60*time.Minute)
	ds, err := scenario.Generate(spec, 6)
	require.NoError(t, err)
	// The 15 checks that lose the most samples in the outage die at onset.
	dead := map[stream.SeriesID]bool{}
	for len(dead) < 15 {
		best := -1
		for i, s := range ds.Series {
			if !dead[s.ID] && s.Dropped > 0 && (best < 0 || s.Dropped > ds.Series[best].Dropped) {
				best = i
			}
		}
		dead[ds.Series[best].ID] = true
	}
	e, rec := engine(t, fault.Config{})
	for smp := range ds.Samples() {
		if dead[smp.Series] && smp.Arrival >= ds.Truth.Onset {
			continue
		}
		feed(t, e, smp)
	}
	require.NoError(t, e.Close(context.Background()))
	require.Len(t, only(rec.events, fault.KindPeriodicGap, fault.StateFiring), 1)
	require.NotEmpty(t, only(rec.events, fault.KindPeriodicGap, fault.StateResolved), "the gap ends with the outage")
	paged := map[stream.SeriesID]bool{}
	for _, ev := range only(rec.events, fault.KindAbsence, fault.StateFiring) {
		if ev.InhibitedBy == "" {
			paged[ev.Series] = true
		}
	}
	require.Equal(t, dead, paged, "the dead checks, and only they, are paged once the gap is over")
}

// Occurrences after the end of input used to count as clean and resolve a
// gap that was still going on.
func TestEndOfInputDoesNotResolveAGap(t *testing.T) {
	spec := small("B01", 2000, 30*time.Minute)
	spec.Period, spec.Phase = 20*time.Second, 5*time.Second
	spec = spec.WithHorizon(10*time.Minute + 15*time.Minute) // cut mid-incident
	_, events := replay(t, spec, 8)
	require.Len(t, only(events, fault.KindPeriodicGap, fault.StateFiring), 1)
	require.Empty(t, only(events, fault.KindPeriodicGap, fault.StateResolved))
}

// The very first sample used to start the clock wherever its arrival said,
// however far ahead of its own sample time.
func TestBogusFirstArrivalIsRejected(t *testing.T) {
	e, rec := engine(t, fault.Config{})
	feed(t, e, stream.NewSample("m", stream.NewLabels("id", "b"), at(0), 1, at(365*86400)))
	for s := 0.0; s <= 540; s += 60 {
		feed(t, e, sampleAt(s, s+0.1))
	}
	require.NoError(t, e.Advance(context.Background(), at(3600)))
	require.EqualValues(t, 1, e.Stats().BadArrival)
	require.Len(t, only(rec.events, fault.KindAbsence, fault.StateFiring), 1, "the clock runs from the good samples")
}

func TestMaxSeriesIsBoundedByTheWheel(t *testing.T) {
	_, err := fault.New(fault.Config{MaxSeries: 1 << 31})
	require.ErrorContains(t, err, "MaxSeries")
}
