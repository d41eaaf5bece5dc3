package mqtt_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/contrib/mqtt"
)

// A Kotori node that stops publishing raises its absence on the events
// topic, named by the labels its topic gives.
func TestAbsenceOnTheEventsTopic(t *testing.T) {
	b := startBroker(t, brokerOpts{})
	bus := dial(t, b.url(), "observer", true, "faultline/events/#")
	r := newRig(t, rigConfig{broker: b, rules: beat, subs: []mqtt.Subscription{{
		Filter: "hiveeyes/#", Format: mqtt.KotoriJSON, Topic: "{realm}/{network}/{gateway}/{node}/data.json",
	}}})
	nodes := dial(t, b.url(), "nodes", true)
	fresh := 0
	for s := range 40 {
		now := r.clk.Now()
		for _, node := range []string{"node-1", "node-2", "node-3"} {
			if node == "node-3" && s >= 20 {
				continue
			}
			nodes.publish("hiveeyes/testdrive/area-42/"+node+"/data.json", 1,
				fmt.Sprintf(`{"temperature": 21.%d, "humidity": 60, "weight": 41.2, "time": %d}`, s, now.Unix()))
			fresh += 3
		}
		r.waitFresh(fresh)
		r.step(time.Second)
	}
	pub := r.c.Publisher()
	waitFor(t, 10*time.Second, func() bool {
		st := pub.Stats()
		return st.Events > 0 && st.Sent == st.Events && len(bus.received()) >= int(st.Sent)
	}, "the events reach the bus")
	var got []busEvent
	for _, ev := range events(t, bus.received()) {
		if ev.Kind == "absence" {
			got = append(got, ev)
		}
	}
	// The three series of node-3 stopping at once is also a loss burst
	// across the fleet of nine: a pending periodic_gap may go out too.
	require.Len(t, got, 1, "one absence: %v", events(t, bus.received()))
	ev := got[0]
	require.Equal(t, "faultline/events/absence", ev.Topic)
	require.Equal(t, "firing", ev.State)
	require.Equal(t, map[string]string{
		"__name__": "temperature", "realm": "hiveeyes", "network": "testdrive", "gateway": "area-42", "node": "node-3",
		"faultline_origin": "faultline",
	}, ev.Labels)
}

// The stratcond incident over MQTT: 400 devices report every minute at
// their own phase; for 15 minutes every sample sent 12.0–13.5 s into a
// minute is lost. The collector names it as one fleet fault on the events
// topic: period 60 s, the phase window, the devices it hits.
func TestFleetGapOverMQTT(t *testing.T) {
	const devices, minutes = 400, 30
	b := startBroker(t, brokerOpts{})
	bus := dial(t, b.url(), "observer", true, "faultline/events/#")
	r := newRig(t, rigConfig{broker: b, subs: []mqtt.Subscription{{Filter: "fleet/+"}}})
	pub := dial(t, b.url(), "fleet", true)

	// Each device's phase, on the runtime's 250 ms tick; the deliveries,
	// per 250 ms slot of the 30 minutes.
	rng := rand.New(rand.NewPCG(2, 7))
	const slot = 250 * time.Millisecond
	slots := make([][]int, minutes*int(time.Minute/slot))
	for d := range devices {
		phase := rng.IntN(int(time.Minute / slot))
		for m := range minutes {
			at := time.Duration(phase) * slot
			if m >= 10 && m < 25 && at >= 12*time.Second && at < 13500*time.Millisecond {
				continue // lost in the outage
			}
			k := m*int(time.Minute/slot) + phase
			slots[k] = append(slots[k], d)
		}
	}
	sent, ticks := 0, r.metric("faultline_runtime_ticks_total")
	toks := make([]paho.Token, 0, 16)
	for k, devs := range slots {
		at := t0.Add(time.Duration(k) * slot)
		r.clk.Set(at)
		toks = toks[:0]
		for _, d := range devs {
			toks = append(toks, pub.publishAsync(fmt.Sprintf("fleet/c%03d", d), 1,
				fmt.Sprintf("check,device=c%03d value=1 %d", d, at.UnixNano())))
		}
		for _, tok := range toks {
			require.True(t, tok.WaitTimeout(30*time.Second))
			require.NoError(t, tok.Error())
		}
		sent += len(devs)
		for r.c.Stats().Samples < uint64(sent) {
			time.Sleep(50 * time.Microsecond)
		}
		if k%40 == 39 { // every 10 s: let the runtime see the time, judge, deliver
			waitFor(t, 10*time.Second, func() bool { return r.metric("faultline_runtime_ticks_total") > ticks }, "a tick")
			ticks = r.metric("faultline_runtime_ticks_total")
			require.NoError(t, r.rt.Sync(context.Background()))
		}
	}
	r.step(time.Second)
	pubr := r.c.Publisher()
	waitFor(t, 10*time.Second, func() bool {
		st := pubr.Stats()
		return st.Queued == 0 && len(bus.received()) >= int(st.Sent)
	}, "the events reach the bus")

	var gaps []busEvent
	absences := map[string]int{}
	for _, ev := range events(t, bus.received()) {
		switch ev.Kind {
		case "periodic_gap":
			gaps = append(gaps, ev)
		case "absence":
			absences[ev.State]++
		}
	}
	t.Logf("gap events %+v; absences %v; %d messages", gaps, absences, sent)
	var firing []busEvent
	for _, g := range gaps {
		require.Equal(t, "faultline/events/periodic_gap", g.Topic)
		if g.State == "firing" {
			firing = append(firing, g)
		}
	}
	require.Len(t, firing, 1, "one fleet fault")
	f := firing[0]
	require.Equal(t, 60.0, f.Period)
	require.InDelta(t, 12.5, f.Phase, 1)
	require.GreaterOrEqual(t, f.Series, 5)
	states := slices.Sorted(func(yield func(string) bool) {
		for _, g := range gaps {
			if !yield(g.State) {
				return
			}
		}
	})
	require.Subset(t, []string{"pending", "firing", "resolved"}, states)
}
