package pipeline_test

import (
	"fmt"
	"time"

	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/pipeline"
)

// Two members (shards, or partitions) find one fleet gap: member 1
// estimates a period of 60 s, member 2, a period later, 59.65 s. The
// Merger reports one fault, under member 1's episode; the absence that
// member 2's gap explains links to the fault's firing event; the fault
// resolves when its last member does, and a member's event emitted again
// is dropped.
func ExampleMerger() {
	began := time.Date(2026, 1, 1, 0, 12, 12, 250e6, time.UTC).UnixNano() // the first burst
	gap := func(state fault.State, since int64, period time.Duration) fault.Event {
		id, episode := fault.EventIDs(fault.KindPeriodicGap, "periodic_gap", 0, since, state)
		start := time.Duration(since % int64(period)) // its phase, in its own period
		return fault.Event{ID: id, Episode: episode, Kind: fault.KindPeriodicGap, Rule: "periodic_gap", State: state,
			At: since + int64(3*period), Since: since,
			Gap: &fault.Gap{Period: period, PhaseStart: start, PhaseEnd: start + 1500*time.Millisecond, Series: 120}}
	}
	a := gap(fault.StateFiring, began, time.Minute)
	b := gap(fault.StateFiring, began+int64(time.Minute), 59650*time.Millisecond)
	absence := fault.Event{ID: "5eed", Episode: "5eed0", Kind: fault.KindAbsence, Rule: "absence", State: fault.StateFiring,
		Series: 42, InhibitedBy: b.ID}

	m := pipeline.NewMerger()
	var out []fault.Event
	out = m.Add(out, 1, a)
	out = m.Add(out, 2, b)
	out = m.Add(out, 2, absence)
	out = m.Add(out, 1, gap(fault.StateResolved, a.Since, time.Minute))
	out = m.Add(out, 2, b) // emitted again
	out = m.Add(out, 2, gap(fault.StateResolved, b.Since, 59650*time.Millisecond))
	for _, ev := range out {
		fmt.Println(ev.Kind, ev.State, ev.Episode == a.Episode, ev.InhibitedBy == a.ID)
	}
	fmt.Printf("phases %v and %v\n", a.Gap.PhaseStart, b.Gap.PhaseStart)
	fmt.Printf("%+v\n", m.Stats())
	// Output:
	// periodic_gap firing true false
	// absence firing false true
	// periodic_gap resolved true false
	// phases 12.25s and 500ms
	// {In:6 Out:3 Merged:2 Duplicates:1 Overflow:0}
}
