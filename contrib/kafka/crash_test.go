package kafka

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// crashCheckpoint is the checkpoint a worker crashes in, at 2:30, before
// the devices' absence (3:00 to 4:39): the restarted engine takes the
// records since the last checkpoint later than the first time, and must
// still date the absence, and derive its ID, as the first one would.
const crashCheckpoint = 4

// TestCrashBetweenProduceAndCommit crashes a worker inside a checkpoint,
// after its events were acknowledged and before its offsets were
// committed (before its state was written, or after), restarts another
// in its place, and checks the events topic against a single
// uninterrupted worker's: nothing lost, and the only duplicates are of
// events the crashed worker had produced, with their IDs.
func TestCrashBetweenProduceAndCommit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		stage string
		dups  bool // whether the restart re-emits events
	}{
		// The state is older than the events produced: the input since
		// the last checkpoint is processed again.
		{"flushed", true},
		// The state covers everything; the group's offsets lag behind
		// it: the records before the state's offset are not processed
		// again.
		{"state", false},
	} {
		t.Run(tc.stage, func(t *testing.T) {
			t.Parallel()
			r := newRig(t)
			live, ref := r.topics("live", 6), r.topics("ref", 6)
			refW := r.start(r.config(ref, "ref", "ref", deviceRules))
			checkpoints := 0
			crashed := make(chan struct{})
			w1 := r.start(r.config(live, "live", "w1", deviceRules), func(w *Worker) {
				w.hooks.checkpoint = func(w *Worker, stage string) {
					if stage == "committed" {
						checkpoints++
					}
					if stage == tc.stage && checkpoints == crashCheckpoint {
						w.crash()
						close(crashed)
					}
				}
			})
			ws := []*runner{w1}
			alive := func() []*Worker {
				var out []*Worker
				for _, rn := range ws {
					if rn.done != nil {
						out = append(out, rn.w)
					}
				}
				return out
			}
			s := &stepper{r: r, data: devices{n: 60}, deps: []deployment{
				{ts: ref, workers: func() []*Worker { return []*Worker{refW.w} }},
				{ts: live, workers: alive},
			}, halt: w1.w.crashed.Load}
			// Step until the crash, then replace the worker.
			s.until(6 * time.Minute)
			<-crashed
			s.halt = nil
			r.caughtUp(ref.in, r.ends(ref.in), refW.w)
			w1.kill(t)
			crashedAt := r.clock.Now().Sub(t0)
			ws = append(ws, r.start(r.config(live, "live", "w2", deviceRules)))
			r.balanced(live, alive()...)
			r.caughtUp(live.in, r.ends(live.in), alive()...)
			s.until(6 * time.Minute)
			r.settle(ref, refW.w)
			r.settle(live, alive()...)
			for _, rn := range append(ws, refW) {
				rn.stop(t)
			}

			want := dedup(t, r.events(ref.events))
			raw := r.events(live.events)
			got := dedup(t, raw)
			require.Equal(t, want, got, "nothing lost, nothing new")
			seen := map[string]string{}
			dups := 0
			for _, rec := range raw {
				first, ok := seen[rec.id]
				if !ok {
					seen[rec.id] = rec.worker
					continue
				}
				dups++
				require.Equal(t, "w1", first, "a duplicate of an event the crashed worker had produced")
				require.Equal(t, "w2", rec.worker)
			}
			if tc.dups {
				require.Positive(t, dups, "the input since the last state was processed again")
			} else {
				require.Zero(t, dups, "the state covered everything: nothing was processed again")
			}
			t.Logf("crash at %v (checkpoint %d, after %q): %d events, %d duplicates", crashedAt, checkpoints, tc.stage, len(got), dups)
		})
	}
}
