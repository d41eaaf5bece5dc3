package fault_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/bench/scenario"
	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/rules"
	"github.com/faultline-go/faultline/stream"
)

const snapRules = `
series:
  - match: 'check_up{check=~"c0000[0-4]."}'
    cadence: 60s
    absent_after: 4m
groups:
  - name: snap
    rules:
      - alert: High
        expr: value > 7
        for: 2m
        labels: {severity: page}
      - alert: Spike
        expr: value >= 9
      - alert: Levels
        match: 'check_up{check=~"c0000.*"}'
        for: 1m
        for_tolerance: 1
        keep_firing_for: 2m
        no_data: alert
        flapping: {low: 5, high: 10}
        levels:
          - severity: warning
            expr: value > 5
            resolve: value < 3
          - severity: critical
            expr: value > 8
            resolve: value < 7
      - alert: Windowed
        expr: avg_over_time(5m) > 5.5 && value - previous() > 3
      - alert: Cohort
        cohort: {by: [check], window: 1m}
        expr: cohort.samples >= 1 && cohort.max > 8 && others.series > 10
        for: 1m
`

// snapInput is a realistic input for the snapshot tests: a gap scenario
// (its series, duplicates and late replays or losses) whose values move, so
// threshold rules open and close episodes, with conflicting copies and a
// few looped samples spliced in, and with storm, a duplicate storm at one
// source.
func snapInput(t *testing.T, id string, n int, seed uint64, storm bool) []stream.Sample {
	t.Helper()
	ds, err := scenario.Generate(small(id, n, 8*time.Minute).WithHorizon(24*time.Minute), seed)
	require.NoError(t, err)
	out := make([]stream.Sample, 0, ds.Len()+16)
	first, stormy := ds.At(0).Arrival(), ds.Sample(0).Labels.Get("check") // the first source seen is tracked
	for i, d := range ds.Deliveries() {
		s := ds.Sample(i)
		// The value is a function of series and sample time, so copies
		// agree, except one copy in 50 conflicts.
		v := (uint64(s.Series)>>7 + uint64(s.Time/int64(time.Minute))*7) % 10
		s.Value = float64(v)
		if d.Copy() > 0 && uint64(s.Series)%50 == uint64(d.Copy()) {
			s.Value += 100
		}
		out = append(out, s)
		if storm && s.Labels.Get("check") == stormy && s.Arrival >= first+int64(12*time.Minute) && s.Arrival < first+int64(16*time.Minute) {
			for range 700 { // a duplicate storm at one source
				out = append(out, s)
			}
		}
		if i%5000 == 2500 {
			echo := stream.NewSample("faultline_event", stream.NewLabels(fault.OriginLabel, "faultline", "kind", "absence"), s.Time, 1, s.Arrival)
			out = append(out, echo)
		}
	}
	return out
}

func snapConfig(t *testing.T, sink fault.Sink) fault.Config {
	t.Helper()
	rs, err := rules.Parse("snap.yaml", []byte(snapRules))
	require.NoError(t, err)
	return fault.Config{Rules: rs, Sink: sink, SourceLabel: "check", MaxSources: 64, Lateness: 45 * time.Second, MaxCohorts: 40}
}

type lines struct{ out []string }

func (l *lines) Emit(_ context.Context, ev fault.Event) error {
	l.out = append(l.out, string(ev.AppendJSON(nil))+" series="+strconv.FormatUint(uint64(ev.Series), 16))
	return nil
}

// step is a piece of the input: a batch to process, an Advance, or a bad
// record of an input.
type step struct {
	batch   []stream.Sample
	advance int64
	bad     string
}

// cut splits the input into batches of random sizes with an occasional
// Advance between them.
func cut(in []stream.Sample, rng *rand.Rand) []step {
	var steps []step
	for len(in) > 0 {
		k := min(len(in), 1+rng.IntN(800))
		steps = append(steps, step{batch: in[:k]})
		if rng.IntN(10) == 0 {
			steps = append(steps, step{advance: in[k-1].Arrival + int64(rng.IntN(3000))*int64(time.Millisecond)})
		}
		if rng.IntN(12) == 0 {
			steps = append(steps, step{bad: fmt.Sprintf("input-%d", rng.IntN(3))})
		}
		in = in[k:]
	}
	return steps
}

func run(t *testing.T, e *fault.Engine, s step) {
	t.Helper()
	ctx := context.Background()
	switch {
	case s.bad != "":
		e.BadInput(s.bad, errors.New("malformed record"))
	case s.batch != nil:
		require.NoError(t, e.Process(ctx, s.batch))
	default:
		require.NoError(t, e.Advance(ctx, s.advance))
	}
}

// restore snapshots e and returns the engine restored from it, sending its
// events to sink; with identical, it checks that the restored engine
// snapshots to the very same bytes.
func restore(t *testing.T, e *fault.Engine, sink fault.Sink, identical bool) *fault.Engine {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, e.Snapshot(&buf))
	snap := buf.Bytes()
	r, err := fault.Restore(snapConfig(t, sink), bytes.NewReader(snap))
	require.NoError(t, err)
	if identical {
		again, err := r.AppendSnapshot(nil)
		require.NoError(t, err)
		require.True(t, bytes.Equal(snap, again), "snapshot → restore → snapshot is byte-identical")
	}
	require.Equal(t, e.Stats(), r.Stats())
	require.Equal(t, e.Now(), r.Now())
	if dd := e.Deduper(); dd != nil {
		dd.Reset()
	}
	return r
}

// TestSnapshotRestoreContinuesExactly is the crash-safety contract: an
// engine snapshotted at many random points (between batches, in the middle
// of what the uninterrupted run processes as one batch, during gap, absence,
// threshold and loop episodes) and restored each time into a new engine
// emits exactly the events, and ends with exactly the Stats, of an engine
// that ran through.
func TestSnapshotRestoreContinuesExactly(t *testing.T) {
	for _, c := range []struct {
		id     string
		n      int
		seed   uint64
		want   []string // kinds of event the input must raise
		during []string // kinds of episode some snapshot must interrupt
	}{
		{"B02", 300, 11, []string{"threshold", "absence", "periodic_gap", "feedback_loop", "duplicate_storm", "cohort", "bad_input", "flapping"}, []string{"threshold", "absence", "periodic_gap", "feedback_loop", "duplicate_storm", "cohort", "bad_input", "flapping"}},
		{"B04", 400, 12, []string{"threshold", "periodic_gap", "series_periodic_gap", "feedback_loop"}, []string{"threshold", "periodic_gap", "series_periodic_gap", "cohort", "bad_input"}},
	} {
		t.Run(c.id, func(t *testing.T) {
			in := snapInput(t, c.id, c.n, c.seed, c.id == "B02")
			rng := rand.New(rand.NewPCG(c.seed, 99))
			steps := cut(in, rng)

			var want lines
			ref, err := fault.New(snapConfig(t, &want))
			require.NoError(t, err)
			defer ref.Deduper().Reset()
			for _, s := range steps {
				run(t, ref, s)
			}
			require.NoError(t, ref.Close(context.Background()))
			kinds := map[string]bool{}
			for _, l := range want.out {
				for _, k := range []string{"threshold", "absence", "periodic_gap", "series_periodic_gap", "feedback_loop", "duplicate_storm", "cohort", "bad_input", "flapping"} {
					if bytes.Contains([]byte(l), []byte(`"kind":"`+k+`"`)) {
						kinds[k] = true
					}
				}
			}
			for _, k := range c.want {
				require.True(t, kinds[k], "the input raises %s: %v", k, kinds)
			}

			// The interrupted run: about 10 snapshots at random, some
			// between steps, some cutting a batch in two, and one as soon
			// as an episode of a kind not yet interrupted is open.
			var got lines
			e, err := fault.New(snapConfig(t, &got))
			require.NoError(t, err)
			snaps := 0
			during := map[string]bool{} // kinds of episode open at some snapshot
			var open episodes
			note := func() {
				for k := range open.kinds(t, got.out) {
					during[k] = true
				}
			}
			for _, s := range steps {
				if s.batch != nil && len(s.batch) > 1 && rng.IntN(len(steps)/3+1) == 0 {
					k := 1 + rng.IntN(len(s.batch)-1)
					run(t, e, step{batch: s.batch[:k]})
					note()
					e = restore(t, e, &got, snaps%2 == 0)
					snaps++
					s.batch = s.batch[k:]
				}
				run(t, e, s)
				// Random points, and the first point at which an episode of
				// each kind is open.
				fresh := false
				for k := range open.kinds(t, got.out) {
					fresh = fresh || !during[k]
				}
				if rng.IntN(len(steps)/3+1) == 0 || fresh {
					note()
					e = restore(t, e, &got, snaps%2 == 0)
					snaps++
				}
			}
			require.NoError(t, e.Close(context.Background()))
			require.ErrorIs(t, e.Snapshot(io.Discard), fault.ErrClosed, "no snapshot after Close: it would restore an engine that takes no input")
			require.Equal(t, want.out, got.out, "events")
			require.Equal(t, ref.Stats(), e.Stats(), "stats")
			t.Logf("%d snapshots, during episodes of %v", snaps, during)
			for _, k := range c.during {
				require.True(t, during[k], "a snapshot was taken during a %s episode", k)
			}
			require.GreaterOrEqual(t, snaps, 6)
			e.Deduper().Reset()
		})
	}
}

// TestRestoreRefusesBadSnapshots: truncated, corrupted and foreign
// snapshots and snapshots taken under other settings are refused with a
// matchable error, and nothing panics.
func TestRestoreRefusesBadSnapshots(t *testing.T) {
	var sink lines
	e, err := fault.New(snapConfig(t, &sink))
	require.NoError(t, err)
	defer e.Deduper().Reset()
	in := snapInput(t, "B02", 50, 3, false)
	require.NoError(t, e.Process(context.Background(), in[:len(in)/2]))
	snap, err := e.AppendSnapshot(nil)
	require.NoError(t, err)

	bad := func(b []byte) {
		t.Helper()
		r, err := fault.Restore(snapConfig(t, &sink), bytes.NewReader(b))
		require.ErrorIs(t, err, fault.ErrBadSnapshot)
		require.Nil(t, r)
	}
	for _, n := range []int{0, 1, 7, 8, 12, 20, 100, len(snap) / 3, len(snap) - 5, len(snap) - 1} {
		bad(snap[:n])
	}
	bad(append(bytes.Clone(snap), 0))
	rng := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		c := bytes.Clone(snap)
		c[rng.IntN(len(c))] ^= byte(1 + rng.IntN(255))
		bad(c)
	}
	bad([]byte("not a snapshot at all, but long enough to have a header"))

	cfg := snapConfig(t, &sink)
	cfg.Lateness = time.Minute
	_, err = fault.Restore(cfg, bytes.NewReader(snap))
	require.ErrorIs(t, err, fault.ErrSnapshotMismatch)
	cfg = snapConfig(t, &sink)
	cfg.Rules, err = rules.Parse("other.yaml", []byte("groups: [{name: x, rules: [{alert: X, expr: value > 1}]}]"))
	require.NoError(t, err)
	_, err = fault.Restore(cfg, bytes.NewReader(snap))
	require.ErrorIs(t, err, fault.ErrSnapshotMismatch)
	require.False(t, errors.Is(err, fault.ErrBadSnapshot))
	cfg = snapConfig(t, &sink)
	cfg.Rules, err = rules.Parse("snap.yaml", []byte(strings.Replace(snapRules, "keep_firing_for: 2m", "keep_firing_for: 3m", 1)))
	require.NoError(t, err)
	_, err = fault.Restore(cfg, bytes.NewReader(snap))
	require.ErrorIs(t, err, fault.ErrSnapshotMismatch, "a lifecycle field changed")
	cfg = snapConfig(t, &sink)
	cfg.MaxCohorts = 41
	_, err = fault.Restore(cfg, bytes.NewReader(snap))
	require.ErrorIs(t, err, fault.ErrSnapshotMismatch)
	cfg = snapConfig(t, &sink)
	cfg.Dedup.Window = time.Hour
	_, err = fault.Restore(cfg, bytes.NewReader(snap))
	require.ErrorIs(t, err, fault.ErrSnapshotMismatch)

	// The same rules from another file, and other bounds, are fine.
	cfg = snapConfig(t, &sink)
	cfg.Rules, err = rules.Parse("moved.yaml", []byte("\n\n"+snapRules))
	require.NoError(t, err)
	cfg.MaxSeries = 10_000
	r, err := fault.Restore(cfg, bytes.NewReader(snap))
	require.NoError(t, err)
	r.Deduper().Reset()
}

// episodes follows the episodes open after the events printed so far.
type episodes struct {
	seen int               // events read
	open map[string]string // episode → kind
}

// kinds reads the events printed since the last call and returns the
// kinds of the episodes open (pending or firing, not resolved).
func (o *episodes) kinds(t *testing.T, printed []string) map[string]bool {
	t.Helper()
	if o.open == nil {
		o.open = map[string]string{}
	}
	for _, l := range printed[o.seen:] {
		var ev struct{ Episode, Kind, State string }
		require.NoError(t, json.Unmarshal([]byte(l[:strings.LastIndexByte(l, ' ')]), &ev))
		if ev.State == "resolved" {
			delete(o.open, ev.Episode)
		} else {
			o.open[ev.Episode] = ev.Kind
		}
	}
	o.seen = len(printed)
	kinds := map[string]bool{}
	for _, k := range o.open {
		kinds[k] = true
	}
	return kinds
}
