package kafka

import (
	"cmp"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/faultline-go/faultline/rules"
)

// devices is the stream of the rebalance and crash tests: n devices, each
// reporting a temperature every 10 s at its own offset, keyed by device.
// Each device runs hot (95) for 40 s once, device i from 60 s + 5i s on,
// so every partition sees threshold transitions throughout; device 5 goes
// silent from 180 s to 270 s (one absence, which resolves). A sample
// arrives at the first step at or after its time.
type devices struct{ n int }

var deviceRules = []rules.Source{{Name: "devices.yaml", Data: []byte(`
groups:
  - name: devices
    rules:
      - alert: Hot
        match: temp
        expr: value > 80
        for: 20s
series:
  - match: temp
    cadence: 10s
    absent_after: 1m
`)}}

// stepEvery is the stepper's resolution: records arrive at the first
// step at or after their time. A device reports every 10 s at a fixed
// offset, so its delivery lag is the same for every sample (the engine
// learns it), whatever the step.
const stepEvery = 5 * time.Second

// arriving returns the records that arrive in (from, to], for topic.
func (d devices) arriving(topic string, from, to time.Time) []*kgo.Record {
	var out []*kgo.Record
	for i := range d.n {
		off := time.Duration(i*137%100) * 100 * time.Millisecond
		// Samples whose arrival (time rounded up to the step) falls in
		// (from, to].
		for k := int64(from.Sub(t0)/(10*time.Second)) - 1; ; k++ {
			at := t0.Add(time.Duration(k)*10*time.Second + off)
			arr := at.Add(-1).Truncate(stepEvery).Add(stepEvery)
			if !arr.After(from) {
				continue
			}
			if arr.After(to) {
				break
			}
			rel := at.Sub(t0)
			if i == 5 && rel >= 180*time.Second && rel < 270*time.Second {
				continue
			}
			v := 20.0
			if hot := 60*time.Second + time.Duration(i)*5*time.Second; rel >= hot && rel < hot+40*time.Second {
				v = 95
			}
			dev := fmt.Sprintf("d%02d", i)
			out = append(out, &kgo.Record{Topic: topic, Key: []byte(dev),
				Value: fmt.Appendf(nil, "temp,device=%s value=%g %d", dev, v, at.UnixNano())})
		}
	}
	return out
}

// stepper drives virtual time: each step sets the clock, produces what
// arrives by then to every deployment, and waits until each has
// processed it.
type stepper struct {
	r    *rig
	data interface {
		arriving(topic string, from, to time.Time) []*kgo.Record
	}
	every time.Duration // by default stepEvery
	deps  []deployment
	halt  func() bool // stops stepping before waiting, once it reports true
}

type deployment struct {
	ts      topics
	workers func() []*Worker
	end     map[int32]int64 // the input's end offsets
}

func (s *stepper) until(rel time.Duration) {
	s.r.t.Helper()
	every := cmp.Or(s.every, stepEvery)
	for i := range s.deps {
		if s.deps[i].end == nil {
			s.deps[i].end = s.r.ends(s.deps[i].ts.in)
		}
	}
	for now := s.r.clock.Now(); now.Before(t0.Add(rel)); now = s.r.clock.Now() {
		next := now.Add(every)
		s.r.clock.Set(next)
		for _, d := range s.deps {
			s.r.produce(s.data.arriving(d.ts.in, now, next), d.end)
		}
		for _, d := range s.deps {
			s.r.caughtUpUnless(s.halt, d.ts.in, d.end, d.workers()...)
		}
		if s.halt != nil && s.halt() {
			return
		}
	}
}

// balanced waits until every worker holds a partition and each of ts's
// partitions is held by exactly one.
func (r *rig) balanced(ts topics, ws ...*Worker) {
	r.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		held := map[tp]int{}
		ok := true
		for _, w := range ws {
			prog := w.progress()
			ok = ok && len(prog) > 0
			for t := range prog {
				held[t]++
			}
		}
		for p := range ts.partitions {
			ok = ok && held[tp{ts.in, p}] == 1
		}
		if ok && held[tp{ts.fleet, 0}] == 1 {
			return
		}
		time.Sleep(time.Millisecond)
	}
	r.t.Fatal("the group did not balance")
}

// TestRebalance runs a stream over 6 partitions through one worker, then
// three more that join mid-stream, then kills one of them without a
// revoke, and compares the events topic, deduplicated by ID, with what a
// single uninterrupted worker produced from the same stream at the same
// arrival times.
func TestRebalance(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	live, ref := r.topics("live", 6), r.topics("ref", 6)
	refW := r.start(r.config(ref, "ref", "ref", deviceRules))
	ws := []*runner{r.start(r.config(live, "live", "w1", deviceRules))}
	alive := func() []*Worker {
		var out []*Worker
		for _, rn := range ws {
			if rn.done != nil {
				out = append(out, rn.w)
			}
		}
		return out
	}
	s := &stepper{r: r, data: devices{n: 60}, deps: []deployment{
		{ts: ref, workers: func() []*Worker { return []*Worker{refW.w} }},
		{ts: live, workers: alive},
	}}
	s.until(2 * time.Minute)
	for i := 2; i <= 4; i++ {
		ws = append(ws, r.start(r.config(live, "live", "w"+itoa(i), deviceRules)))
	}
	r.balanced(live, alive()...)
	s.until(6*time.Minute + 10*time.Second)

	// Kill a joiner that holds input partitions, between two checkpoints.
	var victim *runner
	for _, rn := range ws[1:] {
		for t := range rn.w.progress() {
			if t.topic == live.in && victim == nil {
				victim = rn
			}
		}
	}
	require.NotNil(t, victim)
	held := victim.w.progress()
	victim.kill(t)
	r.caughtUp(live.in, r.ends(live.in), alive()...)
	s.until(9 * time.Minute)

	r.settle(ref, refW.w)
	r.settle(live, alive()...)
	for _, rn := range append(ws, refW) {
		rn.stop(t)
	}

	// The partitions moved with their state: every handover restored it.
	restored, lost := 0.0, 0.0
	for _, rn := range ws {
		restored += metric(rn.w, "faultline_kafka_restored_total")
		lost += metric(rn.w, "faultline_kafka_state_unreadable_total") + metric(rn.w, "faultline_kafka_state_load_errors_total")
	}
	require.GreaterOrEqual(t, restored, float64(len(held)+3), "the joiners' partitions and the victim's were restored from their states")
	require.Zero(t, lost)

	want := dedup(t, r.events(ref.events))
	raw := r.events(live.events)
	got := dedup(t, raw)
	require.Equal(t, len(want), len(got), "events after dedup: %d, a single worker's: %d", len(got), len(want))
	require.Equal(t, want, got)

	// The stream has transitions throughout, and one absence: the
	// handovers raised no other.
	kinds := map[string]int{}
	for _, v := range want {
		ev, err := ParseEvent([]byte(v))
		require.NoError(t, err)
		kinds[string(ev.Kind)+"/"+ev.State.String()]++
	}
	require.Equal(t, 60, kinds["threshold/firing"], "every device ran hot once: %v", kinds)
	require.Equal(t, 1, kinds["absence/firing"], "%v", kinds)
	require.Equal(t, 1, kinds["absence/resolved"], "%v", kinds)
	t.Logf("%d events (%d records, %d re-emitted after the crash); victim held %v; kinds %v", len(got), len(raw), len(raw)-len(got), held, kinds)
}
