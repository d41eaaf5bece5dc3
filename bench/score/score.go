// Package score judges the engine's events on a generated scenario against
// its ground truth (bench/scenario): each fleet episode, per-series alarm
// and absence gets a verdict, and a Report adds them up over runs, with the
// tolerances of GAPS.md ("Public benchmark scenarios", Scoring). It knows
// both the engine and the generator; the generator does not know it, so
// the engine's own tests can generate scenarios.
package score

import (
	"math"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/faultline-go/faultline/bench/scenario"
	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/internal/align"
	"github.com/faultline-go/faultline/stream"
)

// Scoring tolerances (GAPS.md, "Public benchmark scenarios", Scoring).
const (
	// PeriodTolerance is how far a reported period may be from the truth's
	// P (or, for a harmonic or an alias, from k·P or P/k).
	PeriodTolerance = 600 * time.Millisecond
	// PhaseSlack is added to w/2 to make the tolerance of a true positive's
	// phase window (each edge may stick out of the truth window by
	// w/2 + PhaseSlack). It is also the strict tolerance of B01's target:
	// each edge within PhaseSlack of the truth window's edge.
	PhaseSlack = time.Second
	// DeliveryGapMin and DataLossMax classify a late fraction: at least
	// DeliveryGapMin is a delivery gap (the lost samples arrived later), at
	// most DataLossMax is data loss, anything between is mixed.
	DeliveryGapMin = 0.95
	DataLossMax    = 0.05
	// SeriesDaysUnit is the exposure unit of per-series false alarms: 10,000
	// series-days.
	SeriesDaysUnit = 10_000
)

// KindPeriodicDeliveryLoss is the event kind the scorer expects for a
// periodic loss of deliveries without loss of data (H05: redundant copies
// vanish in the same window every period while every sample still
// arrives): fault.KindPeriodicDeliveryLoss. Its events are fleet events
// shaped like periodic_gap's (Gap with period and phase window).
const KindPeriodicDeliveryLoss = fault.KindPeriodicDeliveryLoss

// Verdict is how the scorer judged one alarm (one episode).
type Verdict uint8

// Verdicts. Only VerdictTP is a true positive; VerdictPending marks a fleet
// episode that never fired, which is no alarm at all.
const (
	VerdictPending       Verdict = iota // never fired: not an alarm
	VerdictTP                           // true positive
	VerdictNoTruth                      // the scenario has no periodic fault
	VerdictEarly                        // fired before the first outage window started
	VerdictHarmonic                     // period ≈ k·P, k ≥ 2
	VerdictAlias                        // period ≈ P/k, k ≥ 2
	VerdictWrongPeriod                  // period unrelated to P
	VerdictWrongPhase                   // fleet: period right, phase window off
	VerdictUnaffected                   // series: the series is not affected by the fault
	VerdictUnknownSeries                // series: not a series of the dataset
	VerdictNoGap                        // fired without a Gap description
)

var verdictNames = [...]string{"pending", "tp", "no-truth", "early", "harmonic", "alias", "wrong-period", "wrong-phase", "unaffected", "unknown-series", "no-gap"}

// String returns the verdict's short name ("tp", "harmonic", ...).
func (v Verdict) String() string {
	if int(v) < len(verdictNames) {
		return verdictNames[v]
	}
	return "verdict(" + strconv.Itoa(int(v)) + ")"
}

// Report is the score of one run (one dataset and the events the engine
// raised on it) or, after Merge, of several runs of the same scenario.
// Counts add up; per-run and per-series lists concatenate, so quantiles are
// taken over every run.
type Report struct {
	// ID is the scenario's id (scenario.Spec.ID).
	ID string
	// Seeds lists the seeds of the runs, in merge order.
	Seeds []uint64
	// N and Horizon are those of the first run.
	N       int
	Horizon time.Duration
	// Periodic reports that the scenario holds a true periodic fault;
	// DeliveryLoss that it holds a periodic loss of deliveries
	// (scenario.Truth.DeliveryLoss).
	Periodic, DeliveryLoss bool
	// FleetDays and SeriesDays are the summed exposures (scenario.Spec.FleetDays,
	// scenario.Spec.SeriesDays).
	FleetDays, SeriesDays float64

	Fleet   FleetScore
	Series  SeriesScore
	Absence AbsenceScore
	// Delivery scores periodic_delivery_loss episodes like Fleet scores
	// periodic_gap ones, against scenario.Truth.DeliveryLoss.
	Delivery FleetScore
}

// FleetScore scores the fleet detector (kind periodic_gap), or the
// periodic_delivery_loss detector (Report.Delivery).
type FleetScore struct {
	// Episodes lists every fleet episode, fired or not, in order of first
	// event.
	Episodes []FleetEpisode
	// Fired counts the episodes that fired, TP the true positives among
	// them, Unconfirmed the episodes that never fired.
	Fired, TP, Unconfirmed int
	// Runs counts the runs with a periodic truth (chances to detect),
	// Detected those with at least one true positive.
	Runs, Detected int
	// Latency holds, per run with a periodic truth, the periods from the
	// first window's start to the first true positive's firing; +Inf when
	// the run had none.
	Latency []float64
	// FirstBurst holds, per run with a periodic truth, the seconds from the
	// first window's start to the first fleet pending or firing event at or
	// after it; +Inf when there was none.
	FirstBurst []float64
	// LateFraction holds, per detected run, the last known late fraction
	// of its first true positive (FleetEpisode.LateFraction; NaN when it
	// never reported one).
	LateFraction []float64
	// StrictPhase counts the detected runs whose first true positive has
	// both window edges within PhaseSlack of the active truth window's
	// (FleetEpisode.PhaseStrict); LiteralPhase those whose first true
	// positive's reported window reads within PhaseSlack of the truth's
	// phase window (FleetEpisode.PhaseLiteral).
	StrictPhase, LiteralPhase int
	// Duplicates counts true positives beyond the first of each run: the
	// same fault alarmed again as another episode.
	Duplicates int
	// FiredPerRun holds, per run, the number of episodes that fired (true
	// or false): one fault reported once is 1.
	FiredPerRun []int
	// Tracked counts the events of true-positive episodes that carried a
	// Gap at or after the first window's start (firing, resolved and any
	// other); TrackedOK those whose period is right and whose window lies
	// within w/2 + PhaseSlack of the window active at the event
	// (FleetEpisode.PhaseOK's test, at each event's time): a reported
	// window that follows a wandering phase keeps them equal.
	Tracked, TrackedOK int
}

// FleetEpisode is one fleet periodic_gap episode.
type FleetEpisode struct {
	Seed    uint64
	Episode string
	// FiringID is the ID of the firing event ("" if it never fired).
	FiringID string
	// PendingAt, FiringAt and ResolvedAt are the At of the first event of
	// each state (0 when there was none); Since is the firing (or first)
	// event's Since.
	PendingAt, FiringAt, ResolvedAt, Since int64
	Fired                                  bool
	// Gap is the firing event's description (zero if it had none); Final is
	// the last description reported (resolved, else firing, else pending).
	Gap, Final fault.Gap
	HasGap     bool
	// LateFraction is the last late fraction the episode reported that was
	// not NaN ("not known yet"), or NaN if none was.
	LateFraction float64
	Verdict      Verdict
	// LatencyPeriods is FiringAt in periods from the first window's start
	// (NaN without windows).
	LatencyPeriods float64
	// PhaseErrStart and PhaseErrEnd are the offsets of the alarm window's
	// edges from the active truth window's edges (the last window starting
	// at or before FiringAt), comparing the occurrence n·Period +
	// PhaseStart nearest to it, for alarms whose period is right. PhaseOK
	// is the true-positive condition (the window lies within
	// w/2 + PhaseSlack of the truth window); PhaseStrict has each edge
	// within PhaseSlack.
	PhaseErrStart, PhaseErrEnd time.Duration
	PhaseOK, PhaseStrict       bool
	// LiteralErrStart and LiteralErrEnd compare the reported window as
	// written, read as offsets into the truth's period (what an operator
	// reads: "seconds 12.0–13.5 of each minute"), with the active truth
	// window's phase, circularly. PhaseLiteral has each within PhaseSlack.
	// With a reported period not exactly P the phase, taken modulo that
	// period from the Unix epoch, reads nothing like the truth's even when
	// the occurrences line up at the firing (PhaseStrict).
	LiteralErrStart, LiteralErrEnd time.Duration
	PhaseLiteral                   bool
	// TruthSeries is the number of series with a real-time drop
	// (scenario.Truth.FleetSeries), to compare with Gap.Series.
	TruthSeries int
	// Tracked and TrackedOK count this episode's events as
	// FleetScore.Tracked and TrackedOK do (true positives only);
	// WorstTrack is the largest edge offset (FleetEpisode.PhaseErrStart,
	// PhaseErrEnd) among them.
	Tracked, TrackedOK int
	WorstTrack         time.Duration
}

// SeriesScore scores the per-series detector (kind series_periodic_gap).
type SeriesScore struct {
	// Alarms lists every per-series episode that fired.
	Alarms []SeriesAlarm
	// Fired counts alarm episodes, TP the true positives, Inhibited those
	// that named an inhibiting event, InhibitedByFleet those whose
	// inhibitor is a fleet periodic_gap firing event of the same run.
	Fired, TP, Inhibited, InhibitedByFleet int
	// Eligible counts the recall denominator: core-affected series with
	// Δ < P. Detected counts those with a true-positive alarm.
	Eligible, Detected int
	// Latency holds, per detected eligible series, the periods from the
	// first window's start to its first true-positive alarm.
	Latency []float64
}

// SeriesAlarm is one per-series episode that fired.
type SeriesAlarm struct {
	Seed    uint64
	Episode string
	// Series is the index in scenario.Dataset.Series, or −1 when the event named no
	// series of the dataset.
	Series int
	Check  string
	Every  time.Duration
	// At is the firing event's time; Gap its description (zero if none).
	At          int64
	Gap         fault.Gap
	InhibitedBy string
	Verdict     Verdict
	// Affected and Core copy the series' truth.
	Affected, Core bool
	// LatencyPeriods is At in periods from the first window's start.
	LatencyPeriods float64
}

// AbsenceScore scores absence events against the truth. Counts are of
// series, except Episodes and Dangling. A series counts as uninhibited when
// any of its firing absence events is: an absence first emitted inhibited
// and re-emitted uninhibited (its fleet gap resolved while the series was
// still silent) paged someone.
type AbsenceScore struct {
	// Episodes counts absence episodes that fired (distinct Episode).
	Episodes int
	// Dead counts dead series; DeadFired those whose absence fired;
	// DeadInhibited those whose firing absences were all inhibited.
	Dead, DeadFired, DeadInhibited int
	// Dropped counts the live series with a real-time drop; of those,
	// DroppedFired had a firing absence, DroppedInhibited had only firing
	// absences inhibited by a fleet periodic_gap firing event, and
	// DroppedUninhibited had at least one firing absence that was not (B02
	// requires 0).
	Dropped, DroppedFired, DroppedInhibited, DroppedUninhibited int
	// Other counts the series neither dead nor dropped whose absence fired
	// (should be 0); OtherInhibited those with only inhibited absences.
	Other, OtherInhibited int
	// Dangling counts firing absence events whose InhibitedBy is set but
	// names no fleet periodic_gap firing event of the run.
	Dangling int
	// MissedDead, UninhibitedDropped and OtherChecks name a few offending
	// series (check label, at most 10 per run each).
	MissedDead, UninhibitedDropped, OtherChecks []string
}

// Rate is a false-alarm count over an exposure (fleet-days, or units of
// 10,000 series-days).
type Rate struct {
	Count    int
	Exposure float64
}

// PerUnit returns Count ÷ Exposure (NaN without exposure).
func (r Rate) PerUnit() float64 {
	if !(r.Exposure > 0) {
		return math.NaN()
	}
	return float64(r.Count) / r.Exposure
}

// Upper95 returns the one-sided Poisson 95 % upper bound of the rate:
// PoissonUpper95(Count) ÷ Exposure; 3 ÷ Exposure for a count of 0.
func (r Rate) Upper95() float64 {
	if !(r.Exposure > 0) {
		return math.NaN()
	}
	return PoissonUpper95(r.Count) / r.Exposure
}

// PoissonUpper95 returns the one-sided 95 % upper confidence bound of a
// Poisson mean after observing k events: the λ with P(X ≤ k | λ) = 0.05.
// For k = 0 it returns 3, the rule of three (exactly, −ln 0.05 ≈ 2.996).
func PoissonUpper95(k int) float64 {
	if k <= 0 {
		return 3
	}
	lo, hi := float64(k), float64(k)+20+10*math.Sqrt(float64(k)+1)
	for range 200 {
		mid := (lo + hi) / 2
		if poissonCDF(k, mid) > 0.05 {
			lo = mid
		} else {
			hi = mid
		}
		if hi-lo < 1e-9*hi {
			break
		}
	}
	return (lo + hi) / 2
}

// poissonCDF returns P(X ≤ k) for X ~ Poisson(λ), summed in log space.
func poissonCDF(k int, lambda float64) float64 {
	lnl := math.Log(lambda)
	mx := math.Inf(-1)
	terms := make([]float64, k+1)
	for i := 0; i <= k; i++ {
		lg, _ := math.Lgamma(float64(i) + 1)
		terms[i] = -lambda + float64(i)*lnl - lg
		mx = max(mx, terms[i])
	}
	s := 0.0
	for _, t := range terms {
		s += math.Exp(t - mx)
	}
	return math.Exp(mx + math.Log(s))
}

// Quantile returns the q-quantile (0 ≤ q ≤ 1) of xs by linear
// interpolation between order statistics, ignoring NaNs; +Inf values sort
// last (a missed detection makes the upper quantiles infinite). It returns
// NaN for an empty input. xs is not modified.
func Quantile(xs []float64, q float64) float64 {
	s := make([]float64, 0, len(xs))
	for _, x := range xs {
		if !math.IsNaN(x) {
			s = append(s, x)
		}
	}
	if len(s) == 0 {
		return math.NaN()
	}
	slices.Sort(s)
	q = min(max(q, 0), 1)
	pos := q * float64(len(s)-1)
	i := int(pos)
	frac := pos - float64(i)
	if frac == 0 || i+1 >= len(s) {
		return s[i]
	}
	a, b := s[i], s[i+1]
	if a == b || math.IsInf(b, 1) {
		return b
	}
	return a + (b-a)*frac
}

// Median is Quantile(xs, 0.5).
func Median(xs []float64) float64 { return Quantile(xs, 0.5) }

// LateVerdict names a late fraction: "delivery gap" (≥ DeliveryGapMin: the
// lost samples arrived later), "data loss" (≤ DataLossMax), "mixed", or
// "-" for NaN.
func LateVerdict(f float64) string {
	switch {
	case math.IsNaN(f):
		return "-"
	case f >= DeliveryGapMin:
		return "delivery gap"
	case f <= DataLossMax:
		return "data loss"
	}
	return "mixed"
}

// Precision returns TP ÷ Fired, NaN when nothing fired.
func (f *FleetScore) Precision() float64 { return ratio(f.TP, f.Fired) }

// FalseAlarms returns the fired episodes that are not true positives.
func (f *FleetScore) FalseAlarms() int { return f.Fired - f.TP }

// Precision returns TP ÷ Fired, NaN when nothing fired.
func (s *SeriesScore) Precision() float64 { return ratio(s.TP, s.Fired) }

// Recall returns Detected ÷ Eligible, NaN without eligible series.
func (s *SeriesScore) Recall() float64 { return ratio(s.Detected, s.Eligible) }

// FalseAlarms returns the alarms that are not true positives.
func (s *SeriesScore) FalseAlarms() int { return s.Fired - s.TP }

func ratio(a, b int) float64 {
	if b == 0 {
		return math.NaN()
	}
	return float64(a) / float64(b)
}

// FleetFalseAlarms returns the fleet false alarms per fleet-day.
func (r *Report) FleetFalseAlarms() Rate {
	return Rate{Count: r.Fleet.FalseAlarms(), Exposure: r.FleetDays}
}

// DeliveryFalseAlarms returns the periodic_delivery_loss false alarms per
// fleet-day.
func (r *Report) DeliveryFalseAlarms() Rate {
	return Rate{Count: r.Delivery.FalseAlarms(), Exposure: r.FleetDays}
}

// SeriesFalseAlarms returns the per-series false alarms per 10,000
// series-days.
func (r *Report) SeriesFalseAlarms() Rate {
	return Rate{Count: r.Series.FalseAlarms(), Exposure: r.SeriesDays / SeriesDaysUnit}
}

// Merge adds o's runs to r. Reports of the same scenario merge
// meaningfully; N and Horizon stay those of r (or o's when r is empty).
func (r *Report) Merge(o *Report) {
	if len(r.Seeds) == 0 && r.ID == "" {
		r.ID, r.N, r.Horizon = o.ID, o.N, o.Horizon
	}
	r.Seeds = append(r.Seeds, o.Seeds...)
	r.Periodic = r.Periodic || o.Periodic
	r.DeliveryLoss = r.DeliveryLoss || o.DeliveryLoss
	r.FleetDays += o.FleetDays
	r.SeriesDays += o.SeriesDays

	r.Fleet.merge(&o.Fleet)
	r.Delivery.merge(&o.Delivery)

	s, t := &r.Series, &o.Series
	s.Alarms = append(s.Alarms, t.Alarms...)
	s.Fired += t.Fired
	s.TP += t.TP
	s.Inhibited += t.Inhibited
	s.InhibitedByFleet += t.InhibitedByFleet
	s.Eligible += t.Eligible
	s.Detected += t.Detected
	s.Latency = append(s.Latency, t.Latency...)

	a, b := &r.Absence, &o.Absence
	a.Episodes += b.Episodes
	a.Dead += b.Dead
	a.DeadFired += b.DeadFired
	a.DeadInhibited += b.DeadInhibited
	a.Dropped += b.Dropped
	a.DroppedFired += b.DroppedFired
	a.DroppedInhibited += b.DroppedInhibited
	a.DroppedUninhibited += b.DroppedUninhibited
	a.Other += b.Other
	a.OtherInhibited += b.OtherInhibited
	a.Dangling += b.Dangling
	a.MissedDead = append(a.MissedDead, b.MissedDead...)
	a.UninhibitedDropped = append(a.UninhibitedDropped, b.UninhibitedDropped...)
	a.OtherChecks = append(a.OtherChecks, b.OtherChecks...)
}

func (f *FleetScore) merge(g *FleetScore) {
	f.Episodes = append(f.Episodes, g.Episodes...)
	f.Fired += g.Fired
	f.TP += g.TP
	f.Unconfirmed += g.Unconfirmed
	f.Runs += g.Runs
	f.Detected += g.Detected
	f.Latency = append(f.Latency, g.Latency...)
	f.FirstBurst = append(f.FirstBurst, g.FirstBurst...)
	f.LateFraction = append(f.LateFraction, g.LateFraction...)
	f.StrictPhase += g.StrictPhase
	f.LiteralPhase += g.LiteralPhase
	f.Duplicates += g.Duplicates
	f.FiredPerRun = append(f.FiredPerRun, g.FiredPerRun...)
	f.Tracked += g.Tracked
	f.TrackedOK += g.TrackedOK
}

// Aggregate merges reports (typically one per seed of a scenario) into a
// new one; the inputs are not modified.
func Aggregate(reports ...Report) Report {
	var r Report
	for i := range reports {
		r.Merge(&reports[i])
	}
	return r
}

// maxExamples bounds the offending checks an AbsenceScore names per run.
const maxExamples = 10

// Score judges the events an engine raised on ds against its ground truth
// (GAPS.md, Scoring):
//
//   - Fleet (kind periodic_gap): events are grouped by Episode; an episode
//     is an alarm when it fired. It is a true positive when the scenario is
//     periodic, it fired at or after the first window's start, its firing
//     Gap's period is within PeriodTolerance of P (harmonics k·P and aliases
//     P/k are false positives, reported as such) and its phase window lies
//     within w/2 + PhaseSlack of the active truth window: the last window
//     starting at or before the firing, compared at the occurrence of the
//     alarm's window (n·Period + PhaseStart from the Unix epoch) nearest to
//     it.
//   - Per series (kind series_periodic_gap): every episode that fired is an
//     alarm. It is a true positive when its series is affected, it fired at
//     or after the first window's start and its period is within
//     PeriodTolerance of P, or of an integer multiple of the series' actual
//     cadence Δ(1+drift) that is itself within PeriodTolerance of P. Recall
//     counts core-affected series (Core implies Δ < P).
//   - Absence: firing absence events per series, inhibited when InhibitedBy
//     names a fleet periodic_gap firing event of events; a series with any
//     uninhibited firing absence event counts as uninhibited.
//   - Delivery loss (kind KindPeriodicDeliveryLoss): judged as fleet
//     episodes are, against scenario.Truth.DeliveryLoss instead of scenario.Truth.Periodic.
//
// Every true-positive fleet or delivery-loss episode is also checked at
// each of its events that carries a Gap (FleetScore.Tracked): a window that
// wanders is followed, not just found.
//
// Events of other kinds are ignored. events must be those of one run on ds.
func Score(ds *scenario.Dataset, events []fault.Event) Report {
	t := &ds.Truth
	r := Report{
		ID:           ds.Spec.ID,
		Seeds:        []uint64{ds.Seed},
		N:            len(ds.Series),
		Horizon:      ds.Spec.Horizon,
		Periodic:     t.Periodic,
		DeliveryLoss: t.DeliveryLoss,
		FleetDays:    ds.Spec.FleetDays(),
		SeriesDays:   ds.Spec.SeriesDays(),
	}
	fleetFiring := scoreFleet(ds, events, fault.KindPeriodicGap, t.Periodic, &r.Fleet)
	scoreFleet(ds, events, KindPeriodicDeliveryLoss, t.DeliveryLoss, &r.Delivery)
	idx := seriesIndex(ds)
	scoreSeries(ds, events, idx, fleetFiring, &r.Series)
	scoreAbsence(ds, events, idx, fleetFiring, &r.Absence)
	return r
}

// scoreFleet fills f from the fleet events of kind, against a truth that
// holds what they report when positive, and returns the IDs of their
// firing events.
func scoreFleet(ds *scenario.Dataset, events []fault.Event, kind fault.Kind, positive bool, f *FleetScore) map[string]bool {
	t := &ds.Truth
	firing := make(map[string]bool)
	byEp := make(map[string]int)
	gapEvents := make(map[int][]int) // episode → its events with a Gap
	firstWin := int64(math.MaxInt64)
	if len(t.Windows) > 0 {
		firstWin = t.Windows[0].Start
	}
	firstBurst := int64(math.MaxInt64)
	for i := range events {
		ev := &events[i]
		if ev.Kind != kind {
			continue
		}
		key := episodeKey(ev)
		j, ok := byEp[key]
		if !ok {
			j = len(f.Episodes)
			byEp[key] = j
			f.Episodes = append(f.Episodes, FleetEpisode{
				Seed: ds.Seed, Episode: ev.Episode, Since: ev.Since,
				TruthSeries: t.FleetSeries, LatencyPeriods: math.NaN(), LateFraction: math.NaN(),
			})
		}
		ep := &f.Episodes[j]
		switch ev.State {
		case fault.StatePending:
			if ep.PendingAt == 0 {
				ep.PendingAt = ev.At
			}
		case fault.StateFiring:
			if !ep.Fired {
				ep.Fired = true
				ep.FiringAt, ep.FiringID, ep.Since = ev.At, ev.ID, ev.Since
				if ev.Gap != nil {
					ep.Gap, ep.HasGap = *ev.Gap, true
				}
			}
			firing[ev.ID] = true
		case fault.StateResolved:
			if ep.ResolvedAt == 0 {
				ep.ResolvedAt = ev.At
			}
		}
		if ev.Gap != nil {
			ep.Final = *ev.Gap
			if !math.IsNaN(ev.Gap.LateFraction) {
				ep.LateFraction = ev.Gap.LateFraction
			}
			gapEvents[j] = append(gapEvents[j], i)
		}
		if (ev.State == fault.StatePending || ev.State == fault.StateFiring) && ev.At >= firstWin && ev.At < firstBurst {
			firstBurst = ev.At
		}
	}

	firstTP, tps, fired := -1, 0, 0
	for j := range f.Episodes {
		ep := &f.Episodes[j]
		if !ep.Fired {
			ep.Verdict = VerdictPending
			f.Unconfirmed++
			continue
		}
		f.Fired++
		fired++
		ep.LatencyPeriods = t.LatencyPeriods(ep.FiringAt)
		ep.Verdict = judgeFleet(t, positive, ep)
		if ep.Verdict == VerdictTP {
			f.TP++
			tps++
			if firstTP < 0 || ep.FiringAt < f.Episodes[firstTP].FiringAt {
				firstTP = j
			}
			trackEpisode(t, events, gapEvents[j], ep)
			f.Tracked += ep.Tracked
			f.TrackedOK += ep.TrackedOK
		}
	}
	f.FiredPerRun = append(f.FiredPerRun, fired)
	if positive {
		f.Runs++
		if firstBurst != math.MaxInt64 {
			f.FirstBurst = append(f.FirstBurst, float64(firstBurst-firstWin)/1e9)
		} else {
			f.FirstBurst = append(f.FirstBurst, math.Inf(1))
		}
		if firstTP >= 0 {
			ep := &f.Episodes[firstTP]
			f.Detected++
			f.Latency = append(f.Latency, ep.LatencyPeriods)
			f.LateFraction = append(f.LateFraction, ep.LateFraction)
			if ep.PhaseStrict {
				f.StrictPhase++
			}
			if ep.PhaseLiteral {
				f.LiteralPhase++
			}
			f.Duplicates += tps - 1
		} else {
			f.Latency = append(f.Latency, math.Inf(1))
		}
	}
	return firing
}

// trackEpisode checks a true-positive episode at each of its events that
// carries a Gap, at or after the first window's start.
func trackEpisode(t *scenario.Truth, events []fault.Event, idx []int, ep *FleetEpisode) {
	for _, i := range idx {
		ev := &events[i]
		if ev.At < t.Windows[0].Start {
			continue
		}
		ep.Tracked++
		if judgePeriod(ev.Gap.Period, t.Period) != VerdictTP {
			continue
		}
		pa := phaseAt(t, *ev.Gap, ev.At)
		ep.WorstTrack = max(ep.WorstTrack, absDur(pa.errStart), absDur(pa.errEnd))
		if pa.ok {
			ep.TrackedOK++
		}
	}
}

// judgeFleet judges a fired fleet episode against a truth that holds what
// it reports when positive, filling its phase fields.
func judgeFleet(t *scenario.Truth, positive bool, ep *FleetEpisode) Verdict {
	switch {
	case !positive:
		return VerdictNoTruth
	case ep.FiringAt < t.Windows[0].Start:
		return VerdictEarly
	case !ep.HasGap || ep.Gap.Period <= 0:
		return VerdictNoGap
	}
	if v := judgePeriod(ep.Gap.Period, t.Period); v != VerdictTP {
		return v
	}
	phaseCheck(t, ep)
	if !ep.PhaseOK {
		return VerdictWrongPhase
	}
	return VerdictTP
}

// judgePeriod classifies a reported period p against the truth P.
func judgePeriod(p, P time.Duration) Verdict {
	tol := PeriodTolerance
	if absDur(p-P) <= tol {
		return VerdictTP
	}
	if p > P {
		k := math.Round(float64(p) / float64(P))
		if k >= 2 && absDur(p-time.Duration(k)*P) <= tol {
			return VerdictHarmonic
		}
	} else if p > 0 {
		k := math.Round(float64(P) / float64(p))
		if k >= 2 && absDur(p-time.Duration(float64(P)/k)) <= tol {
			return VerdictAlias
		}
	}
	return VerdictWrongPeriod
}

// phaseCheck compares the alarm window of ep.Gap with the truth window
// active at ep.FiringAt (the last one starting at or before it, or the
// first): at the occurrence n·Period + PhaseStart (Unix epoch) nearest that
// window's start, and as written, read into the truth's period.
func phaseCheck(t *scenario.Truth, ep *FleetEpisode) {
	pa := phaseAt(t, ep.Gap, ep.FiringAt)
	ep.PhaseErrStart, ep.PhaseErrEnd = pa.errStart, pa.errEnd
	ep.PhaseOK, ep.PhaseStrict = pa.ok, pa.strict
	ep.LiteralErrStart, ep.LiteralErrEnd = pa.litStart, pa.litEnd
	ep.PhaseLiteral = pa.literal
}

// phaseErr is the comparison of a reported window with a truth window.
type phaseErr struct {
	errStart, errEnd time.Duration
	ok, strict       bool
	litStart, litEnd time.Duration
	literal          bool
}

// phaseAt compares the window of g with the truth window active at at (the
// last one starting at or before it, or the first), as phaseCheck
// describes.
func phaseAt(t *scenario.Truth, g fault.Gap, at int64) phaseErr {
	var pa phaseErr
	ws := t.Windows
	i := sort.Search(len(ws), func(i int) bool { return ws[i].Start > at }) - 1
	w := ws[max(i, 0)]
	p := int64(g.Period)
	width := int64(g.PhaseEnd - g.PhaseStart)
	if width < 0 {
		width += p // the window wraps around the period's end
	}
	ps := floorMod(int64(g.PhaseStart), p)
	n := align.FloorDiv(w.Start-ps+p/2, p)
	aStart := n*p + ps
	aEnd := aStart + width
	pa.errStart, pa.errEnd = time.Duration(aStart-w.Start), time.Duration(aEnd-w.End)
	tol := (w.End-w.Start)/2 + int64(PhaseSlack)
	pa.ok = aStart >= w.Start-tol && aEnd <= w.End+tol
	pa.strict = absDur(pa.errStart) <= PhaseSlack && absDur(pa.errEnd) <= PhaseSlack

	tp := int64(t.Period)
	ls := floorMod(int64(g.PhaseStart)-floorMod(w.Start, tp)+tp/2, tp) - tp/2
	pa.litStart = time.Duration(ls)
	pa.litEnd = time.Duration(ls + width - (w.End - w.Start))
	pa.literal = absDur(pa.litStart) <= PhaseSlack && absDur(pa.litEnd) <= PhaseSlack
	return pa
}

func floorMod(a, b int64) int64 { return a - align.FloorDiv(a, b)*b }

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// seriesIndex maps series IDs to indices in ds.Series.
func seriesIndex(ds *scenario.Dataset) map[stream.SeriesID]int {
	m := make(map[stream.SeriesID]int, len(ds.Series))
	for i := range ds.Series {
		m[ds.Series[i].ID] = i
	}
	return m
}

// lookupSeries finds an event's series: by ID, else by its check label.
func lookupSeries(ds *scenario.Dataset, idx map[stream.SeriesID]int, ev *fault.Event) int {
	if i, ok := idx[ev.Series]; ok && ev.Series != 0 {
		return i
	}
	c := ev.Labels.Get(scenario.CheckLabel)
	if len(c) < 2 || c[0] != 'c' {
		return -1
	}
	i, err := strconv.Atoi(c[1:])
	if err != nil || i < 0 || i >= len(ds.Series) || ds.Series[i].Labels.Get(scenario.CheckLabel) != c {
		return -1
	}
	return i
}

func scoreSeries(ds *scenario.Dataset, events []fault.Event, idx map[stream.SeriesID]int, fleetFiring map[string]bool, s *SeriesScore) {
	t := &ds.Truth
	seen := make(map[string]bool)
	first := make(map[int]int64) // eligible series → first TP alarm
	for i := range events {
		ev := &events[i]
		if ev.Kind != fault.KindSeriesPeriodicGap || ev.State != fault.StateFiring {
			continue
		}
		key := episodeKey(ev)
		if seen[key] {
			continue
		}
		seen[key] = true
		a := SeriesAlarm{
			Seed: ds.Seed, Episode: ev.Episode, Series: lookupSeries(ds, idx, ev),
			Check: ev.Labels.Get(scenario.CheckLabel), At: ev.At, InhibitedBy: ev.InhibitedBy,
			LatencyPeriods: t.LatencyPeriods(ev.At),
		}
		if ev.Gap != nil {
			a.Gap = *ev.Gap
		}
		if a.Series >= 0 {
			st := &ds.Series[a.Series]
			a.Every, a.Affected, a.Core = st.Every, st.Affected, st.Core
		}
		a.Verdict = judgeSeries(ds, &a, ev.Gap != nil)
		s.Fired++
		if a.InhibitedBy != "" {
			s.Inhibited++
			if fleetFiring[a.InhibitedBy] {
				s.InhibitedByFleet++
			}
		}
		if a.Verdict == VerdictTP {
			s.TP++
			if a.Core {
				if at, ok := first[a.Series]; !ok || a.At < at {
					first[a.Series] = a.At
				}
			}
		}
		s.Alarms = append(s.Alarms, a)
	}
	if !t.Periodic {
		return
	}
	for i := range ds.Series {
		if ds.Series[i].Core && ds.Series[i].Every < t.Period {
			s.Eligible++
			if at, ok := first[i]; ok {
				s.Detected++
				s.Latency = append(s.Latency, t.LatencyPeriods(at))
			}
		}
	}
}

func judgeSeries(ds *scenario.Dataset, a *SeriesAlarm, hasGap bool) Verdict {
	t := &ds.Truth
	switch {
	case !t.Periodic:
		return VerdictNoTruth
	case a.Series < 0:
		return VerdictUnknownSeries
	case a.At < t.Windows[0].Start:
		return VerdictEarly
	case !a.Affected:
		return VerdictUnaffected
	case !hasGap || a.Gap.Period <= 0:
		return VerdictNoGap
	}
	v := judgePeriod(a.Gap.Period, t.Period)
	if v == VerdictTP {
		return v
	}
	// The series' own lattice: an integer multiple of its actual cadence
	// that is itself P within tolerance.
	st := &ds.Series[a.Series]
	step := float64(st.Every) * (1 + st.DriftPPM*1e-6)
	if m := math.Round(float64(a.Gap.Period) / step); m >= 2 {
		mp := time.Duration(m * step)
		if absDur(a.Gap.Period-mp) <= PeriodTolerance && absDur(mp-t.Period) <= PeriodTolerance {
			return VerdictTP
		}
	}
	return v
}

func scoreAbsence(ds *scenario.Dataset, events []fault.Event, idx map[stream.SeriesID]int, fleetFiring map[string]bool, a *AbsenceScore) {
	const (
		fired       = 1 << iota // an absence fired
		uninhibited             // a firing absence not inhibited by a fleet firing event
	)
	flags := make([]uint8, len(ds.Series))
	episodes := make(map[string]bool)
	for i := range events {
		ev := &events[i]
		if ev.Kind != fault.KindAbsence || ev.State != fault.StateFiring {
			continue
		}
		key := episodeKey(ev)
		if !episodes[key] {
			episodes[key] = true
			a.Episodes++
		}
		if ev.InhibitedBy != "" && !fleetFiring[ev.InhibitedBy] {
			a.Dangling++
		}
		j := lookupSeries(ds, idx, ev)
		if j < 0 {
			continue
		}
		flags[j] |= fired
		if !fleetFiring[ev.InhibitedBy] {
			flags[j] |= uninhibited
		}
	}
	note := func(list *[]string, j int) {
		if len(*list) < maxExamples {
			*list = append(*list, ds.Series[j].Labels.Get(scenario.CheckLabel))
		}
	}
	var missed, unDropped, other []string
	for j := range ds.Series {
		st := &ds.Series[j]
		f := flags[j]
		switch {
		case st.Dead:
			a.Dead++
			if f&fired == 0 {
				note(&missed, j)
				continue
			}
			a.DeadFired++
			if f&uninhibited == 0 {
				a.DeadInhibited++
			}
		case st.Dropped > 0:
			a.Dropped++
			if f&fired == 0 {
				continue
			}
			a.DroppedFired++
			if f&uninhibited != 0 {
				a.DroppedUninhibited++
				note(&unDropped, j)
			} else {
				a.DroppedInhibited++
			}
		case f&fired != 0:
			a.Other++
			if f&uninhibited == 0 {
				a.OtherInhibited++
			}
			note(&other, j)
		}
	}
	a.MissedDead, a.UninhibitedDropped, a.OtherChecks = missed, unDropped, other
}

// episodeKey identifies the episode of an event: its episode ID, or the
// event's own ID when it has none.
func episodeKey(ev *fault.Event) string {
	if ev.Episode == "" {
		return "event:" + ev.ID
	}
	return ev.Episode
}
