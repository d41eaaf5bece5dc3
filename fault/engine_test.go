package fault

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/rules"
	"github.com/faultline-go/faultline/stream"
)

// The package's test harness: virtual time in seconds from t0, samples,
// an engine whose events are recorded, and steady series, for the tests
// inside the package. The tests of package fault_test are the Examples,
// the fuzz tests, and those that need bench/scenario (which imports fault)
// or share their helpers (small, replay, only: gaps_test.go).

// t0 is an arbitrary origin for virtual time: 2026-01-01T00:00:00Z.
const t0 = int64(1767225600) * int64(time.Second)

// sec returns the time s seconds after t0, in Unix ns.
func sec(s float64) int64 { return t0 + int64(s*float64(time.Second)) }

// recorder is a Sink that keeps every event it is given, in order.
type recorder struct{ events []Event }

func (r *recorder) Emit(_ context.Context, ev Event) error {
	r.events = append(r.events, ev)
	return nil
}

// kinds returns the recorded events as kind/rule/state.
func (r *recorder) kinds() []string {
	var out []string
	for _, ev := range r.events {
		out = append(out, string(ev.Kind)+"/"+ev.Rule+"/"+ev.State.String())
	}
	return out
}

// only returns the recorded events of kind in state, in order.
func (r *recorder) only(kind Kind, state State) []Event {
	var out []Event
	for _, ev := range r.events {
		if ev.Kind == kind && ev.State == state {
			out = append(out, ev)
		}
	}
	return out
}

// newEngine returns an engine with cfg whose events go to the returned
// recorder.
func newEngine(t *testing.T, cfg Config) (*Engine, *recorder) {
	t.Helper()
	rec := &recorder{}
	cfg.Sink = rec
	e, err := New(cfg)
	require.NoError(t, err)
	return e, rec
}

// parseRules parses a rule file.
func parseRules(t *testing.T, src string) *rules.Ruleset {
	t.Helper()
	rs, err := rules.Parse("test.yaml", []byte(src))
	require.NoError(t, err)
	return rs
}

// smp returns a sample of name with labels, at sample time ts and arrival
// time arrival (Unix ns).
func smp(name string, ts, arrival int64, v float64, labels ...string) stream.Sample {
	return stream.NewSample(name, stream.NewLabels(labels...), ts, v, arrival)
}

// process feeds batch to e in one call, which must succeed.
func process(t *testing.T, e *Engine, batch ...stream.Sample) {
	t.Helper()
	require.NoError(t, e.Process(context.Background(), batch))
}

// steady returns the samples of a series sending every cadence from start
// to end (seconds), arriving lag after their sample time.
func steady(name string, cadence, start, end, lag float64, labels ...string) []stream.Sample {
	var out []stream.Sample
	for s := start; s < end; s += cadence {
		out = append(out, smp(name, sec(s), sec(s+lag), 1, labels...))
	}
	return out
}

// sortByArrival sorts samples by arrival time, keeping the order of equal arrivals.
func sortByArrival(in []stream.Sample) {
	slices.SortStableFunc(in, func(a, b stream.Sample) int {
		switch {
		case a.Arrival < b.Arrival:
			return -1
		case a.Arrival > b.Arrival:
			return 1
		}
		return 0
	})
}

func TestThresholdForHoldsInSampleTime(t *testing.T) {
	rs := parseRules(t, `
groups:
  - name: g
    rules:
      - alert: Hot
        match: temp
        expr: value > 90
        for: 2m
        labels: {severity: page}
`)
	e, rec := newEngine(t, Config{Rules: rs})
	// Every 30 s; hot from 60 s to 240 s; a cool blip at 120 s restarts `for`.
	values := map[int]float64{60: 95, 90: 95, 120: 50, 150: 95, 180: 95, 210: 95, 240: 95, 270: 95, 300: 40}
	for s := 0; s <= 330; s += 30 {
		v, ok := values[s]
		if !ok {
			v = 20
		}
		process(t, e, smp("temp", sec(float64(s)), sec(float64(s)+0.1), v, "room", "a"))
	}
	require.Equal(t, []string{
		"threshold/Hot/pending", "threshold/Hot/resolved", // 60..120: held 60 s only
		"threshold/Hot/pending", "threshold/Hot/firing", "threshold/Hot/resolved",
	}, rec.kinds())
	pending, firing, resolved := rec.events[2], rec.events[3], rec.events[4]
	require.Equal(t, sec(150), pending.Since)
	require.Equal(t, sec(270.1), firing.At, "fires at the first sample 2m after the condition began")
	require.Equal(t, sec(300.1), resolved.At)
	require.Equal(t, pending.Episode, firing.Episode)
	require.Equal(t, firing.Episode, resolved.Episode)
	require.NotEqual(t, pending.ID, firing.ID)
	require.Equal(t, stream.NewLabels("__name__", "temp", OriginLabel, "faultline", "room", "a", "severity", "page"), firing.Labels)
	require.Equal(t, 95.0, firing.Value)
}

func TestThresholdWithoutForFiresAtOnceAndOnlySelectedSeries(t *testing.T) {
	rs := parseRules(t, `
groups:
  - name: g
    rules:
      - alert: Down
        match: 'up{job="api"}'
        expr: value == 0
`)
	e, rec := newEngine(t, Config{Rules: rs})
	process(t, e,
		smp("up", sec(0), sec(0), 0, "job", "db"),
		smp("up", sec(0), sec(0), 0, "job", "api"),
		smp("up", sec(10), sec(10), 1, "job", "api"),
	)
	require.Equal(t, []string{"threshold/Down/firing", "threshold/Down/resolved"}, rec.kinds())
	require.Equal(t, "api", rec.events[0].Labels.Get("job"))
}

func TestLateFillsAreNotLosses(t *testing.T) {
	e, rec := newEngine(t, Config{})
	var in []stream.Sample
	for s := 0.0; s < 1800; s += 60 {
		arr := s + 0.2
		if s >= 600 && s < 1200 {
			arr = s + 30 // a delivery gap: every sample 30 s late, within L
		}
		in = append(in, smp("check", sec(s), sec(arr), 1))
	}
	sortByArrival(in)
	process(t, e, in...)
	require.NoError(t, e.Close(context.Background()))
	require.Empty(t, rec.events)
	st := e.Stats()
	require.EqualValues(t, 0, st.SlotsLost)
	require.Greater(t, st.SlotsLate, uint64(5))
	require.Greater(t, st.SlotsMissed, uint64(5))
}

func TestCloseDoesNotJudgeSlotsAfterEndOfInput(t *testing.T) {
	e, rec := newEngine(t, Config{})
	process(t, e, steady("check", 60, 0, 600, 0.2)...)
	require.NoError(t, e.Close(context.Background()))
	require.Empty(t, rec.events)
	st := e.Stats()
	// The lattice starts on the fourth sample (180 s), when the cadence is
	// learned; slots 180 s … 540 s are judged, not the one expected at 600 s.
	require.EqualValues(t, 7, st.SlotsExpected)
	require.EqualValues(t, 0, st.SlotsMissed)
	require.ErrorIs(t, e.Process(context.Background(), nil), ErrClosed)
	require.NoError(t, e.Close(context.Background()), "Close is idempotent")
}

// TestDuplicatesDoNotChangeEvents delivers every sample 4×, copies spread
// over 200 ms and interleaved with other series, and expects the very same
// events as a single delivery.
func TestDuplicatesDoNotChangeEvents(t *testing.T) {
	rs := parseRules(t, `
groups:
  - name: g
    rules:
      - alert: High
        expr: value > 0.8
        for: 1m
`)
	rng := rand.New(rand.NewPCG(1, 2))
	var once []stream.Sample
	for i := range 50 {
		id := string(rune('a'+i%26)) + string(rune('a'+i/26))
		stop := 3600.0
		if i%7 == 0 {
			stop = 1800 // some series die
		}
		off := rng.Float64() * 60
		for s := off; s < stop; s += 60 {
			once = append(once, smp("m", sec(s), sec(s+0.05+rng.Float64()*0.1), rng.Float64(), "id", id))
		}
	}
	sortByArrival(once)
	var many []stream.Sample
	for _, x := range once {
		for c := range 4 {
			y := x
			if c > 0 {
				y.Arrival += int64(rng.Float64() * float64(200*time.Millisecond))
			}
			many = append(many, y)
		}
	}
	sortByArrival(many)

	run := func(cfg Config, in []stream.Sample) ([]string, Stats) {
		cfg.Rules = rs
		e, rec := newEngine(t, cfg)
		for len(in) > 0 { // in uneven batches
			n := min(len(in), 1+rng.IntN(300))
			process(t, e, in[:n]...)
			in = in[n:]
		}
		require.NoError(t, e.Close(context.Background()))
		var out []string
		for _, ev := range rec.events {
			out = append(out, string(ev.AppendJSON(nil)))
		}
		return out, e.Stats()
	}
	a, _ := run(Config{}, once)
	require.NotEmpty(t, a)
	require.Contains(t, strings.Join(a, "\n"), `"kind":"absence"`)
	require.Contains(t, strings.Join(a, "\n"), `"kind":"threshold"`)
	b, st := run(Config{}, many)
	require.Equal(t, a, b)
	require.EqualValues(t, 3*len(once), st.Duplicates)

	// With dedup off (input deduplicated upstream, or not), the copies
	// collapse onto their slots and rules see each sample time once.
	c, st := run(Config{DisableDedup: true}, many)
	require.Equal(t, a, c)
	require.EqualValues(t, 3*len(once), st.Duplicates)
}

func TestFutureSamplesRejected(t *testing.T) {
	e, _ := newEngine(t, Config{})
	process(t, e,
		smp("m", sec(3600), sec(0), 1), // an hour ahead of its arrival
		smp("m", sec(1), sec(1), 1),
	)
	st := e.Stats()
	require.EqualValues(t, 1, st.Future)
	require.EqualValues(t, 1, st.Fresh, "the future sample must not move dedup's watermark")
}

func TestMaxSeriesOverflowIsCounted(t *testing.T) {
	e, _ := newEngine(t, Config{MaxSeries: 2})
	err := e.Process(context.Background(), []stream.Sample{
		smp("m", sec(0), sec(0), 1, "i", "1"),
		smp("m", sec(0), sec(0), 1, "i", "2"),
		smp("m", sec(0), sec(0), 1, "i", "3"),
	})
	require.ErrorIs(t, err, ErrOverloaded)
	st := e.Stats()
	require.EqualValues(t, 2, st.Series)
	require.EqualValues(t, 1, st.SeriesOverflow)
}

func TestEventJSON(t *testing.T) {
	ev := Event{
		ID: "0011223344556677", Episode: "8899aabbccddeeff", Kind: KindPeriodicGap, Rule: "periodic_gap",
		State: StateFiring, At: sec(0.5), Labels: stream.NewLabels("b", `q"`, "a", "1"),
		Value: math.NaN(), InhibitedBy: "x",
		Gap: &Gap{Period: time.Minute, PhaseStart: 11750 * time.Millisecond, PhaseEnd: 13750 * time.Millisecond, Series: 250, LateFraction: 1},
	}
	require.Equal(t, `{"id":"0011223344556677","episode":"8899aabbccddeeff","kind":"periodic_gap","rule":"periodic_gap","state":"firing","at":"2026-01-01T00:00:00.500000000Z","labels":{"a":"1","b":"q\""},"inhibited_by":"x","period_s":60,"phase_start_s":11.75,"phase_end_s":13.75,"series":250,"late_fraction":1.0000}`,
		string(ev.AppendJSON(nil)))
}

func TestLoopedSamplesAreRejectedWithOneFault(t *testing.T) {
	e, rec := newEngine(t, Config{Instance: "edge-1"})
	for s := 0.0; s < 600; s += 60 {
		process(t, e, smp("up", sec(s), sec(s), 1, "host", "a"))
	}
	for s := 600.0; s < 900; s += 10 { // our events, coming back as metrics
		process(t, e, smp("faultline_event", sec(s), sec(s), 1, "kind", "absence", OriginLabel, "edge-1"))
		process(t, e, smp("up", sec(s), sec(s), 1, "host", "a"))
	}
	require.NoError(t, e.Advance(context.Background(), sec(900+3600+1)))
	var loops []Event
	for _, ev := range rec.events {
		if ev.Kind == KindFeedbackLoop {
			loops = append(loops, ev)
		}
	}
	require.Len(t, loops, 2)
	fire, res := loops[0], loops[1]
	require.Equal(t, StateFiring, fire.State)
	require.Equal(t, StateResolved, res.State)
	require.Equal(t, sec(600), fire.At)
	require.Equal(t, "faultline_event", fire.Labels.Get("looped_name"))
	require.Equal(t, "edge-1", fire.Labels.Get("looped_origin"))
	require.Equal(t, "edge-1", fire.Labels.Get(OriginLabel), "the fault itself carries the marker")
	require.Equal(t, sec(890+3600), res.At, "an hour after the last looped sample")
	require.Equal(t, 30.0, res.Value, "samples rejected")
	st := e.Stats()
	require.EqualValues(t, 30, st.Looped)
	require.EqualValues(t, 1, st.Series, "looped samples get no state")
}
