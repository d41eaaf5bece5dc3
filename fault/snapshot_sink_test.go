package fault

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSnapshotFromTheSinkKeepsQueuedEvents: the package doc lets a sink
// take a Snapshot. One taken while the sink is given the first of two
// events of a call already holds the state the second reports; restored,
// it must still emit that second event, or it is lost for good (a firing
// whose resolution then arrives without it).
func TestSnapshotFromTheSinkKeepsQueuedEvents(t *testing.T) {
	rs := parseRules(t, `
groups:
  - name: g
    rules:
      - {alert: Hot, expr: 'value > 10'}
`)
	ctx := context.Background()
	var first []Event // what the crashed engine's sink was given
	in1 := series60("m", 0, []float64{20}, "id", "a")
	in1 = append(in1, series60("m", 0, []float64{20}, "id", "b")...)
	in2 := series60("m", 60, []float64{0}, "id", "a")
	in2 = append(in2, series60("m", 60, []float64{0}, "id", "b")...)

	// The uninterrupted run.
	ref, want := newEngine(t, Config{Rules: rs, DisableDedup: true})
	process(t, ref, in1...)
	process(t, ref, in2...)
	require.Equal(t, []string{"threshold/Hot/firing", "threshold/Hot/firing", "threshold/Hot/resolved", "threshold/Hot/resolved"}, want.kinds())

	// A sink that snapshots the engine when it is given the first event,
	// and then the host crashes.
	var snap []byte
	var e *Engine
	cfg := Config{Rules: rs, DisableDedup: true, Sink: SinkFunc(func(_ context.Context, ev Event) error {
		if snap == nil {
			first = append(first, ev)
			var err error
			snap, err = e.AppendSnapshot(nil)
			require.NoError(t, err)
		}
		return nil
	})}
	e, err := New(cfg)
	require.NoError(t, err)
	require.NoError(t, e.Process(ctx, in1))
	require.NotNil(t, snap)

	rec := &recorder{}
	cfg.Sink = rec
	r, err := Restore(cfg, bytes.NewReader(snap))
	require.NoError(t, err)
	require.NoError(t, r.Process(ctx, in2))
	got := append(first, rec.events...)
	require.Equal(t, len(want.events), len(got), "events lost across the restart")
	for i := range got {
		require.Equal(t, want.events[i].ID, got[i].ID)
	}
}
