package fault

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/internal/cputime"
	"github.com/faultline-go/faultline/rules"
	"github.com/faultline-go/faultline/stream"
)

// runUpdates processes in one sample at a time under rs, updating the
// rules to updates[i] before sample i, and returns the events.
func runUpdates(t *testing.T, cfg Config, rs *rules.Ruleset, in []stream.Sample, updates map[int]*rules.Ruleset) []Event {
	t.Helper()
	cfg.Rules = rs
	e, rec := newEngine(t, cfg)
	for i := range in {
		if u, ok := updates[i]; ok {
			require.NoError(t, e.Update(context.Background(), u))
			require.NoError(t, e.checkState())
		}
		process(t, e, in[i])
	}
	require.NoError(t, e.Close(context.Background()))
	return rec.events
}

// byRule returns the events of one rule.
func byRule(evs []Event, rule string) []Event {
	var out []Event
	for _, ev := range evs {
		if ev.Rule == rule {
			out = append(out, ev)
		}
	}
	return out
}

const lifecycleRules = `groups:
- name: g
  rules:
  - {alert: Slow, match: m, expr: value > 80, for: 5m}
  - {alert: Sticky, match: m, expr: value > 80, keep_firing_for: 3m}
  - {alert: Flappy, match: m, expr: value > 50, flapping: {low: 20, high: 30}}
  - {alert: Levels, match: m, levels: [{severity: warning, expr: value > 50, resolve: value < 40}, {severity: critical, expr: value > 85}]}
  - {alert: Gone, match: m, expr: value > 1000}
`

// lifecycleReordered has the rules of lifecycleRules but Gone, in another
// order, among new rules that never hold.
const lifecycleReordered = `groups:
- name: g
  rules:
  - {alert: New, match: m, expr: value > 1e9}
  - {alert: Levels, match: m, levels: [{severity: warning, expr: value > 50, resolve: value < 40}, {severity: critical, expr: value > 85}]}
  - {alert: Flappy, match: m, expr: value > 50, flapping: {low: 20, high: 30}}
  - {alert: Other, match: m, expr: value < -1, for: 1m}
  - {alert: Sticky, match: m, expr: value > 80, keep_firing_for: 3m}
  - {alert: Slow, match: m, expr: value > 80, for: 5m}
`

// TestUpdateKeepsStateOfUnchangedRules reloads, before every sample of a
// per-minute series, a rule set that removes one rule, adds two and
// reorders the rest (and, three samples later, the original one back):
// the unchanged rules' events are exactly those of a run without reload,
// whenever the reload falls: a pending for timer fires at the same sample,
// keep_firing_for ends at the same sample, levels hold by hysteresis, the
// flap history carries flapping through (one flapping episode, the
// held-back resolve emitted at its end).
func TestUpdateKeepsStateOfUnchangedRules(t *testing.T) {
	a, b := parseRules(t, lifecycleRules), parseRules(t, lifecycleReordered)
	values := []float64{10, 10, 90, 90, 90, 90, 90, 90, 90, 90, 70, 45, 10, 60, 10, 60, 10, 60, 10, 60}
	for len(values) < 45 {
		values = append(values, 10)
	}
	in := series60("m", 0, values, "host", "a")
	want := runUpdates(t, Config{DisableDedup: true}, a, in, nil)
	// What the run must show for the test to mean anything.
	require.Equal(t, []string{"2 threshold/pending", "7 threshold/firing", "10 threshold/resolved"}, brief(byRule(want, "Slow")))
	require.Equal(t, []string{"2 threshold/firing", "13 threshold/resolved"}, brief(byRule(want, "Sticky")))
	require.Equal(t, []string{"2 threshold/firing critical", "10 threshold/firing warning", "12 threshold/resolved warning"}, brief(byRule(want, "Levels"))[:3])
	require.Equal(t, []string{"2 threshold/firing", "11 threshold/resolved", "13 threshold/firing", "14 threshold/resolved",
		"15 threshold/firing", "16 flapping/firing", "36 flapping/resolved", "36 threshold/resolved"}, brief(byRule(want, "Flappy")))
	require.Empty(t, byRule(want, "Gone"))
	for k := 1; k < len(in); k++ {
		got := runUpdates(t, Config{DisableDedup: true}, a, in, map[int]*rules.Ruleset{k: b, k + 3: a})
		for _, rule := range []string{"Slow", "Sticky", "Flappy", "Levels"} {
			require.Equal(t, byRule(want, rule), byRule(got, rule), "%s, reloaded before sample %d", rule, k)
		}
		require.Empty(t, byRule(got, "Gone"))
		require.Empty(t, byRule(got, "New"))
		require.Empty(t, byRule(got, "Other"))
	}
}

// reloadEvents returns the events an Update emitted: those at its time
// annotated reason="rule_removed".
func reloadEvents(evs []Event) []Event {
	var out []Event
	for _, ev := range evs {
		if ev.Annotations.Get("reason") == RuleRemovedReason {
			out = append(out, ev)
		}
	}
	return out
}

// TestUpdateRemovedRulesResolveOnce removes rules whose alerts are firing,
// pending, flapping, idle with a flap history, and one of two equal
// duplicates: each open alert resolves once, at the update, as its
// episode's resolved event (ID and all) annotated reason="rule_removed"; a
// flapping one ends its flapping episode first; nothing else is emitted,
// then or later; the rules kept carry on as without reload, the first of
// the duplicates included. (Equal duplicates emit equal events: the
// removed one's resolve shares the survivor's episode.)
func TestUpdateRemovedRulesResolveOnce(t *testing.T) {
	before := parseRules(t, `groups:
- name: g
  rules:
  - {alert: Dup, match: m, expr: value > 80, for: 10m}
  - {alert: Firing, match: m, expr: value > 80, annotations: {summary: 'at {{ $value }}'}}
  - {alert: Pending, match: m, expr: value > 80, for: 1h}
  - {alert: Flappy, match: m, expr: value > 50, flapping: {low: 20, high: 30}}
  - {alert: Dup, match: m, expr: value > 80, for: 10m}
  - {alert: Kept, match: m, expr: value > 80}
`)
	after := parseRules(t, `groups:
- name: g
  rules:
  - {alert: Kept, match: m, expr: value > 80}
  - {alert: Dup, match: m, expr: value > 80, for: 10m}
`)
	ctx := context.Background()
	e, rec := newEngine(t, Config{Rules: before, DisableDedup: true})
	ref, refRec := newEngine(t, Config{Rules: before, DisableDedup: true})
	hot := series60("m", 0, []float64{90, 90, 90, 90, 90, 90, 90, 90, 90, 90, 90, 90, 90}, "host", "hot")
	flappy := series60("m", 0, []float64{60, 10, 60, 10, 60, 10, 60, 10, 60, 10, 60, 10, 60}, "host", "flappy")
	calm := series60("m", 0, []float64{60, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10}, "host", "calm")
	both := func(i int) {
		process(t, e, hot[i], flappy[i], calm[i])
		process(t, ref, hot[i], flappy[i], calm[i])
	}
	for i := range 7 {
		both(i)
	}
	st := e.al.alerts[alertKey{series: 1, rule: 3}]
	require.True(t, st.Flapping())
	require.Contains(t, e.al.alerts, alertKey{series: 2, rule: 3}, "the calm series keeps a flap history")
	n := len(rec.events)
	require.NoError(t, e.Update(ctx, after))
	require.NoError(t, e.checkState())
	got := rec.events[n:]
	require.Len(t, reloadEvents(got), len(got), "all the update emits is marked")
	var kinds []string
	for _, ev := range got {
		require.Equal(t, e.Now(), ev.At)
		require.True(t, math.IsNaN(ev.Value))
		require.Equal(t, StateResolved, ev.State)
		require.Equal(t, RuleRemovedReason, ev.Annotations.Get("reason"))
		kinds = append(kinds, string(ev.Kind)+"/"+ev.Rule+"/"+ev.Labels.Get("host"))
	}
	require.Equal(t, []string{"threshold/Firing/hot", "threshold/Pending/hot", "threshold/Flappy/hot", "flapping/Flappy/flappy", "threshold/Flappy/flappy", "threshold/Dup/hot"}, kinds)
	// Each is the resolve of an episode the run announced and left open.
	for _, ev := range got {
		open := false
		for _, prev := range rec.events[:n] {
			if prev.Episode == ev.Episode {
				open = prev.State != StateResolved
			}
		}
		require.True(t, open, "%s resolves an open episode", ev.Rule)
		id, ep := eventIDs(ev.Kind, ev.Rule, uint64(ev.Series), ev.Since, StateResolved, false)
		require.Equal(t, id, ev.ID)
		require.Equal(t, ep, ev.Episode)
	}
	require.Equal(t, "at NaN", got[0].Annotations.Get("summary"), "the rule's annotations, expanded")
	require.Len(t, e.al.alerts, 2, "Kept and one Dup, on hot")

	// Again: nothing left to resolve. Then the input goes on.
	require.NoError(t, e.Update(ctx, after))
	require.Len(t, rec.events, n+len(got))
	for i := 7; i < len(hot); i++ {
		both(i)
	}
	later := rec.events[n+len(got):]
	for _, rule := range []string{"Firing", "Pending", "Flappy"} {
		require.Empty(t, byRule(later, rule))
	}
	require.Equal(t, byRule(refRec.events, "Kept"), byRule(rec.events, "Kept"))
	refDup := byRule(refRec.events, "Dup")
	require.Equal(t, []string{"0 threshold/pending", "0 threshold/pending", "10 threshold/firing", "10 threshold/firing"}, brief(refDup))
	require.Equal(t, []Event{refDup[2]}, byRule(later, "Dup"), "the survivor fires as before")

	// No rules at all: what is left resolves.
	n = len(rec.events)
	require.NoError(t, e.Update(ctx, nil))
	require.NoError(t, e.checkState())
	require.Equal(t, []string{"Kept", "Dup"}, []string{rec.events[n].Rule, rec.events[n+1].Rule})
	require.Len(t, reloadEvents(rec.events[n:]), 2)
	require.Empty(t, e.al.alerts)
	require.Empty(t, e.al.ruleIdx)
	process(t, e, smp("m", sec(13*60), sec(13*60+0.3), 90, "host", "hot"))
	require.Len(t, rec.events, n+2)
}

// snapshotRestores checks that e's snapshot restores under rs (and e's
// other settings) into an engine that snapshots to the same bytes.
func snapshotRestores(t *testing.T, e *Engine, rs *rules.Ruleset) {
	t.Helper()
	snap, err := e.AppendSnapshot(nil)
	require.NoError(t, err)
	cfg := e.cfg
	cfg.Rules, cfg.Sink = rs, nil
	r, err := Restore(cfg, bytes.NewReader(snap))
	require.NoError(t, err)
	again, err := r.AppendSnapshot(nil)
	require.NoError(t, err)
	require.True(t, bytes.Equal(snap, again))
}

// TestUpdateChangedRuleIsRemovedAndAdded: a rule whose expression changed
// is another rule, even under the same name: its firing alert resolves at
// the update and the new rule starts afresh from the next sample, another
// episode.
func TestUpdateChangedRuleIsRemovedAndAdded(t *testing.T) {
	e, rec := newEngine(t, Config{Rules: parseRules(t, "groups: [{name: g, rules: [{alert: A, match: m, expr: value > 80}]}]"), DisableDedup: true})
	in := series60("m", 0, []float64{90, 90, 90, 90})
	process(t, e, in[:2]...)
	changed := parseRules(t, "groups: [{name: g, rules: [{alert: A, match: m, expr: value > 85}]}]")
	now := e.Now()
	require.NoError(t, e.Update(context.Background(), changed))
	process(t, e, in[2:]...)
	require.Equal(t, []string{"0 threshold/firing", "1 threshold/resolved", "2 threshold/firing"}, brief(rec.events))
	fired, resolved, again := rec.events[0], rec.events[1], rec.events[2]
	require.Equal(t, fired.Episode, resolved.Episode)
	require.Equal(t, RuleRemovedReason, resolved.Annotations.Get("reason"))
	require.Equal(t, now, resolved.At, "at the engine's time when it reloaded")
	require.NotEqual(t, fired.Episode, again.Episode)
	require.Equal(t, sec(120), again.Since)
	snapshotRestores(t, e, changed)
}

// TestUpdateNewRulesAttachToExistingSeries: a rule added by an update
// applies to the series already known from their next sample; a windowed
// one gives them a history, empty at first (its function sees only the
// samples since the update), dropped again when no rule reads it; and a
// snapshot taken after each update restores under the new rules.
func TestUpdateNewRulesAttachToExistingSeries(t *testing.T) {
	ctx := context.Background()
	none := parseRules(t, "groups: [{name: g, rules: [{alert: Other, match: other, expr: value > 0}]}]")
	added := parseRules(t, `groups: [{name: g, rules: [
  {alert: Other, match: other, expr: value > 0},
  {alert: Now, match: m, expr: value > 5},
  {alert: Avg, match: m, expr: avg_over_time(5m) > 5}]}]`)
	e, rec := newEngine(t, Config{Rules: none, DisableDedup: true})
	// High before the update, low at the first sample after it: were the
	// samples before in its window, Avg would fire at once.
	in := series60("m", 0, []float64{10, 10, 10, 10, 0, 10, 10, 10, 10})
	process(t, e, in[:4]...)
	require.Zero(t, e.Stats().HistorySeries)
	require.NoError(t, e.Update(ctx, added))
	require.Empty(t, rec.events, "an update evaluates nothing")
	require.Equal(t, uint64(1), e.Stats().HistorySeries)
	require.Equal(t, int64(5*60e9), e.al.hists[e.st.series[0].hist-1].keep)
	snapshotRestores(t, e, added)
	process(t, e, in[4:]...)
	// Avg at 5: (0 + 10) / 2 is not above 5; at 6, (0 + 10 + 10) / 3 is.
	require.Equal(t, []string{"5 threshold/firing", "6 threshold/firing"}, brief(rec.events))
	require.Equal(t, []string{"Now", "Avg"}, []string{rec.events[0].Rule, rec.events[1].Rule})
	require.NoError(t, e.Update(ctx, none))
	require.Len(t, reloadEvents(rec.events), 2, "Now and Avg resolve")
	st := e.Stats()
	require.Zero(t, st.HistorySeries)
	require.Zero(t, st.HistoryPoints)
	require.Zero(t, e.al.histPoints)
	require.Empty(t, e.al.hists)
	snapshotRestores(t, e, none)
}

// TestUpdateCohortRules adds a cohort rule half a window before a storm
// and removes it while it fires, around an unchanged cohort rule that
// moves from index 0 to 1 and back: the added rule judges the windows it
// saw whole as a rule there from the start does, the removed one resolves
// its open episode at the update, once, and the unchanged one emits
// exactly what it emits without reload.
func TestUpdateCohortRules(t *testing.T) {
	ctx := context.Background()
	both := parseRules(t, cohortRules)
	spread := parseRules(t, `groups:
- name: fleet
  rules:
  - alert: Spread
    match: reconnects_total
    cohort: {by: [firmware], window: 1m}
    expr: others.samples > 0 && cohort.max > others.max
`)
	cfg := Config{Lateness: 5e9, OnTimeBudget: 1e9, DisableDedup: true}
	cfg.Rules = both
	ref, refRec := newEngine(t, cfg)
	cfg.Rules = spread
	e, rec := newEngine(t, cfg)
	counters := map[string]float64{}
	var removedAt int64
	for step := range 60 { // as TestCohortRule: a storm of 4.2.1 in minutes 2 and 3
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
		switch step {
		case 9:
			require.NoError(t, e.Update(ctx, both))
			require.NoError(t, e.checkState())
			snapshotRestores(t, e, both)
		case 20:
			removedAt = e.Now()
			require.NoError(t, e.Update(ctx, spread))
			require.NoError(t, e.checkState())
			snapshotRestores(t, e, spread)
		}
		process(t, e, batch...)
		process(t, ref, batch...)
	}
	require.Equal(t, byRule(refRec.events, "Spread"), byRule(rec.events, "Spread"))
	storm, refStorm := byRule(rec.events, "CohortReconnectStorm"), byRule(refRec.events, "CohortReconnectStorm")
	require.Equal(t, []string{"firing", "resolved"}, []string{refStorm[0].State.String(), refStorm[1].State.String()})
	require.Len(t, storm, 2)
	require.Equal(t, refStorm[0], storm[0], "fires as a rule there from the start")
	gone := storm[1]
	require.Equal(t, StateResolved, gone.State)
	require.Equal(t, removedAt, gone.At)
	require.Less(t, gone.At, refStorm[1].At)
	require.Equal(t, refStorm[1].ID, gone.ID, "the episode's resolve")
	require.Equal(t, RuleRemovedReason, gone.Annotations.Get("reason"))
	require.Equal(t, uint64(6), ref.Stats().Cohorts)
	require.Equal(t, uint64(3), e.Stats().Cohorts, "the removed rule's cohorts are gone")
}

// TestUpdateSeriesEntries: a changed absent_after applies to the series
// already known (their absence fires as under the new entry from the
// start), a changed declared cadence only to series created after the
// update.
func TestUpdateSeriesEntries(t *testing.T) {
	ctx := context.Background()
	spec := func(cadence, absentAfter string) *rules.Ruleset {
		return parseRules(t, `series:
  - {match: up, cadence: `+cadence+`, absent_after: `+absentAfter+`}
groups: [{name: g, rules: [{alert: Down, match: up, expr: value == 0}]}]
`)
	}
	old, next := spec("60s", "10m"), spec("30s", "3m")
	run := func(rs *rules.Ruleset, update bool) (*Engine, []Event) {
		e, rec := newEngine(t, Config{Rules: rs, DisableDedup: true})
		for s := 0.0; s <= 600; s += 60 {
			if s == 300 && update {
				require.NoError(t, e.Update(ctx, next))
			}
			process(t, e, smp("up", sec(s), sec(s+0.2), 1, "host", "a"))
		}
		require.NoError(t, e.Advance(ctx, sec(1800)))
		var absences []Event
		for _, ev := range rec.events {
			if ev.Kind == KindAbsence {
				absences = append(absences, ev)
			}
		}
		return e, absences
	}
	_, want := run(spec("60s", "3m"), false) // the new threshold, the cadence the series has
	_, before := run(old, false)
	e, got := run(old, true)
	require.Len(t, want, 1)
	require.Len(t, got, 1)
	require.Equal(t, []int64{want[0].At, want[0].Since}, []int64{got[0].At, got[0].Since})
	require.Equal(t, want[0].ID, got[0].ID)
	require.Less(t, want[0].At, before[0].At, "the old entry would fire later")
	require.Equal(t, int64(60e9), e.st.trackers[0].cadence(), "a known series keeps its cadence")
	process(t, e, smp("up", sec(1800), sec(1800.2), 1, "host", "b"))
	require.Equal(t, int64(30e9), e.st.trackers[1].cadence(), "a new series has the new one")
	snapshotRestores(t, e, next)
}

// TestUpdateErrors: after Close, or with its context done, Update changes
// nothing and says why.
func TestUpdateErrors(t *testing.T) {
	rs := parseRules(t, "groups: [{name: g, rules: [{alert: A, match: m, expr: value > 80}]}]")
	e, rec := newEngine(t, Config{Rules: rs, DisableDedup: true})
	process(t, e, series60("m", 0, []float64{90})...)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, e.Update(ctx, nil), context.Canceled)
	require.Len(t, e.al.rules, 1)
	require.NoError(t, e.Close(context.Background()))
	require.ErrorIs(t, e.Update(context.Background(), nil), ErrClosed)
	require.Len(t, e.al.rules, 1)
	require.Len(t, rec.events, 1)
}

// TestUpdateKeepsRulesWarnedOf: a rule whose evaluation failed and was
// logged is not logged again after an update that moves it; a changed
// rule is another rule, logged afresh.
func TestUpdateKeepsRulesWarnedOf(t *testing.T) {
	var warnings atomic.Int64
	e, _ := newEngine(t, Config{
		Rules:        parseRules(t, "groups: [{name: g, rules: [{alert: Type, expr: 'value > 1 ? true : labels.job'}]}]"),
		Logger:       slog.New(countingHandler{&warnings}),
		DisableDedup: true,
	})
	process(t, e, smp("m", sec(0), sec(0), 0.5))
	require.EqualValues(t, 1, warnings.Load())
	moved := parseRules(t, `groups: [{name: g, rules: [
  {alert: A, expr: value > 1e9},
  {alert: Type, expr: 'value > 1 ? true : labels.job'}]}]`)
	require.NoError(t, e.Update(context.Background(), moved))
	process(t, e, smp("m", sec(10), sec(10), 0.5))
	require.EqualValues(t, 1, warnings.Load(), "the moved rule was logged already")
	changed := parseRules(t, "groups: [{name: g, rules: [{alert: Type, expr: 'value > 2 ? true : labels.job'}]}]")
	require.NoError(t, e.Update(context.Background(), changed))
	process(t, e, smp("m", sec(20), sec(20), 0.5))
	require.EqualValues(t, 2, warnings.Load(), "a changed rule is logged again")
	require.EqualValues(t, 3, e.Stats().EvalErrors)
}

// BenchmarkUpdate reloads the rules of an engine of 100,000 series, each
// selected by 3 of 5 rules (one windowed, with a history), alternating two
// rule sets that reorder them and change one: the cost of a reload. Its
// baseline, in the same run and process: one Process pass over the same
// series, a fresh sample each, between two reloads. Reported: the CPU time
// of each (cputime), their ratio update/pass, and the bytes an Update
// allocates per series.
//
//	go test -run '^$' -bench Update -benchtime 20x -count 3 ./fault/
func BenchmarkUpdate(b *testing.B) {
	const src = `groups: [{name: g, rules: [
  {alert: A, match: m, expr: value > 90, for: 5m},
  {alert: B, match: 'm{shard="0"}', expr: value > 95},
  {alert: C, match: m, expr: avg_over_time(5m) > 80},
  {alert: D, match: other, expr: value > 1},
  {alert: E, match: m, expr: value < 0}]}]`
	a, err := rules.Parse("a.yaml", []byte(src))
	require.NoError(b, err)
	other, err := rules.Parse("b.yaml", []byte(`groups: [{name: g, rules: [
  {alert: E, match: m, expr: value < 0},
  {alert: C, match: m, expr: avg_over_time(5m) > 80},
  {alert: A, match: m, expr: value > 90, for: 5m},
  {alert: B, match: 'm{shard="0"}', expr: value > 97}]}]`))
	require.NoError(b, err)
	e, err := New(Config{Rules: a, DisableDedup: true})
	require.NoError(b, err)
	ctx := context.Background()
	const n = 100_000
	samples := make([]stream.Sample, n)
	for i := range samples {
		samples[i] = smp("m", sec(0), sec(0), float64(i%100), "id", fmt.Sprint(i), "shard", fmt.Sprint(i%4))
	}
	// pass processes a fresh sample of every series, at 10-second step k.
	pass := func(k int) {
		for i := range samples {
			samples[i].Time, samples[i].Arrival = sec(float64(10*k)), sec(float64(10*k))
		}
		for lo := 0; lo < n; lo += 1000 {
			if err := e.Process(ctx, samples[lo:lo+1000]); err != nil {
				b.Fatal(err)
			}
		}
	}
	pass(0)
	b.ReportAllocs()
	b.ResetTimer()
	var (
		update, process time.Duration
		garbage         uint64
		ms              runtime.MemStats
	)
	for i := range b.N {
		rs := a
		if i%2 == 0 {
			rs = other
		}
		runtime.ReadMemStats(&ms)
		before := ms.TotalAlloc
		update += cputime.Of(func() {
			if err := e.Update(ctx, rs); err != nil {
				b.Fatal(err)
			}
		})
		runtime.ReadMemStats(&ms)
		garbage += ms.TotalAlloc - before
		process += cputime.Of(func() { pass(i + 1) })
	}
	b.ReportMetric(float64(garbage)/float64(b.N)/n, "update-B/series")
	b.ReportMetric(float64(update.Nanoseconds())/float64(b.N)/n, "update-cpu-ns/series")
	b.ReportMetric(float64(process.Nanoseconds())/float64(b.N)/n, "pass-cpu-ns/series")
	b.ReportMetric(float64(update)/float64(process), "update/pass")
}
