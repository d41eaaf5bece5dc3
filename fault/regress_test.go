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
