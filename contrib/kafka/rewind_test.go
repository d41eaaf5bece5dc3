package kafka

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/faultline-go/faultline/fault"
)

// TestRecreatedInputIsNotSkipped deletes and recreates the input topic
// under a partition's state (as an operator does to change its settings;
// an unclean leader election truncates a log alike): the state covers
// offsets up to 5, the new log starts at 0. Its records are new input, and
// the partition processes them: the alert its state left firing
// resolves. The worker used to skip every record before the state's
// offset, so the partition saw nothing until its new log grew past the
// old one's end, counting only records_skipped_total.
func TestRecreatedInputIsNotSkipped(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ts := r.topics("recreated", 1)
	next, firing := hotDevice(t, r, ts, "recreated")
	require.Equal(t, int64(5), next)

	ctx := context.Background()
	_, err := r.adm.DeleteTopics(ctx, ts.in)
	require.NoError(t, err)
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := r.adm.CreateTopic(ctx, 1, 1, nil, ts.in)
		if err == nil && resp.Err == nil {
			break
		}
		require.True(t, time.Now().Before(deadline), "the topic was not recreated: %v %v", err, resp.Err)
		time.Sleep(10 * time.Millisecond)
	}
	// A producer that has not cached the old topic's ID.
	prod, err := kgo.NewClient(kgo.SeedBrokers(r.c.ListenAddrs()...), kgo.ProducerLinger(0))
	require.NoError(t, err)
	t.Cleanup(prod.Close)
	r.prod = prod

	w2 := r.start(r.config(ts, "recreated", "w2", deviceRules))
	r.balanced(ts, w2.w)
	end := map[int32]int64{}
	for range 3 {
		at := r.clock.Now().Add(10 * time.Second)
		r.clock.Set(at)
		r.produce([]*kgo.Record{{Topic: ts.in, Partition: 0, Key: []byte("d00"),
			Value: fmt.Appendf(nil, "temp,device=d00 value=20 %d", at.UnixNano())}}, end)
	}
	deadline = time.Now().Add(20 * time.Second)
	for metric(w2.w, "faultline_kafka_records_total", "topic", ts.in) < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	require.Equal(t, 3.0, metric(w2.w, "faultline_kafka_records_total", "topic", ts.in), "the new log's records processed")
	require.Equal(t, 1.0, metric(w2.w, "faultline_kafka_offset_rewinds_total", "topic", ts.in), "the rewind counted")
	r.settle(ts, w2.w)
	w2.stop(t)
	resolved := thresholdEvents(t, r, ts, fault.StateResolved)
	require.Len(t, resolved, 1, "the alert left firing resolves")
	require.Equal(t, firing.Episode, resolved[0].Episode)
}
