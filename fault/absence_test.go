package fault

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/stream"
)

// Absence: a series that stops sending fires one absence episode, dated by
// its last sample, and resolves when it is back (see absence.go).

func TestAbsenceFiresOnceAndResolves(t *testing.T) {
	e, rec := newEngine(t, Config{})
	var in []stream.Sample
	in = append(in, steady("check", 60, 0, 600, 0.3, "id", "dies")...)
	in = append(in, steady("check", 60, 1200, 1500, 0.3, "id", "dies")...)
	in = append(in, steady("check", 10, 5, 1500, 0.2, "id", "clock")...)
	sortByArrival(in)
	process(t, e, in...)
	require.NoError(t, e.Close(context.Background()))

	require.Equal(t, []string{"absence/absence/firing", "absence/absence/resolved"}, rec.kinds())
	fire, res := rec.events[0], rec.events[1]
	require.Equal(t, "dies", fire.Labels.Get("id"))
	require.Equal(t, "check", fire.Labels.Get("__name__"))
	// Dated by the last sample, of 540 s; five missed slots (5 m, the
	// default for a 60 s cadence, after the last delivery at 540.3 s) are
	// complete when the fifth, expected at 840.3 s, is missed at its on-time
	// deadline, τ = 1 s later.
	require.Equal(t, sec(540), fire.Since)
	require.InDelta(t, sec(841.3), fire.At, float64(50*time.Millisecond))
	require.Equal(t, sec(1200.3), res.At)
	require.Equal(t, fire.Episode, res.Episode)
	st := e.Stats()
	require.EqualValues(t, 1, st.Absences)
	require.EqualValues(t, 2, st.Series)
}

func TestAbsenceWhileLearningCadence(t *testing.T) {
	e, rec := newEngine(t, Config{})
	process(t, e, smp("once", sec(0), sec(0), 1), smp("once", sec(60), sec(60), 1))
	require.NoError(t, e.Advance(context.Background(), sec(60+299)))
	require.Empty(t, rec.events)
	require.NoError(t, e.Advance(context.Background(), sec(60+301)))
	require.Equal(t, []string{"absence/absence/firing"}, rec.kinds())
	require.Equal(t, sec(360), rec.events[0].At, "default: 5 slots of the default 60 s cadence after the last arrival")
}

func TestDeclaredCadenceAndAbsentAfter(t *testing.T) {
	rs := parseRules(t, `
series:
  - match: 'beat'
    cadence: 10s
    absent_after: 30s
`)
	e, rec := newEngine(t, Config{Rules: rs, Lateness: 5 * time.Second})
	process(t, e, steady("beat", 10, 0, 100, 0.1)...)
	require.NoError(t, e.Advance(context.Background(), sec(200)))
	require.Equal(t, []string{"absence/absence/firing"}, rec.kinds())
	// Silent after the sample of 90 s; three missed slots, the third
	// (expected at 120.1 s) missed at its on-time deadline, τ = 1 s later:
	// 30 s after the last delivery at 90.1 s, plus τ. The lateness
	// allowance plays no part.
	require.Equal(t, sec(90), rec.events[0].Since)
	require.InDelta(t, sec(121.1), rec.events[0].At, float64(20*time.Millisecond))
}

// TestLongAbsenceStaysOneEpisode keeps a 1 s series silent for 70,000 of
// its slots, more than its run of misses can count: the count saturates
// rather than wrapping to zero, so the absence stays one firing episode
// and resolves when the series is back.
func TestLongAbsenceStaysOneEpisode(t *testing.T) {
	rs := parseRules(t, `
series:
  - match: 'beat'
    cadence: 1s
    absent_after: 30s
`)
	e, rec := newEngine(t, Config{Rules: rs})
	process(t, e, steady("beat", 1, 0, 100, 0.1)...)
	for s := 100.0; s <= 70_100; s += 1000 {
		require.NoError(t, e.Advance(context.Background(), sec(s)))
	}
	process(t, e, steady("beat", 1, 70_101, 70_110, 0.1)...)
	require.NoError(t, e.Close(context.Background()))
	var absences []Event
	for _, ev := range rec.events {
		if ev.Kind == KindAbsence {
			absences = append(absences, ev)
		}
	}
	require.Len(t, absences, 2)
	require.Equal(t, []State{StateFiring, StateResolved}, []State{absences[0].State, absences[1].State})
	require.Equal(t, absences[0].Episode, absences[1].Episode)
}

// A series too fast for the slot bitmaps at the default τ (a sample every
// 10 ms) is tracked without a slot lattice and still goes absent, by
// silence: 2 min after its last arrival.
func TestTooFastSeriesStillGoesAbsent(t *testing.T) {
	e, rec := newEngine(t, Config{})
	for s := 0.0; s < 10; s += 0.01 {
		process(t, e, smp("m", sec(s), sec(s), 1, "id", "a"))
	}
	require.NoError(t, e.Advance(context.Background(), sec(200)))
	require.Len(t, rec.events, 1)
	require.Equal(t, KindAbsence, rec.events[0].Kind)
	require.InDelta(t, sec(10+120), rec.events[0].At, float64(50*time.Millisecond), "2 min after the last arrival")
}

// A replayed sample of a slot already judged lost (of 630 s, delivered at
// 1000 s, while the series is absent) does not end the absence: it stays
// one episode, resolved when the series is back on time, at 1020 s. The
// engine used to end it there and re-anchor the series on the sample's
// delay (found in review).
func TestStaleSampleDoesNotEndAbsence(t *testing.T) {
	e, rec := newEngine(t, Config{})
	for s := 0.0; s < 600; s += 60 {
		process(t, e, smp("m", sec(s), sec(s+0.2), 1, "id", "a"))
	}
	process(t, e, smp("m", sec(630), sec(1000), 1, "id", "a")) // an old sample, delivered very late
	for s := 1020.0; s < 1800; s += 60 {
		process(t, e, smp("m", sec(s), sec(s+0.2), 1, "id", "a"))
	}
	require.NoError(t, e.Close(context.Background()))
	var got []string
	for _, ev := range rec.events {
		got = append(got, ev.State.String()+"@"+FormatTime(ev.At)[11:19])
	}
	require.Equal(t, []string{"firing@00:14:01", "resolved@00:17:00"}, got)
}

// A new sample whose arrival stamp is behind the engine clock ends the
// absence of a series still learning its cadence when it is processed;
// when the series falls silent again, a new episode fires, with IDs of its
// own, timed from when that sample was processed. The engine used to
// reopen the absence at once, timed from the stale stamp: the same firing
// event, under the same ID, after its episode had resolved (found by
// FuzzProcess).
func TestStaleArrivalDoesNotReopenTheSameAbsence(t *testing.T) {
	e, rec := newEngine(t, Config{})
	a := func(ts, arrival float64) stream.Sample {
		return smp("m", sec(ts), sec(arrival), 1, "id", "a")
	}
	clock := func(s float64) stream.Sample {
		return smp("m", sec(s), sec(s+0.1), 1, "id", "clock")
	}
	process(t, e, a(0, 0), a(10, 10), a(20, 20)) // three sample times: still learning
	for s := 0.0; s <= 400; s += 10 {
		process(t, e, clock(s))
	}
	process(t, e, a(30, 20)) // a new sample stamped 380 s behind the clock, like the last one
	for s := 410.0; s <= 800; s += 10 {
		process(t, e, clock(s))
	}
	require.NoError(t, e.Close(context.Background()))

	var got []string
	ids := map[string]bool{}
	for _, ev := range rec.events {
		require.False(t, ids[ev.ID], "duplicate ID %s", ev.ID)
		ids[ev.ID] = true
		got = append(got, ev.State.String()+" since "+FormatTime(ev.Since)[14:19]+" at "+FormatTime(ev.At)[14:19])
	}
	require.Equal(t, []string{
		"firing since 00:20 at 05:20",   // 5 min after the arrival at 20 s; dated by that sample's time
		"resolved since 00:20 at 06:40", // when the new sample was processed, at 400.1 s
		"firing since 00:30 at 11:40",   // timed from 400.1 s, when it really arrived; dated by its sample time, 30 s
	}, got)
}
