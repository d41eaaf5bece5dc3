package fault_test

import (
	"bytes"
	"context"
	"errors"
	"math"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/rules"
	"github.com/faultline-go/faultline/stream"
)

// fuzzRules are the rules FuzzProcess runs with when its first byte asks
// for them: a rule with `for`, one on every series, one that fails at run
// time for some values, two with the alert lifecycle fields (levels with
// resolve, for_tolerance, keep_firing_for, no_data, flapping, a label
// templated with the value), a windowed rule, a cohort rule, and a
// declared cadence and absence threshold.
const fuzzRules = `
groups:
- name: g
  rules:
  - {alert: Hot, match: cpu, expr: 'value > 128', for: 30s}
  - alert: Lvl
    match: cpu
    for: 20s
    for_tolerance: 1
    keep_firing_for: 30s
    no_data: alert
    flapping: {low: 10, high: 20}
    labels: {v: '{{ $value }}'}
    levels:
    - {severity: warning, expr: value > 64, resolve: value < 32}
    - {severity: critical, expr: value > 192, resolve: value < 160}
  - {alert: Gone, match: mem, expr: 'value > 100', resolve: 'value < 50', no_data: resolve, flapping: {}}
  - {alert: Odd, expr: 'value == value && value < 1e9 && int(value) % 2 == 1'}
  - {alert: Err, match: mem, expr: '[1, 2][int(value) % 4] == 2'}
  - {alert: Fast, match: cpu, expr: 'rate(30s) > 1 || previous() > value + 100'}
  - {alert: Crowd, match: cpu, cohort: {by: [id], window: 20s}, expr: 'cohort.avg > 2 * others.avg'}
series:
- {match: '{id="3"}', cadence: 10s, absent_after: 1m}
`

// fuzzSeries are the series of FuzzProcess: two metric names, and a last
// one carrying OriginLabel, which the engine must reject as its own output.
var fuzzSeries = func() []stream.Sample {
	var out []stream.Sample
	for i := range 7 {
		name := "cpu"
		if i >= 4 {
			name = "mem"
		}
		out = append(out, stream.NewSample(name, stream.NewLabels("id", strconv.Itoa(i)), 0, 0, 0))
	}
	return append(out, stream.NewSample("cpu", stream.NewLabels("id", "7", fault.OriginLabel, "elsewhere"), 0, 0, 0))
}()

// fuzzAltRules are the rules a reload (op 30) switches to and back from:
// Hot and Gone unchanged, Lvl and the cohort rule removed, a new windowed
// rule on mem.
const fuzzAltRules = `
groups:
- name: g
  rules:
  - {alert: Hot, match: cpu, expr: 'value > 128', for: 30s}
  - {alert: Gone, match: mem, expr: 'value > 100', resolve: 'value < 50', no_data: resolve, flapping: {}}
  - {alert: Drop, match: mem, expr: 'delta(1m) < -50', for: 20s}
series:
- {match: '{id="5"}', cadence: 20s}
`

// fuzzStep is one step of a FuzzProcess input: a sample, an Advance of
// the clock, the end of a batch, or an event in the engine's life.
type fuzzStep struct {
	sample  stream.Sample
	advance int64 // Advance to this time, if not 0
	flush   bool  // Process the batch so far
	life    fuzzLife
	input   string // the input named by a bad record
}

// fuzzLife is what a step does to the engine besides giving it samples.
type fuzzLife uint8

const (
	lifeNone     fuzzLife = iota
	lifeRestart           // snapshot, then go on with an engine restored from it
	lifeReload            // Update with the same rules, parsed again
	lifeSwitch            // Update to the other rule set (fuzzRules ⇄ fuzzAltRules)
	lifeBadInput          // a record of input that could not be decoded
)

// fuzzConfig is what the first input byte selects.
type fuzzConfig struct {
	rules, noDedup, fewSeries, sources, shortTTL bool
}

// decodeFuzzSteps turns fuzz input into a configuration (the first byte)
// and steps. Each step is 4 bytes: op (5 bits) and series (3 bits), sample
// time step, arrival delay and value. Sample times follow each series' own
// cursor (steps of -128..127 s, so out of order and repeated times happen),
// arrivals follow sample times (-32..32 s). Ops 0-19 and 31 send that
// sample; the others repeat the previous sample (a duplicate, a copy with
// another value), put the sample or arrival time far in the future or the
// past, use extreme times or values, move the clock, end the batch, or
// (op 30, by the value byte) restart the engine from a snapshot, reload
// its rules unchanged, switch rule sets, or report a bad record.
func decodeFuzzSteps(data []byte) (fuzzConfig, []fuzzStep) {
	var cfg fuzzConfig
	if len(data) > 0 {
		cfg = fuzzConfig{rules: data[0]&1 != 0, noDedup: data[0]&2 != 0, fewSeries: data[0]&4 != 0, sources: data[0]&8 != 0, shortTTL: data[0]&16 != 0}
		data = data[1:]
	}
	const base = int64(1767225600) * int64(time.Second) // 2026-01-01T00:00:00Z
	var cursor [8]int64
	for i := range cursor {
		cursor[i] = base
	}
	clock := base
	var prev stream.Sample
	var steps []fuzzStep
	for ; len(data) >= 4 && len(steps) < 512; data = data[4:] {
		op, id := data[0]>>3, data[0]&7
		if op == 30 {
			life := fuzzLife(1 + data[3]%4)
			steps = append(steps, fuzzStep{life: life, input: "in" + strconv.Itoa(int(data[1]%3))})
			continue
		}
		dt := int64(int8(data[1])) * int64(time.Second)
		lag := int64(int8(data[2])) * int64(250*time.Millisecond)
		s := fuzzSeries[id]
		cursor[id] += dt
		s.Time = cursor[id]
		s.Arrival = s.Time + lag
		s.Value = float64(data[3])
		switch op {
		case 20, 21: // the previous sample again, a little later
			if prev.Name != "" {
				s = prev
				s.Arrival += int64(data[3]) * int64(10*time.Millisecond)
			}
		case 22: // the previous sample with another value
			if prev.Name != "" {
				s = prev
				s.Value++
			}
		case 23: // sample time far ahead of arrival
			s.Time = s.Arrival + (int64(data[3])+1)*int64(10*time.Minute)
		case 24: // sample time far in the past
			s.Time -= (int64(data[3]) + 1) * int64(time.Hour)
			s.Arrival = max(s.Arrival, clock)
		case 25: // arrival far ahead
			s.Arrival += (int64(data[3]) + 1) * int64(24*time.Hour)
		case 26: // extreme times
			switch data[3] % 4 {
			case 0:
				s.Time = math.MinInt64
			case 1:
				s.Time = math.MaxInt64
			case 2:
				s.Arrival = math.MaxInt64
			default:
				s.Time, s.Arrival = math.MinInt64, math.MinInt64
			}
		case 27:
			clock += int64(data[3]) * int64(5*time.Second)
			steps = append(steps, fuzzStep{advance: clock})
			continue
		case 28:
			steps = append(steps, fuzzStep{flush: true})
			continue
		case 29:
			s.Value = []float64{math.NaN(), math.Inf(1), math.Inf(-1), math.Copysign(0, -1), math.MaxFloat64}[data[3]%5]
		}
		if s.Arrival > clock && s.Arrival-clock < int64(24*time.Hour) {
			clock = s.Arrival
		}
		prev = s
		steps = append(steps, fuzzStep{sample: s})
	}
	return cfg, steps
}

// fuzzRuleSets are the two rule sets of FuzzProcess, parsed once.
type fuzzRuleSets struct{ main, alt *rules.Ruleset }

func parseFuzzRules(tb testing.TB) fuzzRuleSets {
	main, err := rules.Parse("fuzz.yaml", []byte(fuzzRules))
	require.NoError(tb, err)
	alt, err := rules.Parse("alt.yaml", []byte(fuzzAltRules))
	require.NoError(tb, err)
	return fuzzRuleSets{main, alt}
}

// fuzzRun runs steps through a new engine. With oneByOne, each sample is
// its own Process call; otherwise batches end where the steps say. Without
// lifeSteps, restarts and reloads of unchanged rules are left out (they
// must change nothing). Restarts happen only with dedup off, since the
// deduper's state passes through the file system, which is slow. It
// returns the events, encoded, and the engine's final Stats.
func fuzzRun(t testing.TB, cfg fuzzConfig, rs fuzzRuleSets, steps []fuzzStep, oneByOne, lifeSteps bool) ([]fault.Event, []string, fault.Stats) {
	t.Helper()
	var events []fault.Event
	c := fault.Config{
		Sink: fault.SinkFunc(func(_ context.Context, ev fault.Event) error {
			events = append(events, ev)
			return nil
		}),
		DisableDedup: cfg.noDedup,
	}
	if cfg.rules {
		c.Rules = rs.main
	}
	if cfg.fewSeries {
		c.MaxSeries = 4
	}
	if cfg.sources {
		c.SourceLabel, c.MaxSources = "id", 3 // every series its own source, the last ones overflowing
	}
	if cfg.shortTTL {
		c.SeriesTTL = 3 * time.Minute // series evicted within the input
	}
	e, err := fault.New(c)
	require.NoError(t, err)
	defer func() {
		if dd := e.Deduper(); dd != nil {
			dd.Reset()
		}
	}()
	ctx := context.Background()
	var batch []stream.Sample
	flush := func() {
		if err := e.Process(ctx, batch); !errors.Is(err, fault.ErrOverloaded) {
			require.NoError(t, err) // a small MaxSeries may refuse series
		}
		batch = batch[:0]
	}
	for _, st := range steps {
		switch {
		case st.advance != 0:
			flush()
			require.NoError(t, e.Advance(ctx, st.advance))
		case st.flush:
			flush()
		case st.life == lifeBadInput:
			flush()
			e.BadInput(st.input, errors.New("bad record"))
		case st.life == lifeSwitch:
			flush()
			if c.Rules == rs.alt {
				c.Rules = rs.main
			} else {
				c.Rules = rs.alt
			}
			if err := e.Update(ctx, c.Rules); !errors.Is(err, fault.ErrOverloaded) {
				require.NoError(t, err)
			}
		case st.life == lifeReload && lifeSteps:
			flush()
			// Parse the rules in use again: equal rules, another Ruleset.
			var again *rules.Ruleset
			switch c.Rules {
			case rs.main:
				again = parseFuzzRules(t).main
			case rs.alt:
				again = parseFuzzRules(t).alt
			}
			require.NoError(t, e.Update(ctx, again))
		case st.life == lifeRestart && lifeSteps && cfg.noDedup:
			flush()
			snap, err := e.AppendSnapshot(nil)
			require.NoError(t, err)
			e, err = fault.Restore(c, bytes.NewReader(snap))
			require.NoError(t, err)
		case st.life != lifeNone:
		default:
			batch = append(batch, st.sample)
			if oneByOne {
				flush()
			}
		}
	}
	flush()
	require.NoError(t, e.Close(ctx))
	st := e.Stats()

	// A closed engine refuses input, and closing again changes nothing.
	require.ErrorIs(t, e.Process(ctx, []stream.Sample{fuzzSeries[0]}), fault.ErrClosed)
	require.ErrorIs(t, e.Advance(ctx, math.MaxInt64), fault.ErrClosed)
	require.NoError(t, e.Close(ctx))
	require.Equal(t, st, e.Stats())

	var enc []string
	for _, ev := range events {
		enc = append(enc, string(ev.AppendJSON(nil))+" series="+strconv.FormatUint(uint64(ev.Series), 16))
	}
	return events, enc, st
}

// FuzzProcess fuzzes the engine's input: a short stream of samples of a
// few series, with sample and arrival times that may repeat, go backwards
// or lie far in the future or the past, duplicates and conflicting copies,
// extreme values, Advance calls and batch boundaries, through New, Process
// and Close, with or without rules, dedup, a small MaxSeries and a source
// label with a small MaxSources, with a short SeriesTTL that evicts
// series; and between them restarts from a snapshot, reloads of the rules
// (unchanged, or switched to another set) and bad records. Whatever the
// input:
//
//   - nothing panics and every call succeeds;
//   - Stats account for every sample: Samples = Fresh + Duplicates +
//     Conflicts + TooLate + Future + BadArrival + Looped + SeriesOverflow;
//     OutOfOrder is part of Fresh; no more series than MaxSeries; slots
//     missed are slots expected, and late and lost slots were missed;
//   - every event ID is unique; every resolved event follows a pending or
//     firing event of its episode, and nothing follows it; every event
//     carries the engine's OriginLabel;
//   - cutting the input into other batches (here: one sample per Process
//     call) gives the same events;
//   - restarting from a snapshot and reloading unchanged rules change
//     nothing: leaving them out gives the same events and counters.
func FuzzProcess(f *testing.F) {
	rec := func(op, id, dt, lag, v byte) []byte { return []byte{op<<3 | id, dt, lag, v} }
	// steady: n rounds of one sample of each series, every `every` seconds.
	steady := func(cfg byte, ids []byte, n int, every byte) []byte {
		out := []byte{cfg}
		for i := range n {
			for _, id := range ids {
				out = append(out, rec(0, id, every, 1, byte(i))...)
			}
		}
		return out
	}
	f.Add([]byte{})
	f.Add(steady(1, []byte{0, 1, 2, 3}, 20, 10))
	f.Add(steady(0, []byte{0, 4}, 30, 60))
	f.Add(steady(9, []byte{0, 1, 2, 3, 4, 5, 6}, 30, 30)) // sources: three tracked, four overflowing
	// A series that stops: absence, then it comes back.
	seed := steady(1, []byte{3}, 12, 10)
	seed = append(seed, rec(27, 0, 0, 0, 60)...) // Advance 5 min
	seed = append(seed, rec(0, 3, 200, 1, 9)...)
	seed = append(seed, rec(0, 3, 10, 1, 9)...)
	f.Add(seed)
	// Every op once, on several series.
	var all []byte
	all = append(all, 7)
	for op := byte(0); op < 32; op++ {
		all = append(all, rec(op, op%8, 10, byte(op*7), 131+op)...)
	}
	f.Add(all)
	// Duplicates, conflicts and copies, with and without dedup.
	for _, cfg := range []byte{1, 3} {
		s := []byte{cfg}
		for i := range 15 {
			s = append(s, rec(0, 0, 10, 2, byte(129+i))...)
			s = append(s, rec(20, 0, 0, 0, 30)...)
			s = append(s, rec(22, 0, 0, 0, 0)...)
		}
		f.Add(s)
	}
	// A sample older than the dedup window, and rule evaluation errors.
	late := steady(1, []byte{0, 4}, 8, 10)
	late = append(late, rec(24, 0, 10, 1, 0)...)
	late = append(late, rec(0, 4, 10, 1, 2)...)
	late = append(late, rec(0, 4, 10, 1, 3)...)
	f.Add(late)
	// Looped samples, too many series, a bogus arrival, the future.
	f.Add(append(steady(5, []byte{0, 1, 2, 3, 4, 5, 6, 7}, 6, 10), rec(25, 1, 10, 0, 200)...))
	// Extreme times first, then ordinary samples.
	extreme := []byte{0}
	for _, v := range []byte{0, 1, 2, 3} {
		extreme = append(extreme, rec(26, v, 0, 0, v)...)
	}
	f.Add(append(extreme, steady(0, []byte{0, 1, 2, 3}, 5, 10)[1:]...))

	// A fleet gap: seven series every 10 s, five of which lose the sample
	// at 20 s into every minute, with restarts, reloads and bad records on
	// the way; then the same without dedup and with a short SeriesTTL.
	life := func(kind, input byte) []byte { return rec(30, 0, input, 0, kind) }
	gap := []byte{1}
	for i := range 60 {
		for id := range byte(7) {
			if id == 6 && i >= 30 {
				continue // stops: absent, then evicted with a short SeriesTTL
			}
			v := byte(i)
			op := byte(0)
			if i%6 == 2 && id < 5 {
				op = 23 // lost: rejected as from the future, the cursor kept in step
			}
			gap = append(gap, rec(op, id, 10, 1, v)...)
		}
		switch i % 15 {
		case 5:
			gap = append(gap, life(0, 0)...) // restart
		case 8:
			gap = append(gap, life(1, 0)...) // reload, unchanged
		case 11:
			gap = append(gap, life(3, byte(i))...) // a bad record
		case 14:
			gap = append(gap, life(2, 0)...) // switch rules
		}
	}
	f.Add(gap)
	f.Add(append([]byte{3 | 16}, gap[1:]...))

	rs := parseFuzzRules(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, steps := decodeFuzzSteps(data)
		samples := 0
		switched := false // a switch of rules gives an engine without rules some
		for _, st := range steps {
			if st.advance == 0 && !st.flush && st.life == lifeNone {
				samples++
			}
			switched = switched || st.life == lifeSwitch
		}
		events, enc, st := fuzzRun(t, cfg, rs, steps, false, true)

		require.EqualValues(t, samples, st.Samples)
		require.Equal(t, st.Samples,
			st.Fresh+st.Duplicates+st.Conflicts+st.TooLate+st.Future+st.BadArrival+st.Looped+st.SeriesOverflow,
			"samples unaccounted for: %+v", st)
		require.LessOrEqual(t, st.OutOfOrder, st.Fresh)
		require.LessOrEqual(t, st.Series, uint64(len(fuzzSeries)-1), "the looped series gets no state")
		if cfg.fewSeries {
			require.LessOrEqual(t, st.Series, uint64(4))
		} else {
			require.Zero(t, st.SeriesOverflow)
		}
		if cfg.sources {
			require.LessOrEqual(t, st.Sources, uint64(3))
		} else {
			require.LessOrEqual(t, st.Sources, uint64(1))
			require.Zero(t, st.SourceOverflow)
		}
		require.LessOrEqual(t, st.SourceOverflow, st.Samples)
		if cfg.noDedup {
			require.Zero(t, st.Conflicts)
			require.Zero(t, st.TooLate)
		}
		if !cfg.rules && !switched {
			require.Zero(t, st.EvalErrors)
		}
		require.LessOrEqual(t, st.SlotsMissed, st.SlotsExpected)
		require.LessOrEqual(t, st.SlotsLate+st.SlotsLost, st.SlotsMissed, "%+v", st)
		require.LessOrEqual(t, st.AbsencesInhibited, st.Absences)
		require.EqualValues(t, len(events), st.Events)
		require.Zero(t, st.SinkErrors)

		ids := map[string]int{}
		opened := map[string]bool{}
		resolved := map[string]bool{}
		for i, ev := range events {
			if j, dup := ids[ev.ID]; dup {
				require.Failf(t, "duplicate event ID", "%s\n%s", enc[j], enc[i])
			}
			ids[ev.ID] = i
			require.False(t, resolved[ev.Episode], "event after its episode resolved: %s", enc[i])
			switch ev.State {
			case fault.StatePending, fault.StateFiring:
				opened[ev.Episode] = true
			case fault.StateResolved:
				require.True(t, opened[ev.Episode], "resolved without a pending or firing event: %s", enc[i])
				resolved[ev.Episode] = true
			default:
				require.Failf(t, "bad state", "%s", enc[i])
			}
			require.Equal(t, "faultline", ev.Labels.Get(fault.OriginLabel), "%s", enc[i])
			require.True(t, ev.Labels.IsSorted(), "%s", enc[i])
		}

		_, enc1, st1 := fuzzRun(t, cfg, rs, steps, true, true)
		require.Equal(t, enc, enc1, "batching changed the events")
		require.Equal(t, st, st1, "batching changed the counters")

		if slices.ContainsFunc(steps, func(s fuzzStep) bool { return s.life == lifeRestart || s.life == lifeReload }) {
			_, enc2, st2 := fuzzRun(t, cfg, rs, steps, false, false)
			require.Equal(t, enc, enc2, "a restart or a reload of unchanged rules changed the events")
			require.Equal(t, st, st2, "a restart or a reload of unchanged rules changed the counters")
		}
	})
}
