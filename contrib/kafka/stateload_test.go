package kafka

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/faultline-go/faultline/fault"
)

// failStateReads makes the next n ListOffsets requests for topic fail
// with UNKNOWN_SERVER_ERROR, an error franz-go does not retry itself: a
// state topic that cannot be read for a while. It returns the count of
// failures left, which the test may change.
func (r *rig) failStateReads(topic string, n int32) *atomic.Int32 {
	left := new(atomic.Int32)
	left.Store(n)
	r.c.ControlKey(int16(kmsg.ListOffsets), func(req kmsg.Request) (kmsg.Response, error, bool) {
		r.c.KeepControl()
		lo := req.(*kmsg.ListOffsetsRequest)
		ours := false
		for _, rt := range lo.Topics {
			ours = ours || rt.Topic == topic
		}
		if !ours || left.Load() <= 0 {
			return nil, nil, false
		}
		left.Add(-1)
		return errorResponse(lo, kerr.UnknownServerError), nil, true
	})
	return left
}

// stateRecord returns the value of the newest record of key in the state
// topic's partition p, nil if there is none.
func (r *rig) stateRecord(topic string, p int32, key string) []byte {
	r.t.Helper()
	end := r.ends(topic)[p]
	if end == 0 {
		return nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(r.c.ListenAddrs()...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {p: kgo.NewOffset().AtStart()}}))
	require.NoError(r.t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var last []byte
	for done := false; !done; {
		fs := cl.PollFetches(ctx)
		require.NoError(r.t, ctx.Err())
		fs.EachRecord(func(rec *kgo.Record) {
			if rec.Offset < end && string(rec.Key) == key {
				last = rec.Value
			}
			done = done || rec.Offset+1 >= end
		})
	}
	return last
}

// hotDevice has a worker w1 take partition 0 of a one-partition input,
// feeds it samples of d00 at 95 for 40 s (its Hot alert fires), and stops
// it, which writes its state. It returns the offset the state covers and
// the firing event.
func hotDevice(t *testing.T, r *rig, ts topics, group string) (int64, fault.Event) {
	t.Helper()
	w1 := r.start(r.config(ts, group, "w1", deviceRules))
	r.balanced(ts, w1.w)
	end := map[int32]int64{}
	for s := time.Duration(0); s <= 40*time.Second; s += 10 * time.Second {
		at := t0.Add(s)
		r.clock.Set(at)
		r.produce([]*kgo.Record{{Topic: ts.in, Partition: 0, Key: []byte("d00"),
			Value: fmt.Appendf(nil, "temp,device=d00 value=95 %d", at.UnixNano())}}, end)
		r.caughtUp(ts.in, end, w1.w)
	}
	r.settle(ts, w1.w)
	w1.stop(t)
	firing := thresholdEvents(t, r, ts, fault.StateFiring)
	require.Len(t, firing, 1, "d00 ran hot")
	return end[0], firing[0]
}

// thresholdEvents returns the threshold events of state in ts's events
// topic.
func thresholdEvents(t *testing.T, r *rig, ts topics, state fault.State) []fault.Event {
	t.Helper()
	var evs []fault.Event
	for _, rec := range r.events(ts.events) {
		ev, err := ParseEvent(rec.value)
		require.NoError(t, err)
		if ev.Kind == fault.KindThreshold && ev.State == state {
			evs = append(evs, ev)
		}
	}
	return evs
}

// TestStateReadFailure hands a partition over while its state record
// cannot be read for a while (the state topic's offsets cannot be
// listed). The state must survive: the new owner waits for it, retrying
// with backoff, and restores it; a worker that stops before it could
// read it leaves it as it was. Starting the partition afresh instead, as
// the worker once did after three immediate attempts, lost the open
// alert, and the fresh state's checkpoint replaced the saved one.
func TestStateReadFailure(t *testing.T) {
	t.Parallel()
	t.Run("transient", func(t *testing.T) {
		t.Parallel()
		r := newRig(t)
		ts := r.topics("transient", 1)
		next, firing := hotDevice(t, r, ts, "transient")

		const failures = 5 // more than the three attempts the worker once made
		r.failStateReads(ts.state, failures)
		w2 := r.start(r.config(ts, "transient", "w2", deviceRules))
		// Each failed read arms a backoff timer beside the tick's ticker:
		// virtual time passes over it.
		deadline := time.Now().Add(30 * time.Second)
		for {
			if _, ok := w2.w.progress()[tp{ts.in, 0}]; ok {
				break
			}
			require.True(t, time.Now().Before(deadline), "the partition was not taken")
			if r.clock.Waiters() > 1 {
				r.clock.Advance(loadBackoffMax)
			}
			time.Sleep(time.Millisecond)
		}
		require.Equal(t, next, w2.w.progress()[tp{ts.in, 0}], "the partition resumes at its state's offset, not afresh")
		require.Equal(t, 2.0, metric(w2.w, "faultline_kafka_restored_total"), "the input partition and the fleet stage restored")
		require.Zero(t, metric(w2.w, "faultline_kafka_state_unreadable_total"))
		require.Equal(t, float64(failures), metric(w2.w, "faultline_kafka_state_load_errors_total"), "each failed read counted")

		// d00 cools down: the alert w1 left firing resolves, under its
		// episode.
		end := map[int32]int64{0: next}
		for range 2 {
			at := r.clock.Now().Add(10 * time.Second)
			r.clock.Set(at)
			r.produce([]*kgo.Record{{Topic: ts.in, Partition: 0, Key: []byte("d00"),
				Value: fmt.Appendf(nil, "temp,device=d00 value=20 %d", at.UnixNano())}}, end)
			r.caughtUp(ts.in, end, w2.w)
		}
		r.settle(ts, w2.w)
		w2.stop(t)
		resolved := thresholdEvents(t, r, ts, fault.StateResolved)
		require.Len(t, resolved, 1, "the alert left firing resolves")
		require.Equal(t, firing.Episode, resolved[0].Episode)

		st, err := decodeState(r.stateRecord(ts.state, 0, stateKey("transient", ts.in, 0)))
		require.NoError(t, err)
		require.Equal(t, end[0], st.next, "w2's state covers everything")
	})

	t.Run("stopped before read", func(t *testing.T) {
		t.Parallel()
		r := newRig(t)
		ts := r.topics("stopped", 1)
		hotDevice(t, r, ts, "stopped")
		key := stateKey("stopped", ts.in, 0)
		saved := r.stateRecord(ts.state, 0, key)
		require.NotNil(t, saved)

		left := r.failStateReads(ts.state, 1<<30)
		w2 := r.start(r.config(ts, "stopped", "w2", deviceRules))
		deadline := time.Now().Add(30 * time.Second)
		for metric(w2.w, "faultline_kafka_state_load_errors_total") < 1 {
			require.True(t, time.Now().Before(deadline), "no failed read")
			if r.clock.Waiters() > 1 {
				r.clock.Advance(loadBackoffMax)
			}
			time.Sleep(time.Millisecond)
		}
		w2.stop(t)
		left.Store(0)
		got := r.stateRecord(ts.state, 0, key)
		if !bytes.Equal(saved, got) {
			was, err := decodeState(saved)
			require.NoError(t, err)
			now, err := decodeState(got)
			require.NoError(t, err)
			t.Fatalf("a state that could not be read was replaced: the saved state covered offsets up to %d, the one written covers %d", was.next, now.next)
		}
		require.Zero(t, metric(w2.w, "faultline_kafka_restored_total"))
	})
}
