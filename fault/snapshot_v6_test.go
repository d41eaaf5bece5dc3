package fault

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/internal/frame"
	"github.com/faultline-go/faultline/stream"
)

// The version-6 fixture (testdata/snapshot-v6, see its README) is the
// snapshot an engine of the release before c3b72e1 took after v6Before,
// and the events and Stats that engine gave after it for v6After. This file
// must stay compilable at c3b72e1~1: the generator runs these same steps
// there.

// v6Dir holds the fixture: engine.snap and after.txt.
const v6Dir = "testdata/snapshot-v6"

// v6Config is the configuration of the fixture's engine: a cohort rule
// with room for two cohorts (a and b; z overflows), and a threshold rule.
func v6Config(t *testing.T, sink Sink) Config {
	rs := parseRules(t, `groups:
- name: g
  rules:
  - {alert: Hot, match: x, cohort: {by: [c], window: 1m}, expr: 'cohort.max > 10'}
  - {alert: High, match: y, expr: 'value > 50'}
`)
	return Config{Rules: rs, MaxCohorts: 2, DisableDedup: true, Sink: sink}
}

// v6Feed processes one batch every 10 s from s to end (seconds), each
// sample arriving 0.2 s after its time, of the series that series gives.
func v6Feed(t *testing.T, e *Engine, s, end float64, series func(at float64) []stream.Sample) {
	for ; s < end; s += 10 {
		require.NoError(t, e.Process(context.Background(), series(s)))
	}
}

// v6Before runs the first 300 s: cohort a is hot (fires), b is not, z
// overflows (hot, so it would fire if it had a cohort), y is high, and
// x{c=a,i=2} falls silent at 240 s, so its absence is pending at the end.
func v6Before(t *testing.T, e *Engine) {
	v6Feed(t, e, 0, 300, func(s float64) []stream.Sample {
		at, arr := sec(s), sec(s+0.2)
		b := []stream.Sample{
			smp("x", at, arr, 20, "c", "a", "i", "1"),
			smp("x", at, arr, 1, "c", "b", "i", "1"),
			smp("x", at, arr, 20, "c", "z", "i", "1"),
			smp("y", at, arr, 100, "h", "1"),
		}
		if s < 240 {
			b = append(b, smp("x", at, arr, 1, "c", "a", "i", "2"))
		}
		return b
	})
}

// v6After runs 300 s to 700 s: a cools down (resolves), y drops
// (resolves), x{c=a,i=2} stays silent (its absence fires), z stays hot in
// the overflow and a new series of z overflows too (a and b are alive:
// there is no room to reuse).
func v6After(t *testing.T, e *Engine) {
	v6Feed(t, e, 300, 600, func(s float64) []stream.Sample {
		at, arr := sec(s), sec(s+0.2)
		return []stream.Sample{
			smp("x", at, arr, 1, "c", "a", "i", "1"),
			smp("x", at, arr, 1, "c", "b", "i", "1"),
			smp("x", at, arr, 20, "c", "z", "i", "1"),
			smp("x", at, arr, 20, "c", "z", "i", "2"),
			smp("y", at, arr, 0, "h", "1"),
		}
	})
	require.NoError(t, e.Advance(context.Background(), sec(700)))
}

// v6Outcome is what after.txt holds: the events after the snapshot, one a
// line (what identifies them and when), then the Stats that tell what
// happened to the series and cohorts.
func v6Outcome(evs []Event, st Stats) string {
	var b strings.Builder
	for _, ev := range evs {
		fmt.Fprintf(&b, "%s %s %s/%s/%s at=%d since=%d %s\n", ev.ID, ev.Episode, ev.Kind, ev.Rule, ev.State, ev.At, ev.Since, ev.Labels)
	}
	fmt.Fprintf(&b, "series=%d cohorts=%d overflow=%d cohort_faults=%d absences=%d events=%d\n",
		st.Series, st.Cohorts, st.CohortOverflow, st.CohortFaults, st.Absences, st.Events)
	return b.String()
}

// TestRestoreVersion6: a snapshot of the release before c3b72e1 (version
// 6, whose series of a cohort rule do not say whether they are in the
// overflow) restores to the state the current engine has for the same
// input (the same snapshot bytes, series and memberships: z in the
// overflow, a and b in their cohorts), and continues with the events and
// Stats the version-6 engine gave: a and y resolve, the pending absence
// fires, z never fires. Versions before 6 stay refused.
func TestRestoreVersion6(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(v6Dir, "engine.snap"))
	require.NoError(t, err)
	want, err := os.ReadFile(filepath.Join(v6Dir, "after.txt"))
	require.NoError(t, err)
	version, body, err := frame.Open(raw, snapMagic)
	require.NoError(t, err)
	require.EqualValues(t, 6, version, "the fixture is a version-6 snapshot")

	got := &recorder{}
	r, err := Restore(v6Config(t, got), bytes.NewReader(raw))
	require.NoError(t, err)

	// The state the current engine has for the same input.
	e, err := New(v6Config(t, &recorder{}))
	require.NoError(t, err)
	v6Before(t, e)
	requireSameSeriesState(t, e, r)
	require.Equal(t, e.Stats(), r.Stats())
	es, err := e.AppendSnapshot(nil)
	require.NoError(t, err)
	rs, err := r.AppendSnapshot(nil)
	require.NoError(t, err)
	require.True(t, bytes.Equal(es, rs), "restored from version 6, it snapshots as the current engine does")
	over := 0
	for _, m := range r.al.coh.members {
		if m.cohort == noCohort {
			over++
		}
	}
	require.Equal(t, 1, over, "z, and only z, is in the overflow")

	v6After(t, r)
	require.Equal(t, string(want), v6Outcome(got.events, r.Stats()), "the version-6 engine's events and Stats")
	var kinds []string
	for _, ev := range got.events {
		kinds = append(kinds, string(ev.Kind)+"/"+ev.Rule+"/"+ev.State.String()+"/"+ev.Labels.Get("c")+ev.Labels.Get("i"))
	}
	require.ElementsMatch(t, []string{"absence/absence/firing/a2", "cohort/Hot/resolved/a", "threshold/High/resolved/"}, kinds)
	v6After(t, e)
	require.Equal(t, e.Stats(), r.Stats(), "it continues as the current engine does")

	// Version 5 (and earlier) stays refused.
	w := frame.Begin(nil, snapMagic, 5)
	w.Append(func(dst []byte) []byte { return append(dst, body.Take(body.Len())...) })
	_, err = Restore(v6Config(t, nil), bytes.NewReader(w.Finish()))
	require.ErrorIs(t, err, ErrBadSnapshot)
	require.ErrorContains(t, err, "version 5")
}
