package fault

import (
	"bytes"
	"context"
	"math"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/stream"
)

// churnRules select every pod: a threshold rule that keeps firing through
// an absence (no_data: keep), one that reads history and a cohort rule, so
// eviction has alerts, histories and cohort memberships to forget.
const churnRules = `
groups:
  - name: churn
    rules:
      - alert: Hot
        expr: value > 90
        no_data: keep
      - alert: Rising
        expr: avg_over_time(1m) > 95
      - alert: Zone
        cohort: {by: [zone], window: 1m}
        expr: cohort.max > 1000
`

// churnInput is pods coming and going: a new pod every 2 s of virtual time,
// each sending 8 samples 10 s apart and then never again; one pod in 40 is
// hot (value 99) at its last sample, so its Hot alert is firing when it
// goes silent.
func churnInput(pods int) [][]stream.Sample {
	var batches [][]stream.Sample
	type pod struct{ id, left int }
	var live []pod
	for step := 0; step < 2*pods+100; step++ {
		now := sec(2 * float64(step))
		var batch []stream.Sample
		if step < 2*pods && step%2 == 0 {
			live = append(live, pod{id: step / 2, left: 8})
		}
		kept := live[:0]
		for _, p := range live {
			if (step-2*p.id)%5 != 0 { // every 10 s from its start
				kept = append(kept, p)
				continue
			}
			v := 10.0
			if p.left == 1 && p.id%40 == 0 {
				v = 99
			}
			batch = append(batch, smp("pod_up", now, now+int64(100*time.Millisecond), v,
				"pod", "pod-"+strconv.Itoa(p.id), "zone", "z"+strconv.Itoa(p.id/5%4)))
			if p.left--; p.left > 0 {
				kept = append(kept, p)
			}
		}
		live = kept
		batches = append(batches, batch)
	}
	return batches
}

func churnConfig(t *testing.T, ttl time.Duration) Config {
	return Config{Rules: parseRules(t, churnRules), MaxSeries: 400, SeriesTTL: ttl, DisableDedup: true}
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestChurnIsEvictedNeverRejected runs 9,000 short-lived pods through an
// engine bounded to 400 series with a 5-minute TTL: none is rejected, the
// live series stay near the ~60 that are sending or within their TTL, the
// arrays and the rule lists stay bounded (compaction ran) and the heap is
// flat. Every silent pod's absence fires and is then resolved as evicted;
// the hot pods' alerts too. Without eviction the same input overflows.
func TestChurnIsEvictedNeverRejected(t *testing.T) {
	const pods = 9000
	in := churnInput(pods)

	never, _ := newEngine(t, churnConfig(t, -1))
	for _, b := range in {
		if err := never.Process(context.Background(), b); err != nil {
			require.ErrorIs(t, err, ErrOverloaded)
		}
	}
	require.Positive(t, never.Stats().SeriesOverflow, "without eviction, churn fills MaxSeries")

	e, rec := newEngine(t, churnConfig(t, 5*time.Minute))
	var heap1 uint64
	maxLive, maxRuleIdx := uint64(0), 0
	for i, b := range in {
		require.NoError(t, e.Process(context.Background(), b), "nothing is ever rejected")
		st := e.Stats()
		maxLive = max(maxLive, st.Series)
		maxRuleIdx = max(maxRuleIdx, len(e.al.ruleIdx))
		if i == len(in)/3 {
			heap1 = heapInUse()
		}
	}
	heap2 := heapInUse()
	st := e.Stats()
	t.Logf("live ≤ %d, evicted %d, ruleIdx ≤ %d (now %d), heap %d → %d, events %d", maxLive, st.SeriesEvicted, maxRuleIdx, len(e.al.ruleIdx), heap1, heap2, len(rec.events))
	require.Zero(t, st.SeriesOverflow)
	require.EqualValues(t, pods, st.Series+st.SeriesEvicted)
	require.Greater(t, st.SeriesEvicted, uint64(pods-400))
	// ~40 pods sending, ~150 silent for less than TTL plus a pass.
	require.LessOrEqual(t, maxLive, uint64(220), "live series stay bounded")
	require.LessOrEqual(t, len(e.st.series), 400)
	require.LessOrEqual(t, maxRuleIdx, 3*(compactMin+400), "rule lists are compacted")
	require.Less(t, len(e.al.ruleIdx), 3*pods/2, "compaction ran")
	require.LessOrEqual(t, len(e.al.hists), compactMin+400)
	require.LessOrEqual(t, len(e.al.coh.members), compactMin+400)
	require.LessOrEqual(t, e.st.keys.bytes(), 2*arenaChunk)
	require.Less(t, int64(heap2)-int64(heap1), int64(2<<20), "heap flat: %d → %d", heap1, heap2)
	require.EqualValues(t, e.live(), st.Series)
	require.EqualValues(t, len(e.al.alerts), st.Alerts)
	require.Len(t, e.st.index.slots, minIndexSlots, "the index does not grow")

	fired, evicted := map[string]int{}, map[string]int{}
	for _, ev := range rec.events {
		key := string(ev.Kind) + "/" + ev.Rule
		switch {
		case ev.State == StateFiring:
			fired[key]++
		case ev.State == StateResolved && ev.Annotations.Get("reason") == EvictedReason:
			evicted[key]++
		case ev.State == StateResolved:
			t.Fatalf("a silent pod never comes back: %+v", ev)
		}
	}
	require.Greater(t, fired["absence/absence"], pods-300)
	require.Greater(t, fired["threshold/Hot"], pods/40-10)
	// Every episode that fired and whose pod was evicted was resolved as evicted.
	require.EqualValues(t, fired["absence/absence"]-len(e.st.absences), evicted["absence/absence"])
	require.EqualValues(t, fired["threshold/Hot"]-len(e.al.alerts), evicted["threshold/Hot"])
	require.Equal(t, st.Absences, uint64(fired["absence/absence"]))
}

// TestEvictedSeriesComesBackNew: a series evicted after its TTL, with its
// absence resolved as evicted, that sends again is a new series: it learns
// its cadence from scratch and its next absence is a new episode.
func TestEvictedSeriesComesBackNew(t *testing.T) {
	e, rec := newEngine(t, Config{SeriesTTL: 30 * time.Minute})
	send := func(from float64, n int) {
		for i := range n {
			s := from + 10*float64(i)
			process(t, e, smp("m", sec(s), sec(s), 1, "i", "a"))
		}
	}
	send(0, 10)
	id := stream.Hash("m", stream.NewLabels("i", "a"))
	idx, ok := e.st.index.get(id)
	require.True(t, ok)
	require.True(t, e.st.trackers[idx].lattice())
	require.NoError(t, e.Advance(context.Background(), sec(90+29*60)))
	require.EqualValues(t, 1, e.Stats().Series, "not yet: %v after its last sample", 29*time.Minute)
	require.NoError(t, e.Advance(context.Background(), sec(90+30*60+1)))
	st := e.Stats()
	require.EqualValues(t, 0, st.Series)
	require.EqualValues(t, 1, st.SeriesEvicted)
	_, ok = e.st.index.get(id)
	require.False(t, ok)
	require.Empty(t, e.st.learning)
	require.Empty(t, e.st.absences)
	require.Equal(t, []uint32{idx}, e.st.evict.free)
	require.Equal(t, []string{"absence/absence/firing", "absence/absence/resolved"}, rec.kinds())
	resolved := rec.events[1]
	require.Equal(t, EvictedReason, resolved.Annotations.Get("reason"))
	require.Equal(t, rec.events[0].Episode, resolved.Episode)
	require.Equal(t, sec(90+30*60), resolved.At, "at the sweep's tick: the TTL after its last sample")

	back := 90 + 30*60 + 100.0
	send(back, 2)
	idx2, ok := e.st.index.get(id)
	require.True(t, ok)
	require.Equal(t, idx, idx2, "its old slot is reused")
	require.False(t, e.st.trackers[idx].lattice(), "it learns its cadence again")
	require.Contains(t, e.st.learning, idx)
	require.Len(t, rec.events, 2, "coming back resolves nothing: it is a new series")
	require.EqualValues(t, 1, e.Stats().Series)

	require.NoError(t, e.Advance(context.Background(), sec(back+600)))
	require.Len(t, rec.events, 3)
	require.Equal(t, "absence/absence/firing", rec.kinds()[2])
	require.NotEqual(t, rec.events[0].Episode, rec.events[2].Episode, "a new episode")
}

// TestEvictionResolvesOpenAlerts: a rule alert kept firing through its
// series' absence (no_data: keep) is resolved, annotated reason="evicted",
// when the series is evicted, with its absence; a pending one is resolved
// too, since it was shown; the alert state is gone.
func TestEvictionResolvesOpenAlerts(t *testing.T) {
	rs := parseRules(t, `
groups:
  - name: g
    rules:
      - {alert: Hot, expr: 'value > 10', no_data: keep, annotations: {summary: 'hot {{ $value }}'}}
      - {alert: Slow, expr: 'value > 10', for: 1h, no_data: keep}
`)
	e, rec := newEngine(t, Config{Rules: rs, SeriesTTL: time.Hour})
	for i := range 6 {
		process(t, e, smp("m", sec(float64(10*i)), sec(float64(10*i)), 20, "i", "a"))
	}
	require.Len(t, e.al.alerts, 2)
	require.NoError(t, e.Advance(context.Background(), sec(50+3600+1)))
	var got []string
	for _, ev := range rec.events {
		got = append(got, ev.Rule+" "+ev.State.String()+" "+ev.Annotations.Get("reason"))
	}
	require.Equal(t, []string{
		"Hot firing ", "Slow pending ", "absence firing ",
		"absence resolved evicted", "Hot resolved evicted", "Slow resolved evicted",
	}, got)
	hot := rec.events[4]
	require.Equal(t, "hot 20", rec.events[0].Annotations.Get("summary"))
	require.Equal(t, rec.events[0].Episode, hot.Episode)
	require.NotEmpty(t, hot.Annotations.Get("summary"), "the rule's annotations are kept")
	require.Empty(t, e.al.alerts)
	st := e.Stats()
	require.Zero(t, st.Alerts)
	require.EqualValues(t, 1, st.SeriesEvicted)
}

// TestSeriesAtMaxTakeTheExpiredPlace: with MaxSeries reached and one series
// past its TTL that the sweep has not reached yet, a new series evicts it
// at once instead of being rejected; with none past its TTL, it is
// rejected.
func TestSeriesAtMaxTakeTheExpiredPlace(t *testing.T) {
	e, _ := newEngine(t, Config{MaxSeries: 2, SeriesTTL: time.Hour})
	process(t, e, smp("m", sec(0), sec(0), 1, "i", "a"), smp("m", sec(0), sec(0), 1, "i", "b"))
	process(t, e, smp("m", sec(1800), sec(1800), 1, "i", "b"))
	e.st.evict.next = sec(1e6) // hold the sweep back
	err := e.Process(context.Background(), []stream.Sample{smp("m", sec(3000), sec(3000), 1, "i", "c")})
	require.ErrorIs(t, err, ErrOverloaded, "a and b are within their TTL")
	process(t, e, smp("m", sec(3600), sec(3600), 1, "i", "c"))
	st := e.Stats()
	require.EqualValues(t, 1, st.SeriesEvicted, "a, silent for an hour, made room")
	require.EqualValues(t, 1, st.SeriesOverflow)
	require.EqualValues(t, 2, st.Series)
	_, ok := e.st.index.get(stream.Hash("m", stream.NewLabels("i", "a")))
	require.False(t, ok)
}

// TestSnapshotMidSweepContinuesExactly: an engine snapshotted and restored
// at random points of a churn (free slots, the sweep's cursor half way
// round, compactions before and after) emits exactly the events and ends
// with exactly the Stats of one that ran through.
func TestSnapshotMidSweepContinuesExactly(t *testing.T) {
	in := churnInput(3000)
	cfg := func(sink Sink) Config {
		c := churnConfig(t, 5*time.Minute)
		c.MaxSeries = 150
		c.Sink = sink
		return c
	}
	var want lines
	ref, err := New(cfg(&want))
	require.NoError(t, err)
	for _, b := range in {
		require.NoError(t, ref.Process(context.Background(), b))
	}
	require.NoError(t, ref.Close(context.Background()))
	require.Positive(t, ref.Stats().SeriesEvicted)

	var got lines
	e, err := New(cfg(&got))
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(7, 7))
	snaps, withFree := 0, 0
	for _, b := range in {
		require.NoError(t, e.Process(context.Background(), b))
		if rng.IntN(300) != 0 {
			continue
		}
		if len(e.st.evict.free) > 0 {
			withFree++
		}
		e = restoredAlike(t, e, cfg(&got))
		snaps++
	}
	require.NoError(t, e.Close(context.Background()))
	require.Equal(t, want.out, got.out, "events")
	require.Equal(t, ref.Stats(), e.Stats(), "stats")
	t.Logf("%d snapshots, %d with free slots, %d events, stats %+v", snaps, withFree, len(want.out), ref.Stats())
	require.GreaterOrEqual(t, snaps, 5)
	require.Positive(t, withFree, "some snapshot held free slots")
}

type lines struct{ out []string }

func (l *lines) Emit(_ context.Context, ev Event) error {
	l.out = append(l.out, string(ev.AppendJSON(nil)))
	return nil
}

// TestSnapshotMidPassContinuesExactly: with more series than one sweep tick
// looks at, a pass takes several ticks; an engine snapshotted half way
// through one (the cursor in the middle, free slots behind it) continues
// it exactly where it stopped.
func TestSnapshotMidPassContinuesExactly(t *testing.T) {
	const n = 2*sweepSlots + 300
	feed := func(e *Engine, label string, from float64, count int) {
		for k := range 6 {
			var batch []stream.Sample
			for i := range count {
				at := sec(from+float64(10*k)) + int64(i)*int64(time.Millisecond)
				batch = append(batch, smp("m", at, at, 1, label, strconv.Itoa(i)))
			}
			require.NoError(t, e.Process(context.Background(), batch))
		}
	}
	// After the pass: a second wave reuses the free slots, in the free
	// list's order, and is evicted in slot order in its turn.
	end := sec(50 + 3600 + 500) // a pass takes TTL/8
	rest := func(e *Engine) {
		require.NoError(t, e.Advance(context.Background(), end))
		feed(e, "j", 4200, n/2)
		require.NoError(t, e.Advance(context.Background(), sec(4250+3600+500)))
	}
	cfg := func(sink Sink) Config { return Config{SeriesTTL: time.Hour, Sink: sink, DisableDedup: true} }

	var want, stepped, got lines
	ref, err := New(cfg(&want))
	require.NoError(t, err)
	feed(ref, "i", 0, n)
	rest(ref)
	require.EqualValues(t, n+n/2, ref.Stats().SeriesEvicted)

	// The clock advanced second by second, so no tick is skipped, gives
	// the same events as one jump.
	st, err := New(cfg(&stepped))
	require.NoError(t, err)
	feed(st, "i", 0, n)
	for s := 60.0; sec(s) < end; s++ {
		require.NoError(t, st.Advance(context.Background(), sec(s)))
	}
	rest(st)
	require.Equal(t, want.out, stepped.out, "skipping ticks changes nothing")

	e, err := New(cfg(&got))
	require.NoError(t, err)
	feed(e, "i", 0, n)
	require.NoError(t, e.Advance(context.Background(), sec(50+3600+30.5))) // part of the pass
	require.NotZero(t, e.st.evict.cursor)
	require.Len(t, e.st.evict.free, int(e.Stats().SeriesEvicted))
	require.Greater(t, len(e.st.evict.free), 1)
	require.Less(t, e.Stats().SeriesEvicted, uint64(n))
	snap, err := e.AppendSnapshot(nil)
	require.NoError(t, err)
	r, err := Restore(cfg(&got), bytes.NewReader(snap))
	require.NoError(t, err)
	again, err := r.AppendSnapshot(nil)
	require.NoError(t, err)
	require.True(t, bytes.Equal(snap, again), "snapshot → restore → snapshot is byte-identical")
	rest(r)
	require.Equal(t, want.out, got.out)
	require.Equal(t, ref.Stats(), r.Stats())
}

// requireSameSeriesState checks that r holds, slot by slot, the series,
// histories and cohort memberships of e, and the cohorts' series counts.
func requireSameSeriesState(t *testing.T, e, r *Engine) {
	t.Helper()
	for i := range e.al.coh.rules {
		for j := range e.al.coh.rules[i].cohorts {
			require.Equal(t, e.al.coh.rules[i].cohorts[j].live, r.al.coh.rules[i].cohorts[j].live, "cohort rule %d, cohort %d: series", i, j)
		}
	}
	require.Equal(t, len(e.st.series), len(r.st.series))
	for i := range e.st.series {
		es, rs := &e.st.series[i], &r.st.series[i]
		require.Equal(t, es.id, rs.id, "slot %d", i)
		require.Equal(t, e.free(uint32(i)), r.free(uint32(i)), "slot %d: free", i)
		if e.free(uint32(i)) {
			continue // nothing else to compare
		}
		require.Equal(t, e.seriesRules(uint32(i)), r.seriesRules(uint32(i)))
		require.Equal(t, es.hist == 0, rs.hist == 0)
		if es.hist != 0 {
			eh, rh := &e.al.hists[es.hist-1], &r.al.hists[rs.hist-1]
			require.Equal(t, eh.n, rh.n, "slot %d: history", i)
			for j := range eh.n {
				require.Equal(t, eh.at(j), rh.at(j))
			}
		}
		if len(e.al.coh.rules) > 0 {
			ea := e.al.coh.aux[es.rulesOff : es.rulesOff+uint32(es.rulesN)]
			ra := r.al.coh.aux[rs.rulesOff : rs.rulesOff+uint32(rs.rulesN)]
			for j := range ea {
				require.Equal(t, ea[j] == 0, ra[j] == 0)
				if ea[j] != 0 {
					require.Equal(t, e.al.coh.members[ea[j]-1], r.al.coh.members[ra[j]-1], "slot %d: cohort membership", i)
				}
			}
		}
	}
}

// TestUpdateAfterEviction reloads the rules of an engine with free slots
// (evicted series) and keeps churning: the free slots get no rules, the
// live series are rebound, and a snapshot taken after the update restores
// under the new rules to the same state and the same events.
func TestUpdateAfterEviction(t *testing.T) {
	in := churnInput(1500)
	newRules := parseRules(t, `
groups:
  - name: churn
    rules:
      - alert: Warm
        expr: value > 50
        no_data: keep
      - alert: Zone2
        cohort: {by: [zone], window: 2m}
        expr: cohort.max > 1000
`)
	run := func(sink Sink, restoreAfter bool) *Engine {
		c := churnConfig(t, 5*time.Minute)
		c.Sink = sink
		e, err := New(c)
		require.NoError(t, err)
		updated := false
		for i, b := range in {
			require.NoError(t, e.Process(context.Background(), b))
			if updated || i < len(in)/2 || len(e.st.evict.free) == 0 {
				continue
			}
			updated = true
			require.NoError(t, e.Update(context.Background(), newRules))
			for j := range e.st.series {
				if e.free(uint32(j)) {
					require.Zero(t, e.st.series[j].rulesN, "a free slot selects no rule")
				}
			}
			if restoreAfter {
				snap, err := e.AppendSnapshot(nil)
				require.NoError(t, err)
				c.Rules = newRules
				r, err := Restore(c, bytes.NewReader(snap))
				require.NoError(t, err)
				requireSameSeriesState(t, e, r)
				e = r
			}
		}
		require.True(t, updated, "updated with free slots")
		require.NoError(t, e.Close(context.Background()))
		return e
	}
	var want, got lines
	ref := run(&want, false)
	e := run(&got, true)
	require.Equal(t, want.out, got.out)
	require.Equal(t, ref.Stats(), e.Stats())
	require.Positive(t, e.Stats().SeriesEvicted)
	require.EqualValues(t, len(e.al.alerts), e.Stats().Alerts, "the gauge follows alerts retired by the update")
	var retired int
	for _, l := range want.out {
		if strings.Contains(l, `"rule_removed"`) {
			retired++
		}
	}
	require.Positive(t, retired, "Hot's open alerts were retired")
}

// TestEvictingAnInhibitedAbsence: a series whose absence a fleet gap
// explains is evicted: its absence resolves, still linked to the gap and
// marked evicted, the gap counts one series fewer silent, and when the gap
// resolves the evicted series does not fire again, even once its slot
// holds another series.
func TestEvictingAnInhibitedAbsence(t *testing.T) {
	e, rec := newEngine(t, Config{})
	e.advance(context.Background(), sec(0))
	rx := sec(12.5)
	ep := firingGap(e, sec(0), int64(time.Minute), int64(12*time.Second), int64(13500*time.Millisecond))
	var ids []uint32
	for i := range 3 {
		idx := lostSlotSeries(t, e, strconv.Itoa(i), rx)
		setLostSlot(&e.st.trackers[idx], rx)
		e.startAbsence(idx, &e.st.trackers[idx], rx, sec(200))
		ids = append(ids, idx)
	}
	require.Equal(t, 3, ep.Silent())
	gone := e.st.series[ids[1]].id
	e.flush(context.Background())
	rec.events = nil
	e.evictSeries(ids[1], sec(300))
	e.flush(context.Background())
	require.Len(t, rec.events, 1)
	ev := rec.events[0]
	require.Equal(t, StateResolved, ev.State)
	require.Equal(t, gone, ev.Series)
	require.Equal(t, fleetFiringID(ep.Since()), ev.InhibitedBy)
	require.Equal(t, EvictedReason, ev.Annotations.Get("reason"))
	require.Equal(t, 2, ep.Silent())

	// Its slot is reused by a new series, which goes silent on its own.
	idx := lostSlotSeries(t, e, "new", rx)
	require.Equal(t, ids[1], idx)
	rec.events = nil
	e.uninhibit(ep.Mark(), sec(400))
	e.flush(context.Background())
	var fired []stream.SeriesID
	for _, ev := range rec.events {
		fired = append(fired, ev.Series)
	}
	require.ElementsMatch(t, []stream.SeriesID{e.st.series[ids[0]].id, e.st.series[ids[2]].id}, fired)
}

// TestRestoreRefusesBadEvictionState: a snapshot whose sweep cursor or free
// slots do not fit its series is refused, not restored into an engine that
// would index out of range.
func TestRestoreRefusesBadEvictionState(t *testing.T) {
	f := func(name string, spoil func(e *Engine)) {
		t.Helper()
		e, _ := newEngine(t, Config{DisableDedup: true})
		for i := range 3 {
			process(t, e, smp("m", sec(0), sec(0), 1, "i", strconv.Itoa(i)))
		}
		spoil(e)
		snap, err := e.AppendSnapshot(nil)
		require.NoError(t, err)
		_, err = Restore(Config{DisableDedup: true}, bytes.NewReader(snap))
		require.ErrorIs(t, err, ErrBadSnapshot, name)
	}
	f("cursor past the series", func(e *Engine) { e.st.evict.cursor = 3 })
	f("free slot past the series", func(e *Engine) { e.st.evict.free = []uint32{7} })
	f("free slot twice", func(e *Engine) {
		e.evictSeries(1, e.now)
		e.st.evict.free = append(e.st.evict.free, 1)
	})
	f("free slot with an absence", func(e *Engine) {
		e.evictSeries(2, e.now)
		e.st.absences[2] = absence{since: 1}
	})
}

// TestEvictionResolvesGoneCohorts: a cohort episode whose series are all
// evicted resolves, annotated reason="evicted": at the eviction of the
// last of them, or, when that series' samples are still in a window to
// judge (SeriesTTL shorter than the window), at the judgment of the last
// such window. A cohort with a series left keeps its episode, and one
// whose cohort comes back is a new episode. Before, the episode stayed
// open for ever, since no series of its cohort would ever report again.
func TestEvictionResolvesGoneCohorts(t *testing.T) {
	rs := parseRules(t, `groups:
- name: g
  rules:
  - {alert: Hot, match: x, cohort: {by: [zone], window: 1m}, expr: 'cohort.max > 10'}
`)
	cohortEvents := func(rec *recorder) []string {
		var out []string
		for _, ev := range rec.events {
			if ev.Kind == KindCohort {
				out = append(out, ev.Labels.Get("zone")+" "+ev.State.String()+" "+ev.Annotations.Get("reason"))
			}
		}
		return out
	}
	e, rec := newEngine(t, Config{Rules: rs, SeriesTTL: 10 * time.Minute})
	// Zone a: two hot series that stop at 50 s; zone b: two hot series,
	// one of which stops at 50 s.
	for i := range 6 {
		s := sec(float64(10 * i))
		process(t, e, smp("x", s, s, 20, "zone", "a", "i", "1"), smp("x", s, s, 20, "zone", "a", "i", "2"),
			smp("x", s, s, 20, "zone", "b", "i", "3"), smp("x", s, s, 20, "zone", "b", "i", "4"))
	}
	snapRestored := false
	for i := 6; i < 180; i++ { // 30 min
		s := sec(float64(10 * i))
		process(t, e, smp("x", s, s, 20, "zone", "b", "i", "4"))
		if i == 60 && !snapRestored { // a restored engine counts the cohorts' series alike
			snap, err := e.AppendSnapshot(nil)
			require.NoError(t, err)
			r, err := Restore(Config{Rules: rs, SeriesTTL: 10 * time.Minute, Sink: rec}, bytes.NewReader(snap))
			require.NoError(t, err)
			e, snapRestored = r, true
		}
	}
	// Zone b has a series left: its episode goes on.
	require.Equal(t, []string{"a firing ", "b firing ", "a resolved evicted"}, cohortEvents(rec))
	require.EqualValues(t, 3, e.Stats().SeriesEvicted)
	var gone Event
	for _, ev := range rec.only(KindCohort, StateResolved) {
		if ev.Labels.Get("zone") == "a" {
			gone = ev
		}
	}
	require.Equal(t, rec.only(KindCohort, StateFiring)[0].Episode, gone.Episode)
	// Its series were last seen at 50 s: evicted a sweep pass after the TTL.
	require.GreaterOrEqual(t, gone.At, sec(50+600))
	require.LessOrEqual(t, gone.At, sec(50+600+600/8+1))
	require.True(t, math.IsNaN(gone.Value))

	// Zone a comes back hot: a new episode.
	s := sec(1800)
	process(t, e, smp("x", s, s, 20, "zone", "a", "i", "1"))
	require.NoError(t, e.Advance(t.Context(), sec(1900)))
	got := cohortEvents(rec)
	require.Equal(t, "a firing ", got[len(got)-1])
	require.NotEqual(t, gone.Episode, rec.events[len(rec.events)-1].Episode)

	// A window longer than the TTL: the series is evicted with its samples
	// still in the open window, which is judged (and holds) first.
	rs = parseRules(t, `groups:
- name: g
  rules:
  - {alert: Hot, match: x, cohort: {by: [zone], window: 10m}, expr: 'cohort.max > 10'}
`)
	e, rec = newEngine(t, Config{Rules: rs, SeriesTTL: 5 * time.Minute})
	for i := range 66 { // 0 to 650 s: windows [0, 600) and [600, 1200)
		s := sec(float64(10 * i))
		process(t, e, smp("x", s, s, 20, "zone", "a"))
	}
	require.NoError(t, e.Advance(t.Context(), sec(700)))
	require.Equal(t, []string{"a firing "}, cohortEvents(rec), "[0, 600) judged at 660 s")
	require.NoError(t, e.Advance(t.Context(), sec(1200)))
	require.EqualValues(t, 1, e.Stats().SeriesEvicted)
	require.Equal(t, []string{"a firing "}, cohortEvents(rec), "[600, 1200) holds its samples: not judged yet")
	require.NoError(t, e.Advance(t.Context(), sec(3000)))
	require.Equal(t, []string{"a firing ", "a resolved evicted"}, cohortEvents(rec))
	require.Equal(t, sec(1200+60), rec.only(KindCohort, StateResolved)[0].At, "at the judgment of [600, 1200)")
}

// TestCopiesKeepASeriesFromEviction: a series whose source clock froze
// delivers copies of its last sample only. Its slots are missing, so its
// absence fires, and stays firing while the copies come: they are not
// fresh data. But its source still delivers it, so it is not evicted: the
// copies (duplicates, and, once the watermark that other series move has
// left them behind, samples too late to judge) count as deliveries for
// eviction. Before, the series was evicted a TTL after its last fresh
// sample although still delivering, its absence resolved as evicted, and
// the next copy made it a new series that went absent again: an absence
// that resolved and fired again every TTL. Once the copies stop it is
// evicted a TTL after the last. With dedup off alike.
func TestCopiesKeepASeriesFromEviction(t *testing.T) {
	for _, disable := range []bool{false, true} {
		e, rec := newEngine(t, Config{SeriesTTL: 30 * time.Minute, DisableDedup: disable})
		frozen := func(i int) stream.Sample {
			ts := sec(float64(10 * min(i, 9))) // the clock froze at 90 s
			return smp("m", ts, sec(float64(10*i)), float64(min(i, 9)), "i", "frozen")
		}
		for i := range 2 * 60 * 6 { // 2 h
			at := sec(float64(10 * i))
			process(t, e, frozen(i), smp("m", at, at, 1, "i", "live"))
		}
		st := e.Stats()
		require.Zero(t, st.SeriesEvicted, "dedup off: %v", disable)
		require.EqualValues(t, 2, st.Series)
		if !disable {
			require.Positive(t, st.Duplicates)
			require.Positive(t, e.Deduper().Stats().TooLate, "copies behind the watermark")
		}
		require.Equal(t, []string{"absence/absence/firing"}, rec.kinds(), "the copies fill no slot; the absence stays open")
		id := stream.Hash("m", stream.NewLabels("i", "frozen"))
		require.Equal(t, id, rec.events[0].Series)

		// The last copy came at 7190 s: evicted a TTL later, absence
		// resolved.
		require.NoError(t, e.Advance(t.Context(), sec(7190+1800-1)))
		require.Zero(t, e.Stats().SeriesEvicted)
		require.NoError(t, e.Advance(t.Context(), sec(7190+1800+1800/8)))
		require.EqualValues(t, 2, e.Stats().SeriesEvicted, "the frozen series and the live one, silent too")
		var got []Event
		for _, ev := range rec.events {
			if ev.Series == id {
				got = append(got, ev)
			}
		}
		require.Len(t, got, 2)
		require.Equal(t, StateResolved, got[1].State)
		require.Equal(t, EvictedReason, got[1].Annotations.Get("reason"))
		require.Equal(t, got[0].Episode, got[1].Episode)
	}
}

// TestNoEvictionPastSeenRange: series.seen counts seconds in a uint32,
// clamped at its end (2106-02-07T06:28:15Z). A clock past it plus the TTL
// evicted every series at each sweep, since the clamped time of its last
// delivery lay a TTL behind: a series sending every 10 s was evicted
// and created again at each sample, and never learnt its cadence. Past the
// end of seen's range eviction stops instead: time there does not count.
func TestNoEvictionPastSeenRange(t *testing.T) {
	start := time.Date(2107, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	e, _ := newEngine(t, Config{SeriesTTL: time.Hour})
	for i := range 60 {
		ts := start + int64(i)*int64(10*time.Second)
		process(t, e, smp("m", ts, ts, 1, "i", "a"))
	}
	st := e.Stats()
	require.Zero(t, st.SeriesEvicted)
	require.EqualValues(t, 1, st.Series)
	require.True(t, e.st.trackers[0].lattice(), "it learnt its cadence")
	require.Positive(t, st.SlotsExpected)
	require.Equal(t, int64(math.MaxInt64), e.firstExpiry(), "no series expires")
	require.NoError(t, e.Advance(t.Context(), start+int64(48*time.Hour)))
	require.Zero(t, e.Stats().SeriesEvicted)

	// A series last seen before the end of the range expires as usual.
	e, _ = newEngine(t, Config{SeriesTTL: time.Hour})
	last := int64(math.MaxUint32)*seenUnit - int64(2*time.Hour)
	process(t, e, smp("m", last, last, 1, "i", "a"))
	require.Equal(t, last+int64(time.Hour), e.firstExpiry())
	require.NoError(t, e.Advance(t.Context(), start))
	require.EqualValues(t, 1, e.Stats().SeriesEvicted)
}

// TestDeadCohortsMakeRoom: a cohort whose series were all evicted, its
// episode closed and its windows judged, is dead, and its room goes to the
// next new cohort that needs it. Before, cohorts were never freed: once
// MaxCohorts distinct values had ever been seen, every new cohort
// overflowed and was never judged, though none of the old ones was alive.
// A series that overflowed stays in the overflow when its cohort gets room
// later; a cohort that comes back is a new episode, with a new ID; an
// engine snapshotted and restored between the steps (dead cohorts, reused
// ones, an overflowed series beside its new cohort) continues exactly.
func TestDeadCohortsMakeRoom(t *testing.T) {
	rs := parseRules(t, `groups:
- name: g
  rules:
  - {alert: Hot, match: x, cohort: {by: [c], window: 1m}, expr: 'cohort.max > 10'}
`)
	cfg := func(sink Sink) Config {
		return Config{Rules: rs, MaxCohorts: 4, SeriesTTL: 5 * time.Minute, DisableDedup: true, Sink: sink}
	}
	// send feeds the series (c, i, value) every 10 s from s to s+50.
	type ser struct {
		c, i string
		v    float64
	}
	send := func(e *Engine, s float64, ss ...ser) {
		for k := range 6 {
			at := sec(s + float64(10*k))
			var batch []stream.Sample
			for _, x := range ss {
				batch = append(batch, smp("x", at, at, x.v, "c", x.c, "i", x.i))
			}
			require.NoError(t, e.Process(context.Background(), batch))
		}
	}
	steps := []func(e *Engine){
		// Cohorts a (hot), b, c and d fill the room, then go silent and
		// are evicted.
		func(e *Engine) { send(e, 0, ser{"a", "1", 20}, ser{"b", "1", 1}, ser{"c", "1", 1}, ser{"d", "1", 1}) },
		func(e *Engine) {
			require.NoError(t, e.Advance(context.Background(), sec(1000)))
			require.EqualValues(t, 4, e.Stats().SeriesEvicted)
		},
		// New cohorts e (hot) and f take the room of dead ones.
		func(e *Engine) { send(e, 1000, ser{"e", "1", 20}, ser{"f", "1", 1}) },
		func(e *Engine) { require.NoError(t, e.Advance(context.Background(), sec(1200))) },
		// g and h take the last room; k1 overflows.
		func(e *Engine) { send(e, 1200, ser{"g", "1", 1}, ser{"h", "1", 1}, ser{"k", "1", 20}) },
		func(e *Engine) { send(e, 1260, ser{"g", "1", 1}, ser{"h", "1", 1}, ser{"k", "1", 20}) },
		func(e *Engine) { send(e, 1320, ser{"g", "1", 1}, ser{"h", "1", 1}, ser{"k", "1", 20}) },
		func(e *Engine) { send(e, 1380, ser{"g", "1", 1}, ser{"h", "1", 1}, ser{"k", "1", 20}) },
		// e and f are gone: k2 gets a cohort k of its own (k1, hot, stays
		// in the overflow, so k does not fire), and a comes back hot.
		func(e *Engine) {
			send(e, 1440, ser{"g", "1", 1}, ser{"h", "1", 1}, ser{"k", "1", 20}, ser{"k", "2", 1}, ser{"a", "1", 20})
		},
		func(e *Engine) {
			send(e, 1500, ser{"g", "1", 1}, ser{"h", "1", 1}, ser{"k", "1", 20}, ser{"k", "2", 1}, ser{"a", "1", 20})
		},
		func(e *Engine) { require.NoError(t, e.Advance(context.Background(), sec(1700))) },
	}
	run := func(sink Sink, restoreEach bool) *Engine {
		e, err := New(cfg(sink))
		require.NoError(t, err)
		for _, step := range steps {
			step(e)
			if !restoreEach {
				continue
			}
			e = restoredAlike(t, e, cfg(sink))
		}
		return e
	}
	rec := &recorder{}
	e := run(rec, false)
	var got []string
	var episodes []string
	for _, ev := range rec.events {
		if ev.Kind == KindCohort {
			got = append(got, ev.Labels.Get("c")+" "+ev.State.String()+" "+ev.Annotations.Get("reason"))
			if ev.State == StateFiring {
				episodes = append(episodes, ev.Episode)
			}
		}
	}
	require.Equal(t, []string{"a firing ", "a resolved evicted", "e firing ", "e resolved evicted", "a firing "}, got)
	require.NotEqual(t, episodes[0], episodes[2], "a's new episode has a new ID")
	st := e.Stats()
	require.EqualValues(t, 1, st.CohortOverflow, "k1 only")
	require.EqualValues(t, 4, st.Cohorts)

	var want, restored lines
	ref := run(&want, false)
	r := run(&restored, true)
	require.Equal(t, want.out, restored.out, "events")
	require.Equal(t, ref.Stats(), r.Stats())
}

// TestDeadCohortsNotCounted: Stats.Cohorts counts the live cohorts, as
// Stats.Series counts the live series: a dead cohort (no series, no open
// episode, nothing in its windows) is not counted, though it keeps its
// room until a new cohort takes it. Before, it counted until then: a rule
// whose cohorts had all gone showed MaxCohorts for ever, a cohort that
// came back was not counted again, and removing the rule took all its
// held cohorts off the count, live or not, so the gauge wrapped. Restore
// counts the live cohorts afresh, whatever the snapshot said.
func TestDeadCohortsNotCounted(t *testing.T) {
	rs := parseRules(t, `groups:
- name: g
  rules:
  - {alert: Hot, match: x, cohort: {by: [c], window: 1m}, expr: 'cohort.max > 10'}
`)
	e, _ := newEngine(t, Config{Rules: rs, MaxCohorts: 3, SeriesTTL: 5 * time.Minute, DisableDedup: true})
	send := func(s float64, cs ...string) {
		for k := range 6 {
			at := sec(s + float64(10*k))
			for _, c := range cs {
				process(t, e, smp("x", at, at, 1, "c", c))
			}
		}
	}
	send(0, "a", "b")
	require.EqualValues(t, 2, e.Stats().Cohorts)
	require.NoError(t, e.Advance(t.Context(), sec(1000)))
	st := e.Stats()
	require.EqualValues(t, 2, st.SeriesEvicted)
	require.Zero(t, st.Cohorts, "a and b are dead")

	send(1000, "a") // a comes back to its room
	require.EqualValues(t, 1, e.Stats().Cohorts)
	send(1060, "a", "c", "d", "e") // c and d take the free room, then b's; e overflows
	st = e.Stats()
	require.EqualValues(t, 3, st.Cohorts)
	require.EqualValues(t, 1, st.CohortOverflow)
	require.NoError(t, e.Advance(t.Context(), sec(2000)))
	require.Zero(t, e.Stats().Cohorts)
	// A snapshot by an earlier build counted the three dead cohorts:
	// Restore counts afresh.
	e.stats.shared.Cohorts = 3
	snap, err := e.AppendSnapshot(nil)
	require.NoError(t, err)
	e, err = Restore(e.cfg, bytes.NewReader(snap))
	require.NoError(t, err)
	require.Zero(t, e.Stats().Cohorts)
	send(2000, "c")
	e = restoredAlike(t, e, e.cfg)
	require.EqualValues(t, 1, e.Stats().Cohorts)

	// Removing the rule takes its live cohorts off the count, and only those.
	none := parseRules(t, `groups:
- name: g
  rules:
  - {alert: Up, match: x, expr: 'value > 10'}
`)
	require.NoError(t, e.Update(t.Context(), none))
	require.Zero(t, e.Stats().Cohorts)
}

// TestSnapshotWithCohortChurnContinuesExactly: cohorts by pod, 32 at most,
// under a churn of 600 pods (about 40 alive at a time): dead cohorts give
// their room to new ones (most pods get a cohort, and 10 of the 15 hot ones
// fire; before, 568 overflowed), and an engine snapshotted
// and restored at random points emits exactly the events, and ends with
// exactly the Stats, of one that ran through.
func TestSnapshotWithCohortChurnContinuesExactly(t *testing.T) {
	const maxCohorts = 32
	in := churnInput(600)
	rs := parseRules(t, `groups:
- name: g
  rules:
  - {alert: HotPod, cohort: {by: [pod], window: 1m}, expr: 'cohort.max > 90'}
`)
	cfg := func(sink Sink) Config {
		return Config{Rules: rs, MaxCohorts: maxCohorts, SeriesTTL: time.Minute, DisableDedup: true, Sink: sink}
	}
	var want lines
	ref, err := New(cfg(&want))
	require.NoError(t, err)
	for _, b := range in {
		require.NoError(t, ref.Process(context.Background(), b))
	}
	require.NoError(t, ref.Close(context.Background()))
	st := ref.Stats()
	require.Len(t, ref.al.coh.rules[0].cohorts, maxCohorts, "every room taken")
	require.EqualValues(t, ref.liveCohorts(), st.Cohorts, "the live ones counted")
	require.Less(t, st.Cohorts, uint64(maxCohorts), "the dead ones not")
	require.Positive(t, st.CohortOverflow)
	require.Less(t, st.CohortOverflow, uint64(200), "most pods get a cohort")
	require.GreaterOrEqual(t, st.CohortFaults, uint64(10), "hot pods fire long after the first cohorts")

	var got lines
	e, err := New(cfg(&got))
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(3, 3))
	snaps := 0
	for _, b := range in {
		require.NoError(t, e.Process(context.Background(), b))
		if rng.IntN(60) != 0 {
			continue
		}
		snap, err := e.AppendSnapshot(nil)
		require.NoError(t, err)
		r, err := Restore(cfg(&got), bytes.NewReader(snap))
		require.NoError(t, err)
		again, err := r.AppendSnapshot(nil)
		require.NoError(t, err)
		require.True(t, bytes.Equal(snap, again), "snapshot → restore → snapshot is byte-identical")
		require.Equal(t, e.al.coh.rules[0].keys, r.al.coh.rules[0].keys, "cohorts keep their indices")
		requireSameSeriesState(t, e, r)
		e = r
		snaps++
	}
	require.NoError(t, e.Close(context.Background()))
	require.Equal(t, want.out, got.out, "events")
	require.Equal(t, ref.Stats(), e.Stats(), "stats")
	require.GreaterOrEqual(t, snaps, 10)
}

// restoredAlike restores a snapshot of e under cfg and requires the copy to
// be e's: the same snapshot again, Stats, cohort indices and series state.
func restoredAlike(t *testing.T, e *Engine, cfg Config) *Engine {
	t.Helper()
	snap, err := e.AppendSnapshot(nil)
	require.NoError(t, err)
	r, err := Restore(cfg, bytes.NewReader(snap))
	require.NoError(t, err)
	again, err := r.AppendSnapshot(nil)
	require.NoError(t, err)
	require.True(t, bytes.Equal(snap, again), "snapshot → restore → snapshot is byte-identical")
	require.Equal(t, e.Stats(), r.Stats())
	require.Equal(t, e.al.coh.rules[0].keys, r.al.coh.rules[0].keys, "cohorts keep their indices")
	requireSameSeriesState(t, e, r)
	return r
}
