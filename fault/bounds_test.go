package fault

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/internal/fleetgap"
	"github.com/faultline-go/faultline/stream"
)

// Tests that drive each of the engine's bounds past its limit, check its
// policy (rejected and counted, evicted, reset) and check that good input
// after it is processed as usual.

// TestMaxSeriesRejectsNewSeriesKeepsTheOld runs six series through an
// engine bounded to three: samples of the other three are rejected and
// counted one by one, get no state and raise nothing, while the first three
// are still deduplicated, evaluated and tracked.
func TestMaxSeriesRejectsNewSeriesKeepsTheOld(t *testing.T) {
	rs := parseRules(t, "groups: [{name: g, rules: [{alert: Hot, expr: 'value > 10'}]}]")
	e, rec := newEngine(t, Config{MaxSeries: 3, Rules: rs})
	for s := 0.0; s < 600; s += 10 {
		var batch []stream.Sample
		for i := range 6 {
			if i == 2 && s >= 300 {
				continue // series 2 stops: its absence must still fire
			}
			v := 1.0
			if s == 300 {
				v = 20 // Hot, for one sample, on every series
			}
			batch = append(batch, smp("m", sec(s), sec(s+0.1), v, "i", strconv.Itoa(i)))
		}
		err := e.Process(context.Background(), batch)
		require.ErrorIs(t, err, ErrOverloaded, "the rejections are reported")
		var oe *OverloadError
		require.ErrorAs(t, err, &oe)
		require.Equal(t, OverloadError{Series: 3, MaxSeries: 3, MaxAlerts: DefaultMaxAlerts}, *oe)
		process(t, e, batch[0]) // a duplicate of a tracked series: nothing rejected, no error
	}
	require.NoError(t, e.Close(context.Background()))

	st := e.Stats()
	require.EqualValues(t, 3, st.Series)
	require.Len(t, e.st.series, 3)
	require.EqualValues(t, 3*60, st.SeriesOverflow, "every sample of an untracked series is counted")
	require.EqualValues(t, 60+60+30, st.Fresh)
	require.EqualValues(t, 60, st.Duplicates)
	require.Equal(t, st.Samples, st.Fresh+st.Duplicates+st.SeriesOverflow)
	for i := 3; i < 6; i++ {
		_, ok := e.st.index.get(stream.Hash("m", stream.NewLabels("i", strconv.Itoa(i))))
		require.False(t, ok, "series %d has no state", i)
	}

	var got []string
	for _, ev := range rec.events {
		got = append(got, ev.Labels.Get("i")+" "+string(ev.Kind)+" "+ev.State.String())
	}
	slices.Sort(got)
	require.Equal(t, []string{
		"0 threshold firing", "0 threshold resolved",
		"1 threshold firing", "1 threshold resolved",
		"2 absence firing",
	}, got)
}

// TestFutureSkewBound checks MaxFutureSkew at its edge: a sample time
// exactly MaxFutureSkew ahead of its arrival is admitted, one nanosecond
// more is rejected and counted before dedup or any state, so it neither
// creates a series nor moves dedup's watermark.
func TestFutureSkewBound(t *testing.T) {
	e, _ := newEngine(t, Config{MaxFutureSkew: time.Minute})
	process(t, e, smp("m", sec(0), sec(0), 1, "i", "a"))
	process(t, e, smp("m", sec(60)+1, sec(0), 1, "i", "b"))
	st := e.Stats()
	require.EqualValues(t, 1, st.Future)
	require.EqualValues(t, 1, st.Series, "a rejected sample gets no state")
	require.Equal(t, sec(0), e.Deduper().Watermark(), "a rejected sample does not move dedup's watermark")

	process(t, e, smp("m", sec(60), sec(0), 1, "i", "a"))
	require.Equal(t, sec(60), e.Deduper().Watermark(), "exactly MaxFutureSkew ahead is admitted")
	process(t, e, smp("m", sec(70), sec(70), 1, "i", "a"), smp("m", sec(70), sec(70), 1, "i", "b"))
	st = e.Stats()
	require.EqualValues(t, 1, st.Future)
	require.EqualValues(t, 4, st.Fresh)
	require.EqualValues(t, 2, st.Series)
}

// TestArrivalLagBound checks MaxArrivalLag at its edge: an arrival exactly
// MaxArrivalLag ahead of both the sample time and the clock is trusted, one
// nanosecond more is rejected and counted without moving the clock, and a
// far arrival whose sample time is just as far (a gap in the input) is not
// rejected.
func TestArrivalLagBound(t *testing.T) {
	e, _ := newEngine(t, Config{MaxArrivalLag: time.Hour})
	process(t, e, smp("m", sec(0), sec(0), 1, "i", "a"))
	process(t, e, smp("m", sec(0), sec(3600)+1, 1, "i", "b"))
	require.EqualValues(t, 1, e.Stats().BadArrival)
	require.EqualValues(t, 1, e.Stats().Series, "a rejected sample gets no state")
	require.Equal(t, sec(0), e.Now(), "a rejected arrival does not move the clock")

	process(t, e, smp("m", sec(0), sec(3600), 1, "i", "b"))
	require.Equal(t, sec(3600), e.Now(), "exactly MaxArrivalLag ahead is trusted")
	process(t, e, smp("m", sec(86400), sec(86400.2), 1, "i", "a")) // a day-long gap in the input
	require.Equal(t, sec(86400.2), e.Now())
	st := e.Stats()
	require.EqualValues(t, 1, st.BadArrival)
	require.EqualValues(t, 3, st.Fresh)
	require.EqualValues(t, 2, st.Series)
}

// One sample with an arrival a year ahead of its sample time and of the
// clock is rejected and counted without moving the clock: the other series
// is still judged on time and nothing goes absent. It used to move the
// clock there, so that every series went absent and no slot was judged
// again (found in review).
func TestBogusArrivalDoesNotMoveTheClock(t *testing.T) {
	e, rec := newEngine(t, Config{})
	year := 365 * 86400.0
	for s := 0.0; s < 1200; s += 60 {
		process(t, e, smp("m", sec(s), sec(s+0.1), 1, "id", "a"))
		if s == 300 {
			process(t, e, smp("m", sec(s), sec(s+year), 1, "id", "b"))
		}
	}
	require.NoError(t, e.Close(context.Background()))
	st := e.Stats()
	require.EqualValues(t, 1, st.BadArrival)
	require.Empty(t, rec.events)
	require.Greater(t, st.SlotsExpected, uint64(15))
	require.Less(t, e.Now(), sec(year))
}

// The very first sample is held to MaxArrivalLag too: one with an arrival
// a year ahead is rejected and counted, and the clock runs from the good
// samples after it, so that their series goes absent once. The first
// sample used to start the clock wherever its arrival said (found in
// review).
func TestBogusFirstArrivalIsRejected(t *testing.T) {
	e, rec := newEngine(t, Config{})
	process(t, e, smp("m", sec(0), sec(365*86400), 1, "id", "b"))
	for s := 0.0; s <= 540; s += 60 {
		process(t, e, smp("m", sec(s), sec(s+0.1), 1, "id", "a"))
	}
	require.NoError(t, e.Advance(context.Background(), sec(3600)))
	require.EqualValues(t, 1, e.Stats().BadArrival)
	require.Len(t, rec.only(KindAbsence, StateFiring), 1, "the clock runs from the good samples")
}

// TestEvalErrorsAreCountedAndLoggedOncePerRule makes two rules fail on
// every sample: each failure is counted, each rule is logged once, and a
// failure leaves the rule's episode as it was.
func TestEvalErrorsAreCountedAndLoggedOncePerRule(t *testing.T) {
	rs := parseRules(t, `
groups:
  - name: g
    rules:
      - {alert: Index, expr: '[1, 2][int(value)] == 2'}
      - {alert: Type, expr: 'value > 1 ? true : labels.job'}
`)
	var warnings atomic.Int64
	logger := slog.New(countingHandler{&warnings})
	e, rec := newEngine(t, Config{Rules: rs, Logger: logger})
	process(t, e, smp("m", sec(0), sec(0), 1)) // Index holds; Type fails
	for s := 10; s <= 100; s += 10 {
		process(t, e, smp("m", sec(float64(s)), sec(float64(s)), 0.5)) // Index does not hold; Type fails
	}
	for s := 110; s <= 200; s += 10 {
		process(t, e, smp("m", sec(float64(s)), sec(float64(s)), 5)) // Index fails: its episode stays; Type holds
	}
	require.EqualValues(t, 2, warnings.Load(), "logged once per rule")
	st := e.Stats()
	require.EqualValues(t, 1+10+10, st.EvalErrors)
	require.Equal(t, []string{
		"threshold/Index/firing",   // at 0 s
		"threshold/Index/resolved", // at 10 s
		"threshold/Type/firing",    // at 110 s
	}, rec.kinds())
}

// countingHandler counts warnings.
type countingHandler struct{ n *atomic.Int64 }

func (h countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h countingHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Level == slog.LevelWarn {
		h.n.Add(1)
	}
	return nil
}
func (h countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h countingHandler) WithGroup(string) slog.Handler      { return h }

// TestJumpAheadOfTheLatticeReanchors drives a series further ahead of its
// lattice than maxAhead slots (its source clock steps forward by 200 s):
// the lattice is re-anchored and counted, no slot in between is judged
// lost, and the series is tracked on time from there.
func TestJumpAheadOfTheLatticeReanchors(t *testing.T) {
	e, rec := newEngine(t, Config{})
	var in []stream.Sample
	for s := 0.0; s < 100; s += 10 {
		in = append(in, smp("m", sec(s), sec(s+0.1), 1))
	}
	for s := 100.0; s < 400; s += 10 {
		in = append(in, smp("m", sec(s+200), sec(s+0.1), 1)) // sample times 200 s ahead
	}
	process(t, e, in...)
	require.NoError(t, e.Close(context.Background()))
	st := e.Stats()
	require.EqualValues(t, 1, st.Reanchors)
	require.Zero(t, st.SlotsLost)
	require.LessOrEqual(t, st.SlotsMissed, uint64(1), "at most the slot the step skipped")
	require.Greater(t, st.SlotsExpected, uint64(30))
	require.Empty(t, rec.events)
}

// lostSlotSeries creates a series whose lattice has a cadence of a minute
// and has judged its slot 0, expected at rx, lost: a run of one lost slot.
func lostSlotSeries(t *testing.T, e *Engine, id string, rx int64) uint32 {
	t.Helper()
	s := smp("m", rx, rx, 1, "id", id)
	idx, ok := e.create(&s)
	require.True(t, ok)
	return idx
}

func setLostSlot(t *tracker, rx int64) {
	t.flags |= flagLattice
	t.setCadence(int64(time.Minute))
	t.anchorTs, t.anchorK = rx, 0
	t.nextK, t.lateK, t.missRun = 1, 1, 1
}

// firingGap opens a firing fleet gap episode of period p and window
// [start, end) into the period.
func firingGap(e *Engine, since, p, start, end int64) *fleetgap.Episode {
	return e.fleet.Insert(since, p, start, end, since)
}

// TestInhibitedListIsCompactedAndKeepsTheSilent makes a series flap in and
// out of an absence a fleet gap explains, hundreds of times, while ten
// others stay silent: the gap's list of explained series is compacted so it
// stays within 2×silent+64 entries, it always holds every series still
// silent (including the one whose absence triggered the compaction), and
// when the gap resolves exactly the silent series fire again, uninhibited.
func TestInhibitedListIsCompactedAndKeepsTheSilent(t *testing.T) {
	e, rec := newEngine(t, Config{})
	e.advance(context.Background(), sec(0))
	rx := sec(12.5)
	ep := firingGap(e, sec(0), int64(time.Minute), int64(12*time.Second), int64(13500*time.Millisecond))
	const dead = 10
	var ids []uint32
	for i := range dead + 1 {
		ids = append(ids, lostSlotSeries(t, e, strconv.Itoa(i), rx))
	}
	for _, idx := range ids {
		setLostSlot(&e.st.trackers[idx], rx)
	}
	for _, idx := range ids[:dead] {
		e.startAbsence(idx, &e.st.trackers[idx], rx, sec(200))
	}
	flapper := ids[dead]
	longest := 0
	for range 500 {
		e.startAbsence(flapper, &e.st.trackers[flapper], rx, sec(200))
		e.flush(context.Background())
		list := e.st.inhibited[ep.Mark()]
		require.Contains(t, list, flapper, "a silent series stays listed")
		require.LessOrEqual(t, len(list), 2*ep.Silent()+64)
		longest = max(longest, len(list))
		e.endAbsence(flapper, &e.st.trackers[flapper])
		e.flush(context.Background())
	}
	require.Equal(t, dead, ep.Silent())
	require.Greater(t, longest, 2*(dead+1), "the list grew until compacted")
	for _, ev := range rec.events {
		if ev.State == StateFiring {
			require.Equal(t, fleetFiringID(ep.Since()), ev.InhibitedBy)
		}
	}

	// The flapper goes silent for good; the gap resolves.
	e.startAbsence(flapper, &e.st.trackers[flapper], rx, sec(300))
	e.flush(context.Background())
	rec.events = nil
	e.uninhibit(ep.Mark(), sec(400))
	e.flush(context.Background())
	want := map[stream.SeriesID]bool{}
	for _, idx := range ids {
		want[e.st.series[idx].id] = true
	}
	got := map[stream.SeriesID]bool{}
	for _, ev := range rec.events {
		require.Equal(t, KindAbsence, ev.Kind)
		require.Equal(t, StateFiring, ev.State)
		require.Empty(t, ev.InhibitedBy)
		require.False(t, got[ev.Series], "fired again once")
		got[ev.Series] = true
	}
	require.Equal(t, want, got, "exactly the series still silent fire again")
	require.Empty(t, e.st.inhibited[ep.Mark()])
}

// TestClamps checks the limits that clamp a value instead of rejecting
// input: the absence threshold in slots, the cadence and the delivery lag
// in their stored resolution, and the lateness allowance, which is capped
// so that every slot awaiting judgment fits the tracker's bitmaps.
func TestClamps(t *testing.T) {
	rs := parseRules(t, "series: [{match: slow, cadence: 10000d}]")
	e, _ := newEngine(t, Config{AbsentAfter: 1000 * time.Hour, Rules: rs})
	process(t, e, smp("slow", sec(0), sec(0), 1))
	require.Equal(t, maxCadence, e.st.trackers[0].cadence(), "a declared cadence beyond 59 h")

	var tr tracker
	tr.setCadence(int64(time.Second))
	require.Equal(t, uint16(math.MaxUint16), e.absentSlots(0, &tr), "1000 h of 1 s slots")
	tr.setCadence(1)
	require.Equal(t, cadenceUnit, tr.cadence(), "at least one unit")
	require.Equal(t, int32(math.MaxInt32), toLag(1<<62), "lags beyond 59 h")
	require.Equal(t, int32(math.MinInt32), toLag(-1<<62))

	for _, c := range []time.Duration{100 * time.Millisecond, 500 * time.Millisecond, time.Second, time.Minute} {
		tr.setCadence(int64(c))
		room := int64(ringSlots-2-maxAhead) - e.lead(&tr)
		require.LessOrEqual(t, e.lateness(&tr), room*int64(c), "cadence %v", c)
		require.LessOrEqual(t, e.lateness(&tr), int64(DefaultLateness))
	}
}

// failingSink records events and fails every Emit.
type failingSink struct{ recorder }

var errSinkDown = errors.New("sink down")

func (f *failingSink) Emit(ctx context.Context, ev Event) error {
	_ = f.recorder.Emit(ctx, ev)
	return errSinkDown
}

// TestOverloadAndSinkErrorsAreJoined: a call in which a bound refused
// samples and the sink failed returns one error that matches both, the
// overload first; each alone comes alone; and the rest of the batch was
// processed either way.
func TestOverloadAndSinkErrorsAreJoined(t *testing.T) {
	rs := parseRules(t, "groups: [{name: g, rules: [{alert: Hot, expr: 'value > 10'}]}]")
	sink := &failingSink{}
	e, err := New(Config{MaxSeries: 1, Rules: rs, Sink: sink})
	require.NoError(t, err)
	ctx := context.Background()

	err = e.Process(ctx, []stream.Sample{smp("m", sec(0), sec(0), 1, "i", "a"), smp("m", sec(0), sec(0), 1, "i", "b")})
	require.ErrorIs(t, err, ErrOverloaded)
	require.NotErrorIs(t, err, errSinkDown)
	require.EqualError(t, err, "fault: overloaded: 1 samples of new series rejected (MaxSeries 1 reached)")

	err = e.Process(ctx, []stream.Sample{smp("m", sec(10), sec(10), 20, "i", "b"), smp("m", sec(10), sec(10), 20, "i", "a")})
	require.ErrorIs(t, err, ErrOverloaded)
	require.ErrorIs(t, err, errSinkDown)
	require.EqualError(t, err, "fault: overloaded: 1 samples of new series rejected (MaxSeries 1 reached)\nfault: sink: sink down")
	require.Len(t, sink.events, 1, "the sample after the rejected one was evaluated: Hot fired")

	err = e.Process(ctx, []stream.Sample{smp("m", sec(20), sec(20), 1, "i", "a")})
	require.ErrorIs(t, err, errSinkDown)
	require.NotErrorIs(t, err, ErrOverloaded)
	require.Len(t, sink.events, 2)

	require.NoError(t, e.Process(ctx, []stream.Sample{smp("m", sec(30), sec(30), 1, "i", "a")}))
	st := e.Stats()
	require.EqualValues(t, 2, st.SeriesOverflow)
	require.EqualValues(t, 2, st.SinkErrors)
}

// TestMaxAlertsRefusesNewAlertsKeepsTheOpen runs four series through a
// rule with an engine bounded to two alert states: the third and fourth
// series' alerts are not opened (no event, counted, reported), the open
// two resolve as usual, and once they have, new alerts open again.
func TestMaxAlertsRefusesNewAlertsKeepsTheOpen(t *testing.T) {
	rs := parseRules(t, "groups: [{name: g, rules: [{alert: Hot, expr: 'value > 10'}]}]")
	e, rec := newEngine(t, Config{MaxAlerts: 2, Rules: rs})
	ctx := context.Background()
	hot := func(s float64, v float64, ids ...string) error {
		var batch []stream.Sample
		for _, id := range ids {
			batch = append(batch, smp("m", sec(s), sec(s), v, "i", id))
		}
		return e.Process(ctx, batch)
	}
	require.NoError(t, hot(0, 1, "a", "b", "c", "d"))
	require.NoError(t, hot(10, 20, "a", "b"))
	err := hot(20, 20, "a", "b", "c", "d")
	var oe *OverloadError
	require.ErrorAs(t, err, &oe)
	require.Equal(t, OverloadError{Alerts: 2, MaxSeries: DefaultMaxSeries, MaxAlerts: 2}, *oe)
	require.ErrorIs(t, err, ErrOverloaded)
	require.Contains(t, err.Error(), "2 alerts not opened (MaxAlerts 2 reached)")
	st := e.Stats()
	require.EqualValues(t, 2, st.AlertOverflow)
	require.EqualValues(t, 2, st.Alerts)
	require.Len(t, e.al.alerts, 2)

	require.NoError(t, hot(30, 1, "a"))                      // a resolves: room for one
	require.ErrorIs(t, hot(40, 20, "c", "d"), ErrOverloaded) // c opens, d does not
	st = e.Stats()
	require.EqualValues(t, 3, st.AlertOverflow)
	require.EqualValues(t, 2, st.Alerts)

	var got []string
	for _, ev := range rec.events {
		got = append(got, ev.Labels.Get("i")+" "+ev.State.String())
	}
	require.Equal(t, []string{"a firing", "b firing", "a resolved", "c firing"}, got)
}

// TestBoundsDoNotOverflow: the arrival and future bounds, the series TTL
// and the feedback loop's quiet hour compare times with a duration added,
// which wrapped past math.MaxInt64 and gave the wrong verdict: samples
// within MaxArrivalLag or MaxFutureSkew of the end of time, and every
// sample when a bound is set to the largest duration (in effect none),
// were rejected; such a SeriesTTL evicted every series at the first sweep;
// a feedback loop near the end of time resolved at once, dated before it
// began. The comparisons now subtract, in uint64 where the difference may
// not fit an int64.
func TestBoundsDoNotOverflow(t *testing.T) {
	end := int64(math.MaxInt64)
	minutes := func(m int64) int64 { return m * int64(time.Minute) }

	// Within MaxArrivalLag (1 h) of the end of time, arrival = sample time.
	e, _ := newEngine(t, Config{})
	process(t, e, smp("m", end-minutes(30), end-minutes(30), 1, "i", "a"))
	require.Zero(t, e.Stats().BadArrival, "time + lag wrapped")
	require.EqualValues(t, 1, e.Stats().Fresh)
	// The clock there: an old sample arriving now is not ahead of it.
	process(t, e, smp("m", sec(0), end-minutes(29), 1, "i", "b"))
	require.Zero(t, e.Stats().BadArrival, "now + lag wrapped")
	// Within MaxFutureSkew (10 m) of the end of time, a sample time behind
	// its arrival.
	process(t, e, smp("m", end-minutes(65), end-minutes(5), 1, "i", "c"))
	st := e.Stats()
	require.Zero(t, st.BadArrival)
	require.Zero(t, st.Future, "arrival + skew wrapped")
	// And the bounds still hold there.
	process(t, e, smp("m", end-minutes(4), end-minutes(5), 1, "i", "d")) // 1 m ahead: admitted
	process(t, e, smp("m", end, end-minutes(11), 1, "i", "e"))           // 11 m ahead: rejected
	require.EqualValues(t, 1, e.Stats().Future)

	// The largest durations are in effect no bound: ordinary samples pass.
	huge := time.Duration(math.MaxInt64)
	e, rec := newEngine(t, Config{MaxArrivalLag: huge, MaxFutureSkew: huge, SeriesTTL: huge})
	for s := 0.0; s < 600; s += 10 {
		process(t, e, smp("m", sec(s), sec(s), 1, "i", "a"))
	}
	process(t, e, smp("m", sec(0), sec(3*86400), 1, "i", "b"))   // three days late
	process(t, e, smp("m", sec(9e9), sec(3*86400), 1, "i", "c")) // 285 years ahead
	st = e.Stats()
	require.Zero(t, st.BadArrival)
	require.Zero(t, st.Future)
	require.Zero(t, st.SeriesEvicted, "seen + TTL wrapped")
	require.EqualValues(t, 3, st.Series)
	require.GreaterOrEqual(t, e.firstExpiry(), e.Now(), "no series expires before the end of time")
	require.Empty(t, rec.only(KindAbsence, StateResolved))

	// A feedback loop within its quiet hour of the end of time stays open.
	e, rec = newEngine(t, Config{})
	process(t, e, smp("m", end-minutes(30), end-minutes(30), 1, OriginLabel, "faultline"))
	require.NoError(t, e.Advance(t.Context(), end-minutes(29)))
	require.Equal(t, []string{"feedback_loop/feedback_loop/firing"}, rec.kinds(), "last + quiet hour wrapped")
}

// TestSlotDeadlinesAtTheEndOfTime: a series' slot deadlines (its expected
// arrivals plus τ or the lateness allowance, its silence timer while
// learning, stepped by a cadence per judgment) were sums that wrapped past
// math.MaxInt64 near the end of time: a series reporting on time up to its
// end had its next slots, due after it, judged missed at once and went
// absent; a wake-up in the timing wheel's last tick, whose start plus a
// tick does not fit an int64, made Advance loop for ever. A deadline past
// the end of time, or the wheel's last tick, now never falls due.
func TestSlotDeadlinesAtTheEndOfTime(t *testing.T) {
	end := int64(math.MaxInt64)
	// Every 10 s, arriving 1 s late, the last arrival at the end of time.
	e, rec := newEngine(t, Config{})
	for i := 119; i >= 0; i-- {
		ts := end - int64(time.Second) - int64(i)*int64(10*time.Second)
		process(t, e, smp("m", ts, ts+int64(time.Second), 1, "i", "a"))
	}
	require.Empty(t, rec.kinds(), "the slots after the last one are due past the end of time")
	st := e.Stats()
	require.True(t, e.st.trackers[0].lattice(), "it learnt its cadence")
	require.Positive(t, st.SlotsExpected)
	require.Zero(t, st.SlotsMissed)
	require.Zero(t, st.SlotsLost)
	require.NoError(t, e.Close(t.Context()))
	require.Empty(t, rec.kinds())

	// A series still learning, whose silence timer runs out in the wheel's
	// last tick: Advance to the end of time returns.
	e, rec = newEngine(t, Config{AbsentAfter: time.Minute})
	ts := end - int64(time.Minute) - int64(50*time.Millisecond)
	process(t, e, smp("m", ts, ts, 1, "i", "a"))
	require.NoError(t, e.Advance(t.Context(), end))
	require.NoError(t, e.Close(t.Context()))
	require.Empty(t, rec.kinds(), "the wheel's last tick starts after the deadline: it never comes")
}
