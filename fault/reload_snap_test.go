package fault_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/rules"
)

// shiftedRules are snapRules with rules that select no series of the
// input put before, among and after them: every rule of snapRules moves
// to another index, and the cohort, windowed and levelled rules among the
// unused ones shift the engine's cohort rules and histories too.
var shiftedRules = strings.Replace(strings.Replace(snapRules, `
      - alert: High`, `
      - alert: Unused
        match: no_such_metric
        expr: value > 0
      - alert: UnusedCohort
        match: no_such_metric
        cohort: {by: [check], window: 1m}
        expr: cohort.samples > 0
      - alert: High`, 1), `
      - alert: Windowed`, `
      - alert: UnusedWindowed
        match: 'check_up{check="none"}'
        expr: rate(10m) > 1
      - alert: Windowed`, 1) + `
      - alert: Unused
        match: no_such_metric
        expr: value > 0
`

// TestUpdateUnchangedRulesChangeNothing reloads, at some 30 random points
// of an input that opens every kind of episode (threshold alerts pending
// and firing at levels, keep_firing_for, flapping, cohorts, absences with
// no_data), rule sets whose every rule of snapRules is unchanged: the same
// rules parsed again, and shiftedRules, which move every one of them to
// another index among rules that select nothing. The events (IDs
// included) and Stats must be exactly those of an engine never reloaded.
// Whenever the rules are back to snapRules, the engine's snapshot must be
// byte-identical to the never-reloaded engine's: everything derived from
// the rules was rebuilt exactly. Some updates to shiftedRules are
// followed by a snapshot restored under shiftedRules, which must carry on
// exactly (and is refused under snapRules).
func TestUpdateUnchangedRulesChangeNothing(t *testing.T) {
	ctx := context.Background()
	same, err := rules.Parse("snap.yaml", []byte(snapRules))
	require.NoError(t, err)
	shifted, err := rules.Parse("shifted.yaml", []byte(shiftedRules))
	require.NoError(t, err)
	require.Equal(t, same.Len()+4, shifted.Len())

	in := snapInput(t, "B02", 300, 11, true)
	rng := rand.New(rand.NewPCG(11, 7))
	steps := cut(in, rng)

	var want, got lines
	ref, err := fault.New(snapConfig(t, &want))
	require.NoError(t, err)
	defer ref.Deduper().Reset()
	e, err := fault.New(snapConfig(t, &got))
	require.NoError(t, err)

	var open episodes
	during := map[string]bool{}
	reloads, compared, restored := 0, 0, 0
	for _, s := range steps {
		run(t, ref, s)
		run(t, e, s)
		if rng.IntN(len(steps)/30+1) != 0 {
			continue
		}
		for k := range open.kinds(t, got.out) {
			during[k] = true
		}
		reloads++
		if reloads%2 == 1 {
			require.NoError(t, e.Update(ctx, shifted))
			if reloads%3 == 0 {
				e = restoreUnder(t, e, shifted, &got)
				restored++
			}
			continue
		}
		require.NoError(t, e.Update(ctx, same))
		if reloads%6 == 2 {
			// Update, like any call, publishes the counters counted
			// outside a call (BadInput): so does this Advance, which
			// changes nothing else.
			require.NoError(t, ref.Advance(ctx, 0))
			a, err := ref.AppendSnapshot(nil)
			require.NoError(t, err)
			b, err := e.AppendSnapshot(nil)
			require.NoError(t, err)
			require.True(t, bytes.Equal(a, b), "after reload %d, the snapshot is the never-reloaded engine's", reloads)
			compared++
		}
	}
	require.NoError(t, ref.Close(ctx))
	require.NoError(t, e.Close(ctx))
	require.Equal(t, want.out, got.out, "events")
	require.Equal(t, ref.Stats(), e.Stats(), "stats")
	t.Logf("%d reloads, %d snapshots compared, %d restored, during %v", reloads, compared, restored, during)
	require.GreaterOrEqual(t, reloads, 20)
	require.GreaterOrEqual(t, compared, 2)
	require.GreaterOrEqual(t, restored, 2)
	for _, k := range []string{"threshold", "cohort", "flapping", "absence"} {
		require.True(t, during[k], "some reload happened during a %s episode", k)
	}
	e.Deduper().Reset()
}

// restoreUnder snapshots e, checks that the snapshot is refused under
// snapRules, restores it under rs and checks the restored engine
// snapshots to the same bytes.
func restoreUnder(t *testing.T, e *fault.Engine, rs *rules.Ruleset, sink fault.Sink) *fault.Engine {
	t.Helper()
	snap, err := e.AppendSnapshot(nil)
	require.NoError(t, err)
	_, err = fault.Restore(snapConfig(t, sink), bytes.NewReader(snap))
	require.ErrorIs(t, err, fault.ErrSnapshotMismatch, "the snapshot records the new rules")
	cfg := snapConfig(t, sink)
	cfg.Rules = rs
	r, err := fault.Restore(cfg, bytes.NewReader(snap))
	require.NoError(t, err)
	again, err := r.AppendSnapshot(nil)
	require.NoError(t, err)
	require.True(t, bytes.Equal(snap, again), "snapshot → restore → snapshot is byte-identical")
	require.Equal(t, e.Stats(), r.Stats())
	e.Deduper().Reset()
	return r
}
