package mqtt_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/clock"
	"github.com/faultline-go/faultline/contrib/mqtt"
	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/pipeline"
	"github.com/faultline-go/faultline/rules"
)

// The client gives each message's batch to the runtime, which with one
// shard queues that very batch: the client must never write to it again.
// The runtime runs only once every message is queued, so a batch reused
// for a later message (or cleared) would be judged with that message's
// samples (or none): every host's alert must fire once, with its value.
// Empty messages between them give no batch to hand over.
func TestHandedBatchesArriveIntact(t *testing.T) {
	b := startBroker(t, brokerOpts{})
	c, err := mqtt.New(mqtt.Config{Broker: b.url(), ClientID: "faultline", Backoff: backoff, Drain: 5 * time.Second,
		Subscriptions: []mqtt.Subscription{{Filter: "d/#"}}})
	require.NoError(t, err)
	rec := &recorder{}
	rt, err := pipeline.New(pipeline.Config{Shards: 1, QueueLen: 64, Clock: clock.NewFake(t0), Sinks: []pipeline.Sink{rec},
		Rules: []rules.Source{{Name: "rules.yaml", Data: []byte("groups: [{name: g, rules: [{alert: Seen, match: up, expr: 'value >= 0'}]}]\n")}}})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cDone := make(chan error, 1)
	go func() { cDone <- c.Run(ctx, rt) }()
	waitFor(t, 10*time.Second, func() bool { return c.Stats().Subscribed > 0 }, "the client subscribes")

	const messages = 40 // two samples each, within the queue: none waits
	dev := dial(t, b.url(), "device", true)
	for i := range messages {
		dev.publish("d/a", 1, fmt.Sprintf("up,host=h%d value=%d %d\nup,host=h%d value=%d %d",
			2*i, 2*i, t0.UnixNano(), 2*i+1, 2*i+1, t0.UnixNano()))
		if i%5 == 0 {
			dev.publish("d/a", 1, "")
		}
	}
	waitFor(t, 10*time.Second, func() bool { return c.Stats().Samples == 2*messages }, "every message is queued")
	require.EqualValues(t, messages/5, c.Stats().Empty)

	rtDone := make(chan error, 1)
	go func() { rtDone <- rt.Run(ctx) }()
	require.NoError(t, rt.Sync(context.Background()))
	cancel()
	require.NoError(t, <-rtDone)
	require.NoError(t, <-cDone)

	seen := map[string]float64{}
	for _, ev := range rec.of(fault.KindThreshold, fault.StateFiring) {
		host := ev.Labels.Get("host")
		_, dup := seen[host]
		require.False(t, dup, "%s fired twice", host)
		seen[host] = ev.Value
	}
	for i := range 2 * messages {
		v, ok := seen[fmt.Sprintf("h%d", i)]
		require.True(t, ok, "h%d never fired", i)
		require.Equal(t, float64(i), v, "h%d", i)
	}
	require.Len(t, seen, 2*messages)
}
