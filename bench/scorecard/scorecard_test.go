package main

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/bench/scenario"
	"github.com/faultline-go/faultline/bench/score"
	"github.com/faultline-go/faultline/fault"
)

// TestTinyRun runs a tiny scorecard end to end: two scenarios, one seed,
// 150 series, a 45-minute control. It checks the shape of the output, not
// the detectors' results.
func TestTinyRun(t *testing.T) {
	o := options{Scenarios: []string{"B01", "C03"}, Seeds: 1, N: 150, ControlHours: 0.75, Batch: 512, Episodes: 3}
	var out, progress bytes.Buffer
	pass, err := run(o, &out, &progress)
	require.NoError(t, err)
	s := out.String()
	lines := strings.Split(s, "\n")
	require.True(t, strings.HasPrefix(lines[0], "faultline scorecard: seeds 1…1, N=150"), lines[0])
	require.True(t, strings.HasPrefix(lines[2], "scenario  N    runs"), lines[2])
	require.True(t, strings.HasPrefix(lines[3], "B01       150  1×1.5h"), lines[3])
	require.True(t, strings.HasPrefix(lines[4], "C03       150  1×0.75h"), lines[4])
	// Aligned: the columns of the rows start where their headers do.
	require.Equal(t, strings.Index(lines[2], "runs"), strings.Index(lines[3], "1×1.5h"))
	require.Equal(t, strings.Index(lines[2], "runs"), strings.Index(lines[4], "1×0.75h"))
	require.Contains(t, s, "\ntargets:\n")
	for _, name := range []string{"B01 fleet confirmation", "B01 period and phase", "B01 first burst", "C03 no false alarms", "C03 dead checks"} {
		require.Contains(t, s, name)
	}
	require.NotContains(t, s, "B04 per-series", "B04 was not run")
	require.Contains(t, s, "[reduced protocol: N=150 < 10000, 1 seeds < 5]")
	require.Equal(t, !strings.Contains(s, "\nFAIL "), pass, "the verdict follows the target lines")
	require.Contains(t, progress.String(), "scorecard: B01 seed 1/1: 150 series")
	require.Contains(t, progress.String(), "scorecard: C03 seed 1/1: 150 series")
}

func b01Result(n, seeds int) *result {
	r := &result{ID: "B01", Spec: scenario.MustNamed("B01").WithN(n), Runs: make([]runStats, seeds)}
	f := &r.Report.Fleet
	for i := range seeds {
		f.Episodes = append(f.Episodes, score.FleetEpisode{
			Seed: uint64(i + 1), Fired: true, Verdict: score.VerdictTP, Gap: fault.Gap{Period: time.Minute},
			PhaseOK: true, PhaseStrict: true, PhaseLiteral: true, PhaseErrEnd: 250 * time.Millisecond,
		})
		f.Runs++
		f.Detected++
		f.StrictPhase++
		f.LiteralPhase++
		f.Latency = append(f.Latency, 2.8+0.05*float64(i))
		f.FirstBurst = append(f.FirstBurst, 3+0.25*float64(i))
		r.Report.Seeds = append(r.Report.Seeds, uint64(i+1))
	}
	return r
}

func byName(ts []target) map[string]target {
	m := map[string]target{}
	for _, t := range ts {
		m[t.Name] = t
	}
	return m
}

func TestEvaluateB01(t *testing.T) {
	ts := byName(evaluate([]*result{b01Result(10_000, 5)}))
	require.Len(t, ts, 3)
	for _, tg := range ts {
		require.True(t, tg.Pass, tg.Name)
		require.Empty(t, tg.Reduced, tg.Name)
	}
	require.Contains(t, ts["B01 fleet confirmation"].Value, "median 2.90 periods")
	require.Contains(t, ts["B01 period and phase"].Value, "5/5 runs")

	// A first alarm whose phase reads wrong as written fails.
	r := b01Result(10_000, 5)
	r.Report.Fleet.Episodes[2].PhaseLiteral = false
	r.Report.Fleet.Episodes[2].LiteralErrStart = 10 * time.Second
	tg := byName(evaluate([]*result{r}))["B01 period and phase"]
	require.False(t, tg.Pass)
	require.Contains(t, tg.Value, "4/5 runs")
	require.Contains(t, tg.Value, "10s as written")

	// Two missed runs out of five put the median at the worst detection;
	// three make it a miss.
	r = b01Result(1000, 5)
	r.Report.Fleet.Episodes = r.Report.Fleet.Episodes[2:]
	r.Report.Fleet.Latency[0] = math.Inf(1)
	r.Report.Fleet.Latency[1] = math.Inf(1)
	r.Report.Fleet.Latency[2] = 3.5
	r.Report.Fleet.Detected = 3
	r.Report.Fleet.StrictPhase = 3
	r.Report.Fleet.FirstBurst[4] = 5.5
	ts = byName(evaluate([]*result{r}))
	require.False(t, ts["B01 fleet confirmation"].Pass)
	require.Contains(t, ts["B01 fleet confirmation"].Value, "median 3.50 periods")
	require.Contains(t, ts["B01 fleet confirmation"].Value, "latencies miss miss 3.50 2.95 3.00")
	require.False(t, ts["B01 period and phase"].Pass)
	require.False(t, ts["B01 first burst"].Pass)
	require.Equal(t, "N=1000 < 10000", ts["B01 first burst"].Reduced)

	// No run at all fails rather than passing vacuously.
	r = &result{ID: "B01", Spec: scenario.MustNamed("B01")}
	for _, tg := range evaluate([]*result{r}) {
		require.False(t, tg.Pass, tg.Name)
	}
}

func TestEvaluateB02ControlsB04(t *testing.T) {
	b02 := &result{ID: "B02", Spec: scenario.MustNamed("B02"), Runs: make([]runStats, 2)}
	b02.Report.Fleet = score.FleetScore{Runs: 2, Detected: 2, LateFraction: []float64{0, 0.01}}
	b02.Report.Absence = score.AbsenceScore{Dropped: 250, DroppedFired: 246, DroppedInhibited: 246}

	ctl := func(id string) *result {
		s := scenario.MustNamed(id).Long(6 * time.Hour)
		r := &result{ID: id, Spec: s, Runs: make([]runStats, 3)}
		for range 3 {
			r.Report.FleetDays += s.FleetDays()
			r.Report.SeriesDays += s.SeriesDays()
		}
		return r
	}
	c01, c03, c05 := ctl("C01"), ctl("C03"), ctl("C05")
	c03.Report.Absence = score.AbsenceScore{Dead: 750, DeadFired: 750}

	b04 := &result{ID: "B04", Spec: scenario.MustNamed("B04"), Runs: make([]runStats, 1)}
	b04.Report.Series = score.SeriesScore{Fired: 500, TP: 500, Eligible: 400, Detected: 394, Latency: []float64{3, 4, 4, 5, 9}}

	ts := evaluate([]*result{b02, c01, c03, c05, b04})
	names := make([]string, len(ts))
	for i, tg := range ts {
		names[i] = tg.Name
		require.True(t, tg.Pass, "%s: %s", tg.Name, tg.Value)
		require.Empty(t, tg.Reduced, tg.Name)
	}
	require.Equal(t, []string{
		"B02 absences inhibited", "B02 data loss",
		"C01 no false alarms", "C03 no false alarms", "C03 dead checks", "C05 no false alarms",
		"B04 per-series recall", "B04 per-series precision", "B04 per-series latency",
	}, names)
	m := byName(ts)
	// 3 × 6 h = 0.75 fleet-days: ≤ 4 per fleet-day; 7,500 series-days.
	require.Contains(t, m["C01 no false alarms"].Value, "fleet 0 (≤4/fleet-day), confirmed per-series 0 (≤4/10k series-days), delivery loss 0 (≤4/fleet-day) over 3 × 6h × 10000 series")
	// A periodic delivery loss on a control is a false alarm too.
	c02 := ctl("C02")
	c02.Report.Delivery = score.FleetScore{Fired: 1}
	require.False(t, byName(evaluate([]*result{c02}))["C02 no false alarms"].Pass)

	// Each target fails on its own condition.
	b02.Report.Absence.DroppedUninhibited = 1
	b02.Report.Fleet.LateFraction[1] = 0.2
	c01.Report.Series = score.SeriesScore{Fired: 1}
	c03.Report.Absence.DeadFired = 749
	c05.Report.Fleet = score.FleetScore{Fired: 1}
	b04.Report.Series.Detected = 391
	b04.Report.Series.TP = 499
	b04.Report.Series.Latency = []float64{5, 5, 4}
	unknown := *b02 // on a copy, so that b02 keeps its late fraction of 0.2
	unknown.Report.Absence.DroppedUninhibited = 0
	unknown.Report.Fleet.LateFraction = []float64{0, math.NaN()}
	require.False(t, byName(evaluate([]*result{&unknown}))["B02 data loss"].Pass, "an unknown late fraction is no verdict")
	for _, tg := range evaluate([]*result{b02, c01, c03, c05, b04}) {
		if tg.Name == "C03 no false alarms" {
			require.True(t, tg.Pass)
			continue
		}
		require.False(t, tg.Pass, "%s: %s", tg.Name, tg.Value)
	}

	// Short controls are marked.
	short := ctl("C02")
	short.Spec = short.Spec.Long(time.Hour)
	short.Runs = short.Runs[:1]
	require.Equal(t, "1 seeds < 3, 1h < 6h", evaluate([]*result{short})[0].Reduced)
}

func TestWriteTargets(t *testing.T) {
	var b bytes.Buffer
	writeTargets(&b, []target{{Name: "A one", Pass: true, Value: "fine"}, {Name: "B", Value: "bad", Reduced: "N=1 < 10000"}})
	require.Equal(t, "\ntargets:\nPASS  A one  fine\nFAIL  B      bad  [reduced protocol: N=1 < 10000]\n\n1/2 targets passed\n", b.String())
	b.Reset()
	writeTargets(&b, nil)
	require.Contains(t, b.String(), "none of the target scenarios")
}

func TestCells(t *testing.T) {
	require.Equal(t, "-", fmtPct(0, 0))
	require.Equal(t, "100% (5/5)", fmtPct(5, 5))
	require.Equal(t, "98.5% (394/400)", fmtPct(394, 400))
	require.Equal(t, "0 (≤12/fd)", fmtRate(score.Rate{Count: 0, Exposure: 0.25}, "fd"))
	require.Equal(t, "2 (8/fd)", fmtRate(score.Rate{Count: 2, Exposure: 0.25}, "fd"))
	require.Equal(t, "-", latencyCell(nil))
	require.Equal(t, "3.05", latencyCell([]float64{3.05}))
	require.Equal(t, "3.05 [2.83–miss]", latencyCell([]float64{3.05, 2.83, math.Inf(1)}))
	require.Equal(t, "none", fmtSeconds(math.Inf(1)))
}

func TestOptions(t *testing.T) {
	o := options{Scenarios: []string{"B11", "B06", "C02"}, Seeds: 1, N: 200, ControlHours: 2, Batch: 1, Quick: true}
	require.NoError(t, o.validate())
	s, err := o.spec("B11")
	require.NoError(t, err)
	require.Equal(t, 200, s.N, "B11 keeps at most its 500")
	o.N = 10_000
	s, _ = o.spec("B11")
	require.Equal(t, 500, s.N)
	s, _ = o.spec("C02")
	require.Equal(t, 2*time.Hour, s.Horizon)
	require.Equal(t, 90*time.Minute, s.Duration)
	s, _ = o.spec("B06")
	require.Equal(t, time.Hour, s.Duration, "quick shortens B06")
	s, _ = o.spec("B01")
	require.Equal(t, 5400*time.Second, s.Horizon)

	for _, bad := range []options{
		{Scenarios: []string{"B99"}, Seeds: 1, N: 1, ControlHours: 6, Batch: 1},
		{Scenarios: []string{"B01"}, Seeds: 0, N: 1, ControlHours: 6, Batch: 1},
		{Scenarios: []string{"B01"}, Seeds: 1, N: 1, ControlHours: 0.5, Batch: 1},
		{Seeds: 1, N: 1, ControlHours: 6, Batch: 1},
	} {
		require.Error(t, bad.validate())
	}
	require.Equal(t, []string{"B01", "C03"}, splitIDs(" b01, ,C03,B01"))
	require.Equal(t, 2, mainErr([]string{"-seeds", "0"}))
	require.Equal(t, 2, mainErr([]string{"extra"}))
	require.Equal(t, 2, mainErr([]string{"-nosuchflag"}))
}
