// Package kafka runs faultline on a Kafka or Redpanda consumer group,
// through franz-go (github.com/twmb/franz-go): when one machine is not
// enough, the partitions of the input topic are the shards, and the group
// moves them between machines.
//
//	w, err := kafka.New(kafka.Config{
//		Brokers: []string{"kafka-1:9092"},
//		Group:   "faultline",
//		Topic:   "metrics", // Influx line protocol, keyed by device or series
//		Rules:   []rules.Source{{Name: "rules.yaml", Data: text}},
//	})
//	err = w.Run(ctx) // until ctx ends; then it checkpoints and leaves the group
//
// # Topics
//
// Four topics, which the worker does not create:
//
//   - Topic, the input: records of Influx line protocol, one or more lines
//     each, keyed by device or series so that a series always lands on one
//     partition (Telegraf's outputs.kafka routing_tag, the OpenTelemetry
//     Collector's kafkaexporter partition_metrics_by_resource_attributes).
//     Choose its partition count generously up front: changing it remaps
//     keys, and state with them.
//   - EventsTopic: every event, as the JSON of the replay command
//     (fault.Event.AppendJSON, read back with ParseEvent), keyed by
//     episode ID.
//   - StateTopic: each partition's state, compacted (cleanup.policy=compact,
//     max.message.bytes ≥ Config.MaxSnapshot), with as many partitions as
//     Topic.
//   - FleetTopic, one partition: the fleet stage's input (below).
//
// # One engine per partition
//
// Each assigned partition of Topic gets its own fault.Engine. A poll's
// records are processed partition by partition (in parallel across
// partitions, in order within one), and every record of a poll is stamped
// with one arrival time: the worker's clock when it takes the poll from
// the client. The record's own timestamp says how late the brokers
// delivered it (faultline_kafka_delivery_lag_seconds), and is not taken
// for its arrival, by choice. Under Kafka's default
// (message.timestamp.type=CreateTime) it is the producer's: Telegraf's
// Kafka output stamps each record with its metric's own time, so ingest
// lag would be zero by construction and gaps phased by the sources'
// clocks. Under LogAppendTime it is the partition leader's clock: a broker
// ahead of the worker would move an engine's clock, which follows the
// arrivals, past slots whose records the worker has not polled yet; one
// behind would hide lateness by its skew; and a leader that moves to
// another broker would step the arrivals by theirs. Nor would it cure the
// lateness of a short stall: the engines judge each slot at its on-time
// deadline on the worker's clock (the ticks, the first of which after a
// stall runs before the poll), and a record for a slot already judged is
// late whatever its stamp. A ticker advances
// every engine to the clock, so that silence is judged without data. A
// span longer than 30 s in which the worker did not poll (a checkpoint
// waiting for the brokers, an assignment waiting for its states, a
// starved process) is the worker's own downtime, not the sources': their
// records waited in the brokers. Each engine skips it (fault.Engine.Skip,
// as for a handover, below) before anything judges the series across it;
// it is logged and counted (faultline_kafka_stalls_total), and a series
// silent meanwhile goes absent its threshold after the stall. A shorter
// span is not skipped: it shows as lateness (the slots due in it are
// missed on time and filled late, within the engine's lateness allowance:
// fault.Stats.SlotsMissed, SlotsLate), since a skip times every series'
// silence afresh, and skipping every short pause would put off absences
// by as much, again and again.
// Lines that cannot be decoded are the engine's bad input, named
// topic/partition, each with a *RecordError giving its offset, line and
// column.
//
// # State that moves with the partition
//
// Every Config.CheckpointEvery, and when the group revokes a partition,
// the worker makes its progress durable in three steps, in this order:
// every event emitted so far is acknowledged by the brokers; each
// partition's state record (its engine's snapshot, the offset of the next
// record it has not processed and the rule files) is written to
// StateTopic, keyed group:topic/partition, in partition p modulo the
// state topic's partition count; then the offsets are committed. When the
// group assigns a partition, its state record is read back before its
// first record is processed: the engine is restored (under the rules it
// was taken under, then the current ones, as a reload would), and
// consumption starts at the state's offset whatever the group committed.
// A record before it means that the log no longer holds that offset (the
// topic was created again, or its log truncated): the partition goes on
// from that record, logged at error level and counted
// (faultline_kafka_offset_rewinds_total), rather than skip the new log
// until it grows past the old one's end. The span between the state's
// time and the assignment is the partition's handover: the engine skips
// it (fault.Engine.Skip), as package pipeline skips a restart's downtime,
// so a move never raises an absence storm. A partition lost without a
// revoke (the session expired) is dropped without writing anything:
// another member may own it already.
//
// Reading the states can fail for a while: the state topic's leader moves,
// a broker restarts. The worker then tries again, after 250ms, then twice
// as long each time up to 10s (on Config.Clock), for as long as it runs: it
// never starts such a partition afresh, since the fresh state's first
// checkpoint would replace the one it could not read. Meanwhile it
// processes nothing, its other partitions included (the assignment holds
// the polls; their engines then skip the wait as a stall, above), and
// logs each failed attempt at error level and counts it
// (faultline_kafka_state_load_errors_total). The member keeps
// heartbeating, so it keeps its partitions; a rebalance that begins
// meanwhile waits for it up to the group's rebalance timeout, after which
// the group drops the member and gives its partitions to others, which
// read their states themselves. If Run ends first, the partitions are not
// taken: nothing is processed, written or committed for them.
//
// A state that a newer build wrote (a state record, or the engine's or
// fleet stage's snapshot in it, of a newer version than this build reads;
// or whose rules this build cannot parse, as rules of a newer rule syntax:
// ErrNewerState), as after a rollback, is waited for the same way: the
// worker never starts such a partition afresh, whose first checkpoint
// would replace the state for good. Rules that do not parse are taken for
// a newer syntax since the build that wrote the state parsed them, and
// they are not a mere record: the engine's snapshot is restored under
// them, then updated to the worker's rules, so this build cannot restore
// it under its own. Each attempt is logged at error level
// and counted (faultline_kafka_state_newer_total), and the partitions wait
// until a build that reads the state runs, or an operator deletes the
// record (a tombstone for its key): the partition then starts afresh.
//
// A state record that is read but cannot be restored (truncated,
// corrupted, of an older version: ErrBadState; or whose snapshot this
// build refuses) is another case: reading it again cannot help, and
// refusing it would stop the partition until someone deletes the record.
// The partition starts afresh from the offset the group committed, the
// failure is logged at error level and counted
// (faultline_kafka_state_unreadable_total), and the partition's next
// checkpoint replaces the record. Its open episodes are forgotten: a fault
// still present fires again under a new episode, and one that ended is
// never resolved downstream.
//
// # Exactly what was promised downstream
//
// The worker uses franz-go's idempotent producer (its default) and leaves
// deduplication to the consumers of EventsTopic, by event ID, rather than
// a transactional producer with read-committed consumers. The reasons:
// events must reach the consumers as soon as they are acknowledged, not
// when a transaction that also carries a snapshot of every engine commits,
// once a checkpoint interval; sinks outside Kafka (Alertmanager, webhooks)
// cannot take part in a transaction and deduplicate by ID anyway; and a
// transaction per checkpoint would put megabytes of state in the path of
// every alert. The order of a checkpoint keeps the promise: a crash before
// the state is written re-processes the input since the previous state and
// re-emits the events it had produced, with the same IDs (event IDs are
// derived from the data, see fault.EventIDs); a crash after it re-emits
// nothing. Nothing is lost, because no offset is committed, and no state
// written, before the events up to it are acknowledged. A re-emitted event
// has the same ID and may carry a later "at" (the engine time at which
// the partition processed the record the second time): consumers keep the
// first copy.
//
// A worker whose partition moved away while it was cut off (a zombie) may
// still write a state for it. States are snapshots of a deterministic
// engine at an offset, so whichever the new owner reads, it re-processes
// from there: duplicates, never a loss.
//
// # The fleet across partitions
//
// Each partition sees a random subset of the fleet, so each may find the
// same fleet-wide fault (a periodic gap, a feedback loop, a duplicate
// storm or ingest lag of an unlabelled input, a cohort), each with its own
// episode ID. Downstream it is one fault: the engines send their
// fleet-wide events, and the events that a fleet gap explains, to
// FleetTopic, keyed by their partition, and the fleet stage merges them.
// The fleet stage is the owner of FleetTopic's single partition, a member
// of the same group: it moves, restores and checkpoints like any
// partition. It is a pipeline.Merger whose members are the input
// partitions, and follows its contract (see package pipeline): it groups
// the episodes that name one fault (for gaps: the same period, or a
// multiple, and windows that line up in time; for the other kinds, the
// same labels) and produces each group's transitions once to EventsTopic:
// pending when its first member is, firing when its first member fires,
// resolved when its last member resolves, under the first member's
// episode ID. An event a member gap explains gets the group's firing ID in
// inhibited_by. The stage reads its topic in order and uses no clock, so
// after a crash it re-emits the same events with the same IDs; a member's
// event seen before (a partition's re-emission) is dropped. Giving every
// partition's engine the same episode ID for the same gap would need gap
// identity derived from the data alone, which the engine does not offer
// yet; the stage then would only deduplicate.
//
// # Bounds
//
// Config.MaxPartitions bounds the partitions of Topic a worker holds, and
// so its engines' memory: Kafka's balancers give every partition to the
// members there are, so that the last survivor of a group would hold the
// whole input. The group's leader plans as franz-go's cooperative-sticky
// balancer does, then takes from each member the partitions past the
// bound, those it does not own yet first: they have no owner, and their
// records wait in the brokers, until a worker joins. The leader logs them
// at error level and reports them (faultline_kafka_partitions_unassigned).
// The fleet stage's partition is not bounded.
// Config.MaxPollRecords bounds the records in the worker at once;
// Config.MaxFetchBytes what the client buffers per fetch;
// Config.MaxPendingEvents the records produced and not yet acknowledged
// (past it producing waits, and so does consuming: the brokers keep the
// backlog; once Run's context has ended, 30 s at most, see Run);
// Config.MaxSnapshot a state record (a larger one is not
// written, and the partition's offsets are not committed until it fits).
// The fleet stage holds at most 1,024 open groups of at most 4,096
// members each (further members pass unmerged), and remembers 4,096 links
// and resolved members. Everything is counted: see Worker.AppendMetrics,
// which also reports every engine's Stats, labelled topic and partition.
//
// # Security
//
// Config.SASL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) and Config.TLS
// configure the connection as franz-go offers them; Config.Options takes
// any other client option.
//
// # Time
//
// The worker reads time only from Config.Clock (arrival stamps, ticks,
// checkpoints): tests drive it in virtual time with clock.NewFake against
// an in-process cluster (franz-go's kfake).
package kafka
