package kafka

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// heldInputs returns how many partitions of topic each worker holds.
func heldInputs(topic string, ws ...*Worker) []int {
	out := make([]int, len(ws))
	for i, w := range ws {
		for t := range w.progress() {
			if t.topic == topic {
				out[i]++
			}
		}
	}
	return out
}

// TestMaxPartitionsBoundsAWorker runs a group of one worker bounded to two
// partitions over an input of four, as when the group's other workers
// died: it holds two (and the fleet stage), not four, and the two left
// over are counted; a worker that joins takes them, and when it dies the
// first keeps its two and leaves its two unassigned. A worker used to take
// every partition the group gave it, so the last survivor of a group held
// the engines of the whole input.
func TestMaxPartitionsBoundsAWorker(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ts := r.topics("maxparts", 4)
	cfg := r.config(ts, "maxparts", "w1", deviceRules)
	cfg.MaxPartitions = 2
	w1 := r.start(cfg)
	waitFor(t, 30*time.Second, func() bool {
		return metric(w1.w, "faultline_kafka_partitions_unassigned") >= 2 && len(w1.w.progress()) >= 3
	}, func() string {
		return fmt.Sprintf("not bounded: w1 holds %v, %v unassigned",
			w1.w.progress(), metric(w1.w, "faultline_kafka_partitions_unassigned"))
	})
	require.Equal(t, []int{2}, heldInputs(ts.in, w1.w))
	_, fleet := w1.w.progress()[tp{ts.fleet, 0}]
	require.True(t, fleet, "the fleet stage is not bounded")

	cfg.Name = "w2"
	w2 := r.start(cfg)
	r.balanced(ts, w1.w, w2.w)
	require.Equal(t, []int{2, 2}, heldInputs(ts.in, w1.w, w2.w))
	waitFor(t, 30*time.Second, func() bool {
		return metric(w1.w, "faultline_kafka_partitions_unassigned")+metric(w2.w, "faultline_kafka_partitions_unassigned") <= 0
	}, say("the leader still counts partitions unassigned"))

	// w2 dies: w1 keeps its two, and the two w2 held have no owner.
	w2.kill(t)
	waitFor(t, 30*time.Second, func() bool { return metric(w1.w, "faultline_kafka_partitions_unassigned") >= 2 },
		func() string { return fmt.Sprintf("w2's partitions are not left over: w1 holds %v", w1.w.progress()) })
	require.Equal(t, []int{2}, heldInputs(ts.in, w1.w))
	require.Zero(t, metric(w1.w, "faultline_kafka_revoked_total"), "w1 kept its partitions")
}
