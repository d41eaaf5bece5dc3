package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"runtime/debug"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/faultline-go/faultline/bench/scenario"
	"github.com/faultline-go/faultline/bench/score"
	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/stream"
)

var defaultScenarios = append(scenario.IDs(), scenario.HardIDs()...)

// The protocol and targets.
const (
	protoN            = 10_000
	protoB01Seeds     = 5
	protoControlSeeds = 3
	protoControlHours = 6

	targetB01Latency    = 3.0  // periods, median
	targetB01FirstBurst = 5.0  // seconds, every run
	targetB04Recall     = 0.98 // core-affected series with Δ < P
	targetB04Latency    = 4.0  // periods, median
)

// options are the command's settings after flag parsing.
type options struct {
	Scenarios    []string
	Seeds        int
	N            int
	ControlHours float64
	Quick        bool
	Batch        int
	Episodes     int
}

func (o options) validate() error {
	var errs []error
	if len(o.Scenarios) == 0 {
		errs = append(errs, errors.New("no scenario"))
	}
	for _, id := range o.Scenarios {
		if _, ok := scenario.Named(id); !ok {
			errs = append(errs, fmt.Errorf("unknown scenario %q (want some of %s)", id, strings.Join(defaultScenarios, ",")))
		}
	}
	if o.Seeds < 1 {
		errs = append(errs, fmt.Errorf("-seeds %d, want ≥ 1", o.Seeds))
	}
	if o.N < 1 || o.N > scenario.MaxSeries {
		errs = append(errs, fmt.Errorf("-n %d, want 1…%d", o.N, scenario.MaxSeries))
	}
	if o.Batch < 1 {
		errs = append(errs, fmt.Errorf("-batch %d, want ≥ 1", o.Batch))
	}
	onset := scenario.Defaults().Onset.Hours()
	if !(o.ControlHours > onset) || o.ControlHours > 1000 {
		errs = append(errs, fmt.Errorf("-control-hours %v, want > %v (the onset) and ≤ 1000", o.ControlHours, onset))
	}
	return errors.Join(errs...)
}

// isControl reports whether a scenario holds no periodic fault.
func isControl(s scenario.Spec) bool { return s.Control() }

// spec returns the scenario's spec under o.
func (o options) spec(id string) (scenario.Spec, error) {
	s, ok := scenario.Named(id)
	if !ok {
		return s, fmt.Errorf("unknown scenario %q", id)
	}
	if s.N < scenario.Defaults().N {
		s = s.WithN(min(s.N, o.N)) // B11, H04: the fleet size is the scenario
	} else {
		s = s.WithN(o.N)
	}
	if isControl(s) {
		s = s.Long(time.Duration(o.ControlHours * float64(time.Hour)))
	}
	if o.Quick && id == "B06" {
		s = s.WithIncident(s.Onset, time.Hour).WithHorizon(s.Onset + time.Hour + 30*time.Minute)
	}
	return s, nil
}

// runStats are the cost measurements of one run.
type runStats struct {
	Deliveries, Fresh uint64
	Events            int
	Generate, Engine  time.Duration
	// Heap is the Go heap the engine held at the end (after GC); State the
	// same without dedup's on-heap index; DedupHeap the difference.
	Heap, State, DedupHeap int64
	// DedupBytes is the memory of the deduper's tables.
	DedupBytes uint64
}

// NsPerDelivery and NsPerUnique give the engine's time per delivered and
// per unique (fresh) sample.
func (s runStats) NsPerDelivery() float64 { return perUnit(s.Engine, s.Deliveries) }
func (s runStats) NsPerUnique() float64   { return perUnit(s.Engine, s.Fresh) }

func perUnit(d time.Duration, n uint64) float64 {
	if n == 0 {
		return math.NaN()
	}
	return float64(d.Nanoseconds()) / float64(n)
}

// result is a scenario's outcome over its seeds.
type result struct {
	ID     string
	Spec   scenario.Spec // of the first seed
	Report score.Report
	Runs   []runStats
}

// collector is the engine's sink: it keeps every event.
type collector struct{ events []fault.Event }

func (c *collector) Emit(_ context.Context, ev fault.Event) error {
	c.events = append(c.events, ev)
	return nil
}

// runOne generates spec from seed, runs it through a fresh engine and
// scores it.
func runOne(spec scenario.Spec, seed uint64, batch int) (score.Report, runStats, error) {
	var st runStats
	t0 := time.Now()
	ds, err := scenario.Generate(spec, seed)
	if err != nil {
		return score.Report{}, st, err
	}
	st.Generate = time.Since(t0)
	st.Deliveries = uint64(ds.Len())
	col := &collector{}
	buf := make([]stream.Sample, 0, batch)
	var after runtime.MemStats
	if err := feed(ds, col, buf, &st); err != nil {
		return score.Report{}, st, err
	}
	// The engine is unreachable now; what it held is gone from the heap.
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(buf)
	st.Heap -= int64(after.HeapAlloc)
	st.State -= int64(after.HeapAlloc)
	st.Heap, st.State = max(st.Heap, 0), max(st.State, 0)
	st.DedupHeap = max(st.Heap-st.State, 0)
	st.Events = len(col.events)
	return score.Score(ds, col.events), st, nil
}

// feed runs ds through a fresh engine in batches, timing only the engine,
// and records the heap (after GC) with the engine alive, then again after
// resetting its deduper. The engine does not outlive the call.
func feed(ds *scenario.Dataset, col *collector, buf []stream.Sample, st *runStats) error {
	eng, err := fault.New(fault.Config{Sink: col})
	if err != nil {
		return err
	}
	dd := eng.Deduper()
	defer dd.Reset()
	ctx := context.Background()
	n := ds.Len()
	for i := 0; i < n; {
		buf = buf[:0]
		for ; i < n && len(buf) < cap(buf); i++ {
			buf = append(buf, ds.Sample(i))
		}
		t := time.Now()
		err := eng.Process(ctx, buf)
		st.Engine += time.Since(t)
		if err != nil {
			return err
		}
	}
	t := time.Now()
	err = eng.Close(ctx)
	st.Engine += time.Since(t)
	if err != nil {
		return err
	}
	st.Fresh = eng.Stats().Fresh
	st.DedupBytes = dd.Stats().BytesUsed
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	st.Heap = int64(ms.HeapAlloc)
	dd.Reset()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	st.State = int64(ms.HeapAlloc)
	runtime.KeepAlive(eng)
	return nil
}

// run runs every scenario and seed of o, writes the scorecard to out and
// progress to progress, and reports whether every target evaluated passed.
func run(o options, out, progress io.Writer) (bool, error) {
	if err := o.validate(); err != nil {
		return false, err
	}
	var results []*result
	for _, id := range o.Scenarios {
		spec, err := o.spec(id)
		if err != nil {
			return false, err
		}
		r := &result{ID: id, Spec: spec}
		for seed := uint64(1); seed <= uint64(o.Seeds); seed++ {
			rep, st, err := runOne(spec, seed, o.Batch)
			if err != nil {
				return false, fmt.Errorf("%s seed %d: %w", id, seed, err)
			}
			r.Report.Merge(&rep)
			r.Runs = append(r.Runs, st)
			fmt.Fprintf(progress, "scorecard: %s seed %d/%d: %d series, %d deliveries, generated in %v, engine %v (%.1f ns/delivery), %d events\n",
				id, seed, o.Seeds, spec.N, st.Deliveries, st.Generate.Round(time.Millisecond), st.Engine.Round(time.Millisecond), st.NsPerDelivery(), st.Events)
			// Drop the dataset and events before the next run.
			runtime.GC()
			debug.FreeOSMemory()
		}
		results = append(results, r)
	}
	writeHeader(out, o)
	writeTable(out, results)
	writeDetails(out, results, o.Episodes)
	writeClasses(out, results)
	targets := evaluate(results)
	writeTargets(out, targets)
	pass := true
	for _, t := range targets {
		pass = pass && t.Pass
	}
	return pass, nil
}

func writeHeader(w io.Writer, o options) {
	mode := ""
	if o.Quick {
		mode = " (quick)"
	}
	fmt.Fprintf(w, "faultline scorecard%s: seeds 1…%d, N=%d (B11: %d), controls %gh, batch %d, %s %s/%s, GOMAXPROCS=%d\n\n",
		mode, o.Seeds, o.N, min(o.N, 500), o.ControlHours, o.Batch, runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0))
}

// Table cells.

func fmtPeriods(x float64) string {
	switch {
	case math.IsNaN(x):
		return "-"
	case math.IsInf(x, 1):
		return "miss"
	}
	return fmt.Sprintf("%.2f", x)
}

func fmtSeconds(x float64) string {
	switch {
	case math.IsNaN(x):
		return "-"
	case math.IsInf(x, 1):
		return "none"
	}
	return fmt.Sprintf("%.2f", x)
}

func fmtPct(a, b int) string {
	if b == 0 {
		return "-"
	}
	p := 100 * float64(a) / float64(b)
	if a == b {
		return fmt.Sprintf("100%% (%d/%d)", a, b)
	}
	return fmt.Sprintf("%.1f%% (%d/%d)", p, a, b)
}

// fmtRate is "count (rate/unit)", or "0 (≤bound/unit)" for a zero count.
func fmtRate(r score.Rate, unit string) string {
	if !(r.Exposure > 0) {
		return fmt.Sprintf("%d", r.Count)
	}
	if r.Count == 0 {
		return fmt.Sprintf("0 (≤%.3g/%s)", r.Upper95(), unit)
	}
	return fmt.Sprintf("%d (%.3g/%s)", r.Count, r.PerUnit(), unit)
}

func latencyCell(xs []float64) string {
	if len(xs) == 0 {
		return "-"
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, x := range xs {
		lo, hi = min(lo, x), max(hi, x)
	}
	if len(xs) == 1 {
		return fmtPeriods(xs[0])
	}
	return fmt.Sprintf("%s [%s–%s]", fmtPeriods(score.Median(xs)), fmtPeriods(lo), fmtPeriods(hi))
}

func medianOf(rs []runStats, f func(runStats) float64) float64 {
	xs := make([]float64, len(rs))
	for i, r := range rs {
		xs[i] = f(r)
	}
	return score.Median(xs)
}

func writeTable(w io.Writer, results []*result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tN\truns\tfleet det\tlatency P med [min–max]\t1st burst s\tfleet precision\tfleet FA (/fleet-day)\tseries recall\tseries precision\tseries lat P med/p90\tseries FA (/10k series-days)\tlate frac\tdead abs\tdropped abs uninh/fired\tother abs\tns/delivery\tns/unique\tB/series\tstate B/series\tdedup MiB")
	for _, r := range results {
		rep := &r.Report
		f, s, a := &rep.Fleet, &rep.Series, &rep.Absence
		det, lat, burst := "-", "-", "-"
		if f.Runs > 0 {
			det = fmt.Sprintf("%d/%d", f.Detected, f.Runs)
			if f.Duplicates > 0 {
				det += fmt.Sprintf(" +%d dup", f.Duplicates)
			}
			lat = latencyCell(f.Latency)
			burst = fmtSeconds(score.Median(f.FirstBurst))
		}
		serLat := "-"
		if len(s.Latency) > 0 {
			serLat = fmt.Sprintf("%s/%s", fmtPeriods(score.Median(s.Latency)), fmtPeriods(score.Quantile(s.Latency, 0.9)))
		}
		late := "-"
		if len(f.LateFraction) > 0 {
			late = fmt.Sprintf("%.3f", score.Median(f.LateFraction))
		}
		dead := "-"
		if a.Dead > 0 {
			dead = fmt.Sprintf("%d/%d", a.DeadFired, a.Dead)
		}
		dropped := "-"
		if a.Dropped > 0 {
			dropped = fmt.Sprintf("%d/%d", a.DroppedUninhibited, a.DroppedFired)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d×%gh\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%.1f\t%.1f\t%.0f\t%.0f\t%.0f\n",
			r.ID, r.Spec.N, len(r.Runs), r.Spec.Horizon.Hours(),
			det, lat, burst, fmtPct(f.TP, f.Fired), fmtRate(rep.FleetFalseAlarms(), "fd"),
			fmtPct(s.Detected, s.Eligible), fmtPct(s.TP, s.Fired), serLat, fmtRate(rep.SeriesFalseAlarms(), "10k-sd"),
			late, dead, dropped, a.Other,
			medianOf(r.Runs, runStats.NsPerDelivery), medianOf(r.Runs, runStats.NsPerUnique),
			medianOf(r.Runs, func(s runStats) float64 { return float64(s.Heap) / float64(r.Spec.N) }),
			medianOf(r.Runs, func(s runStats) float64 { return float64(s.State) / float64(r.Spec.N) }),
			medianOf(r.Runs, func(s runStats) float64 { return float64(s.DedupBytes) / (1 << 20) }))
	}
	tw.Flush()
}

// writeDetails lists fired fleet episodes, false per-series alarms and
// offending absences, a few per scenario.
func writeDetails(w io.Writer, results []*result, limit int) {
	var b strings.Builder
	for _, r := range results {
		rep := &r.Report
		n := 0
		for _, ep := range rep.Fleet.Episodes {
			if !ep.Fired {
				continue
			}
			if n++; n > limit {
				continue
			}
			g := ep.Gap
			fmt.Fprintf(&b, "  %s seed %d fleet %-12s P %.3fs  phase %.3f–%.3fs", r.ID, ep.Seed, ep.Verdict, g.Period.Seconds(), g.PhaseStart.Seconds(), g.PhaseEnd.Seconds())
			if ep.Verdict == score.VerdictTP || ep.Verdict == score.VerdictWrongPhase {
				fmt.Fprintf(&b, " (edges %+.2f/%+.2fs", ep.PhaseErrStart.Seconds(), ep.PhaseErrEnd.Seconds())
				if ep.LiteralErrStart != ep.PhaseErrStart || ep.LiteralErrEnd != ep.PhaseErrEnd {
					fmt.Fprintf(&b, "; as written %+.2f/%+.2fs", ep.LiteralErrStart.Seconds(), ep.LiteralErrEnd.Seconds())
				}
				b.WriteByte(')')
			}
			fmt.Fprintf(&b, "  series %d (truth %d)  late %s (%s)  confirmed at %s", ep.Final.Series, ep.TruthSeries, fmtFrac(ep.LateFraction), score.LateVerdict(ep.LateFraction), fault.FormatTime(ep.FiringAt))
			if !math.IsNaN(ep.LatencyPeriods) {
				fmt.Fprintf(&b, " (%.2f P)", ep.LatencyPeriods)
			}
			b.WriteByte('\n')
		}
		if n > limit {
			fmt.Fprintf(&b, "  %s … %d more fired fleet episodes\n", r.ID, n-limit)
		}
		writeDeliveryDetails(&b, r, limit)
		if u := rep.Fleet.Unconfirmed; u > 0 {
			fmt.Fprintf(&b, "  %s %d fleet episodes pending, never confirmed\n", r.ID, u)
		}
		n = 0
		for _, a := range rep.Series.Alarms {
			if a.Verdict == score.VerdictTP {
				continue
			}
			if n++; n > limit {
				continue
			}
			fmt.Fprintf(&b, "  %s seed %d series %s Δ=%v false alarm %-12s P %.3fs at %s\n", r.ID, a.Seed, a.Check, a.Every, a.Verdict, a.Gap.Period.Seconds(), fault.FormatTime(a.At))
		}
		if n > limit {
			fmt.Fprintf(&b, "  %s … %d more false series alarms\n", r.ID, n-limit)
		}
		abs := &rep.Absence
		if len(abs.MissedDead) > 0 {
			fmt.Fprintf(&b, "  %s dead checks without absence: %s\n", r.ID, examples(abs.MissedDead, abs.Dead-abs.DeadFired))
		}
		if len(abs.UninhibitedDropped) > 0 {
			fmt.Fprintf(&b, "  %s uninhibited absences of checks with drops: %s\n", r.ID, examples(abs.UninhibitedDropped, abs.DroppedUninhibited))
		}
		if len(abs.OtherChecks) > 0 {
			fmt.Fprintf(&b, "  %s absences of checks that neither died nor lost samples: %s\n", r.ID, examples(abs.OtherChecks, abs.Other))
		}
		if abs.Dangling > 0 {
			fmt.Fprintf(&b, "  %s %d absences inhibited by something other than a fleet periodic_gap firing event\n", r.ID, abs.Dangling)
		}
	}
	if b.Len() > 0 {
		fmt.Fprintf(w, "\ndetails:\n%s", b.String())
	}
}

func examples(list []string, total int) string {
	s := strings.Join(list[:min(len(list), 5)], " ")
	if total > 5 {
		s += fmt.Sprintf(" … (%d in all)", total)
	}
	return s
}

// target is one target of the issue, evaluated.
type target struct {
	Name    string
	Pass    bool
	Value   string
	Reduced string // the protocol shortfalls, if any
}

// reduced lists how r's protocol falls short of n series, seeds seeds and
// hours hours (0: no requirement).
func reduced(r *result, n, seeds int, hours float64) string {
	var s []string
	if r.Spec.N < n {
		s = append(s, fmt.Sprintf("N=%d < %d", r.Spec.N, n))
	}
	if len(r.Runs) < seeds {
		s = append(s, fmt.Sprintf("%d seeds < %d", len(r.Runs), seeds))
	}
	if hours > 0 && r.Spec.Horizon.Hours() < hours {
		s = append(s, fmt.Sprintf("%gh < %gh", r.Spec.Horizon.Hours(), hours))
	}
	return strings.Join(s, ", ")
}

// firstTPs returns each run's first true-positive fleet episode.
func firstTPs(rep *score.Report) []score.FleetEpisode {
	first := map[uint64]score.FleetEpisode{}
	for _, ep := range rep.Fleet.Episodes {
		if ep.Verdict != score.VerdictTP {
			continue
		}
		if f, ok := first[ep.Seed]; !ok || ep.FiringAt < f.FiringAt {
			first[ep.Seed] = ep
		}
	}
	var eps []score.FleetEpisode
	for _, seed := range rep.Seeds {
		if ep, ok := first[seed]; ok {
			eps = append(eps, ep)
		}
	}
	return eps
}

// evaluate checks the targets on the scenarios that were run.
func evaluate(results []*result) []target {
	by := map[string]*result{}
	for _, r := range results {
		by[r.ID] = r
	}
	var ts []target
	if r := by["B01"]; r != nil {
		ts = append(ts, evalB01(r)...)
	}
	if r := by["B02"]; r != nil {
		ts = append(ts, evalB02(r)...)
	}
	for _, id := range []string{"C01", "C02", "C03", "C05"} {
		if r := by[id]; r != nil {
			ts = append(ts, evalControl(r)...)
		}
	}
	if r := by["B04"]; r != nil {
		ts = append(ts, evalB04(r)...)
	}
	for _, id := range scenario.HardIDs() {
		if r := by[id]; r != nil {
			ts = append(ts, evalClass(r)...)
		}
	}
	return ts
}

func evalB01(r *result) []target {
	rep := &r.Report
	f := &rep.Fleet
	red := reduced(r, protoN, protoB01Seeds, 0)
	med := score.Median(f.Latency)
	lat := target{
		Name:    "B01 fleet confirmation",
		Pass:    f.Runs > 0 && med <= targetB01Latency,
		Value:   fmt.Sprintf("median %s periods after the first outage (want ≤ %g); %d/%d runs detected, latencies %s", fmtPeriods(med), targetB01Latency, f.Detected, f.Runs, listPeriods(f.Latency)),
		Reduced: red,
	}
	eps := firstTPs(rep)
	worstP, worstEdge, worstLit := time.Duration(0), time.Duration(0), time.Duration(0)
	good := 0
	for _, ep := range eps {
		worstP = max(worstP, absDur(ep.Gap.Period-r.Spec.Period))
		worstEdge = max(worstEdge, absDur(ep.PhaseErrStart), absDur(ep.PhaseErrEnd))
		worstLit = max(worstLit, absDur(ep.LiteralErrStart), absDur(ep.LiteralErrEnd))
		if ep.PhaseStrict && ep.PhaseLiteral {
			good++
		}
	}
	pp := target{
		Name: "B01 period and phase",
		Pass: f.Runs > 0 && good == f.Runs,
		Value: fmt.Sprintf("%d/%d runs' first alarm with period within ±%v and each window edge within %v of the truth, at the outage and as written (worst: period %v off, edge %v off at the outage, %v as written)",
			good, f.Runs, score.PeriodTolerance, score.PhaseSlack, worstP, worstEdge, worstLit),
		Reduced: red,
	}
	worst := math.Inf(-1)
	for _, x := range f.FirstBurst {
		worst = max(worst, x)
	}
	fb := target{
		Name:    "B01 first burst",
		Pass:    f.Runs > 0 && worst <= targetB01FirstBurst,
		Value:   fmt.Sprintf("flagged median %s s, at worst %s s after the first outage's start (want ≤ %g s in every run)", fmtSeconds(score.Median(f.FirstBurst)), fmtSeconds(worst), targetB01FirstBurst),
		Reduced: red,
	}
	return []target{lat, pp, fb}
}

func evalB02(r *result) []target {
	rep := &r.Report
	a, f := &rep.Absence, &rep.Fleet
	red := reduced(r, protoN, 0, 0)
	abs := target{
		Name: "B02 absences inhibited",
		Pass: a.DroppedUninhibited == 0,
		Value: fmt.Sprintf("%d checks with real-time drops fired an absence not inhibited by a fired fleet periodic_gap (want 0); of %d such checks %d fired, %d all inhibited; %d dangling inhibitions",
			a.DroppedUninhibited, a.Dropped, a.DroppedFired, a.DroppedInhibited, a.Dangling),
		Reduced: red,
	}
	worst, unknown := math.Inf(-1), 0
	for _, x := range f.LateFraction {
		if math.IsNaN(x) {
			unknown++
			continue
		}
		worst = max(worst, x)
	}
	loss := target{
		Name: "B02 data loss",
		Pass: f.Runs > 0 && f.Detected == f.Runs && unknown == 0 && worst <= score.DataLossMax,
		Value: fmt.Sprintf("%d/%d runs with a fleet fault; late fraction at most %s, %d never reported (want ≤ %g in every run: data loss, nothing late-filled)",
			f.Detected, f.Runs, fmtFrac(worst), unknown, score.DataLossMax),
		Reduced: red,
	}
	return []target{abs, loss}
}

func evalControl(r *result) []target {
	rep := &r.Report
	red := reduced(r, protoN, protoControlSeeds, protoControlHours)
	ffa, sfa, dfa := rep.FleetFalseAlarms(), rep.SeriesFalseAlarms(), rep.DeliveryFalseAlarms()
	ts := []target{{
		Name: r.ID + " no false alarms",
		Pass: ffa.Count == 0 && sfa.Count == 0 && dfa.Count == 0,
		Value: fmt.Sprintf("fleet %s, confirmed per-series %s, delivery loss %s over %d × %gh × %d series (want 0, 0 and 0)",
			fmtRate(ffa, "fleet-day"), fmtRate(sfa, "10k series-days"), fmtRate(dfa, "fleet-day"), len(r.Runs), r.Spec.Horizon.Hours(), r.Spec.N),
		Reduced: red,
	}}
	if a := &rep.Absence; a.Dead > 0 || r.Spec.DeadFraction > 0 {
		ts = append(ts, target{
			Name:    r.ID + " dead checks",
			Pass:    a.Dead > 0 && a.DeadFired == a.Dead,
			Value:   fmt.Sprintf("%d/%d dead checks fired their absence (want all)", a.DeadFired, a.Dead),
			Reduced: red,
		})
	}
	return ts
}

func evalB04(r *result) []target {
	s := &r.Report.Series
	red := reduced(r, protoN, 0, 0)
	rec := s.Recall()
	med := score.Median(s.Latency)
	return []target{
		{
			Name:    "B04 per-series recall",
			Pass:    rec >= targetB04Recall,
			Value:   fmt.Sprintf("%s of core-affected series with Δ < P caught (want ≥ %g%%)", fmtPct(s.Detected, s.Eligible), 100*targetB04Recall),
			Reduced: red,
		},
		{
			Name:    "B04 per-series precision",
			Pass:    s.Fired > 0 && s.TP == s.Fired,
			Value:   fmt.Sprintf("%s of per-series alarms true (want 100%%)", fmtPct(s.TP, s.Fired)),
			Reduced: red,
		},
		{
			Name:    "B04 per-series latency",
			Pass:    med <= targetB04Latency,
			Value:   fmt.Sprintf("median %s periods, p90 %s (want median ≤ %g)", fmtPeriods(med), fmtPeriods(score.Quantile(s.Latency, 0.9)), targetB04Latency),
			Reduced: red,
		},
	}
}

func writeTargets(w io.Writer, ts []target) {
	if len(ts) == 0 {
		fmt.Fprintln(w, "\ntargets: none of the target scenarios (B01 B02 B04 C01 C02 C03 C05 H01…H05 N01…N04) was run")
		return
	}
	fmt.Fprintln(w, "\ntargets:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	failed := 0
	for _, t := range ts {
		verdict := "PASS"
		if !t.Pass {
			verdict = "FAIL"
			failed++
		}
		note := ""
		if t.Reduced != "" {
			note = "  [reduced protocol: " + t.Reduced + "]"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s%s\n", verdict, t.Name, t.Value, note)
	}
	tw.Flush()
	fmt.Fprintf(w, "\n%d/%d targets passed\n", len(ts)-failed, len(ts))
}

func listPeriods(xs []float64) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmtPeriods(x)
	}
	return strings.Join(s, " ")
}

func fmtFrac(x float64) string {
	if math.IsInf(x, 0) || math.IsNaN(x) {
		return "-"
	}
	return fmt.Sprintf("%.3f", x)
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
