package fault

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/stream"
)

// badInputEvents returns the bad_input events.
func badInputEvents(events []Event) []Event {
	var out []Event
	for _, ev := range events {
		if ev.Kind == KindBadInput {
			out = append(out, ev)
		}
	}
	return out
}

// goodStream is 20 series every 10 s for 15 minutes.
func goodStream() []stream.Sample {
	var out []stream.Sample
	for s := 0.0; s < 900; s += 10 {
		for i := range 20 {
			out = append(out, stream.NewSample("up", stream.NewLabels("host", "h"+strconv.Itoa(i)), sec(s), 1, sec(s)))
		}
	}
	return out
}

// TestBadInputCoalesced: a thousand bad records from one input over three
// minutes are one episode, a firing event after its first minute (with that
// minute's count and the first three messages) and a resolved one five
// minutes after the last (with the total); a single bad record of another
// input is its own episode; and the good samples around them raise exactly
// the events they raise alone.
func TestBadInputCoalesced(t *testing.T) {
	good := goodStream()
	run := func(bad bool) (*Engine, *recorder) {
		e, rec := newEngine(t, Config{})
		n := 0
		for _, batch := range chunk(good, 20) {
			process(t, e, batch...)
			at := batch[0].Arrival
			if !bad {
				continue
			}
			if at >= sec(30) && at < sec(210) {
				for range 55 { // 5.5 a second, for 3 minutes
					n++
					e.BadInput("kafka:metrics/3", fmt.Errorf("line %d:1: bad record %d", n, n))
				}
			}
			if at == sec(400) {
				e.BadInput("tcp:10.0.0.7", errors.New(strings.Repeat("x", 300)))
			}
		}
		require.NoError(t, e.Close(context.Background()))
		return e, rec
	}
	e, rec := run(true)
	_, alone := run(false)
	var others []Event
	for _, ev := range rec.events {
		if ev.Kind != KindBadInput {
			others = append(others, ev)
		}
	}
	require.Equal(t, alone.events, others, "bad input changes nothing else")

	evs := badInputEvents(rec.events)
	require.Len(t, evs, 4)
	k := evs[0]
	require.Equal(t, StateFiring, k.State)
	require.Equal(t, sec(30), k.Since)
	require.Equal(t, sec(90), k.At, "after one interval")
	require.Equal(t, float64(6*55), k.Value, "the records of its first minute: 30 s … 80 s")
	require.Equal(t, "kafka:metrics/3", k.Labels.Get(InputLabel))
	require.Equal(t, "faultline", k.Labels.Get(OriginLabel))
	require.Equal(t, "line 1:1: bad record 1\nline 2:1: bad record 2\nline 3:1: bad record 3", k.Annotations.Get("examples"))
	require.Equal(t, "330", k.Annotations.Get("bad_records"))

	require.Equal(t, KindBadInput, evs[1].Kind)
	require.Equal(t, "tcp:10.0.0.7", evs[1].Labels.Get(InputLabel))
	require.Equal(t, StateFiring, evs[1].State)
	require.Equal(t, sec(460), evs[1].At)
	require.Equal(t, strings.Repeat("x", badInputExampleLen)+"…", evs[1].Annotations.Get("examples"))

	r := evs[2]
	require.Equal(t, StateResolved, r.State)
	require.Equal(t, k.Episode, r.Episode)
	require.Equal(t, sec(200+300), r.At, "five quiet minutes after the last bad record, at 200 s")
	require.Equal(t, float64(18*55), r.Value, "the episode's total")
	require.Equal(t, "990", r.Annotations.Get("bad_records"))

	require.Equal(t, StateResolved, evs[3].State)
	require.Equal(t, sec(700), evs[3].At)
	require.Equal(t, uint64(18*55+1), e.Stats().BadInput)
}

func chunk(in []stream.Sample, n int) [][]stream.Sample {
	var out [][]stream.Sample
	for len(in) > 0 {
		k := min(n, len(in))
		out = append(out, in[:k])
		in = in[k:]
	}
	return out
}

// TestBadInputBeforeStartAndAtClose: bad records told before the first
// sample are dated when the engine starts; at Close an episode still in its
// first interval is reported at the end of input, and none is resolved by
// it, since the end of input is not a quiet spell.
func TestBadInputBeforeStartAndAtClose(t *testing.T) {
	e, rec := newEngine(t, Config{})
	e.BadInput("stdin", errors.New("line 1:3: bad"))
	process(t, e, stream.NewSample("up", nil, sec(0), 1, sec(0)))
	process(t, e, stream.NewSample("up", nil, sec(100), 1, sec(100)))
	e.BadInput("stdin", errors.New("line 9:1: bad"))
	process(t, e, stream.NewSample("up", nil, sec(110), 1, sec(110)))
	e.BadInput("other", errors.New("line 2:1: bad"))
	require.NoError(t, e.Close(context.Background()))
	evs := badInputEvents(rec.events)
	require.Len(t, evs, 2)
	require.Equal(t, "stdin", evs[0].Labels.Get(InputLabel))
	require.Equal(t, sec(0), evs[0].Since)
	require.Equal(t, sec(60), evs[0].At)
	require.Equal(t, 1.0, evs[0].Value)
	require.Equal(t, "other", evs[1].Labels.Get(InputLabel))
	require.Equal(t, StateFiring, evs[1].State)
	require.Equal(t, sec(110), evs[1].At, "at the end of input")
	e.BadInput("late", errors.New("after close"))
	require.Equal(t, uint64(3), e.Stats().BadInput, "nothing is counted after Close")
}

// TestBadInputBound: inputs beyond the bound are coalesced into one
// overflow input, whose events say so.
func TestBadInputBound(t *testing.T) {
	e, rec := newEngine(t, Config{})
	process(t, e, stream.NewSample("up", nil, sec(0), 1, sec(0)))
	for i := range maxBadInputs + 10 {
		e.BadInput("in"+strconv.Itoa(i), errors.New("bad"))
	}
	require.Len(t, e.bad.byName, maxBadInputs)
	require.NoError(t, e.Advance(context.Background(), sec(61)))
	evs := badInputEvents(rec.events)
	require.Len(t, evs, maxBadInputs+1)
	last := evs[len(evs)-1]
	require.Equal(t, "true", last.Labels.Get(InputOverflowLabel))
	require.Empty(t, last.Labels.Get(InputLabel))
	require.Equal(t, 10.0, last.Value)
}

// TestBadInputOnly: an input that sends only bad records is reported
// although no sample ever starts the engine clock. Closed, the engine
// emits the firing event at the end of input, dated at its own time (there
// is no other); Advanced, as a live host's ticks do, the first tick dates
// the episode and the event fires at the end of its first minute, whenever
// the tick that notices it comes (it was dated at that tick, since the
// interval's end was read after the episode was marked reported).
func TestBadInputOnly(t *testing.T) {
	e, rec := newEngine(t, Config{})
	e.BadInput("stdin", errors.New("line 1:19: bad"))
	e.BadInput("stdin", errors.New("line 2:3: bad"))
	require.NoError(t, e.Close(context.Background()))
	evs := badInputEvents(rec.events)
	require.Len(t, evs, 1, "one firing event at the end of input, none resolved")
	require.Equal(t, StateFiring, evs[0].State)
	require.Equal(t, "stdin", evs[0].Labels.Get(InputLabel))
	require.Equal(t, 2.0, evs[0].Value)
	require.Equal(t, evs[0].Since, evs[0].At)
	require.Equal(t, "line 1:19: bad\nline 2:3: bad", evs[0].Annotations.Get("examples"))

	e, rec = newEngine(t, Config{})
	e.BadInput("tcp", errors.New("bad"))
	require.NoError(t, e.Advance(context.Background(), sec(0)))
	require.NoError(t, e.Advance(context.Background(), sec(59)))
	require.Empty(t, badInputEvents(rec.events))
	require.NoError(t, e.Advance(context.Background(), sec(61)))
	evs = badInputEvents(rec.events)
	require.Len(t, evs, 1)
	require.Equal(t, sec(0), evs[0].Since)
	require.Equal(t, sec(60), evs[0].At)
}
