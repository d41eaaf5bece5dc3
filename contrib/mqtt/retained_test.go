package mqtt_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/contrib/mqtt"
	"github.com/faultline-go/faultline/fault"
)

// A node that publishes retained messages (as many devices do, so that a
// new subscriber learns their state) and then dies stays absent when the
// client subscribes again after a broker restart: the broker then sends
// the node's last message, retained, which is no delivery. It was taken
// for one, dated by its arrival (the payload has no time), and the
// absence resolved as if the node had come back.
func TestRetainedMessageIsNoDelivery(t *testing.T) {
	b := startBroker(t, brokerOpts{})
	r := newRig(t, rigConfig{broker: b, rules: beat, subs: []mqtt.Subscription{{
		Filter: "hiveeyes/#", Format: mqtt.KotoriJSON, Topic: "{realm}/{network}/{gateway}/{node}/data.json",
	}}})
	nodes := dial(t, b.url(), "nodes", true)
	publish := func(node string, s int) {
		tok := nodes.pc.Publish("hiveeyes/testdrive/area-42/"+node+"/data.json", 1, true, fmt.Sprintf(`{"temperature": 21.%d}`, s))
		require.True(t, tok.WaitTimeout(30*time.Second))
		require.NoError(t, tok.Error())
	}
	samples := uint64(0)
	round := func(s int, up ...string) {
		for _, node := range up {
			publish(node, s)
			samples++
		}
		waitFor(t, 10*time.Second, func() bool { return r.c.Stats().Samples >= samples }, "the messages come through")
		r.step(time.Second)
	}
	for s := range 20 {
		up := []string{"node-1", "node-2"}
		if s < 5 {
			up = append(up, "node-3") // then it dies; its last message stays retained
		}
		round(s, up...)
	}
	abs := r.rec.of(fault.KindAbsence, fault.StateFiring)
	require.Len(t, abs, 1, "%v", r.rec.all())
	require.Equal(t, "node-3", abs[0].Labels.Get("node"))

	subscribed := r.c.Stats().Subscribed
	b.restart()
	waitFor(t, 30*time.Second, func() bool { return r.c.Stats().Subscribed > subscribed }, "the client subscribes again")
	// The three retained messages came with the subscription; the live
	// publishes below come after them, in order, on the same connection.
	for s := 20; s < 30; s++ {
		round(s, "node-1", "node-2")
	}
	require.Empty(t, r.rec.of(fault.KindAbsence, fault.StateResolved), "node-3 did not come back: %v", r.rec.all())
	require.Equal(t, samples, r.c.Stats().Samples, "the retained messages gave no sample")
	require.Equal(t, uint64(3), r.c.Stats().Retained)
}
