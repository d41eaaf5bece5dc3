package report_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/bench/scenario"
	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/report"
	"github.com/faultline-go/faultline/stream"
)

// worstCase feeds b the widest 2 hours of 10,000 series it can be given:
// every 0.25-s bin expected with random misses (the heatmaps do not
// compress), 4,096 sources each with a lag every minute, more fleet gaps
// than are drawn (periods from 10 s to 1 h), and for every series an
// absence explained by a gap, a per-series gap and a threshold alert of one
// of 1,000 rules (more rows than are drawn), with long labels.
func worstCase(t testing.TB, b *report.Builder) {
	const (
		series  = 10_000
		sources = 4096
		rules   = 1000
		gaps    = 20
	)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	t0 := scenario.Origin
	horizon := int64(2 * time.Hour)
	bin := int64(fault.PhaseBinWidth)
	for s := t0; s < t0+horizon; s += bin {
		e := uint32(series/240) + uint32(rng.IntN(20))
		m := uint32(rng.IntN(int(e) + 1))
		b.PhaseBin(fault.PhaseBin{Start: s, Expected: e, Missed: m, Late: m / 2, Lost: m - m/2})
	}
	minute := int64(time.Minute)
	for s := t0; s < t0+horizon; s += minute {
		for src := range sources {
			b.SourceMinute(fault.SourceMinute{Source: fmt.Sprintf("collector-%04d.example.internal", src), Start: s,
				Fresh: uint64(rng.IntN(100) + 1), Redelivered: uint64(rng.IntN(300)), Lag: time.Duration(rng.IntN(5000)) * time.Millisecond})
		}
	}
	periods := []time.Duration{10 * time.Second, 30 * time.Second, time.Minute, 90 * time.Second, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour}
	firing := make([]string, gaps)
	for i := range gaps {
		p := periods[i%len(periods)]
		since := t0 + int64(rng.IntN(60))*minute
		start := time.Duration(rng.Int64N(int64(p)))
		g := &fault.Gap{Period: p, PhaseStart: start, PhaseEnd: start + p/20, Series: series / gaps, LateFraction: rng.Float64()}
		for _, st := range []fault.State{fault.StatePending, fault.StateFiring, fault.StateResolved} {
			id, ep := fault.EventIDs(fault.KindPeriodicGap, "periodic_gap", 0, since, st)
			ev := fault.Event{ID: id, Episode: ep, Kind: fault.KindPeriodicGap, Rule: "periodic_gap", State: st, Since: since,
				At: since + int64(st)*20*minute, Value: math.NaN(), Labels: stream.NewLabels(fault.OriginLabel, "faultline")}
			if st != fault.StatePending {
				ev.Gap = g
			}
			if st == fault.StateFiring {
				firing[i] = id
			}
			require.NoError(t, b.Emit(ctx, ev))
		}
	}
	for i := range series {
		labels := stream.NewLabels("__name__", "check_latency_seconds_with_a_long_name", "check", fmt.Sprintf("c%06d", i),
			"region", "eu-central-1", "cluster", "stratcond-aggregators-production", fault.OriginLabel, "faultline")
		id := stream.Hash("check_latency_seconds_with_a_long_name", labels)
		since := t0 + int64(rng.IntN(100))*minute
		for _, k := range []struct {
			kind fault.Kind
			rule string
			by   string
		}{
			{fault.KindAbsence, "absence", firing[i%gaps]},
			{fault.KindSeriesPeriodicGap, "series_periodic_gap", ""},
			{fault.KindThreshold, fmt.Sprintf("SlowCheckRuleNumber%04d", i%rules), ""},
		} {
			for _, st := range []fault.State{fault.StateFiring, fault.StateResolved} {
				eid, ep := fault.EventIDs(k.kind, k.rule, uint64(id), since, st)
				ev := fault.Event{ID: eid, Episode: ep, Kind: k.kind, Rule: k.rule, State: st, Since: since, At: since + int64(st)*minute,
					Series: id, Labels: labels, InhibitedBy: k.by, Value: 1}
				if k.kind == fault.KindSeriesPeriodicGap {
					ev.Gap = &fault.Gap{Period: time.Minute, PhaseStart: 12 * time.Second, PhaseEnd: 13 * time.Second, Series: 1}
				}
				require.NoError(t, b.Emit(ctx, ev))
			}
		}
	}
}

// TestReportStaysSmall: with the default bounds, the report of the widest
// 2 hours of 10,000 series is under 5 MiB, and says what it left out.
func TestReportStaysSmall(t *testing.T) {
	b, err := report.New(report.Options{})
	require.NoError(t, err)
	worstCase(t, b)
	var buf bytes.Buffer
	require.NoError(t, b.WriteHTML(&buf))
	t.Logf("report: %d bytes", buf.Len())
	require.LessOrEqual(t, buf.Len(), 5<<20)
	page := buf.String()
	require.Equal(t, report.DefaultMaxGaps, strings.Count(page, `<article class="gap-block"`))
	require.Contains(t, page, "fleet gaps are not drawn (Options.MaxGaps = 16)")
	require.Contains(t, page, "events of episodes beyond the first 500 rows are not drawn")
	require.Contains(t, page, "and 9000 more series")
	require.Contains(t, page, "The ingest lag of 4088 sources beyond the first 8")
}

// TestLongLabelsStaySmall: what the Builder keeps of a label set, a
// summary or a source's name is bounded whatever its length (a line of
// line protocol may hold a megabyte), so that the page still stays under
// 5 MiB; what it shows begins as the value does.
func TestLongLabelsStaySmall(t *testing.T) {
	b, err := report.New(report.Options{})
	require.NoError(t, err)
	ctx := context.Background()
	t0 := scenario.Origin
	long := strings.Repeat("é", 32<<10) // 64 KiB
	for i := range 1000 {
		labels := stream.NewLabels("__name__", "check_up", "check", fmt.Sprintf("c%06d", i), "note", long, fault.OriginLabel, "faultline")
		id := stream.Hash("check_up", labels)
		for _, k := range []fault.Kind{fault.KindAbsence, fault.KindThreshold} {
			eid, ep := fault.EventIDs(k, "rule", uint64(id), t0, fault.StateFiring)
			require.NoError(t, b.Emit(ctx, fault.Event{ID: eid, Episode: ep, Kind: k, Rule: "rule", State: fault.StateFiring, Since: t0, At: t0,
				Series: id, Labels: labels, Value: 1}))
		}
		if i < 300 { // per-source rows, with a long summary
			eid, ep := fault.EventIDs(fault.KindIngestLag, "ingest_lag", uint64(i), t0, fault.StateFiring)
			require.NoError(t, b.Emit(ctx, fault.Event{ID: eid, Episode: ep, Kind: fault.KindIngestLag, Rule: "ingest_lag", State: fault.StateFiring, Since: t0, At: t0,
				Labels: stream.NewLabels("host", fmt.Sprintf("h%d", i)+long), Annotations: stream.NewLabels("summary", long), Value: 1}))
		}
		b.SourceMinute(fault.SourceMinute{Source: fmt.Sprintf("h%d", i) + long, Start: t0, Fresh: 1, Lag: time.Second})
	}
	var buf bytes.Buffer
	require.NoError(t, b.WriteHTML(&buf))
	t.Logf("report: %d bytes", buf.Len())
	require.LessOrEqual(t, buf.Len(), 5<<20)
	require.Contains(t, buf.String(), "c000999")
	require.Contains(t, buf.String(), "éééé")
}
