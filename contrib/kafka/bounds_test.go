package kafka

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/faultline-go/faultline/metrics"
)

// metric returns the sum of a metric's values over the label values given
// (name=value pairs), as the worker reports them.
func metric(w *Worker, name string, labels ...string) float64 {
	sum := 0.0
	for _, m := range w.AppendMetrics(nil) {
		if m.Name != name {
			continue
		}
		ok := true
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, l := range m.Labels {
				found = found || l == metrics.Label{Name: labels[i], Value: labels[i+1]}
			}
			ok = ok && found
		}
		if ok {
			sum += m.Value
		}
	}
	return sum
}

// TestBadRecordsAndOversizedState feeds a partition a record with a line
// that does not decode beside one that does, and gives the worker a state
// bound its engines exceed: the bad line is counted as the engine's bad
// input with its offset, line and column, the good one processed; the
// state is not written, and so no offset is committed.
func TestBadRecordsAndOversizedState(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ts := r.topics("bounds", 2)
	cfg := r.config(ts, "bounds", "w1", deviceRules)
	cfg.MaxSnapshot = 1000
	rn := r.start(cfg)
	r.balanced(ts, rn.w)

	end := map[int32]int64{}
	r.clock.Set(t0.Add(time.Second))
	r.produce([]*kgo.Record{{Topic: ts.in, Partition: 0, Key: []byte("d00"),
		Value: fmt.Appendf(nil, "temp,device=d00 value=20 %d\ntemp,device=d00 value=\"unterminated %d\n", t0.UnixNano(), t0.UnixNano())}}, end)
	r.caughtUp(ts.in, end, rn.w)
	require.Equal(t, 1.0, metric(rn.w, "faultline_kafka_bad_records_total"))
	require.Equal(t, 1.0, metric(rn.w, "faultline_kafka_samples_total"))
	require.Equal(t, 1.0, metric(rn.w, "faultline_kafka_records_total", "topic", ts.in))

	r.clock.Set(t0.Add(45 * time.Second)) // past the first checkpoint
	deadline := time.Now().Add(20 * time.Second)
	for metric(rn.w, "faultline_kafka_states_written_total") < 1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	require.Equal(t, 2.0, metric(rn.w, "faultline_kafka_state_too_large_total"), "the two engines' states")
	require.Equal(t, 1.0, metric(rn.w, "faultline_kafka_states_written_total"), "the fleet stage's, which is small")
	require.Zero(t, metric(rn.w, "faultline_kafka_commits_total"), "the fleet stage has no offset yet")
	committed, err := r.adm.FetchOffsets(context.Background(), "bounds")
	require.NoError(t, err)
	_, ok := committed.Lookup(ts.in, 0)
	require.False(t, ok, "no offset committed without its state")
}

// TestCommitRefusedByTheGroupIsNoFailure has the group refuse a
// checkpoint's offset commit with ILLEGAL_GENERATION, as a broker does
// when a slow member missed its session timeout and the group moved on:
// the states are written, the refusal is counted and logged, the
// checkpoint is no failure, and the worker stops without an error.
func TestCommitRefusedByTheGroupIsNoFailure(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ts := r.topics("refused", 1)
	rn := r.start(r.config(ts, "refused", "w1", deviceRules))
	r.balanced(ts, rn.w)
	refused := make(chan struct{})
	r.c.ControlKey(int16(kmsg.OffsetCommit), func(req kmsg.Request) (kmsg.Response, error, bool) {
		close(refused)
		return errorResponse(req, kerr.IllegalGeneration), nil, true
	})

	end := map[int32]int64{}
	r.clock.Set(t0.Add(time.Second))
	r.produce([]*kgo.Record{{Topic: ts.in, Partition: 0, Key: []byte("d00"),
		Value: fmt.Appendf(nil, "temp,device=d00 value=20 %d\n", t0.UnixNano())}}, end)
	r.caughtUp(ts.in, end, rn.w)
	r.clock.Set(t0.Add(45 * time.Second)) // past the first checkpoint
	select {
	case <-refused:
	case <-time.After(20 * time.Second):
		t.Fatal("no offset commit came")
	}
	deadline := time.Now().Add(20 * time.Second)
	for metric(rn.w, "faultline_kafka_commits_refused_total") < 1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	require.Positive(t, metric(rn.w, "faultline_kafka_commits_refused_total"))
	require.Zero(t, metric(rn.w, "faultline_kafka_checkpoint_errors_total"))
	require.Positive(t, metric(rn.w, "faultline_kafka_states_written_total"))
	rn.stop(t) // Run returns no error
}
