package fault_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/bench/scenario"
	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/stream"
)

// TestReplicasAgreeOnIdentity feeds the same records to two engines, as
// two replicas of a collector see them: each record's arrival moved by its
// own random delay of up to 1 s, and on the second replica every record
// delivered 4 times, each copy with its own delay. They must print the
// same multiset of (id, episode, kind, rule, state, labels), each event's
// time within the jitter of its twin's — a fleet gap may be confirmed one
// occurrence later on one of them, and a per-source episode (judged by
// whole arrival minutes) a minute later, under the same id.
func TestReplicasAgreeOnIdentity(t *testing.T) {
	for _, c := range []struct {
		id        string
		n         int
		seed      uint64
		storm     bool
		wantKinds []fault.Kind
	}{
		{"B02", 300, 1, true, []fault.Kind{fault.KindThreshold, fault.KindAbsence, fault.KindPeriodicGap, fault.KindDuplicateStorm, fault.KindCohort, fault.KindFlapping, fault.KindIngestLag}},
		{"B04", 400, 2, false, []fault.Kind{fault.KindThreshold, fault.KindPeriodicGap, fault.KindSeriesPeriodicGap, fault.KindCohort}},
		// Seeds that once disagreed: an ingest lag dated by a rise within
		// the jitter (51), a pending burst dropped for a train that began
		// a second later (142), a burst suspected on one replica only
		// (182).
		{"B02", 300, 51, true, nil},
		{"B04", 400, 142, false, nil},
		{"B04", 400, 182, false, nil},
	} {
		t.Run(fmt.Sprintf("%s/seed%d", c.id, c.seed), func(t *testing.T) {
			recs := identityRecords(t, c.id, c.n, c.seed, c.storm)
			a := replica(t, recs, 1, rand.New(rand.NewPCG(c.seed, 1)))
			b := replica(t, recs, 4, rand.New(rand.NewPCG(c.seed, 2)))
			kinds := map[fault.Kind]bool{}
			for _, ev := range a {
				kinds[ev.Kind] = true
			}
			for _, k := range c.wantKinds {
				require.True(t, kinds[k], "the input raises %s (it raised %v)", k, kinds)
			}
			a, b = dropLoneSuspicions(a, b), dropLoneSuspicions(b, a)
			requireSameIdentity(t, a, b)
		})
	}
}

// identityRecords is a gap scenario's records, each once, with values that
// move (so threshold, cohort and flapping rules open and close episodes);
// one series stops at 14 minutes (an absence);
// with storm, one source sends 700 copies of each of its records for four
// minutes, and another's records arrive later and later for ten minutes (a
// backlog builds up), then catch up.
func identityRecords(t *testing.T, id string, n int, seed uint64, storm bool) []stream.Sample {
	t.Helper()
	// Lost copies are redelivered 20 s later: with the scenario's 30 s,
	// a series' late sample would arrive within the jitter of its next
	// one, and replicas that take two samples of a series in different
	// orders evaluate different sequences (package doc, Identity).
	spec := small(id, n, 8*time.Minute).WithHorizon(24 * time.Minute)
	spec.Replay = 20 * time.Second
	ds, err := scenario.Generate(spec, seed)
	require.NoError(t, err)
	var out []stream.Sample
	first := ds.At(0).Arrival()
	stormy, lagging, dying := ds.Sample(0).Labels.Get("check"), "", ""
	for i, d := range ds.Deliveries() {
		if d.Copy() > 0 {
			continue
		}
		s := ds.Sample(i)
		switch c := s.Labels.Get("check"); {
		case c == stormy, c == lagging, c == dying:
		case lagging == "":
			lagging = c
		case dying == "":
			dying = c
		}
		if s.Labels.Get("check") == dying && s.Arrival-first >= int64(14*time.Minute) {
			continue // it dies: an absence
		}
		s.Value = float64((uint64(s.Series)>>7 + uint64(s.Time/int64(time.Minute))*7) % 10)
		since := s.Arrival - first
		if storm && s.Labels.Get("check") == lagging && since >= int64(12*time.Minute) && since < int64(22*time.Minute) {
			s.Arrival += (since - int64(12*time.Minute)) / 2 // 0 to 5 minutes late
		}
		out = append(out, s)
		if storm && s.Labels.Get("check") == stormy && since >= int64(12*time.Minute) && since < int64(16*time.Minute) {
			for range 700 {
				out = append(out, s)
			}
		}
	}
	return out
}

// replica delivers each record copies times, each copy delayed by up to
// 1 s at random, in order of arrival, and returns the events it raised.
func replica(t *testing.T, recs []stream.Sample, copies int, rng *rand.Rand) []fault.Event {
	t.Helper()
	in := make([]stream.Sample, 0, copies*len(recs))
	for _, s := range recs {
		for range copies {
			c := s
			c.Arrival += rng.Int64N(int64(time.Second))
			in = append(in, c)
		}
	}
	slices.SortStableFunc(in, func(x, y stream.Sample) int { return cmpInt(x.Arrival, y.Arrival) })
	var events []fault.Event
	cfg := snapConfig(t, fault.SinkFunc(func(_ context.Context, ev fault.Event) error {
		events = append(events, ev)
		return nil
	}))
	cfg.MaxSources, cfg.MaxCohorts = 1024, 1024 // which sources and cohorts a bound admits depends on arrival order
	e, err := fault.New(cfg)
	require.NoError(t, err)
	for len(in) > 0 {
		k := min(len(in), 500)
		require.NoError(t, e.Process(context.Background(), in[:k]))
		in = in[k:]
	}
	require.NoError(t, e.Close(context.Background()))
	return events
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// dropLoneSuspicions returns a without the fleet gap suspicions that never
// fired and that the other replica did not raise at all: a burst whose
// evidence sits at the edge of the detector's threshold may be flagged on
// one replica and not on the other (package doc, Identity). Every episode
// that fired on either replica is kept and must agree.
func dropLoneSuspicions(a, other []fault.Event) []fault.Event {
	fired, seen := map[string]bool{}, map[string]bool{}
	for _, ev := range a {
		if ev.State == fault.StateFiring {
			fired[ev.Episode] = true
		}
	}
	for _, ev := range other {
		seen[ev.Episode] = true
	}
	var out []fault.Event
	for _, ev := range a {
		if ev.Kind == fault.KindPeriodicGap && !fired[ev.Episode] && !seen[ev.Episode] {
			continue
		}
		out = append(out, ev)
	}
	return out
}

// requireSameIdentity checks that a and b hold the same events by identity,
// with each pair's times close.
func requireSameIdentity(t *testing.T, a, b []fault.Event) {
	t.Helper()
	key := func(ev fault.Event) string {
		return fmt.Sprintf("%s %s %s %s %s %s", ev.ID, ev.Episode, ev.Kind, ev.Rule, ev.State, ev.Labels)
	}
	byKey := map[string][]fault.Event{}
	for _, ev := range b {
		byKey[key(ev)] = append(byKey[key(ev)], ev)
	}
	var diffs []string
	for _, ev := range a {
		k := key(ev)
		twins := byKey[k]
		if len(twins) == 0 {
			diffs = append(diffs, "only on replica 1: "+eventLine(ev))
			continue
		}
		tw := twins[0]
		byKey[k] = twins[1:]
		slack := int64(time.Second)
		switch {
		case ev.Kind == fault.KindPeriodicGap && ev.Gap != nil:
			slack += int64(ev.Gap.Period) // confirmed an occurrence later
		case ev.Kind == fault.KindIngestLag || ev.Kind == fault.KindDuplicateStorm:
			slack += int64(time.Minute) // judged by whole arrival minutes
		}
		if d := ev.At - tw.At; d > slack || d < -slack {
			diffs = append(diffs, fmt.Sprintf("at %s vs %s: %s", fault.FormatTime(ev.At), fault.FormatTime(tw.At), eventLine(ev)))
		}
	}
	for _, twins := range byKey {
		for _, ev := range twins {
			diffs = append(diffs, "only on replica 2: "+eventLine(ev))
		}
	}
	slices.Sort(diffs)
	if len(diffs) > 40 {
		diffs = append(diffs[:40], fmt.Sprintf("… and %d more", len(diffs)-40))
	}
	require.Empty(t, diffs, "%d events on replica 1, %d on replica 2, differing:\n%s", len(a), len(b), strings.Join(diffs, "\n"))
}

func eventLine(ev fault.Event) string {
	return fmt.Sprintf("%s %s %s since=%s at=%s %s id=%s by=%s", ev.Kind, ev.Rule, ev.State, fault.FormatTime(ev.Since), fault.FormatTime(ev.At), ev.Labels, ev.ID, ev.InhibitedBy)
}
