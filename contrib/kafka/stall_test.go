package kafka

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// steady is n devices that each report every 10 s, on the 10 s, and never
// fall silent.
type steady struct{ n int }

func (d steady) arriving(topic string, from, to time.Time) []*kgo.Record {
	var out []*kgo.Record
	for i := range d.n {
		dev := fmt.Sprintf("d%02d", i)
		for at := from.Truncate(10 * time.Second); !at.After(to); at = at.Add(10 * time.Second) {
			if at.After(from) {
				out = append(out, &kgo.Record{Topic: topic, Key: []byte(dev),
					Value: fmt.Appendf(nil, "temp,device=%s value=20 %d", dev, at.UnixNano())})
			}
		}
	}
	return out
}

// holdProduce holds every produce request to topic until release is
// closed, and sets held at the first: a topic whose brokers take minutes
// to acknowledge.
func (r *rig) holdProduce(topic string, held *atomic.Bool, release <-chan struct{}) {
	r.t.Helper()
	tds, err := r.adm.ListTopics(context.Background(), topic)
	require.NoError(r.t, err)
	id := tds[topic].ID
	r.c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		r.c.KeepControl()
		for _, rt := range req.(*kmsg.ProduceRequest).Topics {
			if rt.Topic == topic || rt.TopicID == id {
				held.Store(true)
				r.c.SleepControl(func() { <-release })
				break
			}
		}
		return nil, nil, false
	})
}

// TestStallIsNoAbsence holds a worker in a checkpoint for three minutes
// (its state writes are not acknowledged) while its devices keep
// delivering to the brokers on time. The records wait in the brokers: the
// span is the worker's own downtime, which its engines skip, as they skip
// a handover, and no device is absent. The worker used to advance its
// engines across the span before polling what had arrived meanwhile,
// judge every device's slots lost, and raise an absence for each (and
// resolve it a moment later).
func TestStallIsNoAbsence(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ts := r.topics("stall", 1)
	rn := r.start(r.config(ts, "stall", "w1", deviceRules))
	r.balanced(ts, rn.w)
	data := steady{n: 4}
	s := &stepper{r: r, data: data, deps: []deployment{{ts: ts, workers: func() []*Worker { return []*Worker{rn.w} }}}}
	s.until(2 * time.Minute)

	var held atomic.Bool
	release := make(chan struct{})
	r.holdProduce(ts.state, &held, release)
	end := s.deps[0].end
	step := func() {
		now := r.clock.Now()
		r.clock.Set(now.Add(stepEvery))
		r.produce(data.arriving(ts.in, now, r.clock.Now()), end)
	}
	// Step on until a checkpoint is held, then three minutes more without
	// waiting for the worker.
	for !held.Load() {
		step()
		// Not r.caughtUp: the worker holds its lock in the checkpoint.
		waitFor(t, 20*time.Second, func() bool {
			return held.Load() || metric(rn.w, "faultline_kafka_records_total", "topic", ts.in) >= float64(end[0])
		}, say("the worker did not catch up"))
	}
	for stop := r.clock.Now().Add(3 * time.Minute); r.clock.Now().Before(stop); {
		step()
	}
	close(release)
	r.caughtUp(ts.in, end, rn.w)
	s.until(r.clock.Now().Sub(t0) + 2*time.Minute)
	r.settle(ts, rn.w)
	stalls := metric(rn.w, "faultline_kafka_stalls_total")
	rn.stop(t)
	for _, rec := range r.events(ts.events) {
		t.Errorf("an event although every device delivered on time: %s", rec.value)
	}
	require.Equal(t, 1.0, stalls, "one stall, counted")
}
