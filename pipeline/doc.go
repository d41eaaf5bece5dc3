// Package pipeline runs faultline live: sources → one engine per shard →
// sinks, with the wall clock, back-pressure, reloads and checkpoints that
// the engine (package fault) leaves to its host. Every adapter (the
// faultline run command, Telegraf's execd, the OpenTelemetry Collector,
// MQTT, Kafka) is built on a Runtime.
//
// # Data flow
//
// Inputs stamp each record with its arrival time (Runtime.Now, the only
// wall clock) and hand samples to Ingest, which routes each to its shard
// by a hash of its series (of its source, when Config.Engine.SourceLabel is
// set, so that a source's detectors see all of it) and queues them. A
// shard is a goroutine that owns one engine and feeds it its queue in
// order; a ticker advances every engine to the wall clock, so silence is
// judged without data. The shards' events meet in one merger, which
// orders them by time and hands them to every sink, once per runtime: it
// holds an event until every shard's clock is half a second past it (an
// engine's events are in time order only to within a tick of its clock),
// and hands on all it holds at a Sync or a checkpoint.
//
// Ingest copies the samples into batches of its own, so that the caller
// may reuse its slice. An input that decodes into a batch taken from
// Runtime.Batch can give it away with Hand instead: with one shard the
// batch itself is queued, which saves copying every sample (and the
// inputs of package input do so).
//
// # Bounds and back-pressure
//
// Each shard's queue holds Config.QueueLen batches. When it is full,
// Ingest waits until there is room or its context ends; then the samples
// not queued are counted as refused and Ingest returns an error matching
// ErrBusy, which inputs turn into back-pressure (HTTP 503 with
// Retry-After, a TCP connection not read). Nothing else in the runtime
// grows with the input: the merger holds the events of one tick, and the
// sinks have bounded queues of their own.
//
// # One fault, however many members
//
// Each shard's engine sees its share of the series, so the same fleet
// periodic gap (or feedback loop, or storm of an unlabelled input) may be
// found by several shards; so may the engines of a Kafka consumer group's
// partitions (contrib/kafka). A Merger, fed every member's events in the
// order each member emitted them, reports each such fault once. Its
// contract:
//
//   - Kinds. Fleet-wide events (no series) of kinds periodic_gap,
//     feedback_loop, duplicate_storm, ingest_lag and cohort are grouped
//     (Mergeable); every other event passes as it is.
//   - Groups. A member's episode joins the open group that names the same
//     fault, the newest first, or opens one. For the kinds other than gaps
//     that is the same kind, rule and labels (a feedback loop: the same
//     kind, whichever looped series a member saw first). A pending gap
//     episode, which knows no period yet, joins any open gap group; a
//     firing one, a group whose gap is the same: periods equal or
//     multiples within the fleet detector's tolerance, and first bursts
//     (Event.Since) a whole number of periods apart, give or take the
//     windows' width, the drift the periods' difference accumulates over
//     the periods between them, and half a second. The windows are matched
//     in time, not by their phases, which are relative to each estimate's
//     own period: estimates of 60 s and 59.656 s of one gap have phases
//     seconds apart. A pending member whose firing event names another gap
//     than its group's leaves it (a group so left empty resolves).
//   - Transitions. A group is pending when its first member is, firing
//     when its first member fires, resolved when its last member resolves;
//     a member event that changes nothing for its group is merged
//     (dropped, counted).
//   - IDs. A group's events carry its first member's episode ID; an event
//     that its first member moves keeps that member's event ID, one that
//     another member moves gets an ID hashed from the group's episode ID
//     and the state, so it is the same whichever member moves it.
//   - Links. An event whose InhibitedBy names a member's firing event gets
//     the group's firing event ID instead.
//   - Duplicates. A member event in a state its episode has reached
//     already, or of an episode that resolved, is dropped (counted): a
//     member that re-processes its input after a crash or a restart emits
//     its events again.
//   - Bounds. At most 1,024 open groups and 4,096 members a group: past
//     them a member event that needs one more passes unmerged (counted as
//     overflow). It remembers the latest 4,096 links and 4,096 resolved
//     episodes, forgetting the oldest.
//
// With one member, whose engine raises one episode a fault, every event
// passes unchanged. The runtime's merger
// orders its shards' events by time (each shard's engine clock is its
// watermark) and hands them to one Merger.
//
// Cohort rules and, without a source label, the per-source detectors see
// only their shard's share: run one shard (Config.Shards = 1) for those.
//
// # Restarts
//
// With Config.State, the runtime checkpoints every Config.CheckpointEvery
// and at shutdown: every engine's snapshot, the Merger's state, and the
// rule files' text the state was taken under. At start it restores them
// under those rules, then reloads the current ones (as a SIGHUP reload
// would), so a reload between checkpoint and restart loses no state. The
// span between the checkpoint and Run's start (New restores, Run starts
// the engines: nothing runs in between), and any stall of the
// runtime longer than Config.StallAfter (a span in which nothing read its
// clock: no tick, no write, no Sync; noticed by whichever comes first
// after it, before anything reaches an engine), is the collector's own
// downtime:
// one collector_down event reports it, and the engines judge nothing in
// it (fault.Engine.Skip), so the sources are not blamed for it.
//
// A Config.State is used by one runtime at a time: New takes an exclusive
// lock on STATE.lock beside it (package internal/frame's, a flock where
// the system has one, nothing on Windows) and Run releases it once its
// last checkpoint is written. A second runtime on the state, in this
// process or another, is refused (ErrStateInUse) rather than overwrite the
// first's checkpoints. A Config.Store is not locked: the host keeps it to
// one writer.
//
// # Time
//
// The runtime reads time only from Config.Clock: tests drive it in
// virtual time with clock.NewFake.
//
// This package must not know about wire formats or transports: inputs
// decode and stamp; it routes, runs and delivers.
package pipeline
