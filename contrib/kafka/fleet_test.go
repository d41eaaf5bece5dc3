package kafka

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/faultline-go/faultline/bench/scenario"
	"github.com/faultline-go/faultline/fault"
)

// scenarioData feeds a bench/scenario dataset: each delivery is a record
// keyed by its check, arriving at its arrival time (rounded up to the
// step).
type scenarioData struct {
	ds   *scenario.Dataset
	next int // the first delivery not yet produced
}

func (d *scenarioData) arriving(topic string, _, to time.Time) []*kgo.Record {
	var out []*kgo.Record
	for ; d.next < d.ds.Len(); d.next++ {
		dv := d.ds.At(d.next)
		if dv.Arrival() > to.UnixNano() {
			break
		}
		check := d.ds.Series[dv.Series()].Labels.Get(scenario.CheckLabel)
		out = append(out, &kgo.Record{Topic: topic, Key: []byte(check),
			Value: fmt.Appendf(nil, "%s,%s=%s value=%g %d", scenario.Metric, scenario.CheckLabel, check, scenario.Value, dv.Time())})
	}
	return out
}

// TestFleetGapIsOneFault runs the stratcond incident (a 1.5-s loss at the
// same phase of every minute) over 3,000 checks keyed over 6 partitions
// and 3 workers: each partition sees a sixth of the fleet and may find the
// gap on its own; downstream it is one fault, found within four periods,
// and the absences it explains link to that fault's firing event.
func TestFleetGapIsOneFault(t *testing.T) {
	t.Parallel()
	spec := scenario.MustNamed("B01").WithN(3000).WithIncident(4*time.Minute, 4*time.Minute).WithHorizon(10*time.Minute + 30*time.Second)
	spec.Copies, spec.Replay = 1, 0
	ds, err := scenario.Generate(spec, 1)
	require.NoError(t, err)

	r := newRig(t)
	live := r.topics("fleet", 6)
	var ws []*Worker
	for i := 1; i <= 3; i++ {
		cfg := r.config(live, "fleet", "w"+itoa(i), nil)
		cfg.Engine.AbsentAfter = 3 * time.Minute // within the incident, once the gap fired
		// Arrivals are stamped at the next whole second: up to a second
		// late, on top of the scenario's own jitter.
		cfg.Engine.OnTimeBudget = 2 * time.Second
		ws = append(ws, r.start(cfg).w)
	}
	r.balanced(live, ws...)
	s := &stepper{r: r, data: &scenarioData{ds: ds}, every: time.Second,
		deps: []deployment{{ts: live, workers: func() []*Worker { return ws }}}}
	s.until(spec.Horizon)
	r.settle(live, ws...)

	// What the partitions found, as the fleet stage read it.
	members := map[string]bool{}
	for _, rec := range r.events(live.fleet) {
		ev, err := ParseEvent(rec.value)
		require.NoError(t, err)
		if ev.Kind == fault.KindPeriodicGap {
			members[rec.key+"/"+ev.Episode] = true
		}
	}
	var gaps []fault.Event
	var firing fault.Event
	explained := 0
	byID := dedup(t, r.events(live.events))
	ids := make([]string, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		ev, err := ParseEvent([]byte(byID[id]))
		require.NoError(t, err)
		if ev.Kind == fault.KindPeriodicGap {
			gaps = append(gaps, ev)
			if ev.State == fault.StateFiring {
				firing = ev
			}
		}
		if ev.Kind == fault.KindAbsence && ev.State == fault.StateFiring && ev.InhibitedBy != "" {
			explained++
		}
	}
	episodes := map[string]bool{}
	for _, ev := range gaps {
		episodes[ev.Episode] = true
	}
	require.GreaterOrEqual(t, len(members), 2, "several partitions found the gap on their own")
	require.Positive(t, explained, "absences explained by the gap")
	require.Len(t, episodes, 1, "one fault downstream: %v", gaps)
	require.NotEmpty(t, firing.ID, "it fired: %v", gaps)
	onset := time.Unix(0, scenario.Origin).Add(spec.Onset)
	found := time.Unix(0, firing.At).Sub(onset)
	require.LessOrEqual(t, found, 4*spec.Period, "found within four periods")
	// The period as one partition estimated it (within the burst
	// trains' tolerance); its window where the outage was: phases are
	// relative to the estimated period, so the window is checked where
	// it began, in time.
	require.InDelta(t, spec.Period.Seconds(), firing.Gap.Period.Seconds(), 0.6)
	into := time.Duration(firing.Since-scenario.Origin) % spec.Period
	require.InDelta(t, spec.Phase.Seconds(), into.Seconds(), 1.0, "the gap began %v into the minute", into)

	// The absences it explains name its firing event.
	for _, id := range ids {
		ev, _ := ParseEvent([]byte(byID[id]))
		if ev.InhibitedBy != "" {
			require.Equal(t, firing.ID, ev.InhibitedBy, "%s", byID[id])
		}
	}
	t.Logf("%d partitions' episodes → one fault, firing %v after the onset (period %v, %.2f–%.2f s, ~%d checks); %d absences explained; %d downstream gap events",
		len(members), found, firing.Gap.Period, firing.Gap.PhaseStart.Seconds(), firing.Gap.PhaseEnd.Seconds(), firing.Gap.Series, explained, len(gaps))
}
