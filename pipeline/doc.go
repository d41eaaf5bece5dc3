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
// orders them by time and hands them to every sink, once per runtime.
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
// # One fault, however many shards
//
// Each shard's engine sees its share of the series, so the same fleet
// periodic gap (or feedback loop, or storm of an unlabelled input) may be
// found by several shards. The merger groups the episodes that name the
// same fault (for gaps: the same period, or a multiple, and overlapping
// windows) and reports each group once: pending when its first member is,
// firing when its first member fires, resolved when its last member
// resolves. The group's events carry the episode ID of its first member;
// the events its members explain are linked to the group's event. With one
// shard, every event passes unchanged.
//
// Cohort rules and, without a source label, the per-source detectors see
// only their shard's share: run one shard (Config.Shards = 1) for those.
//
// # Restarts
//
// With Config.State, the runtime checkpoints every Config.CheckpointEvery
// and at shutdown: every engine's snapshot, the merger's groups, and the
// rule files' text the state was taken under. At start it restores them
// under those rules, then reloads the current ones (as a SIGHUP reload
// would), so a reload between checkpoint and restart loses no state. The
// span between the checkpoint and the restart, and any stall of the
// runtime longer than Config.StallAfter, is the collector's own downtime:
// one collector_down event reports it, and the engines judge nothing in
// it (fault.Engine.Skip), so the sources are not blamed for it.
//
// # Time
//
// The runtime reads time only from Config.Clock: tests drive it in
// virtual time with clock.NewFake.
//
// This package must not know about wire formats or transports: inputs
// decode and stamp; it routes, runs and delivers.
package pipeline
