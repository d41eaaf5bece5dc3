package fault

import "sync"

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
	Cohorts        uint64 // cohorts tracked, over all cohort rules
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
	s.Samples += o.Samples
	s.Fresh += o.Fresh
	s.Duplicates += o.Duplicates
	s.Conflicts += o.Conflicts
	s.TooLate += o.TooLate
	s.Future += o.Future
	s.BadArrival += o.BadArrival
	s.Looped += o.Looped
	s.OutOfOrder += o.OutOfOrder
	s.BadInput += o.BadInput
	s.Series += o.Series
	s.SeriesOverflow += o.SeriesOverflow
	s.SeriesEvicted += o.SeriesEvicted
	s.Alerts += o.Alerts
	s.AlertOverflow += o.AlertOverflow
	s.Sources += o.Sources
	s.SourceOverflow += o.SourceOverflow
	s.SlotsExpected += o.SlotsExpected
	s.SlotsMissed += o.SlotsMissed
	s.SlotsLate += o.SlotsLate
	s.SlotsLost += o.SlotsLost
	s.AfterLateness += o.AfterLateness
	s.SlotShared += o.SlotShared
	s.Reanchors += o.Reanchors
	s.Absences += o.Absences
	s.AbsencesInhibited += o.AbsencesInhibited
	s.FleetGaps += o.FleetGaps
	s.DuplicateStorms += o.DuplicateStorms
	s.IngestLags += o.IngestLags
	s.GapSuspects += o.GapSuspects
	s.GapsConfirmed += o.GapsConfirmed
	s.Events += o.Events
	s.EvalErrors += o.EvalErrors
	s.HistorySeries += o.HistorySeries
	s.HistoryPoints += o.HistoryPoints
	s.HistoryEvicted += o.HistoryEvicted
	s.Cohorts += o.Cohorts
	s.CohortOverflow += o.CohortOverflow
	s.CohortLate += o.CohortLate
	s.CohortFaults += o.CohortFaults
	s.SinkErrors += o.SinkErrors
}

// statsCounters accumulates counters locally during a call and publishes
// them at its end, so the hot path pays no atomics and Stats can be read from
// any goroutine.
type statsCounters struct {
	local  Stats
	mu     sync.Mutex
	shared Stats
}

func (c *statsCounters) flush(dd deduper) {
	c.mu.Lock()
	c.shared.add(&c.local)
	c.shared.DedupOverflow = dd.Overflow()
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

// statsFields lists every counter of s, in a fixed order
// (TestSnapshotStatsFields checks that none is missing).
func statsFields(s *Stats) []*uint64 {
	return []*uint64{
		&s.Samples, &s.Fresh, &s.Duplicates, &s.Conflicts, &s.TooLate, &s.Future, &s.BadArrival,
		&s.Looped, &s.OutOfOrder, &s.Series, &s.SeriesOverflow, &s.Sources, &s.SourceOverflow,
		&s.SlotsExpected, &s.SlotsMissed, &s.SlotsLate, &s.SlotsLost, &s.AfterLateness,
		&s.SlotShared, &s.Reanchors, &s.Absences, &s.AbsencesInhibited, &s.FleetGaps,
		&s.DuplicateStorms, &s.IngestLags, &s.GapSuspects, &s.GapsConfirmed, &s.Events,
		&s.EvalErrors, &s.SinkErrors, &s.BadInput, &s.HistorySeries, &s.HistoryPoints,
		&s.HistoryEvicted, &s.Cohorts, &s.CohortOverflow, &s.CohortLate, &s.CohortFaults,
		&s.SeriesEvicted, &s.Alerts, &s.AlertOverflow, &s.DedupOverflow,
	}
}
