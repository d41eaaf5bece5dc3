package mqtt_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/contrib/mqtt"
	"github.com/faultline-go/faultline/fault"
)

const beat = `
series:
  - {match: temperature, cadence: 1s, absent_after: 5s}
`

// The loop closed on purpose: the collector subscribes to "#", so every
// event and error report it publishes comes back to it as input. Over 30
// minutes of virtual time, with absences, a bad message and its episode,
// the loop guard raises exactly one feedback_loop fault, each published
// event comes back once and is rejected, and once the last event is out
// nothing more is published: zero amplification, on the runtime's side
// and on the broker's.
func TestOwnOutputComesBackOnce(t *testing.T) {
	b := startBroker(t, brokerOpts{})
	const pubReceived = "$SYS/broker/publish/messages/received"
	sys := watchSys(t, b, pubReceived)
	bus := dial(t, b.url(), "observer", true, "faultline/#")
	r := newRig(t, rigConfig{broker: b, subs: []mqtt.Subscription{{Filter: "#"}}, rules: beat})
	devices := dial(t, b.url(), "devices", true)
	before := sys.settled(t)

	sent, fresh := 0, 0
	for s := range 60 {
		now := r.clk.Now()
		for _, node := range []string{"n1", "n2", "n3"} {
			if node == "n3" && s >= 30 {
				continue // n3 stops: an absence
			}
			devices.publish("site/"+node, 1, fmt.Sprintf("temperature,node=%s value=21.5 %d", node, now.UnixNano()))
			sent++
			fresh++
		}
		if s == 10 {
			devices.publish("site/n2", 1, "temperature,node=n2 value=") // an error report
			sent++
		}
		r.waitFresh(fresh)
		r.step(time.Second)
	}
	// n1 and n2 stop too. Then 29 minutes without input but the echoes.
	type count struct{ events, published, own, looped float64 }
	var history []count
	for m := range 29 * 12 {
		r.step(5 * time.Second)
		if m%12 == 11 {
			history = append(history, count{float64(len(r.rec.all())), float64(r.c.Publisher().Stats().Sent), float64(r.c.Stats().Own), r.metric("faultline_looped_total")})
		}
	}
	pub := r.c.Publisher()
	waitFor(t, 30*time.Second, func() bool {
		st := pub.Stats()
		return st.Queued == 0 && st.Sent == st.Events && r.c.Stats().Own >= st.Sent
	}, "every event is published and comes back: %+v, own %d", pub.Stats(), r.c.Stats().Own)
	after := sys.settled(t)

	all := r.rec.all()
	kinds := map[string]int{}
	for _, ev := range all {
		kinds[string(ev.Kind)+" "+ev.State.String()]++
	}
	t.Logf("events: %v; per minute (events, published, own, looped): %v", kinds, history)
	require.Equal(t, map[string]int{
		"absence firing":       3,
		"bad_input firing":     1,
		"bad_input resolved":   1,
		"feedback_loop firing": 1,
	}, kinds)

	published := float64(len(all))
	require.Equal(t, uint64(len(all)), pub.Stats().Sent)
	require.Equal(t, uint64(len(all)), r.c.Stats().Own, "each event came back once")
	require.Equal(t, published, r.metric("faultline_looped_total"), "and was rejected by the loop guard")
	require.Len(t, bus.received(), len(all), "each event is on the bus once")
	for _, ev := range events(t, bus.received()) {
		require.Equal(t, "faultline", ev.Labels[fault.OriginLabel])
	}
	// From the seventh minute on (the bad-input episode resolves five quiet
	// minutes after its first), nothing changes: no amplification.
	for _, h := range history[7:] {
		require.Equal(t, count{published, published, published, published}, h)
	}
	require.Equal(t, float64(sent)+published, after[pubReceived]-before[pubReceived], "the broker got the devices' messages and each event once")
}
