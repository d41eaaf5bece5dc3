package kafka

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/pipeline"
	"github.com/faultline-go/faultline/rules"
	"github.com/faultline-go/faultline/stream"
)

// RecordError is a record of the input topic that could not be decoded,
// or one line of it. It is reported to the partition's engine as bad input
// (see fault.Engine.BadInput), under the input name topic/partition.
type RecordError struct {
	Topic     string
	Partition int32
	Offset    int64
	Err       error // a *stream.RecordError: the line and column in the record's value
}

// Error formats the error as "topic/3 offset 1234: record 2, column 5: cause".
func (e *RecordError) Error() string {
	return fmt.Sprintf("%s/%d offset %d: %v", e.Topic, e.Partition, e.Offset, e.Err)
}

// Unwrap returns the cause.
func (e *RecordError) Unwrap() error { return e.Err }

// partition is the stage that owns one assigned partition: an engine for
// a partition of the input topic, the fleet stage for the fleet topic's.
// It is used under the worker's lock, by one goroutine at a time.
type partition struct {
	topic string
	id    int32
	kind  stageKind
	input string // topic/partition, the engine's name for its bad input
	log   *slog.Logger

	eng   *fault.Engine
	fleet *pipeline.Merger // the fleet stage's
	srcs  []rules.Source   // the rules the engine runs

	next  int64 // the next offset to process; -1 before the first record
	epoch int32 // the leader epoch of the record before next
	seen  int64 // the worker's clock when it last polled holding the partition (noticeStall)

	events []fault.Event // emitted by the call in progress
	now    int64         // arrival of the records being decoded
	dec    *stream.Decoder
	rd     bytes.Reader
	batch  []stream.Sample

	ctr partCounters
}

type partCounters struct {
	records, samples, badRecords, rewinds, fleetBad atomic.Uint64
}

// Emit collects the engine's events.
func (p *partition) Emit(_ context.Context, ev fault.Event) error {
	p.events = append(p.events, ev)
	return nil
}

// take returns the events collected so far and forgets them.
func (p *partition) take() []fault.Event {
	evs := p.events
	p.events = nil
	return evs
}

// newDecoder makes the partition's line-protocol decoder; records without
// a timestamp are dated by their arrival.
func (p *partition) newDecoder(precision int64) {
	p.dec = stream.NewDecoder(&p.rd, stream.DecoderOptions{
		Format:    stream.LineProtocol,
		Precision: timeDuration(precision),
		Arrival:   func() int64 { return p.now },
	})
}

// process runs the partition's records, all arrived at now, through its
// stage, and returns the events it emitted.
//
// The client fetches from the offset the partition's state covers and
// never returns a record before where it fetches, so a record before it
// means that the log no longer holds that offset: the topic was deleted
// and created again, or its log truncated (an unclean leader election).
// The records now at those offsets were never processed: the stage goes
// on from them rather than skip the new log until it grows past the old
// one's end. The rewind is logged and counted.
func (p *partition) process(ctx context.Context, recs []*kgo.Record, now int64) ([]fault.Event, error) {
	p.now = now
	var errs []error
	p.batch = p.batch[:0]
	for _, rec := range recs {
		if rec.Offset < p.next {
			p.ctr.rewinds.Add(1)
			p.log.Error("the partition's log no longer holds the offset its state covers (the topic was created again, or its log truncated): processing goes on from its records",
				"topic", p.topic, "partition", p.id, "offset", rec.Offset, "state_offset", p.next)
		}
		p.next, p.epoch = rec.Offset+1, rec.LeaderEpoch
		p.ctr.records.Add(1)
		if p.kind == stageFleet {
			p.fleetRecord(rec)
			continue
		}
		p.decode(rec)
	}
	if p.kind == stageEngine && len(p.batch) > 0 {
		p.ctr.samples.Add(uint64(len(p.batch)))
		if err := p.eng.Process(ctx, p.batch); err != nil {
			errs = append(errs, err)
		}
		clear(p.batch)
	}
	return p.take(), errors.Join(errs...)
}

// decode appends a record's samples to the batch; a line that cannot be
// decoded is the engine's bad input.
func (p *partition) decode(rec *kgo.Record) {
	p.rd.Reset(rec.Value)
	p.dec.Reset(&p.rd)
	for {
		var err error
		p.batch, err = p.dec.Next(p.batch)
		if err == io.EOF {
			return
		}
		if err != nil {
			p.ctr.badRecords.Add(1)
			p.eng.BadInput(p.input, &RecordError{Topic: p.topic, Partition: p.id, Offset: rec.Offset, Err: err})
			var re *stream.RecordError
			if !errors.As(err, &re) {
				return // not a line's fault: the rest of the value is not read
			}
		}
	}
}

// fleetRecord runs a member event through the fleet stage. Its key names
// the input partition that emitted it. A record that is not such an event
// (written by another program or version) is counted, logged with its
// offset, and skipped.
func (p *partition) fleetRecord(rec *kgo.Record) {
	src, err := strconv.ParseInt(string(rec.Key), 10, 32)
	ev, perr := ParseEvent(rec.Value)
	if err != nil || perr != nil {
		p.ctr.fleetBad.Add(1) // not ours: nothing to merge
		p.log.Warn("a record of the fleet topic is not a partition's event: skipped",
			"topic", p.topic, "partition", p.id, "offset", rec.Offset, "err", errors.Join(err, perr))
		return
	}
	p.events = p.fleet.Add(p.events, int32(src), ev)
}

// advance moves the engine's clock to now.
func (p *partition) advance(ctx context.Context, now int64) ([]fault.Event, error) {
	if p.kind != stageEngine {
		return nil, nil
	}
	err := p.eng.Advance(ctx, now)
	return p.take(), err
}

// snapshot returns the partition's state record, taken at now.
func (p *partition) snapshot(now int64) ([]byte, error) {
	st := state{kind: p.kind, next: p.next, epoch: p.epoch, taken: now, sources: p.srcs}
	switch p.kind {
	case stageEngine:
		snap, err := p.eng.AppendSnapshot(nil)
		if err != nil {
			return nil, err
		}
		st.snapshot = snap
	case stageFleet:
		st.snapshot = p.fleet.AppendState(nil)
	}
	return st.encode(), nil
}

// release gives back the engine's memory held off the Go heap.
func (p *partition) release() {
	if p.eng != nil {
		if dd := p.eng.Deduper(); dd != nil {
			dd.Reset()
		}
	}
}
