package mqtt_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/contrib/mqtt"
	"github.com/faultline-go/faultline/fault"
)

// The client gives each message's batch to the runtime, which with one
// shard queues that very batch: the client must never write to it again.
// The runtime runs only once every message is queued, so a batch reused
// for a later message (or cleared) would be judged with that message's
// samples (or none): every host's alert must fire once, with its value.
// Empty messages between them give no batch to hand over.
func TestHandedBatchesArriveIntact(t *testing.T) {
	b := startBroker(t, brokerOpts{})
	r := newRig(t, rigConfig{broker: b, subs: []mqtt.Subscription{{Filter: "d/#"}}, shards: 1, queueLen: 64, held: true,
		rules: "groups: [{name: g, rules: [{alert: Seen, match: up, expr: 'value >= 0'}]}]\n"})

	const messages = 40 // two samples each, within the queue: none waits
	dev := dial(t, b.url(), "device", true)
	for i := range messages {
		dev.publish("d/a", 1, fmt.Sprintf("up,host=h%d value=%d %d\nup,host=h%d value=%d %d",
			2*i, 2*i, t0.UnixNano(), 2*i+1, 2*i+1, t0.UnixNano()))
		if i%5 == 0 {
			dev.publish("d/a", 1, "")
		}
	}
	waitFor(t, 10*time.Second, func() bool { return r.c.Stats().Samples == 2*messages }, "every message is queued")
	require.EqualValues(t, messages/5, r.c.Stats().Empty)

	r.run()
	require.NoError(t, r.rt.Sync(context.Background()))
	r.shutdown()

	seen := map[string]float64{}
	for _, ev := range r.rec.of(fault.KindThreshold, fault.StateFiring) {
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
