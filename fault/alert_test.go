package fault

import (
	"context"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/stream"
)

// series60 returns samples of one series every 60 s from start, one per
// value, arriving 0.3 s after their sample time.
func series60(name string, start float64, values []float64, labels ...string) []stream.Sample {
	out := make([]stream.Sample, len(values))
	for i, v := range values {
		s := start + 60*float64(i)
		out[i] = smp(name, sec(s), sec(s+0.3), v, labels...)
	}
	return out
}

// brief renders events as "minute kind/state severity" for a compact table.
func brief(evs []Event) []string {
	var out []string
	for _, ev := range evs {
		s := string(ev.Kind) + "/" + ev.State.String()
		if sev := ev.Labels.Get(SeverityLabel); sev != "" {
			s += " " + sev
		}
		out = append(out, itoa((ev.At-t0)/int64(60e9))+" "+s)
	}
	return out
}

func itoa(v int64) string {
	if v < 10 {
		return string(rune('0' + v))
	}
	return itoa(v/10) + string(rune('0'+v%10))
}

// TestEngineAlertLifecycle drives the engine's alerts through the rule-file
// fields of the alert lifecycle, one per-minute series per case.
func TestEngineAlertLifecycle(t *testing.T) {
	tests := []struct {
		name   string
		rule   string
		values []float64
		want   []string
	}{
		{"levels with hysteresis (Kapacitor's example)", `
        levels:
          - {severity: info, expr: value > 60, resolve: value < 50}
          - {severity: warning, expr: value > 70, resolve: value < 60}
          - {severity: critical, expr: value > 80, resolve: value < 70}`,
			[]float64{61, 73, 64, 85, 62, 56, 47},
			[]string{"0 threshold/firing info", "1 threshold/firing warning", "3 threshold/firing critical", "4 threshold/firing info", "6 threshold/resolved info"}},
		{"resolve expression", `
        expr: value > 80
        resolve: value < 70`,
			[]float64{85, 75, 79, 65, 90},
			[]string{"0 threshold/firing", "3 threshold/resolved", "4 threshold/firing"}},
		{"for with a tolerance of one missed evaluation", `
        expr: value > 80
        for: 4m
        for_tolerance: 1`,
			[]float64{90, 10, 90, 10, 90, 10, 10},
			// The tolerance applies while pending only.
			[]string{"0 threshold/pending", "4 threshold/firing", "5 threshold/resolved"}},
		{"keep_firing_for", `
        expr: value > 80
        keep_firing_for: 3m`,
			[]float64{90, 10, 10, 90, 10, 10, 10, 10},
			[]string{"0 threshold/firing", "7 threshold/resolved"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rs := parseRules(t, "groups:\n  - name: g\n    rules:\n      - alert: A\n        match: m\n"+tc.rule[1:]+"\n")
			e, rec := newEngine(t, Config{Rules: rs})
			process(t, e, series60("m", 0, tc.values, "host", "a")...)
			require.Equal(t, tc.want, brief(rec.events))
		})
	}
}

// TestEngineLevelEvents checks the events of a rule with levels: the
// severity label, one episode across levels, one ID per level, labels
// templated with the series' labels and the value, and annotations that
// see the severity.
func TestEngineLevelEvents(t *testing.T) {
	rs := parseRules(t, `
groups:
  - name: g
    rules:
      - alert: DiskFull
        match: disk_used_ratio
        levels:
          - {severity: warning, expr: value > 0.8, resolve: value < 0.7}
          - {severity: critical, expr: value > 0.95, resolve: value < 0.9}
        labels: {team: storage, where: '{{ $labels.mount }}@{{ $labels.host }}'}
        annotations: {summary: '{{ $labels.severity }} at {{ $value }}'}
`)
	e, rec := newEngine(t, Config{Rules: rs})
	process(t, e, series60("disk_used_ratio", 0, []float64{0.85, 0.97, 0.85, 0.5}, "host", "h1", "mount", "/var")...)
	require.Equal(t, []string{"0 threshold/firing warning", "1 threshold/firing critical", "2 threshold/firing warning", "3 threshold/resolved warning"}, brief(rec.events))
	evs := rec.events
	for _, ev := range evs[1:] {
		require.Equal(t, evs[0].Episode, ev.Episode, "one episode")
		require.Equal(t, evs[0].Since, ev.Since)
	}
	require.NotEqual(t, evs[0].ID, evs[1].ID)
	require.NotEqual(t, evs[0].ID, evs[2].ID, "firing again at warning is another event")
	require.NotEqual(t, evs[1].ID, evs[2].ID)
	require.Equal(t, "/var@h1", evs[0].Labels.Get("where"))
	require.Equal(t, "storage", evs[0].Labels.Get("team"))
	require.Equal(t, "critical at 0.97", evs[1].Annotations.Get("summary"))
}

// TestEngineNoData checks the no-data policies, triggered by the absence
// detector when a per-minute series stops: keep leaves the alert firing,
// resolve resolves it, alert fires one that was not open; all at the
// absence's deadline, linked to nothing, with no value.
func TestEngineNoData(t *testing.T) {
	rs := parseRules(t, `
groups:
  - name: g
    rules:
      - {alert: Keep, match: m, expr: value > 80, no_data: keep}
      - {alert: Resolve, match: m, expr: value > 80, no_data: resolve}
      - {alert: Alert, match: m, expr: value > 1000, for: 1h, no_data: alert}
`)
	e, rec := newEngine(t, Config{Rules: rs})
	var in []stream.Sample
	in = append(in, series60("m", 0, []float64{90, 90, 90, 90, 90, 90, 90, 90, 90, 90}, "id", "x")...)
	in = append(in, series60("clock", 5, make([]float64, 30))...)
	sortByArrival(in)
	process(t, e, in...)
	require.NoError(t, e.Close(context.Background()))
	var got []string
	var absenceAt int64
	for _, ev := range rec.events {
		if ev.Kind == KindAbsence {
			absenceAt = ev.At
		}
		got = append(got, string(ev.Kind)+"/"+ev.Rule+"/"+ev.State.String())
	}
	require.Equal(t, []string{
		"threshold/Keep/firing", "threshold/Resolve/firing",
		"absence/absence/firing", "threshold/Resolve/resolved", "threshold/Alert/firing",
	}, got)
	for _, ev := range rec.events[3:] {
		require.Equal(t, absenceAt, ev.At)
		require.True(t, math.IsNaN(ev.Value))
	}
	require.Equal(t, rec.events[2].Since, rec.events[4].Since, "a no-data episode starts when the data stopped")
}

// TestEngineFlapping checks flap detection through the engine: a for-less
// rule whose condition alternates every minute starts flapping at the sixth
// change (Nagios' weights and thresholds, see alert.TestNagiosFlapping),
// emits one flapping event and nothing else while it flaps, and when
// flapping ends emits the resolve it held back.
func TestEngineFlapping(t *testing.T) {
	rs := parseRules(t, `
groups:
  - name: g
    rules:
      - {alert: Flappy, match: m, expr: value > 80, flapping: {low: 20, high: 30}}
`)
	e, rec := newEngine(t, Config{Rules: rs})
	values := []float64{90, 10, 90, 10, 90, 10, 90, 10}
	for len(values) < 40 {
		values = append(values, 10)
	}
	process(t, e, series60("m", 60, values)...)
	require.Equal(t, []string{
		"1 threshold/firing", "2 threshold/resolved", "3 threshold/firing", "4 threshold/resolved", "5 threshold/firing",
		"6 flapping/firing",
		"24 flapping/resolved", "24 threshold/resolved",
	}, brief(rec.events))
	flapStart, flapEnd, resolved := rec.events[5], rec.events[6], rec.events[7]
	require.Equal(t, flapStart.Episode, flapEnd.Episode)
	require.Equal(t, "Flappy", flapStart.Rule)
	require.Equal(t, rec.events[4].Episode, resolved.Episode, "the held-back resolve ends the episode that fired at 5")
	require.Empty(t, e.al.alerts, "an idle alert keeps no state")
	require.Zero(t, e.st.series[0].alerts)
}

// TestEvaluationDoesNotAllocate checks the hot path: samples of a series
// whose rule does not hold, and of one whose alert fires steadily with a
// flap history, cost no allocation.
func TestEvaluationDoesNotAllocate(t *testing.T) {
	rs := parseRules(t, `
groups:
  - name: g
    rules:
      - alert: A
        match: m
        for: 1m
        keep_firing_for: 5m
        flapping: {}
        levels:
          - {severity: warning, expr: value > 80, resolve: value < 70}
          - {severity: critical, expr: value > 90, resolve: value < 85}
`)
	for _, v := range []float64{10, 95} {
		e, err := New(Config{Rules: rs, DisableDedup: true})
		require.NoError(t, err)
		ctx := context.Background()
		batch := []stream.Sample{smp("m", sec(0), sec(0.3), v, "id", "x")}
		next := func() {
			batch[0].Time += 60e9
			batch[0].Arrival += 60e9
			require.NoError(t, e.Process(ctx, batch))
		}
		for range 50 {
			next()
		}
		require.Zero(t, testing.AllocsPerRun(200, next), "value %v", v)
	}
}
