package kafka

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// refuseProduce makes the brokers answer every produce request to topic
// with NOT_LEADER_FOR_PARTITION, an error franz-go retries for ever: a
// topic whose leader is gone.
func (r *rig) refuseProduce(topic string) {
	r.t.Helper()
	tds, err := r.adm.ListTopics(context.Background(), topic)
	require.NoError(r.t, err)
	id := tds[topic].ID
	r.c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		r.c.KeepControl()
		pr := req.(*kmsg.ProduceRequest)
		ours := false
		for _, rt := range pr.Topics {
			ours = ours || rt.Topic == topic || rt.TopicID == id
		}
		if !ours {
			return nil, nil, false
		}
		return errorResponse(pr, kerr.NotLeaderForPartition), nil, true
	})
}

// TestStopWhileTheEventsTopicIsDown stops a worker whose events are not
// acknowledged (the events topic has no leader) and whose pending bound is
// full, so that producing waits. Run must still return, with the
// checkpoint's failure, having written no state and committed no offset:
// the events not acknowledged are re-emitted by the partition's next
// owner. Run used to wait for room in the producer for as long as the
// brokers refused, holding the worker's lock: SIGTERM did nothing.
func TestStopWhileTheEventsTopicIsDown(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ts := r.topics("down", 1)
	cfg := r.config(ts, "down", "w1", deviceRules)
	cfg.MaxPendingEvents = 1
	rn := r.start(cfg, func(w *Worker) { w.drain = 200 * time.Millisecond })
	r.balanced(ts, rn.w)
	r.refuseProduce(ts.events)

	// Two devices run hot for 40 s, all taken before the first
	// checkpoint is due: four events (pending, then firing, each), the
	// second of which waits for room.
	r.clock.Set(t0.Add(25 * time.Second))
	end := map[int32]int64{}
	for s := time.Duration(0); s <= 40*time.Second; s += 10 * time.Second {
		at := t0.Add(s)
		r.produce([]*kgo.Record{{Topic: ts.in, Partition: 0, Key: []byte("d00"),
			Value: fmt.Appendf(nil, "temp,device=d00 value=95 %d\ntemp,device=d01 value=95 %d", at.UnixNano(), at.UnixNano())}}, end)
	}
	waitFor(t, 20*time.Second, func() bool { return metric(rn.w, "faultline_kafka_events_total") >= 2 }, say("no event produced"))
	stopsWithoutCheckpoint(t, r, rn, ts, "down", 1, "producing waits for the brokers")
}

// TestStopWhileARevokeWaitsForTheBrokers stops a worker while the group
// takes one of its partitions away and its revoke's checkpoint waits for
// events the brokers do not answer (the events topic's leader hangs: the
// client cannot give up records it has sent). Run must still return,
// with no state written and no offset committed. The revoke's checkpoint
// used to wait on the client's context, which ends only once the client
// is closed, that is once Run is done: the worker never stopped.
func TestStopWhileARevokeWaitsForTheBrokers(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ts := r.topics("revoking", 2)
	rn := r.start(r.config(ts, "revoking", "w1", deviceRules), func(w *Worker) { w.drain = 200 * time.Millisecond })
	r.balanced(ts, rn.w)
	var held atomic.Bool
	release := make(chan struct{})
	defer close(release)
	r.holdProduce(ts.events, &held, release)

	// A device on each partition runs hot, all before the first
	// checkpoint is due: events that are never acknowledged.
	r.clock.Set(t0.Add(25 * time.Second))
	end := map[int32]int64{}
	for p := range int32(2) {
		dev := fmt.Sprintf("d%02d", p)
		r.produce([]*kgo.Record{{Topic: ts.in, Partition: p, Key: []byte(dev),
			Value: fmt.Appendf(nil, "temp,device=%s value=95 %d", dev, t0.UnixNano())}}, end)
	}
	waitFor(t, 20*time.Second, func() bool { return metric(rn.w, "faultline_kafka_events_total") >= 2 }, say("no event produced"))

	// A second worker joins: the group revokes a partition of the first,
	// whose checkpoint waits for the events, holding the worker's lock.
	r.start(r.config(ts, "revoking", "w2", deviceRules))
	deadline := time.Now().Add(20 * time.Second)
	for held := 0; held < 200; time.Sleep(time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "no revoke began")
		if rn.w.mu.TryLock() {
			rn.w.mu.Unlock()
			held = 0
			continue
		}
		held++
	}
	stopsWithoutCheckpoint(t, r, rn, ts, "revoking", 2, "the revoke waits for the brokers")
}

// stopsWithoutCheckpoint cancels rn's Run and requires that it returns
// within 20 s, with a failed checkpoint, no state written and no offset
// committed in group for the first partitions of ts's input topic (why
// says what would keep it from returning).
func stopsWithoutCheckpoint(t *testing.T, r *rig, rn *runner, ts topics, group string, partitions int32, why string) {
	t.Helper()
	rn.cancel()
	select {
	case err := <-rn.done:
		require.ErrorContains(t, err, "kafka: checkpoint")
	case <-time.After(20 * time.Second):
		rn.done = nil // a Run that does not return cannot be stopped
		t.Fatal("Run did not return once its context ended: " + why)
	}
	rn.done = nil
	require.Zero(t, metric(rn.w, "faultline_kafka_states_written_total"))
	committed, err := r.adm.FetchOffsets(context.Background(), group)
	require.NoError(t, err)
	for p := range partitions {
		_, ok := committed.Lookup(ts.in, p)
		require.False(t, ok, "no offset committed for events not acknowledged")
	}
}
