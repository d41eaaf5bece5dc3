package score

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/bench/scenario"
	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/stream"
)

const sec = int64(time.Second)

// fleetEvents builds a fleet episode: pending at pendAt (skipped when 0),
// firing at fireAt with g, resolved at resAt with g (skipped when 0).
func fleetEvents(ep string, pendAt, fireAt, resAt int64, g fault.Gap) []fault.Event {
	var evs []fault.Event
	if pendAt != 0 {
		evs = append(evs, fault.Event{ID: ep + "/p", Episode: ep, Kind: fault.KindPeriodicGap, Rule: "periodic_gap", State: fault.StatePending, At: pendAt, Since: pendAt})
	}
	fg, rg := g, g
	evs = append(evs, fault.Event{ID: ep + "/f", Episode: ep, Kind: fault.KindPeriodicGap, Rule: "periodic_gap", State: fault.StateFiring, At: fireAt, Since: pendAt, Gap: &fg})
	if resAt != 0 {
		evs = append(evs, fault.Event{ID: ep + "/r", Episode: ep, Kind: fault.KindPeriodicGap, Rule: "periodic_gap", State: fault.StateResolved, At: resAt, Since: pendAt, Gap: &rg})
	}
	return evs
}

func gap(period, start, end time.Duration, late float64) fault.Gap {
	return fault.Gap{Period: period, PhaseStart: start, PhaseEnd: end, Series: 7, LateFraction: late}
}

func seriesLabels(ds *scenario.Dataset, i int) stream.Labels {
	return stream.NewLabels("__name__", scenario.Metric, scenario.CheckLabel, ds.Series[i].Labels.Get(scenario.CheckLabel))
}

func seriesAlarm(ds *scenario.Dataset, i int, ep string, at int64, period time.Duration, inhibitedBy string) fault.Event {
	g := fault.Gap{Period: period, PhaseStart: 12 * time.Second, PhaseEnd: 13500 * time.Millisecond, Series: 1}
	return fault.Event{ID: ep + "/f", Episode: ep, Kind: fault.KindSeriesPeriodicGap, Rule: "series_periodic_gap",
		State: fault.StateFiring, At: at, Since: at, Series: ds.Series[i].ID, Labels: seriesLabels(ds, i), InhibitedBy: inhibitedBy, Gap: &g}
}

func absence(ds *scenario.Dataset, i int, at int64, inhibitedBy string) fault.Event {
	return fault.Event{ID: "abs/" + ds.Series[i].Labels.Get(scenario.CheckLabel), Episode: "abs-ep/" + ds.Series[i].Labels.Get(scenario.CheckLabel),
		Kind: fault.KindAbsence, Rule: "absence", State: fault.StateFiring, At: at, Since: at - 300*sec,
		Series: ds.Series[i].ID, Labels: seriesLabels(ds, i), InhibitedBy: inhibitedBy}
}

func TestScoreFleetTruePositive(t *testing.T) {
	ds := mk(t, small("B01", 300), 1)
	w := ds.Truth.Windows
	require.Greater(t, len(w), 10)
	fire := w[3].Start + 3*sec
	evs := fleetEvents("ep1", w[0].Start+3250*int64(time.Millisecond), fire, w[len(w)-1].End+70*sec,
		gap(60*time.Second, 11750*time.Millisecond, 13750*time.Millisecond, 1))

	r := Score(ds, evs)
	f := &r.Fleet
	require.Len(t, f.Episodes, 1)
	ep := f.Episodes[0]
	require.Equal(t, VerdictTP, ep.Verdict)
	require.True(t, ep.PhaseOK)
	require.True(t, ep.PhaseStrict)
	require.True(t, ep.PhaseLiteral)
	require.Equal(t, -250*time.Millisecond, ep.PhaseErrStart)
	require.Equal(t, 250*time.Millisecond, ep.PhaseErrEnd)
	require.Equal(t, -250*time.Millisecond, ep.LiteralErrStart)
	require.Equal(t, 250*time.Millisecond, ep.LiteralErrEnd)
	require.Equal(t, "ep1/f", ep.FiringID)
	require.Equal(t, ds.Truth.FleetSeries, ep.TruthSeries)
	require.Equal(t, 1, f.Fired)
	require.Equal(t, 1, f.TP)
	require.Equal(t, 1, f.Runs)
	require.Equal(t, 1, f.Detected)
	require.Equal(t, 1, f.StrictPhase)
	require.Equal(t, 1, f.LiteralPhase)
	require.Zero(t, f.Duplicates)
	require.Equal(t, 1.0, f.Precision())
	require.Zero(t, f.FalseAlarms())
	// Latency: 3 periods and 3 s from the first window's start.
	require.InDelta(t, 3.05, f.Latency[0], 1e-9)
	require.InDelta(t, 3.05, ep.LatencyPeriods, 1e-9)
	// First burst: the pending event, 3.25 s after the first window's start.
	require.InDelta(t, 3.25, f.FirstBurst[0], 1e-9)
	require.Equal(t, []float64{1}, f.LateFraction)
	require.Equal(t, "delivery gap", LateVerdict(f.LateFraction[0]))
	require.Equal(t, Rate{Count: 0, Exposure: 5400.0 / 86400}, r.FleetFalseAlarms())
	require.Equal(t, []uint64{1}, r.Seeds)
	require.Equal(t, "B01", r.ID)
	require.Equal(t, 300, r.N)

	// Without a pending event the firing is the first burst.
	r = Score(ds, fleetEvents("ep1", 0, fire, 0, gap(60*time.Second, 12*time.Second, 13500*time.Millisecond, 1)))
	require.InDelta(t, float64(fire-w[0].Start)/1e9, r.Fleet.FirstBurst[0], 1e-9)
	require.Equal(t, 1, r.Fleet.TP)
}

func TestScoreFleetWrongAlarms(t *testing.T) {
	ds := mk(t, small("B01", 300), 1)
	w := ds.Truth.Windows
	fire := w[4].Start + 3*sec
	for name, tc := range map[string]struct {
		g      fault.Gap
		at     int64
		want   Verdict
		strict bool
	}{
		"harmonic 2P":          {gap(120*time.Second, 12*time.Second, 13500*time.Millisecond, 1), fire, VerdictHarmonic, false},
		"harmonic 3P, 0.5 s":   {gap(180500*time.Millisecond, 12*time.Second, 13500*time.Millisecond, 1), fire, VerdictHarmonic, false},
		"alias P/2":            {gap(30*time.Second, 12*time.Second, 13500*time.Millisecond, 1), fire, VerdictAlias, false},
		"wrong period":         {gap(61*time.Second, 12*time.Second, 13500*time.Millisecond, 1), fire, VerdictWrongPeriod, false},
		"wrong phase":          {gap(60*time.Second, 30*time.Second, 31500*time.Millisecond, 1), fire, VerdictWrongPhase, false},
		"phase just outside":   {gap(60*time.Second, 12*time.Second, 15300*time.Millisecond, 1), fire, VerdictWrongPhase, false},
		"before the outage":    {gap(60*time.Second, 12*time.Second, 13500*time.Millisecond, 1), w[0].Start - sec, VerdictEarly, false},
		"no gap":               {fault.Gap{}, fire, VerdictNoGap, false},
		"loose but not strict": {gap(60*time.Second, 10500*time.Millisecond, 15*time.Second, 1), fire, VerdictTP, false},
		"period off by 0.5 s":  {gap(60500*time.Millisecond, 12*time.Second, 13500*time.Millisecond, 1), fire, VerdictWrongPhase, false},
	} {
		t.Run(name, func(t *testing.T) {
			evs := fleetEvents("x", 0, tc.at, 0, tc.g)
			if tc.want == VerdictNoGap {
				evs[0].Gap = nil
			}
			r := Score(ds, evs)
			ep := r.Fleet.Episodes[0]
			require.Equal(t, tc.want, ep.Verdict, "phase errors %v %v", ep.PhaseErrStart, ep.PhaseErrEnd)
			require.Equal(t, tc.strict, ep.PhaseStrict)
			require.Equal(t, 1, r.Fleet.Fired)
			if tc.want == VerdictTP {
				require.Equal(t, 1, r.Fleet.Detected)
				return
			}
			require.Zero(t, r.Fleet.TP)
			require.Equal(t, 1, r.Fleet.FalseAlarms())
			require.Zero(t, r.Fleet.Precision())
			require.Zero(t, r.Fleet.Detected)
			require.True(t, math.IsInf(r.Fleet.Latency[0], 1), "a missed run has infinite latency")
		})
	}
}

// A period off by up to 0.6 s is a true positive when its phase, taken
// modulo the reported period, names the active window.
func TestScoreFleetPeriodOffPhaseAtOccurrence(t *testing.T) {
	ds := mk(t, small("B01", 300), 1)
	w := ds.Truth.Windows
	fire := w[5].Start + 3*sec
	p := int64(60500 * time.Millisecond)
	ps := time.Duration(floorMod(w[5].Start, p))
	r := Score(ds, fleetEvents("x", 0, fire, 0, fault.Gap{Period: time.Duration(p), PhaseStart: ps, PhaseEnd: ps + 1500*time.Millisecond}))
	ep := r.Fleet.Episodes[0]
	require.Equal(t, VerdictTP, ep.Verdict)
	require.True(t, ep.PhaseStrict)
	require.Zero(t, ep.PhaseErrStart)
	// As written, the phase reads as another second of the minute.
	require.False(t, ep.PhaseLiteral)
	require.Equal(t, time.Duration(floorMod(int64(ps)-int64(12*time.Second)+30e9, 60e9)-30e9), ep.LiteralErrStart)
	require.Equal(t, 1, r.Fleet.StrictPhase)
	require.Zero(t, r.Fleet.LiteralPhase)
}

// A phase window that wraps past the end of the period.
func TestScoreFleetWrappedPhase(t *testing.T) {
	s := small("B01", 300)
	s.Phase = 59 * time.Second
	ds := mk(t, s, 2)
	w := ds.Truth.Windows
	fire := w[3].Start + 3*sec
	r := Score(ds, fleetEvents("x", 0, fire, 0, gap(60*time.Second, 58800*time.Millisecond, 600*time.Millisecond, 1)))
	ep := r.Fleet.Episodes[0]
	require.Equal(t, VerdictTP, ep.Verdict)
	require.Equal(t, -200*time.Millisecond, ep.PhaseErrStart)
	require.Equal(t, 100*time.Millisecond, ep.PhaseErrEnd)
	require.True(t, ep.PhaseLiteral)
	require.Equal(t, -200*time.Millisecond, ep.LiteralErrStart)
	require.Equal(t, 100*time.Millisecond, ep.LiteralErrEnd)
	// The same window written with PhaseEnd past the period.
	r = Score(ds, fleetEvents("x", 0, fire, 0, gap(60*time.Second, 58800*time.Millisecond, 60600*time.Millisecond, 1)))
	ep = r.Fleet.Episodes[0]
	require.Equal(t, VerdictTP, ep.Verdict)
	require.Equal(t, 100*time.Millisecond, ep.PhaseErrEnd)
}

func TestScoreFleetPendingAndSeveralEpisodes(t *testing.T) {
	ds := mk(t, small("B01", 300), 1)
	w := ds.Truth.Windows
	g := gap(60*time.Second, 12*time.Second, 13500*time.Millisecond, 0.98)
	// A pending episode that never confirms, a harmonic, then the TP.
	evs := []fault.Event{
		{ID: "u/p", Episode: "u", Kind: fault.KindPeriodicGap, State: fault.StatePending, At: w[0].Start + 4*sec},
		{ID: "u/r", Episode: "u", Kind: fault.KindPeriodicGap, State: fault.StateResolved, At: w[1].Start},
	}
	evs = append(evs, fleetEvents("h", 0, w[2].Start+3*sec, 0, gap(120*time.Second, 12*time.Second, 13500*time.Millisecond, 1))...)
	evs = append(evs, fleetEvents("tp", w[1].Start+3*sec, w[3].Start+2*sec, w[20].Start, g)...)
	// The same fault alarmed again later: a true positive, and a duplicate.
	evs = append(evs, fleetEvents("dup", 0, w[22].Start+2*sec, 0, g)...)
	// Unrelated kinds are ignored.
	evs = append(evs, fault.Event{ID: "th", Kind: fault.KindThreshold, State: fault.StateFiring, At: w[0].Start})
	r := Score(ds, evs)
	f := &r.Fleet
	require.Len(t, f.Episodes, 4)
	require.Equal(t, VerdictPending, f.Episodes[0].Verdict)
	require.Equal(t, VerdictHarmonic, f.Episodes[1].Verdict)
	require.Equal(t, VerdictTP, f.Episodes[2].Verdict)
	require.Equal(t, VerdictTP, f.Episodes[3].Verdict)
	require.Equal(t, 1, f.Unconfirmed)
	require.Equal(t, 3, f.Fired)
	require.Equal(t, 2, f.TP)
	require.Equal(t, 1, f.Duplicates)
	require.InDelta(t, 2.0/3, f.Precision(), 1e-12)
	require.Equal(t, 1, f.FalseAlarms())
	require.InDelta(t, 4.0, f.FirstBurst[0], 1e-9, "the first pending event of any episode")
	require.InDelta(t, 3+2.0/60, f.Latency[0], 1e-9)
	require.Equal(t, []float64{0.98}, f.LateFraction)
	require.Equal(t, w[20].Start, f.Episodes[2].ResolvedAt)
}

// A late fraction not known yet (NaN) does not overwrite a known one; an
// episode that never knew it reports NaN.
func TestScoreFleetLateFractionUnknown(t *testing.T) {
	ds := mk(t, small("B02", 300), 1)
	w := ds.Truth.Windows
	evs := fleetEvents("x", 0, w[3].Start+3*sec, w[30].Start, gap(60*time.Second, 12*time.Second, 13500*time.Millisecond, 0.02))
	evs[len(evs)-1].Gap.LateFraction = math.NaN()
	r := Score(ds, evs)
	require.Equal(t, []float64{0.02}, r.Fleet.LateFraction)
	require.True(t, math.IsNaN(r.Fleet.Episodes[0].Final.LateFraction))

	evs = fleetEvents("x", 0, w[3].Start+3*sec, 0, gap(60*time.Second, 12*time.Second, 13500*time.Millisecond, math.NaN()))
	r = Score(ds, evs)
	require.Len(t, r.Fleet.LateFraction, 1)
	require.True(t, math.IsNaN(r.Fleet.LateFraction[0]))
	require.Equal(t, "-", LateVerdict(r.Fleet.LateFraction[0]))
}

func TestScoreFleetControl(t *testing.T) {
	ds := mk(t, small("C01", 100), 1)
	evs := fleetEvents("x", 0, scenario.Origin+3000*sec, 0, gap(60*time.Second, 12*time.Second, 13500*time.Millisecond, 1))
	r := Score(ds, evs)
	require.False(t, r.Periodic)
	require.Equal(t, VerdictNoTruth, r.Fleet.Episodes[0].Verdict)
	require.Zero(t, r.Fleet.Runs, "no chance to detect")
	require.Empty(t, r.Fleet.Latency)
	require.Empty(t, r.Fleet.FirstBurst)
	fa := r.FleetFalseAlarms()
	require.Equal(t, 1, fa.Count)
	require.InDelta(t, 16, fa.PerUnit(), 1e-9) // 1 in 1.5 h
	require.InDelta(t, PoissonUpper95(1)*16, fa.Upper95(), 1e-9)

	r = Score(ds, nil)
	fa = r.FleetFalseAlarms()
	require.Zero(t, fa.Count)
	require.InDelta(t, 48, fa.Upper95(), 1e-9) // 3 / (1.5/24)
	sfa := r.SeriesFalseAlarms()
	require.InDelta(t, 100*1.5/24/SeriesDaysUnit, sfa.Exposure, 1e-12)
	require.InDelta(t, 3/sfa.Exposure, sfa.Upper95(), 1e-6)
}

func TestScorePerSeries(t *testing.T) {
	ds := mk(t, small("B04", 600), 3)
	tr := &ds.Truth
	w := tr.Windows
	var core, affectedOnly, unaffected []int
	for i, s := range ds.Series {
		switch {
		case s.Core:
			core = append(core, i)
		case s.Affected:
			affectedOnly = append(affectedOnly, i)
		case s.Dropped == 0 && s.Every < 60*time.Second:
			unaffected = append(unaffected, i)
		}
	}
	require.GreaterOrEqual(t, len(core), 5)
	require.NotEmpty(t, unaffected)

	var evs []fault.Event
	// Every core series but the last is caught, at 2, 3, 4, 5 periods (+1 s).
	missed := core[len(core)-1]
	var lats []float64
	for j, i := range core[:len(core)-1] {
		k := 2 + j%4
		evs = append(evs, seriesAlarm(ds, i, "s"+ds.Series[i].Labels.Get(scenario.CheckLabel), w[k].Start+sec, 60*time.Second, ""))
		lats = append(lats, float64(k)+1.0/60)
	}
	// The first core series fires a second episode: counted in precision,
	// not twice in recall; its latency stays the first one.
	evs = append(evs, seriesAlarm(ds, core[0], "again", w[12].Start, 60*time.Second, "fleet/f"))
	// Its ID is unknown, so the label finds the series.
	evs[len(evs)-1].Series = 0
	// The missed core series gets only a harmonic: a false positive.
	evs = append(evs, seriesAlarm(ds, missed, "harm", w[5].Start, 120*time.Second, ""))
	// An unaffected series: false positive.
	evs = append(evs, seriesAlarm(ds, unaffected[0], "unaff", w[5].Start, 60*time.Second, ""))
	// A core series alarm before the outage: false positive.
	evs = append(evs, seriesAlarm(ds, core[1], "early", w[0].Start-10*sec, 60*time.Second, ""))
	tp := len(core) // core[:len-1] plus the second episode
	if len(affectedOnly) > 0 {
		// Affected but not core: a TP for precision, not in recall.
		evs = append(evs, seriesAlarm(ds, affectedOnly[0], "aff", w[6].Start, 60*time.Second, ""))
		tp++
	}
	// A pending or resolved series event is no alarm.
	evs = append(evs, fault.Event{ID: "r", Episode: "s" + ds.Series[core[0]].Labels.Get(scenario.CheckLabel), Kind: fault.KindSeriesPeriodicGap, State: fault.StateResolved, At: w[20].Start, Series: ds.Series[core[0]].ID})
	evs = append(evs, fleetEvents("fleet", 0, w[3].Start+2*sec, 0, gap(60*time.Second, 12*time.Second, 13500*time.Millisecond, 1))...)

	r := Score(ds, evs)
	s := &r.Series
	fired := tp + 3
	require.Equal(t, fired, s.Fired)
	require.Equal(t, tp, s.TP)
	require.Equal(t, 3, s.FalseAlarms())
	require.InDelta(t, float64(tp)/float64(fired), s.Precision(), 1e-12)
	eligible := 0
	for _, st := range ds.Series {
		if st.Core && st.Every < tr.Period {
			eligible++
		}
	}
	require.Equal(t, eligible, s.Eligible)
	require.Equal(t, len(core), s.Eligible)
	require.Equal(t, len(core)-1, s.Detected)
	require.InDelta(t, float64(len(core)-1)/float64(len(core)), s.Recall(), 1e-12)
	require.ElementsMatch(t, lats, s.Latency)
	require.InDelta(t, Median(lats), Median(s.Latency), 1e-12)
	require.Equal(t, 1, s.Inhibited)
	require.Equal(t, 1, s.InhibitedByFleet)

	verdicts := map[string]Verdict{}
	for _, a := range s.Alarms {
		verdicts[a.Episode] = a.Verdict
		require.GreaterOrEqual(t, a.Series, 0)
		require.Equal(t, ds.Series[a.Series].Every, a.Every)
	}
	require.Equal(t, VerdictTP, verdicts["again"])
	require.Equal(t, VerdictHarmonic, verdicts["harm"])
	require.Equal(t, VerdictUnaffected, verdicts["unaff"])
	require.Equal(t, VerdictEarly, verdicts["early"])
	if len(affectedOnly) > 0 {
		require.Equal(t, VerdictTP, verdicts["aff"])
	}

	// On a control every series alarm is false.
	c05 := mk(t, small("C05", 200), 1)
	r = Score(c05, []fault.Event{seriesAlarm(c05, 0, "x", scenario.Origin+3000*sec, 60*time.Second, "")})
	require.Equal(t, 1, r.Series.FalseAlarms())
	require.Equal(t, VerdictNoTruth, r.Series.Alarms[0].Verdict)
	require.Zero(t, r.Series.Eligible)
	require.True(t, math.IsNaN(r.Series.Recall()))
	require.Equal(t, 1, r.SeriesFalseAlarms().Count)
}

// A period that is a multiple of the series' drifted cadence counts even
// when it is a little more than the tolerance away from P.
func TestScorePerSeriesCadenceMultiple(t *testing.T) {
	ds := mk(t, small("B04", 600), 3)
	i := -1
	for j, s := range ds.Series {
		if s.Core && s.Every == 10*time.Second {
			i = j
			break
		}
	}
	require.GreaterOrEqual(t, i, 0)
	// Pretend the series drifts by 1 % (6Δ = 60.6 s): P within 0.6 s of
	// 6Δ, the alarm within 0.6 s of 6Δ, but 0.8 s from P.
	ds.Series[i].DriftPPM = 10_000
	w := ds.Truth.Windows
	r := Score(ds, []fault.Event{seriesAlarm(ds, i, "x", w[5].Start, 60800*time.Millisecond, "")})
	require.Equal(t, VerdictTP, r.Series.Alarms[0].Verdict)
	r = Score(ds, []fault.Event{seriesAlarm(ds, i, "x", w[5].Start, 61300*time.Millisecond, "")})
	require.Equal(t, VerdictWrongPeriod, r.Series.Alarms[0].Verdict)
}

func TestScoreAbsenceInhibition(t *testing.T) {
	ds := mk(t, small("B02", 600), 4)
	w := ds.Truth.Windows
	var dropped, clean []int
	for i, s := range ds.Series {
		if s.Dropped > 0 {
			dropped = append(dropped, i)
		} else {
			clean = append(clean, i)
		}
	}
	require.GreaterOrEqual(t, len(dropped), 5)
	evs := fleetEvents("fleet", w[0].Start+3*sec, w[3].Start+3*sec, w[len(w)-1].End+70*sec, gap(60*time.Second, 12*time.Second, 13500*time.Millisecond, 0))
	// Absences for the first four dropped series: inhibited by the fleet
	// firing event, not inhibited, inhibited by an unknown event, and
	// inhibited by the fleet's pending event (not the firing one).
	at := w[5].Start
	evs = append(evs,
		absence(ds, dropped[0], at, "fleet/f"),
		absence(ds, dropped[1], at, ""),
		absence(ds, dropped[2], at, "bogus"),
		absence(ds, dropped[3], at, "fleet/p"),
		absence(ds, clean[0], at, ""),
	)
	// A later firing event of the fleet episode also names it.
	second := evs[1]
	second.ID = "fleet/f2"
	evs = append(evs, second, absence(ds, dropped[4], at, "fleet/f2"))
	r := Score(ds, evs)
	a := &r.Absence
	require.Equal(t, 6, a.Episodes)
	require.Equal(t, len(dropped), a.Dropped)
	require.Equal(t, 5, a.DroppedFired)
	require.Equal(t, 2, a.DroppedInhibited)
	require.Equal(t, 3, a.DroppedUninhibited)
	require.Equal(t, 2, a.Dangling)
	require.Equal(t, 1, a.Other)
	require.Zero(t, a.OtherInhibited)
	require.Len(t, a.UninhibitedDropped, 3)
	require.Equal(t, ds.Series[dropped[1]].Labels.Get(scenario.CheckLabel), a.UninhibitedDropped[0])
	require.Equal(t, []string{ds.Series[clean[0]].Labels.Get(scenario.CheckLabel)}, a.OtherChecks)
	require.Zero(t, a.Dead)
	// B02's fleet fault reports data loss.
	require.Equal(t, []float64{0}, r.Fleet.LateFraction)
	require.Equal(t, "data loss", LateVerdict(r.Fleet.LateFraction[0]))
	require.Equal(t, "mixed", LateVerdict(0.5))
	require.Equal(t, "-", LateVerdict(math.NaN()))

	// The same episode re-fired uninhibited (its fleet gap resolved while
	// the series was still silent) spoils it, and is still one episode.
	refire := absence(ds, dropped[0], w[20].Start, "")
	refire.ID += "/again"
	evs = append(evs, refire)
	r = Score(ds, evs)
	require.Equal(t, 4, r.Absence.DroppedUninhibited)
	require.Equal(t, 1, r.Absence.DroppedInhibited)
	require.Equal(t, 6, r.Absence.Episodes)
}

func TestScoreDeadChecks(t *testing.T) {
	ds := mk(t, small("C03", 800), 5)
	var dead []int
	for i, s := range ds.Series {
		if s.Dead {
			dead = append(dead, i)
		}
	}
	require.GreaterOrEqual(t, len(dead), 5)
	var evs []fault.Event
	for _, i := range dead[1:] {
		evs = append(evs, absence(ds, i, ds.Truth.Onset+300*sec, ""))
	}
	r := Score(ds, evs)
	a := &r.Absence
	require.Equal(t, len(dead), a.Dead)
	require.Equal(t, len(dead)-1, a.DeadFired)
	require.Zero(t, a.DeadInhibited)
	require.Equal(t, []string{ds.Series[dead[0]].Labels.Get(scenario.CheckLabel)}, a.MissedDead)
	require.Zero(t, a.Other)
	require.Zero(t, a.Dropped)
}

// The engine as it is: every dead check's absence fires, and the score
// reads real events.
func TestScoreEngineDeadChecks(t *testing.T) {
	ds := mk(t, small("C03", 400).WithHorizon(3000*time.Second), 6)
	var evs []fault.Event
	eng, err := fault.New(fault.Config{Sink: fault.SinkFunc(func(_ context.Context, ev fault.Event) error {
		evs = append(evs, ev)
		return nil
	})})
	require.NoError(t, err)
	defer eng.Deduper().Reset()
	ctx := context.Background()
	for b := range ds.Batches(1024) {
		require.NoError(t, eng.Process(ctx, b))
	}
	require.NoError(t, eng.Close(ctx))
	r := Score(ds, evs)
	require.Positive(t, r.Absence.Dead)
	require.Equal(t, r.Absence.Dead, r.Absence.DeadFired, "missed %v", r.Absence.MissedDead)
}

func TestPoissonUpper95(t *testing.T) {
	require.Equal(t, 3.0, PoissonUpper95(0))
	// Exact one-sided 95 % bounds, χ²₀.₉₅(2k+2)/2.
	for k, want := range map[int]float64{1: 4.7439, 2: 6.2958, 5: 10.5130, 10: 16.9622, 100: 118.08} {
		require.InDelta(t, want, PoissonUpper95(k), want*2e-4, "k=%d", k)
	}
	require.InDelta(t, 0.05, poissonCDF(3, PoissonUpper95(3)), 1e-6)
	require.Equal(t, 1.5, Rate{Count: 0, Exposure: 2}.Upper95())
	require.Equal(t, 0.0, Rate{Count: 0, Exposure: 2}.PerUnit())
	require.True(t, math.IsNaN(Rate{Count: 1}.PerUnit()))
}

func TestQuantile(t *testing.T) {
	require.True(t, math.IsNaN(Median(nil)))
	require.Equal(t, 3.0, Median([]float64{5, 1, 3}))
	require.Equal(t, 2.5, Median([]float64{4, 1, 3, 2}))
	require.Equal(t, 3.0, Median([]float64{1, math.NaN(), 3, 5}))
	inf := math.Inf(1)
	require.Equal(t, 3.5, Median([]float64{inf, 1, 3, 4}))
	require.Equal(t, inf, Median([]float64{inf, 1, inf}))
	require.InDelta(t, 9.1, Quantile([]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.9), 1e-12)
	require.Equal(t, 10.0, Quantile([]float64{1, 10}, 1))
	in := []float64{3, 1, 2}
	Median(in)
	require.Equal(t, []float64{3, 1, 2}, in, "input untouched")
}

func TestReportMerge(t *testing.T) {
	ds1 := mk(t, small("B01", 300), 1)
	ds2 := mk(t, small("B01", 300), 2)
	g := gap(60*time.Second, 12*time.Second, 13500*time.Millisecond, 1)
	r1 := Score(ds1, fleetEvents("a", 0, ds1.Truth.Windows[3].Start, 0, g))
	r2 := Score(ds2, fleetEvents("b", 0, ds2.Truth.Windows[0].Start-sec, 0, g))
	m := Aggregate(r1, r2)
	require.Equal(t, "B01", m.ID)
	require.Equal(t, []uint64{1, 2}, m.Seeds)
	require.Equal(t, 300, m.N)
	require.True(t, m.Periodic)
	require.InDelta(t, 2*5400.0/86400, m.FleetDays, 1e-12)
	require.InDelta(t, 2*300*5400.0/86400, m.SeriesDays, 1e-9)
	require.Equal(t, 2, m.Fleet.Runs)
	require.Equal(t, 1, m.Fleet.Detected)
	require.Equal(t, 2, m.Fleet.Fired)
	require.Equal(t, 1, m.Fleet.TP)
	require.Len(t, m.Fleet.Episodes, 2)
	require.Equal(t, uint64(2), m.Fleet.Episodes[1].Seed)
	require.Len(t, m.Fleet.Latency, 2)
	require.InDelta(t, 3.0, m.Fleet.Latency[0], 1e-9)
	require.True(t, math.IsInf(m.Fleet.Latency[1], 1))
	require.Equal(t, 1, m.FleetFalseAlarms().Count)
	// The inputs are untouched.
	require.Len(t, r1.Fleet.Episodes, 1)
	require.Equal(t, []uint64{1}, r1.Seeds)
}

func TestVerdictString(t *testing.T) {
	require.Equal(t, "tp", VerdictTP.String())
	require.Equal(t, "harmonic", VerdictHarmonic.String())
	require.Equal(t, "no-gap", VerdictNoGap.String())
	require.Equal(t, "verdict(99)", Verdict(99).String())
}
