package kafka

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/faultline-go/faultline/internal/frame"
	"github.com/faultline-go/faultline/rules"
)

// A state record holds one partition's state: the stage's snapshot (an
// engine's, or the fleet stage's), the input offset it covers and the
// rules it was taken under. Its key is stateKey; its value is a frame of
// the module's one binary framing (magic "FLKSTATE", version, length,
// CRC-32C: internal/frame) whose body is: the stage kind (1 byte), the
// next input offset (every record before it is in the snapshot; -1: no
// record yet, the committed offset stands), the leader epoch of the record
// before it, the clock when it was taken (Unix ns), the rule files (count,
// then each name and text), and the snapshot (length, bytes):
// fault.Engine.AppendSnapshot's, or the fleet stage's
// pipeline.Merger.AppendState's, which carries its own format version.
// A record of an older version (version 1 had a framing of its own) is
// refused, and the partition starts afresh from its committed offset. One
// of a newer version, whose snapshot is of a newer version than this
// build writes, or whose rules this build cannot parse, was written by a
// newer build: it is kept, and the partition waits (see newerState).
const (
	stateMagic    = "FLKSTATE"
	stateVersion  = 2
	stateOverhead = 64 << 10 // room for the header and the rules, beside a snapshot
)

// ErrBadState means a state record cannot be read: truncated, corrupted or
// of an older version. The partition then starts afresh from its committed
// offset, and the error is counted and logged.
var ErrBadState = errors.New("kafka: unreadable state record")

// ErrNewerState means a state record, or the snapshot in it, is of a newer
// version than this build reads, or its rules do not parse in this build:
// a newer build wrote it (this one is a rollback). The state is never replaced: the partition waits for it, as
// for a state that cannot be read for a while (see the package doc).
var ErrNewerState = errors.New("kafka: state record of a newer version")

// stageKind says which stage a state record belongs to.
type stageKind uint8

const (
	stageEngine stageKind = 1 // an input partition's engine
	stageFleet  stageKind = 2 // the fleet stage
)

// state is a decoded state record.
type state struct {
	kind     stageKind
	next     int64 // the next input offset to process
	epoch    int32 // the leader epoch of the record before next
	taken    int64 // the worker's clock when it was taken, Unix ns
	sources  []rules.Source
	snapshot []byte
}

// stateKey names a partition's state: group:topic/partition. Topic names
// hold neither ':' nor '/', so the key reads back from the right.
func stateKey(group, topic string, partition int32) string {
	return group + ":" + topic + "/" + strconv.Itoa(int(partition))
}

// statePartition is the state topic's partition that holds the state of
// input partition p.
func statePartition(p int32, n int32) int32 { return p % n }

func (s *state) encode() []byte {
	w := frame.Begin(make([]byte, 0, len(s.snapshot)+256), stateMagic, stateVersion)
	w.U8(uint8(s.kind))
	w.I64(s.next)
	w.I32(s.epoch)
	w.I64(s.taken)
	w.Uv(uint64(len(s.sources)))
	for _, src := range s.sources {
		w.Str(src.Name)
		w.Bytes(src.Data)
	}
	w.Bytes(s.snapshot)
	return w.Finish()
}

// decodeState reads a state record's value.
func decodeState(raw []byte) (*state, error) {
	version, r, err := frame.Open(raw, stateMagic)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadState, err)
	}
	if version > stateVersion {
		return nil, fmt.Errorf("%w: version %d, this build reads up to %d", ErrNewerState, version, stateVersion)
	}
	if version != stateVersion {
		return nil, fmt.Errorf("%w: version %d, this build reads version %d", ErrBadState, version, stateVersion)
	}
	s := &state{kind: stageKind(r.U8()), next: r.I64(), epoch: r.I32(), taken: r.I64()}
	for range r.Count(2) {
		s.sources = append(s.sources, rules.Source{Name: r.Str(), Data: r.Bytes()})
	}
	s.snapshot = r.Bytes()
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadState, err)
	}
	switch {
	case s.kind != stageEngine && s.kind != stageFleet:
		return nil, fmt.Errorf("%w: unknown stage %d", ErrBadState, s.kind)
	case s.next < -1:
		return nil, fmt.Errorf("%w: offset %d", ErrBadState, s.next)
	}
	return s, nil
}

// loaded is what loadStates found for one key: the newest state record's
// value, raw, or nothing.
type loaded struct {
	raw []byte
}

// loadStates reads, for each key, the newest state record in the state
// topic's partition that holds it (want maps key → state partition): each
// partition from its start to its end as listed before reading, keeping
// the last record of each wanted key. A compacted topic holds about one
// record per key.
func loadStates(ctx context.Context, opts []kgo.Opt, adm *kadm.Client, topic string, want map[string]int32) (map[string]loaded, error) {
	out := make(map[string]loaded, len(want))
	if len(want) == 0 {
		return out, nil
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("listing the state topic's start offsets: %w", err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("listing the state topic's end offsets: %w", err)
	}
	from := map[int32]kgo.Offset{}
	end := map[int32]int64{}
	for _, p := range want {
		s, ok1 := starts.Lookup(topic, p)
		e, ok2 := ends.Lookup(topic, p)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("the state topic %q has no partition %d", topic, p)
		}
		if e.Offset > s.Offset {
			from[p] = kgo.NewOffset().At(s.Offset)
			end[p] = e.Offset
		}
	}
	if len(from) == 0 {
		return out, nil
	}
	cl, err := kgo.NewClient(append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: from}))...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	for len(end) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil {
			return nil, fmt.Errorf("reading the state topic: %w", ferr)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if _, ok := want[string(r.Key)]; ok && r.Offset < end[r.Partition] {
				out[string(r.Key)] = loaded{raw: bytes.Clone(r.Value)}
			}
			if e, ok := end[r.Partition]; ok && r.Offset+1 >= e {
				delete(end, r.Partition)
			}
		})
	}
	return out, nil
}

// frameHead is the magic and version of a frame of the module's framing
// (internal/frame) that this build writes: an engine snapshot's or the
// fleet stage's, read from one it made (the packages that write them keep
// their versions to themselves).
type frameHead struct {
	magic   string
	version uint32
}

// headOf returns the head of a frame this build made.
func headOf(b []byte) frameHead {
	magic := string(b[:frame.MagicLen])
	version, _, err := frame.Open(b, magic)
	if err != nil {
		panic(fmt.Sprintf("kafka: a frame this build made: %v", err))
	}
	return frameHead{magic, version}
}

// newerState returns an error wrapping ErrNewerState if raw, a state
// record, was written by a newer build: the record's version, or its
// snapshot's (an engine's, or the fleet stage's), is newer than this
// build's, or this build cannot parse the rules of an engine's state.
// Any other state, readable or not, is open's to judge.
//
// Rules that do not parse are taken for a newer build's: the build that
// wrote the state parsed them (New refuses rules that do not parse), so
// this one reads another rule syntax, as after a rollback across a
// release that added to it. They cannot be done without: the snapshot is
// restored under them (see Worker.restore), not under the worker's.
func (w *Worker) newerState(raw []byte) error {
	st, err := decodeState(raw)
	if errors.Is(err, ErrNewerState) {
		return err
	}
	if err != nil {
		return nil
	}
	head := w.engineHead
	if st.kind == stageFleet {
		head = w.fleetHead
	}
	version, _, err := frame.Open(st.snapshot, head.magic)
	if err == nil && version > head.version {
		return fmt.Errorf("%w: its snapshot's version %d, this build reads up to %d", ErrNewerState, version, head.version)
	}
	if st.kind == stageEngine {
		if _, err := w.stateRules(st.sources); err != nil {
			return fmt.Errorf("%w: its rules do not parse in this build: %w", ErrNewerState, err)
		}
	}
	return nil
}

// splitStateKey returns the topic and partition of a state key.
func splitStateKey(key string) (topic string, partition int32, ok bool) {
	i := strings.LastIndexByte(key, ':')
	j := strings.LastIndexByte(key, '/')
	if i < 0 || j < i {
		return "", 0, false
	}
	p, err := strconv.ParseInt(key[j+1:], 10, 32)
	return key[i+1 : j], int32(p), err == nil
}
