package fault

import (
	"context"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/internal/fleetgap"
	"github.com/faultline-go/faultline/internal/persource"
	"github.com/faultline-go/faultline/stream"
)

// Tests of the per-source detectors (source.go): duplicate storm and ingest
// lag, the source bound, and memory through a storm and a replay wave.

// hostCadence is the cadence of every series of a hostStream.
const hostCadence = int64(10 * time.Second)

// hostStream describes the deliveries of some hosts' series: each host has
// series series (labels host and id) sending every 10 s, at phases spread
// over the cadence.
type hostStream struct {
	hosts  []string
	series int
	rng    *rand.Rand
	// first returns the arrival of the first delivery of host h's sample
	// at ts. By default 100–400 ms after ts.
	first func(h int, ts int64) int64
	// copies returns how many times that sample is delivered, given its
	// first arrival; the copies after the first arrive within 2 s of it.
	// By default 4.
	copies func(h int, ts, first int64) int
}

// deliveries returns the deliveries of the samples of sample time in
// [from, to) that arrive before to, in arrival order. (Copies arriving
// after the last sample was due would make the series that skipped it look
// like a burst of losses at the end of input.)
func (g hostStream) deliveries(from, to int64) []stream.Sample {
	var out []stream.Sample
	for h, host := range g.hosts {
		for i := range g.series {
			ls := stream.NewLabels("host", host, "id", strconv.Itoa(i))
			id := stream.Hash("m", ls)
			for ts := from + int64(i)*hostCadence/int64(g.series); ts < to; ts += hostCadence {
				first := ts + int64(100*time.Millisecond) + g.rng.Int64N(int64(300*time.Millisecond))
				if g.first != nil {
					first = g.first(h, ts)
				}
				n := 4
				if g.copies != nil {
					n = g.copies(h, ts, first)
				}
				for c := range n {
					a := first
					if c > 0 {
						a += g.rng.Int64N(int64(2 * time.Second))
					}
					if a >= to {
						continue
					}
					out = append(out, stream.Sample{Name: "m", Labels: ls, Series: id, Time: ts, Value: float64(i), Arrival: a})
				}
			}
		}
	}
	sortByArrival(out)
	return out
}

// feedUntil processes the deliveries of in that arrive before until, in
// batches, and returns the rest.
func feedUntil(t *testing.T, e *Engine, in []stream.Sample, until int64) []stream.Sample {
	t.Helper()
	n, _ := slices.BinarySearchFunc(in, until, func(s stream.Sample, at int64) int {
		if s.Arrival < at {
			return -1
		}
		return 1
	})
	for batch := range slices.Chunk(in[:n], 1024) {
		process(t, e, batch...)
	}
	return in[n:]
}

// heapNow returns the live Go heap after a collection.
func heapNow() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// perSource returns the events of the per-source detectors.
func perSource(events []Event) []Event {
	var out []Event
	for _, ev := range events {
		if ev.Kind == KindDuplicateStorm || ev.Kind == KindIngestLag {
			out = append(out, ev)
		}
	}
	return out
}

const minute = int64(time.Minute)

// TestSourcesNormalStreamIsQuiet runs four sources for two hours, each
// normal in its own way, and expects no event at all: a is delivered 1 to
// 7 times (4 on average), b exactly once, c always 45 s late (a batching
// collector), d four times with retry bursts of three times that for a
// minute now and then. Each source's normal is learned.
func TestSourcesNormalStreamIsQuiet(t *testing.T) {
	t.Parallel() // not beside the tests that measure the heap, which are not parallel
	rng := rand.New(rand.NewPCG(1, 2))
	bursts := map[int64]bool{}
	for range 8 {
		bursts[rng.Int64N(120)] = true
	}
	g := hostStream{
		hosts: []string{"a", "b", "c", "d"}, series: 50, rng: rng,
		first: func(h int, ts int64) int64 {
			lag := int64(100*time.Millisecond) + rng.Int64N(int64(300*time.Millisecond))
			if h == 2 {
				lag += int64(45 * time.Second)
			}
			return ts + lag
		},
		copies: func(h int, ts, first int64) int {
			switch h {
			case 0:
				return 1 + rng.IntN(7)
			case 1:
				return 1
			case 3:
				if bursts[(first-t0)/minute] {
					return 12
				}
			}
			return 4
		},
	}
	in := g.deliveries(sec(0), sec(2*3600))
	e, rec := newEngine(t, Config{SourceLabel: "host"})
	feedUntil(t, e, in, math.MaxInt64)
	require.NoError(t, e.Close(context.Background()))

	require.Empty(t, rec.events)
	st := e.Stats()
	require.EqualValues(t, 4, st.Sources)
	require.Zero(t, st.SourceOverflow)
	require.Zero(t, st.DuplicateStorms)
	require.Zero(t, st.IngestLags)

	learned := func(host string) (ratio, lag float64) {
		i, ok := e.src.Index(host)
		require.True(t, ok)
		return e.src.Learned(i)
	}
	ratio := func(host string) float64 { r, _ := learned(host); return r }
	lag := func(host string) float64 { _, l := learned(host); return l }
	require.InDelta(t, 3, ratio("a"), 0.3, "1 to 7 copies")
	require.Zero(t, ratio("b"), "exactly once")
	require.InDelta(t, 3, ratio("c"), 0.01)
	require.InDelta(t, 3, ratio("d"), 1.5, "4 copies and retry bursts")
	require.InDelta(t, 0.25, lag("a")/1e9, 0.05)
	require.InDelta(t, 45.25, lag("c")/1e9, 0.5)
}

// TestDuplicateStormAtOneSource makes one of four sources redeliver its
// samples 61 times each (a ratio of 60, 20 times its normal 3) for five
// minutes, as a message loop does. It raises exactly one duplicate_storm
// naming that source, fired at the end of the second storm minute and
// resolved at the end of the fifth calm one; the other sources stay quiet;
// and the storm costs no Go heap beyond the fresh keys admitted meanwhile.
func TestDuplicateStormAtOneSource(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	storm := sec(20 * 60)
	stormEnd := storm + 5*minute
	g := hostStream{
		hosts: []string{"h0", "h1", "h2", "h3"}, series: 50, rng: rng,
		copies: func(h int, ts, first int64) int {
			if h == 1 && first >= storm && first < stormEnd {
				return 61
			}
			return 3 + rng.IntN(3)
		},
	}
	in := g.deliveries(sec(0), sec(35*60))
	e, rec := newEngine(t, Config{SourceLabel: "host"})

	in = feedUntil(t, e, in, storm)
	before := heapNow()
	st0 := e.Stats()
	in = feedUntil(t, e, in, stormEnd)
	grew := int64(heapNow()) - int64(before)
	st1 := e.Stats()
	feedUntil(t, e, in, math.MaxInt64)
	require.NoError(t, e.Close(context.Background()))

	// Memory: duplicates are not stored. The heap may grow by the fresh
	// keys admitted during the storm (the deduper's tables: 24-byte slots
	// kept 3/8 to 3/4 full, so at most 64 bytes a key) and a little slack;
	// storing the storm's redeliveries, even at 28 bytes an entry, would
	// take several times that.
	fresh := st1.Fresh - st0.Fresh
	redelivered := st1.Duplicates - st0.Duplicates
	bound := int64(64*fresh) + 256<<10
	require.Greater(t, int64(28*redelivered), 3*bound, "the bound tells a storm stored from one absorbed")
	t.Logf("heap grew by %d B over %d fresh samples and %d redeliveries (bound %d B)", grew, fresh, redelivered, bound)
	require.Less(t, grew, bound)

	require.Equal(t, []string{
		"duplicate_storm/duplicate_storm/firing",
		"duplicate_storm/duplicate_storm/resolved",
	}, rec.kinds(), "nothing else: the other sources stay quiet")
	fire, res := rec.events[0], rec.events[1]
	require.Equal(t, stream.NewLabels("host", "h1", OriginLabel, "faultline"), fire.Labels)
	require.Equal(t, storm, fire.Since, "the first storm minute")
	require.Equal(t, storm+2*minute, fire.At, "the end of the second storm minute")
	require.InDelta(t, 60, fire.Value, 5)
	require.Equal(t, stormEnd+5*minute, res.At, "the end of the fifth calm minute")
	require.Equal(t, fire.Episode, res.Episode)
	require.Equal(t, fire.Labels, res.Labels)
	require.Zero(t, fire.Series)
	st := e.Stats()
	require.EqualValues(t, 1, st.DuplicateStorms)
	require.Zero(t, st.IngestLags)
	require.Equal(t, st.Samples, st.Fresh+st.Duplicates+st.Conflicts+st.TooLate+st.Future+st.BadArrival+st.Looped+st.SeriesOverflow)
}

// backlogLag is the lag of host h2's sample at ts in the backlog test: from
// b, a backlog builds up and adds 12 s of lag per minute of sample time for
// 8 minutes (96 s), then drains at ten times the live rate (the lag falls by
// 0.9 s per second of sample time) back to the normal 100 ms.
func backlogLag(ts, b int64) int64 {
	normal := int64(100 * time.Millisecond)
	switch d := ts - b; {
	case d < 0:
		return normal
	case d < 8*minute:
		return normal + d/5
	default:
		return max(normal, normal+8*minute/5-(d-8*minute)*9/10)
	}
}

// TestIngestLagBacklogAtOneSource builds a backlog at one of three
// sources: its samples arrive later and later, then the backlog drains. It
// raises one ingest_lag naming that source, when its lag has risen for
// three minutes and passed its normal + 30 s, and resolves it three minutes
// after the drain. The other sources stay quiet.
func TestIngestLagBacklogAtOneSource(t *testing.T) {
	t.Parallel() // not beside the tests that measure the heap, which are not parallel
	rng := rand.New(rand.NewPCG(5, 6))
	b := sec(15 * 60)
	g := hostStream{
		hosts: []string{"h0", "h1", "h2"}, series: 50, rng: rng,
		first: func(h int, ts int64) int64 {
			if h == 2 {
				return ts + backlogLag(ts, b)
			}
			return ts + int64(100*time.Millisecond) + rng.Int64N(int64(300*time.Millisecond))
		},
	}
	in := g.deliveries(sec(0), sec(35*60))
	e, rec := newEngine(t, Config{SourceLabel: "host"})
	feedUntil(t, e, in, math.MaxInt64)
	require.NoError(t, e.Close(context.Background()))

	evs := perSource(rec.events)
	require.Len(t, evs, 2)
	fire, res := evs[0], evs[1]
	require.Equal(t, KindIngestLag, fire.Kind)
	require.Equal(t, StateFiring, fire.State)
	require.Equal(t, stream.NewLabels("host", "h2", OriginLabel, "faultline"), fire.Labels)
	// Arrival minutes from b hold 50 s of sample time each, so the
	// minute's median lag climbs by about 10 s a minute: ~5 s, 15 s, 25 s
	// (risen three times, but under 30.1 s), 35 s. The episode is dated by
	// the first minute past the midpoint to that threshold (15.1 s): the
	// third, at 25 s.
	require.Equal(t, b+2*minute, fire.Since, "the first minute past the midpoint")
	require.Equal(t, b+4*minute, fire.At)
	require.InDelta(t, 35, fire.Value, 2)
	// The backlog's last sample (sample time b+8m, lag 96 s) arrives at
	// b+9m36s; the drain takes 10.7 s more. The minute from b+9m holds both;
	// the next three are normal.
	require.Equal(t, StateResolved, res.State)
	require.Equal(t, fire.Episode, res.Episode)
	require.Equal(t, b+13*minute, res.At)
	require.Less(t, res.Value, 1.0)
	st := e.Stats()
	require.EqualValues(t, 1, st.IngestLags)
	require.Zero(t, st.DuplicateStorms)
}

// TestReplayWave is the AppSignal incident of DESIGN.md: a normal stream
// of four sources (4× delivery), then an outage in which nothing arrives
// for 10 minutes, then every agent replays its backlog at ten times the
// normal rate before going live again. One agent (h3) had been cut off 20
// minutes before the outage, so the first part of its backlog is older
// than the dedup window once the others have caught up.
//
//   - The Go heap stays under a cap that follows from the configuration,
//     whatever the volume replayed (see heapCap).
//   - Every record is accounted for, and nothing unique is dropped except
//     what was older than the dedup window when it came (TooLate): the
//     counters match a model of dedup run over the same input.
//   - The replay wave is neither a duplicate storm (it carries fresh data)
//     nor an ingest_lag fault (its lag is highest in its first minute and
//     falls from there: a backlog draining, not one building up).
func TestReplayWave(t *testing.T) {
	const hosts, perHost = 4, 50
	outage := sec(25 * 60)
	replay := outage + 10*minute
	cutOff := [hosts]int64{outage, outage, outage, outage - 20*minute}
	rng := rand.New(rand.NewPCG(7, 8))
	g := hostStream{
		hosts: []string{"h0", "h1", "h2", "h3"}, series: perHost, rng: rng,
		first: func(h int, ts int64) int64 {
			live := ts + int64(100*time.Millisecond)
			if ts < cutOff[h] {
				return live
			}
			// Buffered from the cut-off, replayed first in first out at
			// ten times the rate it was written, then live again.
			return max(replay+(ts-cutOff[h])/10, live)
		},
	}
	in := g.deliveries(sec(0), replay+10*minute)
	want := dedupModel(in, int64(15*time.Minute))
	require.Positive(t, want.tooLateUnique, "some of h3's backlog is older than the window")

	base := heapNow()
	e, rec := newEngine(t, Config{SourceLabel: "host"})
	capBytes := heapCap(hosts*perHost, hosts, 15*time.Minute)
	var peak, steady uint64
	for m := int64(1); ; m++ {
		in = feedUntil(t, e, in, sec(0)+m*minute)
		h := heapNow() - base
		peak = max(peak, h)
		if sec(0)+m*minute == outage {
			steady = h
		}
		if len(in) == 0 {
			break
		}
	}
	require.NoError(t, e.Close(context.Background()))
	t.Logf("heap: %d B before the outage, %d B at the peak, cap %d B", steady, peak, capBytes)
	require.Less(t, peak, capBytes)

	st := e.Stats()
	require.Equal(t, want.deliveries, st.Samples)
	require.Equal(t, st.Samples, st.Fresh+st.Duplicates+st.Conflicts+st.TooLate+st.Future+st.BadArrival+st.Looped+st.SeriesOverflow)
	require.Equal(t, want.fresh, st.Fresh, "every unique sample inside the window is admitted")
	require.Equal(t, want.duplicates, st.Duplicates)
	require.Equal(t, want.tooLate, st.TooLate)
	require.Equal(t, want.unique, st.Fresh+want.tooLateUnique, "nothing unique is dropped but what was older than the window")
	require.Zero(t, st.Conflicts+st.Future+st.BadArrival+st.Looped+st.SeriesOverflow)
	require.Zero(t, e.Deduper().Stats().Overflow)

	require.Empty(t, perSource(rec.events))
	require.Zero(t, st.DuplicateStorms)
	require.Zero(t, st.IngestLags)
}

// heapCap is the Go heap an engine may use, by its configuration: about
// 3 MiB of fixed structures (the fleet's ring of 0.25-s bins, its folds, the
// timing wheel's heads, the first 1 MiB chunk of the key arena), 512 B
// per series (series state, 96 bytes of slot tracking, the index, the key,
// side tables, slices grown), 64 B per dedup key held (the deduper's
// tables: 24-byte slots kept 3/8 to 3/4 full), and 1 KiB per source. The
// deduper's 8 generations hold the keys of 8/7 of a window of sample time
// at most; two windows are allowed. Nothing depends on the number of
// deliveries.
func heapCap(series, sources int, window time.Duration) uint64 {
	fixed := fleetgap.RingBytes + (1<<14)*4 + arenaChunk + 1<<20
	keys := uint64(series) * uint64(2*window/time.Duration(hostCadence))
	return uint64(fixed) + 512*uint64(series) + 64*keys + 1024*uint64(sources)
}

// dedupVerdicts are the counts a model of dedup gives for an input.
type dedupVerdicts struct {
	deliveries    uint64
	fresh         uint64
	duplicates    uint64
	tooLate       uint64
	unique        uint64 // distinct (series, sample time) delivered
	tooLateUnique uint64 // of those, the ones every delivery of which was too late
}

// dedupModel runs the input through a model of dedup: a delivery is too
// late if its sample time is more than window behind the highest sample
// time admitted; otherwise its key is fresh the first time, a duplicate
// after that.
func dedupModel(in []stream.Sample, window int64) dedupVerdicts {
	type key struct {
		id stream.SeriesID
		ts int64
	}
	var v dedupVerdicts
	admitted := map[key]bool{}
	seen := map[key]bool{}
	wm := int64(math.MinInt64)
	for _, s := range in {
		v.deliveries++
		k := key{s.Series, s.Time}
		seen[k] = true
		switch {
		case wm != math.MinInt64 && s.Time < wm-window:
			v.tooLate++ // even if admitted before: dedup cannot tell any more
		case admitted[k]:
			v.duplicates++
		default:
			admitted[k] = true
			v.fresh++
			wm = max(wm, s.Time)
		}
	}
	v.unique = uint64(len(seen))
	v.tooLateUnique = v.unique - uint64(len(admitted))
	return v
}

// TestMaxSourcesBound tracks at most four sources: h0, h1, h2 and "" (the
// samples without the label), which come first. The series of h3, h4 and
// h5 are counted under the overflow source, every one of their samples in
// Stats.SourceOverflow, and are otherwise tracked as usual. A storm among
// them is reported as the overflow source's, one at h1 by its name; cutting
// the input into other batches changes nothing.
func TestMaxSourcesBound(t *testing.T) {
	t.Parallel() // not beside the tests that measure the heap, which are not parallel
	for _, c := range []Config{{MaxSources: -1}, {MaxSources: persource.MaxSourcesLimit + 1}} {
		_, err := New(c)
		require.Error(t, err)
	}

	rng := rand.New(rand.NewPCG(9, 10))
	storm := sec(20 * 60)
	g := hostStream{
		hosts: []string{"h0", "h1", "h2", "h3", "h4", "h5"}, series: 10, rng: rng,
		first: func(h int, ts int64) int64 { return ts + int64(100+20*h)*int64(time.Millisecond) },
		copies: func(h int, ts, first int64) int {
			if (h == 1 || h >= 3) && first >= storm && first < storm+3*minute {
				return 41 // a ratio of 40, 13 times the normal 3
			}
			return 4
		},
	}
	in := g.deliveries(sec(0), sec(30*60))
	var unlabelled []stream.Sample
	for s := 0.0; s < 30*60; s += 10 {
		unlabelled = append(unlabelled, smp("m", sec(s), sec(s+0.15), 1, "id", "x"))
	}
	in = append(in, unlabelled...)
	sortByArrival(in)
	var overflowSamples uint64
	for _, s := range in {
		if h := s.Labels.Get("host"); h >= "h3" {
			overflowSamples++
		}
	}

	var ids []string
	for _, oneByOne := range []bool{false, true} {
		e, rec := newEngine(t, Config{SourceLabel: "host", MaxSources: 4})
		if oneByOne {
			for _, s := range in {
				process(t, e, s)
			}
		} else {
			feedUntil(t, e, in, math.MaxInt64)
		}
		require.NoError(t, e.Close(context.Background()))
		st := e.Stats()
		require.EqualValues(t, 4, st.Sources)
		require.Equal(t, 5, e.src.Len(), "four sources and the overflow source")
		var names []string
		for i := range uint32(e.src.Len()) {
			name, _ := e.src.Name(i)
			names = append(names, name)
		}
		require.Equal(t, []string{"h0", "h1", "h2", "", ""}, names)
		require.True(t, e.src.Overflow(4))
		require.Equal(t, overflowSamples, st.SourceOverflow)
		require.EqualValues(t, 6*10+1, st.Series, "every series is tracked")
		require.Zero(t, st.SeriesOverflow)
		require.Equal(t, st.Samples, st.Fresh+st.Duplicates+st.Conflicts+st.TooLate+st.Future+st.BadArrival+st.Looped+st.SeriesOverflow)

		var got []string
		for _, ev := range rec.events {
			got = append(got, string(ev.Kind)+" "+ev.State.String()+" "+ev.Labels.String())
		}
		require.Equal(t, []string{
			`duplicate_storm firing {faultline_origin="faultline", host="h1"}`,
			`duplicate_storm firing {faultline_origin="faultline", faultline_source_overflow="true"}`,
			`duplicate_storm resolved {faultline_origin="faultline", host="h1"}`,
			`duplicate_storm resolved {faultline_origin="faultline", faultline_source_overflow="true"}`,
		}, got, "one by one: %v", oneByOne)
		require.Equal(t, storm+2*minute, rec.events[0].At)
		require.Equal(t, storm+2*minute, rec.events[1].At)
		require.Equal(t, storm+8*minute, rec.events[3].At)
		require.NotEqual(t, rec.events[0].Episode, rec.events[1].Episode)
		var got2 []string
		for _, ev := range rec.events {
			got2 = append(got2, ev.ID)
		}
		if ids == nil {
			ids = got2
		}
		require.Equal(t, ids, got2, "the same IDs, however the input is cut")
	}
}
