package fault_test

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/bench/scenario"
	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/stream"
)

// These tests run small, fast versions of the public scenarios of GAPS.md
// through the engine; bench/scorecard runs the full-size ones.

// small shrinks a scenario: n series, the incident from 10 min for dur,
// the horizon 10 min after it.
func small(id string, n int, dur time.Duration) scenario.Spec {
	s := scenario.MustNamed(id).WithN(n)
	return s.WithIncident(10*time.Minute, dur).WithHorizon(10*time.Minute + dur + 10*time.Minute)
}

// recorded returns an engine with the default config that appends every
// event it emits to *events.
func recorded(t *testing.T, events *[]fault.Event) *fault.Engine {
	t.Helper()
	eng, err := fault.New(fault.Config{Sink: fault.SinkFunc(func(_ context.Context, ev fault.Event) error {
		*events = append(*events, ev)
		return nil
	})})
	require.NoError(t, err)
	return eng
}

// replay generates spec's dataset with seed and runs it through an engine
// with the default config, in batches of 2048, to Close; it returns the
// dataset and the events.
func replay(t *testing.T, spec scenario.Spec, seed uint64) (*scenario.Dataset, []fault.Event) {
	t.Helper()
	ds, err := scenario.Generate(spec, seed)
	require.NoError(t, err)
	var events []fault.Event
	eng := recorded(t, &events)
	for b := range ds.Batches(2048) {
		require.NoError(t, eng.Process(context.Background(), b))
	}
	require.NoError(t, eng.Close(context.Background()))
	return ds, events
}

// replayWithout runs ds through an engine with the default config, one
// sample per call, to Close, leaving out the samples of the dead series
// that arrive from the incident's onset on: checks that die as it starts.
// It returns the events.
func replayWithout(t *testing.T, ds *scenario.Dataset, dead map[stream.SeriesID]bool) []fault.Event {
	t.Helper()
	var events []fault.Event
	eng := recorded(t, &events)
	for smp := range ds.Samples() {
		if dead[smp.Series] && smp.Arrival >= ds.Truth.Onset {
			continue
		}
		require.NoError(t, eng.Process(context.Background(), []stream.Sample{smp}))
	}
	require.NoError(t, eng.Close(context.Background()))
	return events
}

func only(events []fault.Event, kind fault.Kind, state fault.State) []fault.Event {
	var out []fault.Event
	for _, ev := range events {
		if ev.Kind == kind && ev.State == state {
			out = append(out, ev)
		}
	}
	return out
}

// requireGap checks one fleet periodic gap: period and phase window as
// truth says, confirmed within maxPeriods of the first window's start, and
// resolved after the incident.
func requireGap(t *testing.T, ds *scenario.Dataset, events []fault.Event, maxPeriods float64) fault.Event {
	t.Helper()
	firing := only(events, fault.KindPeriodicGap, fault.StateFiring)
	require.Len(t, firing, 1, "exactly one fleet gap")
	ev := firing[0]
	tr := ds.Truth
	require.InDelta(t, tr.Period.Seconds(), ev.Gap.Period.Seconds(), 0.6, "period")
	require.InDelta(t, tr.Phase.Seconds(), ev.Gap.PhaseStart.Seconds(), 1, "window start")
	require.InDelta(t, (tr.Phase + tr.Width).Seconds(), ev.Gap.PhaseEnd.Seconds(), 1, "window end")
	require.LessOrEqual(t, tr.LatencyPeriods(ev.At), maxPeriods, "confirmation latency in periods")
	resolved := only(events, fault.KindPeriodicGap, fault.StateResolved)
	require.NotEmpty(t, resolved)
	last := resolved[len(resolved)-1]
	require.Equal(t, ev.Episode, last.Episode)
	require.Greater(t, last.At, tr.Windows[len(tr.Windows)-1].End, "resolved after the last window")
	require.Less(t, last.At, tr.Windows[len(tr.Windows)-1].End+int64(4*tr.Period), "and soon after")
	return ev
}

func TestStratcondIsOneFleetGap(t *testing.T) {
	ds, events := replay(t, small("B01", 2000, 10*time.Minute), 1)
	ev := requireGap(t, ds, events, 3)
	// Every lost sample was replayed 30 s later: a delivery gap.
	require.Greater(t, ev.Gap.LateFraction, 0.95)
	require.InDelta(t, float64(len(ds.Truth.Drops))/float64(len(ds.Truth.Windows)), float64(ev.Gap.Series), 25)
	// The first burst is flagged, as a pending episode, within seconds.
	pending := only(events, fault.KindPeriodicGap, fault.StatePending)
	require.NotEmpty(t, pending)
	require.Less(t, pending[0].At-ds.Truth.Windows[0].Start, int64(5*time.Second))
	require.Equal(t, pending[0].Episode, ev.Episode, "the pending burst becomes the gap")
	require.Empty(t, only(events, fault.KindAbsence, fault.StateFiring), "late fills are not absences")
}

func TestStratcondDataLossInhibitsAbsences(t *testing.T) {
	ds, events := replay(t, small("B02", 2000, 10*time.Minute), 2)
	ev := requireGap(t, ds, events, 3)
	require.Less(t, ev.Gap.LateFraction, 0.05, "nothing was replayed: data loss")
	absences := only(events, fault.KindAbsence, fault.StateFiring)
	require.NotEmpty(t, absences, "the checks in the window lose every sample for 10 minutes")
	for _, a := range absences {
		require.Equal(t, ev.ID, a.InhibitedBy, "absence of %s is explained by the fleet gap", a.Labels.Get("check"))
	}
	require.Len(t, only(events, fault.KindAbsence, fault.StateResolved), len(absences), "they all come back")
}

func TestMixedCadenceSeriesGapsLinkToTheFleet(t *testing.T) {
	// Edge series lose their slot in only half the windows, and need more
	// of them: 20 windows here, 31 in the full scenario.
	ds, events := replay(t, small("B04", 3000, 20*time.Minute), 3)
	fleet := requireGap(t, ds, events, 3)
	byID := map[uint64]scenario.Series{}
	for _, s := range ds.Series {
		byID[uint64(s.ID)] = s
	}
	gaps := only(events, fault.KindSeriesPeriodicGap, fault.StateFiring)
	caught := map[uint64]bool{}
	for _, g := range gaps {
		require.False(t, caught[uint64(g.Series)], "one episode per series: no flapping")
		s, ok := byID[uint64(g.Series)]
		require.True(t, ok)
		require.True(t, s.Affected, "series gap on unaffected %s", s.Labels)
		require.Less(t, s.Every, time.Minute)
		require.Equal(t, time.Minute, g.Gap.Period)
		require.Equal(t, fleet.ID, g.InhibitedBy, "%s: linked to the fleet gap", s.Labels)
		caught[uint64(g.Series)] = true
	}
	var core, missed int
	for _, s := range ds.Series {
		if s.Core && s.Every < time.Minute {
			core++
			if !caught[uint64(s.ID)] {
				missed++
				t.Logf("missed %v: every %v, offset %v, dropped in %d windows", s.Labels, s.Every, s.Offset, s.Windows)
			}
		}
	}
	require.Greater(t, core, 20)
	require.LessOrEqual(t, float64(missed), 0.02*float64(core), "recall of core-affected series")
}

func TestControlsRaiseNothingPeriodic(t *testing.T) {
	for _, id := range []string{"C01", "C02", "C03", "C05"} {
		t.Run(id, func(t *testing.T) {
			spec := scenario.MustNamed(id).WithN(2000).Long(90 * time.Minute)
			ds, events := replay(t, spec, 4)
			require.Empty(t, only(events, fault.KindPeriodicGap, fault.StateFiring))
			require.Empty(t, only(events, fault.KindSeriesPeriodicGap, fault.StateFiring))
			dead := map[uint64]bool{}
			for _, s := range ds.Series {
				if s.Dead {
					dead[uint64(s.ID)] = true
				}
			}
			absences := only(events, fault.KindAbsence, fault.StateFiring)
			require.Len(t, absences, len(dead), "an absence for every dead check, and only for them")
			for _, a := range absences {
				require.True(t, dead[uint64(a.Series)])
				require.Empty(t, a.InhibitedBy)
			}
		})
	}
}

// A period that is no round candidate is discovered from the spacing of the
// bursts.
func TestPeriodIsDiscovered(t *testing.T) {
	spec := small("B01", 2000, 12*time.Minute)
	spec.Period, spec.Phase = 47*time.Second, 5*time.Second
	ds, events := replay(t, spec, 5)
	ev := requireGap(t, ds, events, 3)
	require.InDelta(t, 47, ev.Gap.Period.Seconds(), 0.6)
}

func TestDeadCheckInsideTheGapStillFiresItsAbsence(t *testing.T) {
	spec := small("B02", 2000, 10*time.Minute)
	ds, err := scenario.Generate(spec, 6)
	require.NoError(t, err)
	// The check that loses the most samples in the outage dies for good at
	// its start: during the gap its absence looks like all the others.
	victim := -1
	for i, s := range ds.Series {
		if s.Dropped > 0 && (victim < 0 || s.Dropped > ds.Series[victim].Dropped) {
			victim = i
		}
	}
	require.GreaterOrEqual(t, victim, 0)
	events := replayWithout(t, ds, map[stream.SeriesID]bool{ds.Series[victim].ID: true})

	fleet := only(events, fault.KindPeriodicGap, fault.StateFiring)
	require.Len(t, fleet, 1)
	var mine []fault.Event
	for _, ev := range events {
		if ev.Kind == fault.KindAbsence && ev.Series == ds.Series[victim].ID {
			mine = append(mine, ev)
		}
	}
	require.Len(t, mine, 2, "inhibited while the gap explains it, then fired for real")
	require.Equal(t, fleet[0].ID, mine[0].InhibitedBy)
	require.Equal(t, fault.StateFiring, mine[1].State)
	require.Empty(t, mine[1].InhibitedBy)
	require.Equal(t, mine[0].Episode, mine[1].Episode)
	require.NotEqual(t, mine[0].ID, mine[1].ID)
	resolved := only(events, fault.KindPeriodicGap, fault.StateResolved)
	require.Equal(t, resolved[len(resolved)-1].At, mine[1].At, "fired when the gap resolved")
}

// Fifteen checks that die at the onset of a fleet data-loss gap (B02) do not
// hold it open: the gap fires once and resolves when the outage ends, and
// the dead checks, and only they, fire absences that are not inhibited
// once it is over. Checks that died inside a fleet gap used to keep it
// firing for ever, and their absences explained by it (found in review).
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
	events := replayWithout(t, ds, dead)
	require.Len(t, only(events, fault.KindPeriodicGap, fault.StateFiring), 1)
	require.NotEmpty(t, only(events, fault.KindPeriodicGap, fault.StateResolved), "the gap ends with the outage")
	paged := map[stream.SeriesID]bool{}
	for _, ev := range only(events, fault.KindAbsence, fault.StateFiring) {
		if ev.InhibitedBy == "" {
			paged[ev.Series] = true
		}
	}
	require.Equal(t, dead, paged, "the dead checks, and only they, are paged once the gap is over")
}

// Input that ends in the middle of a fleet gap (B01, cut 15 min into a
// 30-min incident) leaves the gap firing: occurrences after the end of
// input are not judged clean. They used to be, and resolved a gap that was
// still going on (found in review).
func TestEndOfInputDoesNotResolveAGap(t *testing.T) {
	spec := small("B01", 2000, 30*time.Minute)
	spec.Period, spec.Phase = 20*time.Second, 5*time.Second
	spec = spec.WithHorizon(10*time.Minute + 15*time.Minute) // cut mid-incident
	_, events := replay(t, spec, 8)
	require.Len(t, only(events, fault.KindPeriodicGap, fault.StateFiring), 1)
	require.Empty(t, only(events, fault.KindPeriodicGap, fault.StateResolved))
}

// A loss too weak to flag bursts (8 % of the slots in the window) is still
// caught by the phase fold at 60 s, with its window, and reported once.
func TestWeakGapIsFoundByTheFold(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	var in []stream.Sample
	const onset, end = 20 * 60.0, 50 * 60.0
	for c := range 3000 {
		labels := stream.NewLabels("check", fmt.Sprintf("c%04d", c))
		off := rng.Float64() * 60
		for s := off; s < 70*60; s += 60 {
			arr := s + 0.05 + rng.Float64()*0.05
			ph := math.Mod(arr, 60)
			if arr >= onset && arr < end && ph >= 12 && ph < 13.5 && rng.Float64() < 0.08 {
				continue // lost
			}
			in = append(in, stream.NewSample("check_up", labels, epoch(s), 1, epoch(arr)))
		}
	}
	slices.SortStableFunc(in, func(a, b stream.Sample) int { return cmp.Compare(a.Arrival, b.Arrival) })
	var events []fault.Event
	eng := recorded(t, &events)
	require.NoError(t, eng.Process(context.Background(), in))
	require.NoError(t, eng.Close(context.Background()))

	require.Empty(t, only(events, fault.KindPeriodicGap, fault.StatePending), "too weak for a burst")
	firing := only(events, fault.KindPeriodicGap, fault.StateFiring)
	require.Len(t, firing, 1)
	g := firing[0].Gap
	require.Equal(t, time.Minute, g.Period)
	require.InDelta(t, 12, g.PhaseStart.Seconds(), 1)
	require.InDelta(t, 13.5, g.PhaseEnd.Seconds(), 1)
	require.Less(t, firing[0].At, epoch(onset+10*60), "within ten periods")
	resolved := only(events, fault.KindPeriodicGap, fault.StateResolved)
	require.Len(t, resolved, 1)
	require.Greater(t, resolved[0].At, epoch(end))
	require.Less(t, resolved[0].At, epoch(end+4*60))
}

// epoch returns seconds from scenario.Origin as Unix ns; Origin is a whole
// minute.
func epoch(s float64) int64 { return scenario.Origin + int64(s*1e9) }

// Half the redundant copies vanish in 12.0–13.5 s of every minute while
// every sample still arrives (H05, smaller): one periodic_delivery_loss
// episode at the minute, within four periods, resolved after the loss
// ends, and no gap of either kind.
func TestRedundancyLossIsADeliveryLoss(t *testing.T) {
	s := scenario.MustNamed("H05").WithN(2000)
	s = s.WithIncident(15*time.Minute, 15*time.Minute).WithHorizon(40 * time.Minute)
	ds, events := replay(t, s, 7)
	firing := only(events, fault.KindPeriodicDeliveryLoss, fault.StateFiring)
	require.Len(t, firing, 1)
	g := firing[0].Gap
	require.Equal(t, time.Minute, g.Period)
	require.InDelta(t, 12, g.PhaseStart.Seconds(), 1)
	require.InDelta(t, 13.5, g.PhaseEnd.Seconds(), 1)
	require.True(t, math.IsNaN(g.LateFraction), "no sample was lost")
	require.LessOrEqual(t, ds.Truth.LatencyPeriods(firing[0].At), 4.0)
	resolved := only(events, fault.KindPeriodicDeliveryLoss, fault.StateResolved)
	require.Len(t, resolved, 1)
	last := ds.Truth.Windows[len(ds.Truth.Windows)-1]
	require.Greater(t, resolved[0].At, last.End)
	require.Less(t, resolved[0].At, last.End+int64(4*time.Minute))
	require.Empty(t, only(events, fault.KindPeriodicGap, fault.StateFiring))
	require.Empty(t, only(events, fault.KindSeriesPeriodicGap, fault.StateFiring))
}

// Copies lost at random (N01), and the edges of a periodic gap (B04),
// are no periodic delivery loss.
func TestCopiesLostElsewhereAreNoDeliveryLoss(t *testing.T) {
	_, events := replay(t, scenario.MustNamed("N01").WithN(2000).Long(2*time.Hour), 8)
	require.Empty(t, only(events, fault.KindPeriodicDeliveryLoss, fault.StateFiring), "copies lost at random")
	require.Empty(t, only(events, fault.KindPeriodicGap, fault.StateFiring))
	_, events = replay(t, small("B04", 2000, 20*time.Minute), 9)
	require.Len(t, only(events, fault.KindPeriodicGap, fault.StateFiring), 1)
	require.Empty(t, only(events, fault.KindPeriodicDeliveryLoss, fault.StateFiring), "a gap's edges lose copies too")
}

// A crash that skips occurrences (H01, smaller) is one gap at the minute,
// not at two.
func TestSkippedOccurrencesAreOneGap(t *testing.T) {
	for _, seed := range []uint64{1, 2} {
		_, events := replay(t, scenario.MustNamed("H01").WithN(2000), seed)
		firing := only(events, fault.KindPeriodicGap, fault.StateFiring)
		require.Len(t, firing, 1, "seed %d", seed)
		require.Equal(t, time.Minute, firing[0].Gap.Period)
	}
}
