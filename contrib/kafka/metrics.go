package kafka

import (
	"strconv"
	"sync/atomic"
	"time"

	"github.com/faultline-go/faultline/metrics"
)

// counters are the worker's own counts.
type counters struct {
	polls, ticks, fetchErrors, unowned                                       atomic.Uint64
	events, fleetEvents, acked, produceErrors                                atomic.Uint64
	checkpoints, checkpointErrors, statesWritten, stateTooLarge, commits     atomic.Uint64
	commitsRefused                                                           atomic.Uint64
	assigned, revoked, lost, restored, stateBad, stateLoadErrors, stateNewer atomic.Uint64
	overloads, engineErrors, stalls                                          atomic.Uint64
	handoverNs, lagNs, stateBytes, stallNs, unassigned                       atomic.Int64
}

var _ metrics.Source = (*Worker)(nil)

// AppendMetrics appends the worker's self-metrics: its own counters, the
// client's produce buffer, and for each partition it holds (labelled
// topic and partition) its counts and its engine's (or the fleet
// stage's).
func (w *Worker) AppendMetrics(dst []metrics.Metric) []metrics.Metric {
	c := &w.ctr
	var buffered int64
	if cl := w.clv.Load(); cl != nil {
		buffered = cl.BufferedProduceRecords()
	}
	dst = append(dst,
		metrics.C("faultline_kafka_polls_total", "Polls that returned records.", c.polls.Load()),
		metrics.C("faultline_kafka_ticks_total", "Ticks that advanced the engines to the clock.", c.ticks.Load()),
		metrics.C("faultline_kafka_fetch_errors_total", "Fetch errors the client reported.", c.fetchErrors.Load()),
		metrics.C("faultline_kafka_unowned_records_total", "Records polled for partitions the worker no longer held (dropped).", c.unowned.Load()),
		metrics.G("faultline_kafka_delivery_lag_seconds", "How long after its timestamp the newest record of the last poll was taken.", time.Duration(c.lagNs.Load()).Seconds()),
		metrics.C("faultline_kafka_events_total", "Events produced to the events topic.", c.events.Load()),
		metrics.C("faultline_kafka_fleet_events_total", "Events produced to the fleet topic for the fleet stage.", c.fleetEvents.Load()),
		metrics.C("faultline_kafka_acked_total", "Records the brokers acknowledged.", c.acked.Load()),
		metrics.C("faultline_kafka_produce_errors_total", "Records the brokers refused (sent again).", c.produceErrors.Load()),
		metrics.G("faultline_kafka_pending_records", "Records produced and not yet acknowledged.", float64(buffered)),
		metrics.G("faultline_kafka_pending_records_capacity", "Records that may be pending before producing waits.", float64(w.cfg.MaxPendingEvents)),
		metrics.C("faultline_kafka_checkpoints_total", "Checkpoints completed: events acknowledged, states written, offsets committed.", c.checkpoints.Load()),
		metrics.C("faultline_kafka_checkpoint_errors_total", "Checkpoints that failed in part.", c.checkpointErrors.Load()),
		metrics.C("faultline_kafka_states_written_total", "State records written.", c.statesWritten.Load()),
		metrics.C("faultline_kafka_state_too_large_total", "State records larger than MaxSnapshot, not written.", c.stateTooLarge.Load()),
		metrics.G("faultline_kafka_state_bytes", "Size of the last state record written.", float64(c.stateBytes.Load())),
		metrics.C("faultline_kafka_commits_total", "Partition offsets committed.", c.commits.Load()),
		metrics.C("faultline_kafka_commits_refused_total", "Offset commits the group refused because it had moved on (a rebalance); the states were written.", c.commitsRefused.Load()),
		metrics.C("faultline_kafka_assigned_total", "Partitions assigned.", c.assigned.Load()),
		metrics.G("faultline_kafka_partitions_unassigned", "Input partitions the last balance this worker led as the group's leader left without an owner, every member holding MaxPartitions.", float64(c.unassigned.Load())),
		metrics.G("faultline_kafka_max_partitions", "The most input partitions a member is assigned (MaxPartitions).", float64(w.cfg.MaxPartitions)),
		metrics.C("faultline_kafka_restored_total", "Partitions restored from a state record.", c.restored.Load()),
		metrics.C("faultline_kafka_revoked_total", "Partitions revoked (checkpointed, then dropped).", c.revoked.Load()),
		metrics.C("faultline_kafka_lost_total", "Partitions lost without a revoke (dropped, nothing written).", c.lost.Load()),
		metrics.C("faultline_kafka_state_unreadable_total", "State records that could not be restored: the partition started afresh.", c.stateBad.Load()),
		metrics.C("faultline_kafka_state_load_errors_total", "Failed attempts to read the assigned partitions' states from the state topic (each retried; the partitions wait).", c.stateLoadErrors.Load()),
		metrics.C("faultline_kafka_state_newer_total", "Attempts to take assigned partitions that found a state a newer build wrote (a newer version than this build reads): the state is kept, the partitions wait, retried.", c.stateNewer.Load()),
		metrics.G("faultline_kafka_handover_skipped_seconds", "Time between the states restored and their assignment, skipped by the engines.", time.Duration(c.handoverNs.Load()).Seconds()),
		metrics.C("faultline_kafka_stalls_total", "Spans longer than 30 s in which the worker did not poll, skipped by the engines as its own downtime.", c.stalls.Load()),
		metrics.G("faultline_kafka_stall_skipped_seconds", "Time the worker did not poll in those spans, skipped by the engines.", time.Duration(c.stallNs.Load()).Seconds()),
		metrics.C("faultline_kafka_overloaded_total", "Engine calls in which a bound refused something (see the engine's counters).", c.overloads.Load()),
		metrics.C("faultline_kafka_engine_errors_total", "Engine calls that failed otherwise.", c.engineErrors.Load()),
	)
	view := w.view.Load()
	if view == nil {
		return dst
	}
	for _, p := range *view {
		from := len(dst)
		dst = append(dst,
			metrics.C("faultline_kafka_records_total", "Records processed.", p.ctr.records.Load()),
			metrics.C("faultline_kafka_offset_rewinds_total", "Records before the offset the partition's state covers: its log was created again or truncated, and processing went on from them.", p.ctr.rewinds.Load()),
		)
		switch p.kind {
		case stageEngine:
			dst = append(dst,
				metrics.C("faultline_kafka_samples_total", "Samples decoded and processed.", p.ctr.samples.Load()),
				metrics.C("faultline_kafka_bad_records_total", "Record lines that could not be decoded (the engine's bad input).", p.ctr.badRecords.Load()),
			)
			st := p.eng.Stats()
			dst = st.AppendMetrics(dst)
		case stageFleet:
			f := p.fleet.Stats()
			dst = append(dst,
				metrics.C("faultline_kafka_fleet_in_total", "Member events the fleet stage read.", f.In),
				metrics.C("faultline_kafka_fleet_out_total", "Events the fleet stage produced downstream.", f.Out),
				metrics.C("faultline_kafka_fleet_merged_total", "Member events folded into their group's event.", f.Merged),
				metrics.C("faultline_kafka_fleet_duplicates_total", "Member events seen before (re-emitted after a crash), dropped.", f.Duplicates),
				metrics.C("faultline_kafka_fleet_overflow_total", "Member events passed unmerged because the stage held its most groups or members.", f.Overflow),
				metrics.C("faultline_kafka_fleet_unreadable_total", "Fleet topic records that were not events, dropped.", p.ctr.fleetBad.Load()),
			)
		}
		id := strconv.Itoa(int(p.id))
		for i := from; i < len(dst); i++ {
			dst[i] = dst[i].With("topic", p.topic).With("partition", id)
		}
	}
	return dst
}
