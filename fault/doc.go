// Package fault is faultline's engine: it admits samples through dedup,
// tracks every series' expected arrivals, evaluates the rules, runs the
// built-in detectors, and emits an Event on every state transition.
//
// It holds the engine and the state of its components: the series store
// (series, their slot lattices, the timing wheel, absences, eviction), the
// rules' alerts, histories and cohorts, bad input and the loop guard. The
// detectors that judge the stream as a whole (the fleet and per-series
// periodic gap detectors, the per-source duplicate storm and ingest lag
// detectors) are stages in internal packages: they take observations and
// return transitions, which the engine turns into events. It must not know
// where samples come from or where events go: decoding, transport, wall
// clocks and delivery belong to the host.
//
// # Time
//
// The engine never reads the wall clock. Its clock follows the arrival
// times of the samples it is given (each sample carries its own) and
// Advance; it never goes backwards. Rules and dedup work in sample time
// (`for: 2m` is two minutes of the series' own timestamps); arrival
// judgments (on time, late, lost) work in arrival time.
//
// # Concurrency
//
// An Engine owns a set of series and is used by one goroutine at a time,
// like a shard: hosts that need parallelism run one Engine per partition
// of their input, keyed by series. Stats may be called from any goroutine.
// The engine starts no goroutines.
//
// # Events
//
// Every state transition of an episode (pending, firing, resolved) is one
// Event. Events reach the Sink in the order the engine judged the
// transitions, which is time order to within one tick of its clock
// (250 ms): the series due in one tick are judged one after another, and
// what falls due in the last tick before a call's time is judged at the
// next call (package pipeline holds events half a second to hand them on
// in strict time order). They reach it from
// the goroutine that called Process, Advance, Close or Update, once the
// state changes that caused them have settled: at the end of the call, or,
// in a call that emits more than 4,096, between two samples or two ticks
// of the clock. A sink may therefore read the engine's Stats or take a
// Snapshot; it must not call Process, Advance, Close or Update. A
// Snapshot the sink takes holds the events of the call it has not been
// given yet, since the state already reports them: the restored engine
// gives them to its sink first, at the end of its next call. Event
// times are deadlines, not the moment the engine noticed: an absence is at
// the lateness deadline of the slot that completed it, so the way input is
// cut into batches changes nothing.
//
// # Identity
//
// An event's Episode is a hash of its kind, rule, subject (the series or
// source, or none for the fleet) and the episode's start; its ID adds the
// state and whether the event re-fires an absence its fleet gap no longer
// explains. The start is taken from the data, never from when a copy
// happened to arrive, so two replicas fed the same stream (an HA pair), a
// redelivery after a crash, and the shards of one deployment give one
// fault the same IDs, and a consumer deduplicates by ID; only At moves, by
// the arrival jitter. The start is, by kind:
//
//   - threshold, cohort, flapping: the sample time at which the rule began
//     to hold (a cohort rule's window start); a level of a rule with
//     severity levels adds the level and the sample time of the change.
//   - absence: the sample time of the series' last sample before it fell
//     silent.
//   - series_periodic_gap: the start of the period (counted in the gap's
//     period from the Unix epoch) that holds the first miss, the slot's
//     time counted in cadences from the series' newest sample time.
//   - periodic_gap, periodic_delivery_loss: the first lossy arrival bin,
//     rounded to the nearest minute, so that replicas whose jitter moves
//     that bin by a bin or two agree.
//   - duplicate_storm: the arrival minute in which the source's storm
//     began; ingest_lag: the first minute of its rise whose lag passed the
//     midpoint between the source's normal lag and the firing threshold.
//   - feedback_loop and bad_input: the arrival of the first looped or bad
//     record.
//
// Known limits: two samples of one series whose arrivals are closer than the
// jitter between replicas may reach them in different orders, and the
// replica that takes the newer first skips the older one as out of order, so
// their rules see different sequences. A fleet gap that one replica only
// suspects until its suspicion lapses, and then suspects again, is dated by
// the later start there, unless the earlier burst falls in the gap's window;
// an ingest lag whose lag passes its midpoint within the jitter of a
// minute's edge may be dated by either minute. A burst whose
// evidence sits at the edge of the fleet detector's threshold may be
// suspected (a pending periodic_gap that never fires) on one replica only.
// At moves by more than the jitter where a detector judges coarser units: a
// fleet gap may be confirmed an occurrence later, a duplicate storm or an
// ingest lag a minute later. TestReplicasAgreeOnIdentity checks all this.
//
// # Arrival tracking
//
// Each series is expected to deliver one sample per cadence (learned from
// its first four distinct sample times, or declared in its rule file's
// series entry). Each expected slot is judged twice: OnTimeBudget (τ) after
// its expected arrival it was on time or missed; Lateness (L) after it, it
// was filled (on time or late) or lost. A series whose lost slots in a row
// reach its absence threshold (AbsentAfter or its series entry's
// absent_after) raises an absence, which resolves when a sample newer than
// what was judged missing arrives. The fleet detector reads every slot
// judgment for phase-aligned losses; the per-series one for the slot a
// series loses every period. A fleet gap that explains an absence inhibits
// it: the absence is emitted with InhibitedBy naming the gap's event.
//
// # Bounds
//
// Every table has a bound, a policy past it and a counter (Stats):
//
//   - MaxSeries: a new series first takes the slot of one past SeriesTTL;
//     if none, its samples are rejected (Stats.SeriesOverflow) and the
//     call returns an *OverloadError. Series that go SeriesTTL without a
//     delivery are evicted by an incremental sweep (between SeriesTTL and
//     9/8 of it; never while closing): a copy counts, so a series whose
//     source repeats its last sample stays, its absence firing. Their
//     open episodes resolve with the annotation reason="evicted", as does
//     the episode of a cohort left with no series, and one that comes
//     back is a new series. Keep SeriesTTL above the longest absence
//     threshold.
//   - MaxAlerts: an alert that would open past it is not opened and emits
//     nothing (Stats.AlertOverflow, *OverloadError); about 128 bytes each.
//   - MaxFutureSkew and MaxArrivalLag reject a sample whose time is far
//     ahead of its arrival (Stats.Future), or whose arrival is far ahead of
//     both its time and the engine clock (Stats.BadArrival), before it can
//     move the deduper's watermark or the engine clock. These bounds, and
//     SeriesTTL, are compared without overflow: they hold near the ends of
//     the int64 range and at the largest durations alike.
//   - MaxSources: the series of further sources share one overflow
//     source, whose events carry SourceOverflowLabel.
//   - MaxHistory and MaxHistoryPoints: a series' history ring evicts its
//     oldest point although still in the window (Stats.HistoryEvicted).
//   - MaxCohorts: the series of further cohorts count only towards the
//     others and the fleet (Stats.CohortOverflow). A cohort whose series
//     were all evicted gives its room to the next new one.
//
// # Crash-safe state
//
// Snapshot writes the engine's whole state, and Restore builds an engine
// from it that continues exactly where the first stopped: same events,
// same IDs, same Stats. The rules come from the Config, not the snapshot;
// see Restore for what must match, and ErrBadSnapshot for the format's
// guarantees.
//
// # Shutdown
//
// Close is for the end of a finite input (a replay): it settles the last
// judgments and the engine takes no more input. A live host does not
// Close at shutdown. It stops its inputs, hands the engine what they had
// accepted, Advances it to the wall clock, takes a Snapshot and exits; at
// start it Restores the snapshot, tells the engine how long it was down
// (Skip), and, if its rules changed meanwhile, Updates them. Package
// pipeline does all of this.
package fault
