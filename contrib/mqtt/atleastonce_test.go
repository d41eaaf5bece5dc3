package mqtt_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/clock"
	"github.com/faultline-go/faultline/contrib/mqtt"
	"github.com/faultline-go/faultline/fault"
)

// silent reports whether device d publishes nothing at virtual second s:
// d07 stops at 40 s, d03 is away from 60 to 89 s, d11 from 75 to 100 s.
func silent(d, s int) bool {
	switch d {
	case 7:
		return s >= 40
	case 3:
		return s >= 60 && s < 90
	case 11:
		return s >= 75 && s <= 100
	}
	return false
}

// streamRun is what one run of the device stream gave.
type streamRun struct {
	transitions []string // the runtime's events: id kind state at labels
	onBus       map[string]bool
	redelivered uint64
	messages    uint64
}

// runStream runs 20 devices reporting every virtual second for 120 s over
// MQTT (QoS 1) into a collector. With disrupt, every message is published
// twice, Mosquitto is killed and started again on the same port and
// persistence at 50 s while a round is in flight, and the collector itself
// is stopped and restarted on its checkpoint and its broker session at
// 85 s, again with a round in flight.
func runStream(t *testing.T, disrupt bool) streamRun {
	b := startBroker(t, brokerOpts{})
	bus := dial(t, b.url(), "observer", false, "faultline/#")
	devices := dial(t, b.url(), "devices", false)
	clk := clock.NewFake(t0)
	rc := rigConfig{broker: b, clk: clk, subs: []mqtt.Subscription{{Filter: "devices/+"}}, rules: beat,
		state: filepath.Join(t.TempDir(), "state")}
	r := newRig(t, rc)
	var out streamRun
	var rigs []*rig
	fresh := 0
	for s := range 120 {
		now := clk.Now()
		var toks []paho.Token
		for d := range 20 {
			if silent(d, s) {
				continue
			}
			payload := fmt.Sprintf("temperature,device=d%02d value=%d %d", d, s, now.UnixNano())
			copies := 1
			if disrupt {
				copies = 2
			}
			for range copies {
				toks = append(toks, devices.publishAsync(fmt.Sprintf("devices/d%02d", d), 1, payload))
			}
			fresh++
		}
		if disrupt && s == 50 {
			b.restart()
		}
		if disrupt && s == 85 {
			r.shutdown() // checkpoint; what it had not acknowledged stays with the broker
			rigs = append(rigs, r)
			r = newRig(t, rc)
		}
		for _, tok := range toks {
			require.True(t, tok.WaitTimeout(30*time.Second), "a device's publish at %d s", s)
			require.NoError(t, tok.Error())
		}
		r.waitFresh(fresh)
		r.step(time.Second)
	}
	rigs = append(rigs, r)
	for _, r := range rigs {
		r.shutdown()
		for _, ev := range r.rec.all() {
			out.transitions = append(out.transitions, fmt.Sprintf("%s %s %s %s %v", ev.ID, ev.Kind, ev.State, fault.FormatTime(ev.At), ev.Labels))
		}
		st := r.c.Stats()
		out.redelivered += st.Redelivered
		out.messages += st.Messages
		ps := r.c.Publisher().Stats()
		require.Zero(t, ps.DroppedTotal())
	}
	out.onBus = map[string]bool{}
	waitFor(t, 10*time.Second, func() bool { return len(bus.received()) >= len(out.transitions) }, "the events reach the bus")
	for _, ev := range events(t, bus.received()) {
		out.onBus[ev.ID] = true
	}
	return out
}

// At least once: with every message published twice, Mosquitto killed and
// restarted mid-stream, and the collector restarted mid-stream on its
// checkpoint and broker session, the collector emits exactly the
// transitions of an uninterrupted run: none lost, none repeated, the same
// IDs at the same times.
func TestAtLeastOnceAcrossRestarts(t *testing.T) {
	calm := runStream(t, false)
	rough := runStream(t, true)
	t.Logf("uninterrupted: %d messages, %d transitions; disrupted: %d messages (%d with DUP), %d transitions",
		calm.messages, len(calm.transitions), rough.messages, rough.redelivered, len(rough.transitions))
	for _, tr := range calm.transitions {
		t.Log(tr)
	}
	require.Len(t, calm.transitions, 5, "d07, d03 and d11 go absent; d03 and d11 come back")
	require.Equal(t, calm.transitions, rough.transitions)
	require.Greater(t, rough.messages, calm.messages+2000, "every message came at least twice")
	ids := slices.Sorted(func(yield func(string) bool) {
		for id := range rough.onBus {
			if !yield(id) {
				return
			}
		}
	})
	var want []string
	for _, tr := range calm.transitions {
		want = append(want, tr[:16])
	}
	slices.Sort(want)
	require.Equal(t, want, ids, "the bus got every transition")
}
