package fault

import (
	"sync"

	"github.com/faultline-go/faultline/dedup"
	"github.com/faultline-go/faultline/metrics"
)

// Stats are the engine's cumulative counters.
type Stats struct {
	Samples    uint64 // samples given to Process
	Fresh      uint64 // admitted by dedup
	Duplicates uint64 // same series, sample time and value as an admitted one
	Conflicts  uint64 // same series and sample time as an admitted one, another value (the first wins)
	TooLate    uint64 // older than the dedup window behind its watermark
	Future     uint64 // sample time too far ahead of arrival time (Config.MaxFutureSkew)
	BadArrival uint64 // arrival time too far ahead of both sample time and engine clock (Config.MaxArrivalLag)
	Looped     uint64 // samples carrying OriginLabel: faultline's own output fed back in
	OutOfOrder uint64 // fresh, but not newer than the series' newest sample: tracked, not evaluated
	BadInput   uint64 // records that could not be decoded, as told by Engine.BadInput (not samples)

	// Samples = BadArrival + Future + Looped + SeriesOverflow + Duplicates +
	// Conflicts + TooLate + Fresh.

	Series         uint64 // series tracked now (created less evicted)
	SeriesOverflow uint64 // samples of new series rejected because Config.MaxSeries was reached
	SeriesEvicted  uint64 // series forgotten after Config.SeriesTTL without a sample
	Alerts         uint64 // alert states kept now (pending, firing, or with a flap history)
	AlertOverflow  uint64 // alerts not opened because Config.MaxAlerts was reached
	Sources        uint64 // sources tracked (Config.SourceLabel), the overflow source apart
	SourceOverflow uint64 // samples of series counted under the overflow source because Config.MaxSources was reached

	SlotsExpected uint64 // slots judged at their on-time deadline
	SlotsMissed   uint64 // of those, not filled on time
	SlotsLate     uint64 // filled after their on-time deadline, within the lateness allowance
	SlotsLost     uint64 // not filled within the lateness allowance
	AfterLateness uint64 // fresh samples for slots already judged lost or filled
	SlotShared    uint64 // fresh samples landing on a slot another sample already filled
	SlotsSkipped  uint64 // slots left unjudged because the host was down (Engine.Skip)
	Reanchors     uint64 // times a series jumped off its lattice and was re-anchored

	Absences          uint64 // absence episodes started
	AbsencesInhibited uint64 // of those, explained by a fleet periodic gap
	FleetGaps         uint64 // fleet periodic gap episodes that fired
	DuplicateStorms   uint64 // duplicate storm episodes that fired
	IngestLags        uint64 // ingest lag episodes that fired
	GapSuspects       uint64 // series that became periodic gap suspects
	GapsConfirmed     uint64 // series periodic gaps confirmed (and fired)
	Events            uint64 // events emitted
	EvalErrors        uint64 // rule evaluation or annotation errors

	HistorySeries  uint64 // series keeping a history for windowed rule functions or cohort rules
	HistoryPoints  uint64 // room for points allocated to those histories (16 bytes each); rings never shrink
	HistoryEvicted uint64 // points evicted while still inside their window (Config.MaxHistory, MaxHistoryPoints)
	Cohorts        uint64 // cohorts alive, over all cohort rules (a dead one, whose series are all evicted, is not counted)
	CohortOverflow uint64 // series left without a cohort of their own because Config.MaxCohorts was reached
	CohortLate     uint64 // samples of a cohort rule for a window already judged, left out
	CohortFaults   uint64 // cohort episodes that fired
	SinkErrors     uint64 // errors returned by the sink

	// DedupOverflow is dedup.Stats.Overflow: keys evicted from a full
	// bucket while still inside the window (dedup.Config.MaxBytes is too
	// small for the key rate; a very late redelivery of one may be
	// admitted again). The rest of dedup's state is in Deduper().Stats().
	DedupOverflow uint64
}

func (s *Stats) add(o *Stats) {
	for _, f := range statTable {
		*f.field(s) += *f.field(o)
	}
}

// statTable lists every counter of Stats, in a fixed order (the order of
// snapshots), with the metric it is exported as (Stats.AppendMetrics).
// TestSnapshotStatsFields checks that none is missing.
var statTable = [...]struct {
	name, help string
	gauge      bool
	field      func(*Stats) *uint64
}{
	{"faultline_samples_total", "Samples given to Process.", false, func(s *Stats) *uint64 { return &s.Samples }},
	{"faultline_fresh_total", "Samples admitted by dedup.", false, func(s *Stats) *uint64 { return &s.Fresh }},
	{"faultline_duplicates_total", "Samples with the series, sample time and value of an admitted one.", false, func(s *Stats) *uint64 { return &s.Duplicates }},
	{"faultline_conflicts_total", "Samples with the series and sample time of an admitted one and another value (the first wins).", false, func(s *Stats) *uint64 { return &s.Conflicts }},
	{"faultline_too_late_total", "Samples older than the dedup window behind its watermark.", false, func(s *Stats) *uint64 { return &s.TooLate }},
	{"faultline_future_total", "Samples whose sample time was too far ahead of their arrival time (MaxFutureSkew).", false, func(s *Stats) *uint64 { return &s.Future }},
	{"faultline_bad_arrival_total", "Samples whose arrival time was too far ahead of their sample time and the engine clock (MaxArrivalLag).", false, func(s *Stats) *uint64 { return &s.BadArrival }},
	{"faultline_looped_total", "Samples carrying OriginLabel: faultline's own output fed back in.", false, func(s *Stats) *uint64 { return &s.Looped }},
	{"faultline_out_of_order_total", "Fresh samples not newer than their series' newest: tracked, not evaluated.", false, func(s *Stats) *uint64 { return &s.OutOfOrder }},
	{"faultline_bad_input_total", "Records that could not be decoded, as told by Engine.BadInput (not samples).", false, func(s *Stats) *uint64 { return &s.BadInput }},
	{"faultline_series", "Series tracked now (created less evicted).", true, func(s *Stats) *uint64 { return &s.Series }},
	{"faultline_series_overflow_total", "Samples of new series rejected because Config.MaxSeries was reached.", false, func(s *Stats) *uint64 { return &s.SeriesOverflow }},
	{"faultline_series_evicted_total", "Series forgotten after Config.SeriesTTL without a sample.", false, func(s *Stats) *uint64 { return &s.SeriesEvicted }},
	{"faultline_alerts", "Alert states kept now (pending, firing, or with a flap history).", true, func(s *Stats) *uint64 { return &s.Alerts }},
	{"faultline_alert_overflow_total", "Alerts not opened because Config.MaxAlerts was reached.", false, func(s *Stats) *uint64 { return &s.AlertOverflow }},
	{"faultline_sources", "Sources tracked (Config.SourceLabel), the overflow source apart.", true, func(s *Stats) *uint64 { return &s.Sources }},
	{"faultline_source_overflow_total", "Samples of series counted under the overflow source because Config.MaxSources was reached.", false, func(s *Stats) *uint64 { return &s.SourceOverflow }},
	{"faultline_slots_expected_total", "Slots judged at their on-time deadline.", false, func(s *Stats) *uint64 { return &s.SlotsExpected }},
	{"faultline_slots_missed_total", "Slots judged at their on-time deadline and not filled on time.", false, func(s *Stats) *uint64 { return &s.SlotsMissed }},
	{"faultline_slots_late_total", "Slots filled after their on-time deadline, within the lateness allowance.", false, func(s *Stats) *uint64 { return &s.SlotsLate }},
	{"faultline_slots_lost_total", "Slots not filled within the lateness allowance.", false, func(s *Stats) *uint64 { return &s.SlotsLost }},
	{"faultline_after_lateness_total", "Fresh samples for slots already judged lost or filled.", false, func(s *Stats) *uint64 { return &s.AfterLateness }},
	{"faultline_slot_shared_total", "Fresh samples landing on a slot another sample already filled.", false, func(s *Stats) *uint64 { return &s.SlotShared }},
	{"faultline_slots_skipped_total", "Slots left unjudged because the host was down (Engine.Skip).", false, func(s *Stats) *uint64 { return &s.SlotsSkipped }},
	{"faultline_reanchors_total", "Times a series jumped off its lattice and was re-anchored.", false, func(s *Stats) *uint64 { return &s.Reanchors }},
	{"faultline_absences_total", "Absence episodes started.", false, func(s *Stats) *uint64 { return &s.Absences }},
	{"faultline_absences_inhibited_total", "Absence episodes explained by a fleet periodic gap.", false, func(s *Stats) *uint64 { return &s.AbsencesInhibited }},
	{"faultline_fleet_gaps_total", "Fleet periodic gap episodes that fired.", false, func(s *Stats) *uint64 { return &s.FleetGaps }},
	{"faultline_duplicate_storms_total", "Duplicate storm episodes that fired.", false, func(s *Stats) *uint64 { return &s.DuplicateStorms }},
	{"faultline_ingest_lags_total", "Ingest lag episodes that fired.", false, func(s *Stats) *uint64 { return &s.IngestLags }},
	{"faultline_gap_suspects_total", "Series that became periodic gap suspects.", false, func(s *Stats) *uint64 { return &s.GapSuspects }},
	{"faultline_gaps_confirmed_total", "Series periodic gaps confirmed (and fired).", false, func(s *Stats) *uint64 { return &s.GapsConfirmed }},
	{"faultline_events_total", "Events emitted.", false, func(s *Stats) *uint64 { return &s.Events }},
	{"faultline_eval_errors_total", "Rule evaluation or annotation errors.", false, func(s *Stats) *uint64 { return &s.EvalErrors }},
	{"faultline_history_series", "Series keeping a history for windowed rule functions or cohort rules.", true, func(s *Stats) *uint64 { return &s.HistorySeries }},
	{"faultline_history_points", "Room for points allocated to those histories (16 bytes each); rings never shrink.", true, func(s *Stats) *uint64 { return &s.HistoryPoints }},
	{"faultline_history_evicted_total", "Points evicted while still inside their window (Config.MaxHistory, MaxHistoryPoints).", false, func(s *Stats) *uint64 { return &s.HistoryEvicted }},
	{"faultline_cohorts", "Cohorts alive, over all cohort rules.", true, func(s *Stats) *uint64 { return &s.Cohorts }},
	{"faultline_cohort_overflow_total", "Series left without a cohort of their own because Config.MaxCohorts was reached.", false, func(s *Stats) *uint64 { return &s.CohortOverflow }},
	{"faultline_cohort_late_total", "Samples of a cohort rule for a window already judged, left out.", false, func(s *Stats) *uint64 { return &s.CohortLate }},
	{"faultline_cohort_faults_total", "Cohort episodes that fired.", false, func(s *Stats) *uint64 { return &s.CohortFaults }},
	{"faultline_sink_errors_total", "Errors returned by the sink.", false, func(s *Stats) *uint64 { return &s.SinkErrors }},
	{"faultline_dedup_overflow_total", "Keys evicted from a full dedup bucket while still inside the window.", false, func(s *Stats) *uint64 { return &s.DedupOverflow }},
}

// AppendMetrics appends the counters as self-metrics (package metrics):
// cumulative counts as counters named faultline_<field>_total, the live
// counts (Series, Alerts, Sources, HistorySeries, HistoryPoints, Cohorts)
// as gauges.
func (s *Stats) AppendMetrics(dst []metrics.Metric) []metrics.Metric {
	for _, f := range statTable {
		m := metrics.C(f.name, f.help, *f.field(s))
		if f.gauge {
			m.Kind = metrics.Gauge
		}
		dst = append(dst, m)
	}
	return dst
}

// statsCounters accumulates counters locally during a call and publishes
// them at its end, so the hot path pays no atomics and Stats can be read from
// any goroutine.
type statsCounters struct {
	local  Stats
	mu     sync.Mutex
	shared Stats
}

func (c *statsCounters) flush(dd *dedup.Deduper) {
	c.mu.Lock()
	c.shared.add(&c.local)
	c.shared.DedupOverflow = 0 // dedup off
	if dd != nil {
		c.shared.DedupOverflow = dd.Overflow()
	}
	c.mu.Unlock()
	c.local = Stats{}
}

// Stats returns the engine's counters as of the end of its last call. It is
// safe to call from any goroutine.
func (e *Engine) Stats() Stats {
	e.stats.mu.Lock()
	defer e.stats.mu.Unlock()
	return e.stats.shared
}

// statsFields lists every counter of s, in statTable's order.
func statsFields(s *Stats) []*uint64 {
	out := make([]*uint64, len(statTable))
	for i, f := range statTable {
		out[i] = f.field(s)
	}
	return out
}
