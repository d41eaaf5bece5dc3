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
		resp := pr.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range pr.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = kerr.NotLeaderForPartition.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
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
	deadline := time.Now().Add(20 * time.Second)
	for metric(rn.w, "faultline_kafka_events_total") < 2 {
		require.True(t, time.Now().Before(deadline), "no event produced")
		time.Sleep(time.Millisecond)
	}
	rn.cancel()
	select {
	case err := <-rn.done:
		require.ErrorContains(t, err, "kafka: checkpoint")
	case <-time.After(20 * time.Second):
		rn.done = nil // a Run that does not return cannot be stopped
		t.Fatal("Run did not return once its context ended: producing waits for the brokers")
	}
	rn.done = nil
	require.Zero(t, metric(rn.w, "faultline_kafka_states_written_total"))
	committed, err := r.adm.FetchOffsets(context.Background(), "down")
	require.NoError(t, err)
	_, ok := committed.Lookup(ts.in, 0)
	require.False(t, ok, "no offset committed for events not acknowledged")
}
