package mqtt_test

import (
	"fmt"
	"runtime"
	rtmetrics "runtime/metrics"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/contrib/mqtt"
	"github.com/faultline-go/faultline/fault"
)

// liveHeap returns the bytes of the Go heap live after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	s := []rtmetrics.Sample{{Name: "/gc/heap/live:bytes"}}
	rtmetrics.Read(s)
	return s[0].Value.Uint64()
}

// invalid returns the i-th message of a malfunctioning node: truncated
// JSON, a field twice, broken line protocol, bytes that are neither.
func invalid(i int) string {
	switch i % 4 {
	case 0:
		return fmt.Sprintf(`{"temperature": 21.%d, "humidity": `, i)
	case 1:
		return fmt.Sprintf(`{"temperature": %d, "temperature": 1}`, i)
	case 2:
		return fmt.Sprintf("temperature=21.5 humidity=%d=", i)
	default:
		return fmt.Sprintf("\x00\xff%d", i)
	}
}

// The Kotori incident of 2018, replayed on a real Mosquitto: a node floods
// its topic with 10,000 invalid messages in a few seconds, and the
// collector, subscribed to "#" like Kotori, consumes the bus it publishes
// its error reports on. The flood yields one bad_input episode (firing,
// then resolved), not a message per bad message; the reports come back,
// are rejected by the loop guard as one feedback_loop fault, and raise
// nothing more: the broker receives the flood and a handful of messages
// besides. The collector's heap does not grow with the flood.
func TestKotoriReplayed(t *testing.T) {
	const flood = 10000
	const topic = "hiveeyes/testdrive/area-42/node-1/data.json"
	b := startBroker(t, brokerOpts{})
	const received, pubReceived = "$SYS/broker/messages/received", "$SYS/broker/publish/messages/received"
	sys := watchSys(t, b, received, pubReceived)
	bus := dial(t, b.url(), "observer", true, "faultline/#")
	r := newRig(t, rigConfig{broker: b, subs: []mqtt.Subscription{{Filter: "#"}}})
	node := dial(t, b.url(), "node-1", true)

	before := sys.settled(t)
	start := time.Now()
	send := func(from, to int) {
		for i := from; i < to; i++ {
			tok := node.publishAsync(topic, 0, invalid(i))
			if i == to-1 || i%500 == 0 {
				require.True(t, tok.WaitTimeout(30*time.Second))
				require.NoError(t, tok.Error())
			}
		}
		waitFor(t, 60*time.Second, func() bool { return r.c.Stats().Messages >= uint64(to) },
			"the collector receives the flood: %d of %d", r.c.Stats().Messages, to)
	}
	send(0, 2000)
	heapWarm := liveHeap()
	send(2000, flood)
	took := time.Since(start)
	heapFlooded := liveHeap()

	// Ten minutes of virtual time: the episode fires after its first
	// interval and resolves after five quiet minutes.
	for range 600 {
		r.step(time.Second)
	}
	pub := r.c.Publisher()
	waitFor(t, 30*time.Second, func() bool {
		st := pub.Stats()
		return st.Queued == 0 && st.Sent == st.Events && r.c.Stats().Own >= st.Sent && len(bus.received()) >= int(st.Sent)
	}, "every event is published and comes back: %+v, own %d", pub.Stats(), r.c.Stats().Own)
	after := sys.settled(t)

	bad := r.rec.of(fault.KindBadInput, 0)
	require.Len(t, bad, 2, "one episode: firing, then resolved: %v", bad)
	require.Equal(t, fault.StateFiring, bad[0].State)
	require.Equal(t, fault.StateResolved, bad[1].State)
	require.Equal(t, topic, bad[0].Labels.Get(fault.InputLabel))
	// The runtime counts every bad message; the engine's event counts those
	// its shard's queue had room for (Runtime.BadInput never blocks).
	counted, err := strconv.Atoi(bad[1].Annotations.Get("bad_records"))
	require.NoError(t, err)
	require.Positive(t, counted)
	require.LessOrEqual(t, counted, flood)
	require.Contains(t, bad[0].Annotations.Get("examples"), "message 1: record 1, column ")
	require.Len(t, r.rec.of(fault.KindFeedbackLoop, fault.StateFiring), 1, "the reports came back: one loop fault")
	require.Len(t, r.rec.all(), 3, "nothing else: %v", r.rec.all())
	require.Equal(t, float64(flood), r.metric("faultline_runtime_bad_input_total"))
	require.Equal(t, uint64(flood), r.c.Stats().BadMessages)

	onBus := events(t, bus.received())
	require.Len(t, onBus, 3, "three messages on the bus: %v", onBus)
	kinds := map[string]int{}
	for _, ev := range onBus {
		kinds[ev.Topic]++
		require.Equal(t, "faultline", ev.Labels[fault.OriginLabel], "every event carries its origin")
	}
	require.Equal(t, map[string]int{"faultline/errors": 2, "faultline/events/feedback_loop": 1}, kinds)
	require.Equal(t, uint64(3), r.c.Stats().Own, "each came back once and was rejected")
	require.Equal(t, 3.0, r.metric("faultline_looped_total"))

	// The broker's count: the flood, the three events, their
	// acknowledgements and a few keep-alives; no amplification.
	extra := after[received] - before[received] - flood
	pubExtra := after[pubReceived] - before[pubReceived] - flood
	t.Logf("flood of %d took %v; broker received %v messages (%v publishes) beyond the flood; live heap %d KiB after 2000, %d KiB after %d; the episode counted %d",
		flood, took.Round(time.Millisecond), extra, pubExtra, heapWarm>>10, heapFlooded>>10, flood, counted)
	require.GreaterOrEqual(t, extra, 3.0)
	require.LessOrEqual(t, extra, 30.0)
	require.Equal(t, 3.0, pubExtra, "the three events are the only other publishes")
	require.Less(t, int64(heapFlooded)-int64(heapWarm), int64(1<<20), "memory stays flat: 8000 more bad messages cost < 1 MiB")
}
