package score

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/bench/scenario"
	"github.com/faultline-go/faultline/fault"
)

// ofKind relabels events to another kind (a fleet kind the engine may not
// raise yet).
func ofKind(kind fault.Kind, evs []fault.Event) []fault.Event {
	for i := range evs {
		evs[i].Kind = kind
	}
	return evs
}

// windowGap describes window w as a detector would report it.
func windowGap(w scenario.Window, period time.Duration) fault.Gap {
	ps := time.Duration(floorMod(w.Start, int64(period)))
	return fault.Gap{Period: period, PhaseStart: ps, PhaseEnd: ps + time.Duration(w.End-w.Start), Series: 7, LateFraction: 1}
}

func TestScoreDeliveryLoss(t *testing.T) {
	ds := mk(t, hard("H05", 300), 1)
	w := ds.Truth.Windows
	require.Greater(t, len(w), 20)
	g := windowGap(w[3], time.Minute)
	evs := ofKind(KindPeriodicDeliveryLoss, fleetEvents("dl", w[1].Start+2*sec, w[3].Start+3*sec, w[len(w)-1].End+90*sec, g))
	r := Score(ds, evs)
	require.True(t, r.DeliveryLoss)
	require.False(t, r.Periodic)
	d := &r.Delivery
	require.Len(t, d.Episodes, 1)
	require.Equal(t, VerdictTP, d.Episodes[0].Verdict)
	require.Equal(t, 1, d.TP)
	require.Equal(t, 1, d.Runs)
	require.Equal(t, 1, d.Detected)
	require.InDelta(t, 3.05, d.Latency[0], 1e-9)
	require.Equal(t, []int{1}, d.FiredPerRun)
	require.Equal(t, 2, d.Tracked, "the firing and the resolved event")
	require.Equal(t, 2, d.TrackedOK)
	require.Zero(t, r.DeliveryFalseAlarms().Count)
	// Nothing else was expected of the gap detectors.
	require.Zero(t, r.Fleet.Runs)
	require.Equal(t, []int{0}, r.Fleet.FiredPerRun)

	// The same report as a periodic gap is a false alarm: no data was lost.
	r = Score(ds, fleetEvents("gap", 0, w[3].Start+3*sec, 0, g))
	require.Equal(t, VerdictNoTruth, r.Fleet.Episodes[0].Verdict)
	require.Equal(t, 1, r.FleetFalseAlarms().Count)
	require.Equal(t, 1, r.Delivery.Runs)
	require.Zero(t, r.Delivery.Detected)

	// A delivery loss reported at 2P is a harmonic, and false.
	r = Score(ds, ofKind(KindPeriodicDeliveryLoss, fleetEvents("dl2", 0, w[3].Start+3*sec, 0, windowGap(w[3], 2*time.Minute))))
	require.Equal(t, VerdictHarmonic, r.Delivery.Episodes[0].Verdict)
	require.Equal(t, 1, r.DeliveryFalseAlarms().Count)
	require.Zero(t, r.Delivery.Tracked, "only true positives are tracked")

	// On a periodic gap, or on a control, a delivery loss is a false alarm.
	for _, id := range []string{"B01", "N01"} {
		other := mk(t, hard(id, 300), 1)
		r = Score(other, ofKind(KindPeriodicDeliveryLoss, fleetEvents("dl", 0, scenario.Origin+int64(20*time.Minute), 0, g)))
		require.Equal(t, VerdictNoTruth, r.Delivery.Episodes[0].Verdict, id)
		require.Equal(t, Rate{Count: 1, Exposure: other.Spec.FleetDays()}, r.DeliveryFalseAlarms(), id)
	}
}

func TestScoreTracksAWanderingWindow(t *testing.T) {
	s := scenario.MustNamed("H02").WithN(200).WithHorizon(3*time.Hour).WithIncident(10*time.Minute, 150*time.Minute)
	ds := mk(t, s, 3)
	w := ds.Truth.Windows
	first, last := w[0], w[len(w)-1]
	drift := time.Duration(floorMod(last.Start-first.Start+30*sec, 60*sec) - 30*sec)
	require.Greater(t, absDur(drift), 3*time.Second, "the walk of this seed moves the window well beyond the tolerance")

	// Fires at window 3 naming it; resolves after the last naming the last:
	// the window followed the phase.
	fire := w[3].Start + 3*sec
	follow := fleetEvents("f", 0, fire, last.End+90*sec, windowGap(w[3], time.Minute))
	follow[1].Gap = &fault.Gap{}
	*follow[1].Gap = windowGap(last, time.Minute)
	r := Score(ds, follow)
	f := &r.Fleet
	require.Equal(t, VerdictTP, f.Episodes[0].Verdict)
	require.Equal(t, 2, f.Tracked)
	require.Equal(t, 2, f.TrackedOK)
	require.Less(t, f.Episodes[0].WorstTrack, 10*time.Millisecond)

	// Resolving with the window it first named: the phase moved away.
	r = Score(ds, fleetEvents("s", 0, fire, last.End+90*sec, windowGap(w[3], time.Minute)))
	ep := r.Fleet.Episodes[0]
	require.Equal(t, VerdictTP, ep.Verdict, "it was right when it fired")
	require.Equal(t, 2, ep.Tracked)
	require.Equal(t, 1, ep.TrackedOK)
	require.Greater(t, ep.WorstTrack, 2*time.Second)

	// Events before the first window are not tracked.
	evs := fleetEvents("p", w[0].Start-10*sec, fire, 0, windowGap(w[3], time.Minute))
	evs[0].Gap = &fault.Gap{Period: time.Minute}
	r = Score(ds, evs)
	require.Equal(t, 1, r.Fleet.Tracked)
}

func TestScoreFiredPerRun(t *testing.T) {
	ds := mk(t, hard("H01", 300), 1)
	w := ds.Truth.Windows
	evs := fleetEvents("tp", 0, w[3].Start+3*sec, 0, windowGap(w[3], time.Minute))
	evs = append(evs, fleetEvents("h", 0, w[5].Start+3*sec, 0, windowGap(w[5], 2*time.Minute))...)
	evs = append(evs, fault.Event{ID: "u/p", Episode: "u", Kind: fault.KindPeriodicGap, State: fault.StatePending, At: w[6].Start})
	a := Score(ds, evs)
	require.Equal(t, []int{2}, a.Fleet.FiredPerRun, "the pending episode never fired")
	require.Equal(t, 1, a.Fleet.Unconfirmed)
	b := Score(mk(t, hard("H01", 300), 2), nil)
	r := Aggregate(a, b)
	require.Equal(t, []int{2, 0}, r.Fleet.FiredPerRun)
	require.Equal(t, []int{0, 0}, r.Delivery.FiredPerRun)
	require.Equal(t, 2, r.Fleet.Runs)
	require.Equal(t, 1, r.Fleet.Detected)
	require.Equal(t, 1, r.Fleet.Tracked)
	require.Equal(t, 1, r.Fleet.TrackedOK)
}
