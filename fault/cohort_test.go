package fault

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/internal/align"
	"github.com/faultline-go/faultline/stream"
)

const cohortRules = `groups:
- name: fleet
  rules:
  - alert: CohortReconnectStorm
    match: reconnects_total
    cohort: {by: [firmware], window: 1m}
    expr: cohort.series >= 2 && cohort.rate / cohort.series >= 5 * others.rate / max(others.series, 1) && cohort.rate / cohort.series > 0.05
    labels: {severity: page, team: 'fw-{{ $labels.firmware }}', firmware_track: ''}
    annotations: {summary: '{{ $labels.firmware }} reconnects at {{ $value }}/s'}
  - alert: Spread
    match: reconnects_total
    cohort: {by: [firmware], window: 1m}
    expr: others.samples > 0 && cohort.max > others.max
`

// TestCohortRule runs 3 firmware cohorts of 4 devices, reporting a
// reconnect counter every 10 s, in virtual time; from minute 2 to 4 the
// devices of 4.2.1 reconnect 3 times per 10 s, the others once a minute.
func TestCohortRule(t *testing.T) {
	e, rec := newEngine(t, Config{Rules: parseRules(t, cohortRules), Lateness: 5e9, OnTimeBudget: 1e9})
	counters := map[string]float64{}
	for step := range 60 { // 10 minutes
		ts := sec(float64(10 * step))
		var batch []stream.Sample
		for _, fw := range []string{"4.1.0", "4.2.0", "4.2.1"} {
			for d := range 4 {
				dev := fmt.Sprintf("%s-%d", fw, d)
				if step%6 == 0 {
					counters[dev]++
				}
				if fw == "4.2.1" && step >= 12 && step < 24 {
					counters[dev] += 3
				}
				batch = append(batch, smp("reconnects_total", ts, ts+2e8, counters[dev], "device", dev, "firmware", fw))
			}
		}
		process(t, e, batch...)
	}
	var storm []Event
	for _, ev := range rec.events {
		require.Equal(t, KindCohort, ev.Kind)
		require.Zero(t, ev.Series)
		if ev.Rule == "CohortReconnectStorm" {
			storm = append(storm, ev)
		}
	}
	require.Len(t, storm, 2, "%v", rec.kinds())
	fire, resolve := storm[0], storm[1]
	require.Equal(t, StateFiring, fire.State)
	require.Equal(t, "4.2.1", fire.Labels.Get("firmware"))
	require.Equal(t, "page", fire.Labels.Get("severity"))
	require.Equal(t, "fw-4.2.1", fire.Labels.Get("team"), "rule labels are templates over the cohort's labels")
	require.NotContains(t, fire.Labels.String(), "firmware_track", "an empty rule label is no label")
	require.Equal(t, "faultline", fire.Labels.Get(OriginLabel))
	require.Equal(t, "", fire.Labels.Get("device"))
	// Minute 2 is [120, 180) s: judged at its end plus the 5 s grace.
	require.Equal(t, sec(180), fire.Since)
	require.Equal(t, sec(185), fire.At)
	// In minute 2, 4.2.1's devices went up 3 × 6 each, plus the once a
	// minute: 4 × 19 = 76 in 60 s.
	require.InDelta(t, 76.0/60, fire.Value, 1e-9)
	require.Equal(t, "4.2.1 reconnects at 1.2666666666666666/s", fire.Annotations.Get("summary"))
	// Minute 4, [240, 300), has no storm left: resolved at 305 s.
	require.Equal(t, StateResolved, resolve.State)
	require.Equal(t, sec(305), resolve.At)
	require.Equal(t, fire.Episode, resolve.Episode)

	st := e.Stats()
	require.Equal(t, uint64(6), st.Cohorts) // 3 per rule
	require.Equal(t, uint64(12), st.HistorySeries)
	require.Equal(t, uint64(1+countFiring(rec.events, "Spread")), st.CohortFaults)
	require.Zero(t, st.CohortLate)
	require.Zero(t, st.EvalErrors)
}

func countFiring(evs []Event, rule string) int {
	n := 0
	for _, ev := range evs {
		if ev.Rule == rule && ev.State == StateFiring {
			n++
		}
	}
	return n
}

// TestCohortLateAndOverflow: samples of a window already judged are left
// out and counted; cohorts past MaxCohorts count only towards the others.
func TestCohortLateAndOverflow(t *testing.T) {
	rs := parseRules(t, `groups:
- name: g
  rules:
  - {alert: Hot, match: x, cohort: {by: [c], window: 1m}, expr: 'cohort.avg > 2 * others.avg && others.min >= 1 && fleet.samples == 3'}
`)
	e, rec := newEngine(t, Config{Rules: rs, MaxCohorts: 2, Lateness: 10e9})
	process(t, e,
		smp("x", sec(1), sec(1), 10, "c", "a"),
		smp("x", sec(2), sec(2), 1, "c", "b"),
		smp("x", sec(3), sec(3), 1, "c", "z"), // a third cohort: overflow
	)
	require.NoError(t, e.Advance(t.Context(), sec(70)))
	require.Equal(t, []string{"cohort/Hot/firing"}, rec.kinds())
	require.Equal(t, "a", rec.events[0].Labels.Get("c"))
	process(t, e, smp("x", sec(59), sec(71), 100, "c", "b")) // window 0 judged at 70 s
	st := e.Stats()
	require.Equal(t, uint64(1), st.CohortLate)
	require.Equal(t, uint64(1), st.CohortOverflow)
	require.Equal(t, uint64(2), st.Cohorts)

	// A silent minute changes nothing; a cohort that reports again and no
	// longer stands out resolves.
	require.NoError(t, e.Advance(t.Context(), sec(200)))
	require.Len(t, rec.events, 1)
	process(t, e, smp("x", sec(241), sec(241), 1, "c", "a"), smp("x", sec(242), sec(242), 1, "c", "b"),
		smp("x", sec(243), sec(243), 1, "c", "z"))
	require.NoError(t, e.Advance(t.Context(), sec(400)))
	require.Equal(t, []string{"cohort/Hot/firing", "cohort/Hot/resolved"}, rec.kinds())
	require.Equal(t, sec(310), rec.events[1].At)
}

func TestCohortAggregates(t *testing.T) {
	var a, b, f cohortAcc
	a.add(1, 0, true)
	a.add(3, 2, false)
	a.add(math.NaN(), 0, false)
	b.add(10, 5, true)
	f.plus(&a)
	f.plus(&b)
	g := a.aggregate(60e9)
	require.Equal(t, 1, g.Series)
	require.Equal(t, 3, g.Samples)
	require.Equal(t, 4.0, g.Sum)
	require.InDelta(t, 4.0/3, g.Avg, 1e-12)
	require.Equal(t, 1.0, g.Min)
	require.Equal(t, 3.0, g.Max)
	require.InDelta(t, 2.0/60, g.Rate, 1e-12)
	gf := f.aggregate(60e9)
	require.Equal(t, 2, gf.Series)
	require.Equal(t, 10.0, gf.Max)
	require.Equal(t, 7.0, gf.Increase)
	var none cohortAcc
	require.True(t, math.IsNaN(none.aggregate(60e9).Avg))
	require.True(t, math.IsNaN(none.aggregate(60e9).Min))
}

func TestCohortExtremes(t *testing.T) {
	lo := extremes{v1: math.Inf(1), v2: math.Inf(1), who: -2}
	hi := extremes{v1: math.Inf(-1), v2: math.Inf(-1), who: -2}
	for i, v := range []float64{5, 2, 7, math.Inf(1), 2} {
		lo.note(i, v, false)
		hi.note(i, v, true)
	}
	require.Equal(t, 2.0, lo.except(0))
	require.Equal(t, 2.0, lo.except(1)) // cohort 4 has 2 as well
	require.Equal(t, 7.0, hi.except(0))
	require.Equal(t, 5.0, hi.except(2))
	one := extremes{v1: math.Inf(1), v2: math.Inf(1), who: -2}
	one.note(3, 1, false)
	require.True(t, math.IsInf(one.except(3), 1)) // no other cohort: no min (NaN in the Aggregate)
}

// The end of input is not a quiet window: Close judges the windows that
// ended before the last arrival, not the one the input ended in.
func TestCohortClose(t *testing.T) {
	rs := parseRules(t, `groups:
- name: g
  rules:
  - {alert: Busy, match: x, cohort: {by: [c], window: 1m}, expr: 'cohort.samples >= 4'}
`)
	e, rec := newEngine(t, Config{Rules: rs, Lateness: 10e9})
	for i := range 9 { // 0..80 s, every 10 s: window [0, 60) has 6, [60, 120) 3
		process(t, e, smp("x", sec(float64(10*i)), sec(float64(10*i)), 1, "c", "a"))
	}
	require.NoError(t, e.Advance(t.Context(), sec(119)))
	require.Equal(t, []string{"cohort/Busy/firing"}, rec.kinds())
	require.NoError(t, e.Close(t.Context())) // it moves the clock past 130 s, when [60, 120) is due
	// [60, 120) holds 3 samples up to 80 s: judged, it would resolve.
	require.Equal(t, []string{"cohort/Busy/firing"}, rec.kinds())
	require.Equal(t, align.FloorDiv(sec(60), 60e9), e.al.coh.rules[0].k)
}

// A series back from a silence longer than a window does not put what it
// counted while away into one window; a reset counts from zero.
func TestCohortIncrease(t *testing.T) {
	rs := parseRules(t, `groups:
- name: g
  rules:
  - {alert: Inc, match: x, cohort: {by: [c], window: 1m}, expr: 'cohort.increase > 0'}
`)
	e, rec := newEngine(t, Config{Rules: rs, Lateness: 10e9})
	at := func(s float64, v float64) stream.Sample { return smp("x", sec(s), sec(s), v, "c", "a") }
	process(t, e, at(0, 5), at(30, 5))      // flat
	process(t, e, at(400, 90), at(430, 90)) // back after 370 s, 85 higher: not counted
	require.NoError(t, e.Advance(t.Context(), sec(479)))
	require.Empty(t, cohortKinds(rec))
	process(t, e, at(480, 3), at(530, 3)) // a reset 50 s later: +3
	require.NoError(t, e.Advance(t.Context(), sec(600)))
	require.Equal(t, []string{"cohort/Inc/firing"}, cohortKinds(rec))
	require.Equal(t, 3.0/60, rec.events[len(rec.events)-1].Value)
}

// cohortKinds is recorder.kinds for cohort events only (the silences of
// these tests raise absences too).
func cohortKinds(r *recorder) []string {
	var out []string
	for _, ev := range r.events {
		if ev.Kind == KindCohort {
			out = append(out, string(ev.Kind)+"/"+ev.Rule+"/"+ev.State.String())
		}
	}
	return out
}

// TestCohortWindowsAtTheEndOfTime: cohort windows near the end of the
// int64 range. A window whose judgment (its end plus the grace) would fall
// past that range never ends: it is not due before the clock reaches it,
// and Advance to the end of time returns, with or without such a window
// open. The judgment time wrapped to a negative time: the window was due
// at once, and cohortsDue looped for ever at Advance(math.MaxInt64).
func TestCohortWindowsAtTheEndOfTime(t *testing.T) {
	rs := parseRules(t, `groups:
- name: g
  rules:
  - {alert: Busy, match: x, cohort: {by: [c], window: 1d}, expr: 'cohort.samples >= 1'}
`)
	// A replay whose last records carry bogus timestamps near the end of
	// time (arrival = sample time), within MaxArrivalLag of it.
	e, rec := newEngine(t, Config{Rules: rs})
	for i := range 3 {
		ts := int64(math.MaxInt64) - int64(2*time.Hour) + int64(i)*int64(10*time.Second)
		process(t, e, smp("x", ts, ts, 1, "c", "a"))
	}
	require.Zero(t, e.Stats().BadArrival)
	require.Empty(t, rec.kinds(), "the window has not ended: nothing is judged")
	require.GreaterOrEqual(t, e.al.coh.next, e.Now(), "the open window is not due before the clock reaches its end")
	require.NoError(t, e.Advance(t.Context(), math.MaxInt64))
	require.NoError(t, e.Close(t.Context()))
	for _, ev := range rec.events {
		require.NotEqual(t, KindCohort, ev.Kind, "a window that never ends is not judged")
	}

	// An ordinary stream, then the host advances to the end of time: the
	// windows that end are judged, and Advance returns.
	e, rec = newEngine(t, Config{Rules: rs})
	for i := range 3 {
		process(t, e, smp("x", sec(float64(10*i)), sec(float64(10*i)), 1, "c", "a"))
	}
	require.NoError(t, e.Advance(t.Context(), math.MaxInt64))
	require.Len(t, rec.only(KindCohort, StateFiring), 1, "the window of the samples is judged")
}
