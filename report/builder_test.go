package report

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"math"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/bench/scenario"
	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/stream"
)

// tee counts what an engine tells its observer before passing it on.
type tee struct {
	*Builder
	mu    sync.Mutex
	total counts
}

func (t *tee) PhaseBin(p fault.PhaseBin) {
	t.mu.Lock()
	t.total.add(counts{uint64(p.Expected), uint64(p.Missed), uint64(p.Late), uint64(p.Lost)})
	t.mu.Unlock()
	t.Builder.PhaseBin(p)
}

// TestShardsAddUp: two engines sharing one Builder, each with half the
// series and called from its own goroutine, leave it the same slots
// expected and missed in every bin, and the same minutes, as one engine
// with all of them; it holds all they told it.
func TestShardsAddUp(t *testing.T) {
	spec := scenario.MustNamed("B01").WithN(1000).WithIncident(10*time.Minute, 10*time.Minute).WithHorizon(30 * time.Minute)
	ds, err := scenario.Generate(spec, 5)
	require.NoError(t, err)
	ctx := context.Background()

	one, err := New(Options{})
	require.NoError(t, err)
	eng, err := fault.New(fault.Config{Observer: one, Sink: one})
	require.NoError(t, err)
	for b := range ds.Batches(2048) {
		require.NoError(t, eng.Process(ctx, b))
	}
	require.NoError(t, eng.Close(ctx))
	eng.Deduper().Reset()

	b2, err := New(Options{})
	require.NoError(t, err)
	two := &tee{Builder: b2}
	var shards [2][]stream.Sample
	for s := range ds.Samples() {
		shards[s.Series%2] = append(shards[s.Series%2], s)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, samples := range shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			eng, err := fault.New(fault.Config{Observer: two, Sink: b2})
			if err != nil {
				errs <- err
				return
			}
			defer eng.Deduper().Reset()
			for i := 0; i < len(samples); i += 2048 {
				if err := eng.Process(ctx, samples[i:min(i+2048, len(samples))]); err != nil {
					errs <- err
					return
				}
			}
			errs <- eng.Close(ctx)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	require.Equal(t, one.bins.first(), two.bins.first())
	require.Equal(t, one.bins.newest, two.bins.newest)
	// The slots expected and missed of every bin are the same. (Late and
	// lost are not compared bin by bin: the engine adds them to the bin
	// of the slot's expected arrival as computed at the lateness
	// deadline, which may differ from the one of its on-time judgment.)
	var total counts
	for idx := one.bins.first(); idx <= one.bins.newest; idx++ {
		a, b := one.bins.at(idx), two.bins.at(idx)
		require.Equal(t, [2]uint64{a.e, a.m}, [2]uint64{b.e, b.m}, "bin %d", idx)
		total.add(b)
	}
	require.Equal(t, two.total, total, "every bin the engines reported is held")
	require.NotZero(t, total.m)
	require.NotZero(t, total.late)
	var fresh uint64
	for idx := one.minutes.newest - 40; idx <= one.minutes.newest; idx++ {
		a, _ := one.minutes.at(idx)
		b, _ := two.minutes.at(idx)
		require.Equal(t, a == nil, b == nil, "minute %d", idx)
		if a != nil {
			require.Equal(t, a.fresh, b.fresh, "minute %d", idx)
			require.Equal(t, a.redelivered, b.redelivered, "minute %d", idx)
			require.Equal(t, [2]uint64{a.slots.e, a.slots.m}, [2]uint64{b.slots.e, b.slots.m}, "minute %d", idx)
			fresh += a.fresh
		}
	}
	require.NotZero(t, fresh)
}

// TestRingsKeepTheirHistory: bins and minutes older than what is held are
// counted, not added, and said on the page.
func TestRingsKeepTheirHistory(t *testing.T) {
	b, err := New(Options{History: 10 * time.Minute, DeliveryHistory: 10 * time.Minute})
	require.NoError(t, err)
	t0 := scenario.Origin
	for i := range int64(4 * 60 * 20) { // 20 minutes of bins
		b.PhaseBin(fault.PhaseBin{Start: t0 + i*binWidth, Expected: 4, Missed: 1})
	}
	b.PhaseBin(fault.PhaseBin{Start: t0, Expected: 4}) // late: no longer held
	require.Equal(t, uint64(1), b.bins.dropped)
	require.Equal(t, counts{}, b.bins.at(floorDiv(t0, binWidth)))
	require.Equal(t, counts{e: 4, m: 1}, b.bins.at(b.bins.newest))
	require.Equal(t, b.bins.newest-int64(len(b.bins.slots))+1, b.bins.first())
	var buf bytes.Buffer
	require.NoError(t, b.WriteHTML(&buf))
	require.Contains(t, buf.String(), "phase bins arrived older than the 10m0s of bins held")
}

// gapEvents returns the events of a fleet gap of period 60 s, window
// 12–13.5 s, from since to end, and the firing event's ID.
func gapEvents(since, end int64) (firing string, evs []fault.Event) {
	g := &fault.Gap{Period: time.Minute, PhaseStart: 12 * time.Second, PhaseEnd: 13500 * time.Millisecond, Series: 250, LateFraction: 0}
	for _, st := range []fault.State{fault.StatePending, fault.StateFiring, fault.StateResolved} {
		id, ep := fault.EventIDs(fault.KindPeriodicGap, "periodic_gap", 0, since, st)
		ev := fault.Event{ID: id, Episode: ep, Kind: fault.KindPeriodicGap, Rule: "periodic_gap", State: st, Since: since, Value: math.NaN()}
		switch st {
		case fault.StatePending:
			ev.At = since + int64(time.Minute)
		case fault.StateFiring:
			ev.At, ev.Gap, firing = since+3*int64(time.Minute), g, id
		case fault.StateResolved:
			ev.At, ev.Gap = end, g
		}
		evs = append(evs, ev)
	}
	return firing, evs
}

// seriesEvent is a per-series event of series i.
func seriesEvent(kind fault.Kind, rule string, i int, st fault.State, since, at int64, by string) fault.Event {
	labels := stream.NewLabels("__name__", "check_up", "check", fmt.Sprintf("c%06d", i), fault.OriginLabel, "faultline")
	series := stream.Hash("check_up", labels)
	id, ep := fault.EventIDs(kind, rule, uint64(series), since, st)
	if by != "" {
		id += "i"
	}
	return fault.Event{ID: id, Episode: ep, Kind: kind, Rule: rule, State: st, At: at, Since: since, Series: series, Labels: labels, InhibitedBy: by, Value: math.NaN()}
}

// TestTimelineCollapsesAndBounds: the absences a fleet gap explains are
// one row with their count, listing MaxListed of them; one still silent
// when the gap resolved is marked paged; a per-series gap suspected alone
// and then explained moves to the gap's row; rows, listed members and
// series beyond their bounds are counted and said.
func TestTimelineCollapsesAndBounds(t *testing.T) {
	b, err := New(Options{MaxRows: 4, MaxListed: 5, MaxSeries: 7, MaxEpisodes: 100})
	require.NoError(t, err)
	ctx := context.Background()
	t0 := scenario.Origin
	minute := int64(time.Minute)
	firing, gap := gapEvents(t0+10*minute, t0+40*minute)
	emit := func(ev fault.Event) { require.NoError(t, b.Emit(ctx, ev)) }
	emit(gap[0])
	emit(gap[1])
	for i := range 20 {
		emit(seriesEvent(fault.KindAbsence, "absence", i, fault.StateFiring, t0+10*minute, t0+15*minute, firing))
	}
	for i := range 19 { // all but series 19 come back
		emit(seriesEvent(fault.KindAbsence, "absence", i, fault.StateResolved, t0+10*minute, t0+40*minute, firing))
	}
	// A per-series gap suspected alone, then confirmed by the fleet gap.
	emit(seriesEvent(fault.KindSeriesPeriodicGap, "series_periodic_gap", 100, fault.StatePending, t0+11*minute, t0+12*minute, ""))
	emit(seriesEvent(fault.KindSeriesPeriodicGap, "series_periodic_gap", 100, fault.StateFiring, t0+11*minute, t0+13*minute, firing))
	emit(gap[2])
	emit(seriesEvent(fault.KindAbsence, "absence", 19, fault.StateFiring, t0+10*minute, t0+40*minute, "")) // still silent: paged
	// Rows: gap, absences, series gaps (explained), series gaps (alone,
	// now empty); a fifth kind finds no row.
	emit(seriesEvent(fault.KindThreshold, "High", 200, fault.StateFiring, t0, t0+minute, ""))

	tl := &b.timeline
	require.Len(t, tl.rows, 4)
	abs := tl.groups[groupKey{fault.KindAbsence, "absence", firing}]
	require.NotNil(t, abs)
	require.Equal(t, 20, abs.count)
	require.Len(t, abs.members, 5)
	require.Equal(t, 1, abs.open)
	require.Equal(t, 1, abs.paged)
	require.Same(t, b.gaps.list[0], abs.explainer)
	sg := tl.groups[groupKey{fault.KindSeriesPeriodicGap, "series_periodic_gap", firing}]
	require.NotNil(t, sg)
	require.Equal(t, 1, sg.count)
	alone := tl.groups[groupKey{fault.KindSeriesPeriodicGap, "series_periodic_gap", ""}]
	require.Zero(t, alone.count)
	require.Equal(t, uint64(1), tl.noRow)
	require.Len(t, b.series.order, 7)
	require.Len(t, b.series.more, 22-7)

	var buf bytes.Buffer
	require.NoError(t, b.WriteHTML(&buf))
	page := buf.String()
	require.Contains(t, page, "20 absences, explained by fleet gap 1 (not paged)")
	require.Contains(t, page, "… and 15 more, not listed")
	require.Contains(t, page, "1 still silent when the fleet gap resolved: paged then")
	require.Contains(t, page, "events of episodes beyond the first 4 rows are not drawn")
	require.Contains(t, page, "and 15 more series")
	require.Equal(t, 1, strings.Count(page, `<article class="gap-block"`))
}

// TestEpisodesFollowedAreBounded: past MaxEpisodes open at once, new
// episodes are counted only; resolving frees their place.
func TestEpisodesFollowedAreBounded(t *testing.T) {
	b, err := New(Options{MaxEpisodes: 10})
	require.NoError(t, err)
	ctx := context.Background()
	t0 := scenario.Origin
	for i := range 15 {
		require.NoError(t, b.Emit(ctx, seriesEvent(fault.KindAbsence, "absence", i, fault.StateFiring, t0, t0+1, "")))
	}
	require.Len(t, b.timeline.eps, 10)
	require.Equal(t, uint64(5), b.timeline.untracked)
	require.NoError(t, b.Emit(ctx, seriesEvent(fault.KindAbsence, "absence", 0, fault.StateResolved, t0, t0+2, "")))
	require.Len(t, b.timeline.eps, 9)
	require.NoError(t, b.Emit(ctx, seriesEvent(fault.KindAbsence, "absence", 99, fault.StateFiring, t0, t0+3, "")))
	require.Len(t, b.timeline.eps, 10)
	require.Equal(t, 11, b.timeline.groups[groupKey{fault.KindAbsence, "absence", ""}].count)
}

// TestOptions: negative bounds are refused; zero ones take the defaults.
func TestOptions(t *testing.T) {
	_, err := New(Options{MaxRows: -1})
	require.ErrorContains(t, err, "report: negative")
	b, err := New(Options{History: time.Second})
	require.NoError(t, err)
	require.Equal(t, 10*time.Minute, b.opts.History, "at least 10m")
	require.Equal(t, DefaultMaxSeries, b.opts.MaxSeries)
	require.Equal(t, "faultline report", b.opts.Title)
}

// TestMalformedGapIgnored: a gap event without a period (not one the
// engine emits) is a timeline row, never a figure.
func TestMalformedGapIgnored(t *testing.T) {
	b, err := New(Options{})
	require.NoError(t, err)
	_, evs := gapEvents(scenario.Origin, 0)
	ev := evs[1]
	ev.Gap = &fault.Gap{}
	require.NoError(t, b.Emit(context.Background(), ev))
	require.Empty(t, b.gaps.list)
	var buf bytes.Buffer
	require.NoError(t, b.WriteHTML(&buf))
}

// TestTimelineKinds: every kind of episode gets its row, in the order the
// episodes began (open ones first on the live page).
func TestTimelineKinds(t *testing.T) {
	b, err := New(Options{})
	require.NoError(t, err)
	ctx := context.Background()
	t0 := scenario.Origin
	minute := int64(time.Minute)
	emit := func(kind fault.Kind, rule string, labels stream.Labels, ann stream.Labels, since, end int64, value float64) {
		for _, st := range []fault.State{fault.StateFiring, fault.StateResolved} {
			if st == fault.StateResolved && end == 0 {
				break
			}
			at := since
			if st == fault.StateResolved {
				at = end
			}
			id, ep := fault.EventIDs(kind, rule, 7, since, st)
			require.NoError(t, b.Emit(ctx, fault.Event{ID: id, Episode: ep, Kind: kind, Rule: rule, State: st, At: at, Since: since, Labels: labels, Annotations: ann, Value: value}))
		}
	}
	origin := func(ls ...string) stream.Labels {
		return stream.NewLabels(append(ls, fault.OriginLabel, "faultline")...)
	}
	emit(fault.KindCollectorDown, "collector_down", origin(), stream.NewLabels("summary", "faultline was down for 2m0s (restart): the slots expected meanwhile were not judged"), t0+minute, t0+3*minute, 120)
	emit(fault.KindDuplicateStorm, "duplicate_storm", origin("host", "agent-7"), nil, t0+4*minute, t0+9*minute, 12.5)
	emit(fault.KindIngestLag, "ingest_lag", origin("host", "agent-3"), nil, t0+5*minute, 0, 42)
	emit(fault.KindBadInput, "bad_input", origin(fault.InputLabel, "capture.txt"), stream.NewLabels("bad_records", "17", "examples", "capture.txt:3:1: bad line"), t0+6*minute, t0+12*minute, 17)
	emit(fault.KindCohort, "ReconnectStorm", origin("firmware", "2.3.1"), nil, t0+7*minute, 0, 9)
	emit(fault.KindFeedbackLoop, "feedback_loop", origin(), nil, t0+8*minute, t0+9*minute, math.NaN())
	require.NoError(t, b.Emit(ctx, seriesEvent(fault.KindThreshold, "SlowCheck", 1, fault.StateFiring, t0+2*minute, t0+2*minute, "")))

	var buf bytes.Buffer
	require.NoError(t, b.WriteHTML(&buf))
	page := html.UnescapeString(buf.String())
	order := []string{
		"collector down</span>", "threshold</span>", "duplicate storm</span>", "ingest lag</span>",
		"bad input</span>", "cohort</span>", "feedback loop</span>",
	}
	last := -1
	for _, s := range order {
		i := strings.Index(page, s)
		require.Greater(t, i, last, "%s in order of its start", s)
		last = i
	}
	for _, s := range []string{
		"faultline was down for 2m0s (restart)", `duplicate storm host="agent-7"`, "redeliveries 12.5× the fresh samples",
		`ingest lag host="agent-3"`, "median lag 42s", "17 bad records so far; first: capture.txt:3:1: bad line",
		`ReconnectStorm firmware="2.3.1"`, "SlowCheck — 1 series",
	} {
		require.Contains(t, page, s)
	}

	p := b.view(true) // live: open first, the latest first
	var kinds []string
	for _, r := range p.Timeline.Rows {
		kinds = append(kinds, r.Kind)
	}
	require.Equal(t, []string{"cohort", "ingest lag", "threshold", "feedback loop", "bad input", "duplicate storm", "collector down"}, kinds)
}

// TestNoLinkToAGapNotDrawn: once a resolved fleet gap gives its figures'
// place to a newer one (MaxGaps), no row links to the figures it no longer
// has: every link of the page leads to an element of the page.
func TestNoLinkToAGapNotDrawn(t *testing.T) {
	b, err := New(Options{MaxGaps: 1})
	require.NoError(t, err)
	ctx := context.Background()
	t0 := scenario.Origin
	minute := int64(time.Minute)
	emit := func(ev fault.Event) { require.NoError(t, b.Emit(ctx, ev)) }
	firing, first := gapEvents(t0+10*minute, t0+40*minute)
	emit(first[0])
	emit(first[1])
	emit(seriesEvent(fault.KindAbsence, "absence", 1, fault.StateFiring, t0+10*minute, t0+15*minute, firing))
	emit(first[2])
	_, second := gapEvents(t0+60*minute, 0)
	emit(second[0])
	emit(second[1])

	var buf bytes.Buffer
	require.NoError(t, b.WriteHTML(&buf))
	page := buf.String()
	require.Contains(t, page, `id="gap-2"`)
	require.NotContains(t, page, `id="gap-1"`, "the first gap's figures gave way")
	links := regexp.MustCompile(`href="#([^"]*)"`).FindAllStringSubmatch(page, -1)
	require.NotEmpty(t, links)
	var nowhere []string
	for _, l := range links {
		if !strings.Contains(page, `id="`+l[1]+`"`) {
			nowhere = append(nowhere, l[1])
		}
	}
	require.Empty(t, nowhere, "links to elements the page does not hold")
	require.Contains(t, html.UnescapeString(page), "1 absence, explained by fleet gap 1 (not paged)", "still said, without the link")
}

// TestTimesCarryTheDateAcrossDays: on a page whose span crosses a UTC
// midnight (a replay of a weekend's capture, a live page up for days),
// every time of day said in words carries its date, or an episode of one
// day reads as one of the next at the same hour; on a page within one day
// the times stay as they were, without it.
func TestTimesCarryTheDateAcrossDays(t *testing.T) {
	ctx := context.Background()
	t0 := scenario.Origin + 10*int64(time.Hour) // 2026-01-01 10:00 UTC
	minute, day := int64(time.Minute), int64(24*time.Hour)

	b, err := New(Options{})
	require.NoError(t, err)
	emit := func(ev fault.Event) { require.NoError(t, b.Emit(ctx, ev)) }
	emit(seriesEvent(fault.KindAbsence, "absence", 1, fault.StateFiring, t0, t0, ""))
	emit(seriesEvent(fault.KindAbsence, "absence", 1, fault.StateResolved, t0, t0+5*minute, ""))
	emit(seriesEvent(fault.KindAbsence, "absence", 2, fault.StateFiring, t0+day, t0+day, ""))
	p := b.view(false)
	require.Equal(t, "Jan 1 10:00:00", p.Timeline.From)
	require.Equal(t, "Jan 2 10:00:00", p.Timeline.To)
	var whens []string
	for _, r := range p.Timeline.Rows {
		whens = append(whens, r.When)
		for _, m := range r.Members {
			whens = append(whens, m.When)
		}
	}
	require.Contains(t, whens, "Jan 1 10:00:00 → Jan 1 10:05:00 (5m0s)")
	require.Contains(t, whens, "Jan 2 10:00:00 → open")
	require.Len(t, p.Series.Rows, 2)
	require.Equal(t, []string{"Jan 1 10:00:00", "Jan 1 10:05:00"}, []string{p.Series.Rows[0].First, p.Series.Rows[0].Last})
	require.Equal(t, []string{"Jan 2 10:00:00", "Jan 2 10:00:00"}, []string{p.Series.Rows[1].First, p.Series.Rows[1].Last})

	one, err := New(Options{})
	require.NoError(t, err)
	require.NoError(t, one.Emit(ctx, seriesEvent(fault.KindAbsence, "absence", 1, fault.StateFiring, t0, t0, "")))
	require.NoError(t, one.Emit(ctx, seriesEvent(fault.KindAbsence, "absence", 1, fault.StateResolved, t0, t0+5*minute, "")))
	p = one.view(false)
	require.Equal(t, "10:00:00", p.Timeline.From)
	require.Equal(t, "10:00:00 → 10:05:00 (5m0s)", p.Timeline.Rows[0].When)
	require.Equal(t, "10:00:00", p.Series.Rows[0].First)
}

// TestSpanFromTheEpochAndBefore: a capture whose engine time starts at
// the Unix epoch, or before it, spans the page from its first bin. Times
// at or before the epoch were taken for none seen: a capture whose first bin
// starts at 0 spanned from the next time seen, and one wholly before
// 1970 showed "nothing seen yet", and an episode's Since before 1970 was
// replaced by the time of its event.
func TestSpanFromTheEpochAndBefore(t *testing.T) {
	const minute = int64(time.Minute)
	f := func(start int64, want string) {
		t.Helper()
		b, err := New(Options{})
		require.NoError(t, err)
		b.PhaseBin(fault.PhaseBin{Start: start, Expected: 10})
		b.SourceMinute(fault.SourceMinute{Start: start + minute, Fresh: 10})
		require.NoError(t, b.Emit(context.Background(),
			seriesEvent(fault.KindAbsence, "absence", 1, fault.StateFiring, start+minute, start+minute+minute/2, "")))
		p := b.view(false)
		require.Equal(t, want, p.Span)
		require.NotEmpty(t, p.Timeline.Rows)
		require.Equal(t, 50.0, p.Timeline.Rows[0].Bar.Left, "the episode begins at its Since, half way through the span")
	}
	f(0, "1970-01-01 00:00:00 – 00:02:00 UTC (2m0s of engine time)")
	f(-2*minute, "1969-12-31 23:58:00 – 1970-01-01 00:00:00 UTC (2m0s of engine time)")
}

// TestLagAxis: the lag axis says each lag in the unit that keeps its
// label short enough to fit left of the plot.
func TestLagAxis(t *testing.T) {
	for s, want := range map[float64]string{
		0: "0", 0.00025: "250 µs", 0.00075: "750 µs", 0.001: "1 ms", 0.0125: "12.5 ms",
		0.5: "500 ms", 1: "1 s", 12.5: "12.5 s", 75: "75 s", 1250: "20.8 min", 7500: "2.08 h",
	} {
		require.Equal(t, want, lagAxis(s), "%g s", s)
	}
}

// TestHeatmapMarksCarryTheDate: on a page that crosses a UTC midnight the
// heatmap's began, fired and resolved marks say their date, as the
// timeline and the gap's facts do; within one day they say the time
// alone. They said hh:mm:ss only, so a gap resolved after midnight read
// as resolved before it began.
func TestHeatmapMarksCarryTheDate(t *testing.T) {
	minute := int64(time.Minute)
	f := func(t0 int64, want []string) {
		t.Helper()
		b, err := New(Options{})
		require.NoError(t, err)
		for ts := t0; ts < t0+40*minute; ts += int64(fault.PhaseBinWidth) {
			b.PhaseBin(fault.PhaseBin{Start: ts, Expected: 10})
		}
		_, evs := gapEvents(t0+10*minute, t0+30*minute)
		for _, ev := range evs {
			require.NoError(t, b.Emit(context.Background(), ev))
		}
		p := b.view(false)
		require.Len(t, p.Gaps, 1)
		var got []string
		for _, m := range p.Gaps[0].Heat.EpisodeX {
			got = append(got, m.Label)
		}
		require.Equal(t, want, got)
	}
	f(scenario.Origin+23*60*minute+40*minute, // 23:40 to 00:20
		[]string{"began Jan 1 23:50:00", "fired Jan 1 23:53:00", "resolved Jan 2 00:10:00"})
	f(scenario.Origin+10*60*minute, // 10:00 to 10:40
		[]string{"began 10:10:00", "fired 10:13:00", "resolved 10:30:00"})
}
