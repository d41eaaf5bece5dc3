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

// classResult builds a result of a hard class over seeds runs in which
// the expected detector fired one true positive per run at the given
// latencies, tracked at both its events.
func classResult(id string, n int, lat ...float64) *result {
	s := scenario.MustNamed(id)
	if s.N > n {
		s = s.WithN(n)
	}
	r := &result{ID: id, Spec: s, Runs: make([]runStats, len(lat))}
	f := &r.Report.Fleet
	if s.Mode == scenario.ModeCopyLoss {
		f = &r.Report.Delivery
	}
	for i, l := range lat {
		seed := uint64(i + 1)
		r.Report.Seeds = append(r.Report.Seeds, seed)
		r.Report.Fleet.FiredPerRun = append(r.Report.Fleet.FiredPerRun, 0)
		r.Report.FleetDays += s.FleetDays()
		r.Report.SeriesDays += s.SeriesDays()
		f.Runs++
		if l < 0 {
			f.Latency = append(f.Latency, math.Inf(1))
			continue
		}
		f.Episodes = append(f.Episodes, score.FleetEpisode{
			Seed: seed, Fired: true, Verdict: score.VerdictTP, Gap: fault.Gap{Period: s.Period},
			FiringAt: int64(i), LatencyPeriods: l, Tracked: 2, TrackedOK: 2,
		})
		f.Fired++
		f.TP++
		f.Detected++
		f.Latency = append(f.Latency, l)
		f.Tracked += 2
		f.TrackedOK += 2
	}
	return r
}

func TestEvaluateClasses(t *testing.T) {
	h01 := classResult("H01", 10_000, 2.1, 3.5, 4)
	h02 := classResult("H02", 10_000, 2, 2, 2)
	h03 := classResult("H03", 10_000, 3, 3, 3)
	h04 := classResult("H04", 10_000, 3, 3, 3)
	h05 := classResult("H05", 10_000, 3, 3.9, 2)
	ctl := func(id string) *result {
		s := scenario.MustNamed(id).Long(6 * time.Hour)
		r := &result{ID: id, Spec: s, Runs: make([]runStats, 3)}
		for range 3 {
			r.Report.FleetDays += s.FleetDays()
			r.Report.SeriesDays += s.SeriesDays()
		}
		return r
	}
	n01, n03 := ctl("N01"), ctl("N03")
	require.Equal(t, 150, h04.Spec.N, "H04 keeps its fleet size")

	ts := evaluate([]*result{h01, h02, h03, h04, h05, n01, n03})
	names := make([]string, len(ts))
	for i, tg := range ts {
		names[i] = tg.Name
		require.True(t, tg.Pass, "%s: %s", tg.Name, tg.Value)
		require.Empty(t, tg.Reduced, tg.Name)
	}
	require.Equal(t, []string{
		"H01 one episode at the fundamental", "H01 fleet confirmation within 4 periods", "H01 per-series alarms at the fundamental",
		"H02 one episode at the fundamental", "H02 window follows the phase",
		"H03 fleet confirmation within 4 periods",
		"H04 fleet confirmation within 4 periods",
		"H05 periodic delivery loss within 4 periods", "H05 no gap alarms",
		"N01 no false alarms", "N03 no false alarms",
	}, names)
	m := byName(ts)
	require.Contains(t, m["H01 fleet confirmation within 4 periods"].Value, "latencies 2.10 3.50 4.00 periods")
	require.Contains(t, m["H01 one episode at the fundamental"].Value, "3/3 runs")
	require.Contains(t, m["N01 no false alarms"].Value, "fleet 0 (≤4/fleet-day), confirmed per-series 0 (≤4/10k series-days), delivery loss 0 (≤4/fleet-day)")

	// Each target fails on its own condition.
	h01.Report.Fleet.Episodes = append(h01.Report.Fleet.Episodes, score.FleetEpisode{
		Seed: 2, Fired: true, Verdict: score.VerdictHarmonic, Gap: fault.Gap{Period: 2 * time.Minute}, FiringAt: 10,
	})
	h01.Report.Fleet.Fired++
	h01.Report.Fleet.Latency[2] = 4.2
	h01.Report.Series = score.SeriesScore{Fired: 3, TP: 1, Alarms: []score.SeriesAlarm{
		{Verdict: score.VerdictTP}, {Verdict: score.VerdictHarmonic}, {Verdict: score.VerdictHarmonic},
	}}
	h02.Report.Fleet.TrackedOK--
	h02.Report.Fleet.Episodes[1].WorstTrack = 2500 * time.Millisecond
	h03.Report.Fleet.Detected--
	h03.Report.Fleet.Latency[1] = math.Inf(1)
	h04.Report.Fleet.Latency[0] = 4.01
	h05.Report.Fleet.Fired = 1
	n01.Report.Delivery.Fired = 1
	n03.Report.Series.Fired = 1
	for _, tg := range evaluate([]*result{h01, h02, h03, h04, h05, n01, n03}) {
		if tg.Name == "H02 one episode at the fundamental" || tg.Name == "H05 periodic delivery loss within 4 periods" {
			require.True(t, tg.Pass, tg.Name)
			continue
		}
		require.False(t, tg.Pass, "%s: %s", tg.Name, tg.Value)
	}
	m = byName(evaluate([]*result{h01, h02, h03}))
	require.Contains(t, m["H01 one episode at the fundamental"].Value, "2/3 runs")
	require.Contains(t, m["H01 one episode at the fundamental"].Value, "periods per run: 60.00 60.00+120.00 60.00")
	require.Contains(t, m["H01 one episode at the fundamental"].Value, "verdicts: tp tp+harmonic tp")
	require.Contains(t, m["H01 per-series alarms at the fundamental"].Value, "2 of 3 per-series alarms false: 2 harmonic")
	require.Contains(t, m["H02 window follows the phase"].Value, "5/6 reported windows")
	require.Contains(t, m["H02 window follows the phase"].Value, "worst edge 2.5s off")
	require.Contains(t, m["H03 fleet confirmation within 4 periods"].Value, "2/3 runs detected; latencies 3.00 miss 3.00")

	// Fewer seeds or series than the protocol are marked; H04's own size is
	// its protocol.
	short := classResult("H01", 2000, 3)
	require.Equal(t, "N=2000 < 10000, 1 seeds < 3", evaluate([]*result{short})[0].Reduced)
	tiny := classResult("H04", 100, 3, 3, 3)
	require.Equal(t, "N=100 < 150", evaluate([]*result{tiny})[0].Reduced)

	// No run at all fails rather than passing vacuously.
	for _, id := range []string{"H01", "H02", "H05"} {
		r := &result{ID: id, Spec: scenario.MustNamed(id)}
		for _, tg := range evaluate([]*result{r}) {
			if strings.HasSuffix(tg.Name, "per-series alarms at the fundamental") || strings.HasSuffix(tg.Name, "no gap alarms") {
				continue // nothing fired: nothing false
			}
			require.False(t, tg.Pass, tg.Name)
		}
	}
}

func TestWriteClasses(t *testing.T) {
	h01 := classResult("H01", 2000, 2.1, -1)
	h01.Report.Fleet.Episodes = append(h01.Report.Fleet.Episodes, score.FleetEpisode{
		Seed: 1, Fired: true, Verdict: score.VerdictHarmonic, Gap: fault.Gap{Period: 2 * time.Minute}, FiringAt: 5,
	})
	n02 := &result{ID: "N02", Spec: scenario.MustNamed("N02").Long(time.Hour), Runs: make([]runStats, 2)}
	n02.Report.Seeds = []uint64{1, 2}
	n02.Report.Delivery.Episodes = []score.FleetEpisode{{Seed: 2, Fired: true, Verdict: score.VerdictNoTruth, Gap: fault.Gap{Period: 45 * time.Second}}}
	n02.Report.Delivery.Fired = 1
	n02.Report.FleetDays = 2 * n02.Spec.FleetDays()
	b01 := b01Result(1000, 1)
	var b bytes.Buffer
	writeClasses(&b, []*result{b01, h01, n02})
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	require.Equal(t, "hard classes:", lines[0])
	require.Len(t, lines, 4, "a header and one row per hard scenario, B01 left out")
	require.True(t, strings.HasPrefix(lines[1], "class "), lines[1])
	require.Contains(t, lines[2], "skipped occurrences")
	require.Contains(t, lines[2], "one gap at P")
	require.Contains(t, lines[2], "60.00+120.00 -")
	require.Contains(t, lines[2], "miss [2.10–miss]", "the median of one detection and one miss is a miss")
	require.Contains(t, lines[3], "step up in random loss")
	require.Contains(t, lines[3], "silence")
	require.Contains(t, lines[3], "- 45.00")
	require.Contains(t, lines[3], "1 (12/fd)", "the delivery-loss false alarm, per fleet-day")
	require.Equal(t, strings.Index(lines[1], "scenario"), strings.Index(lines[2], "H01"))

	b.Reset()
	writeClasses(&b, []*result{b01})
	require.Empty(t, b.String(), "no hard class run, no section")
}

// TestTinyHardRun runs a few hard scenarios end to end at a tiny size and
// checks the shape of the output, not the detectors' results.
func TestTinyHardRun(t *testing.T) {
	o := options{Scenarios: []string{"H04", "H05", "N01"}, Seeds: 1, N: 150, ControlHours: 0.75, Batch: 512, Episodes: 3}
	var out, progress bytes.Buffer
	pass, err := run(o, &out, &progress)
	require.NoError(t, err)
	s := out.String()
	require.Contains(t, s, "\nhard classes:\n")
	for _, want := range []string{"small fleet, late fills  H04", "redundancy eaten         H05", "copies lost at random    N01",
		"H04 fleet confirmation within 4 periods", "H05 periodic delivery loss within 4 periods", "H05 no gap alarms", "N01 no false alarms"} {
		require.Contains(t, s, want)
	}
	require.Contains(t, s, "[reduced protocol: 1 seeds < 3]", "H04 at its own 150 series")
	require.Contains(t, s, "[reduced protocol: N=150 < 10000, 1 seeds < 3, 0.75h < 6h]")
	require.Equal(t, !strings.Contains(s, "\nFAIL "), pass)
	require.Contains(t, progress.String(), "scorecard: N01 seed 1/1: 150 series")
}
