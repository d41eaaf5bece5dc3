package kafka

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/faultline-go/faultline/rules"
)

// A state record holds one partition's state: the stage's snapshot (an
// engine's, or the fleet stage's), the input offset it covers and the
// rules it was taken under. Its key is stateKey; its value is
//
//	magic "FLKSTATE", version (1 byte), CRC-32C of the body (4 bytes,
//	little endian), body
//
// and the body is, in uvarints and zigzag varints: the stage kind, the
// next input offset (every record before it is in the snapshot; -1: no
// record yet, the committed offset stands), the
// leader epoch of the record before it, the clock when it was taken (Unix
// ns), the rule files (count, then each name and text), and the snapshot
// (length, bytes): fault.Engine.AppendSnapshot's, or the fleet stage's
// pipeline.Merger.AppendState's, which carries its own format version (the
// fleet stage's state of the format it had before it used pipeline.Merger
// is refused, and the stage starts afresh).
const (
	stateMagic    = "FLKSTATE"
	stateVersion  = 1
	stateOverhead = 64 << 10 // room for the header and the rules, beside a snapshot
)

// ErrBadState means a state record cannot be read: truncated, corrupted or
// of another version. The partition then starts afresh from its committed
// offset, and the error is counted and logged.
var ErrBadState = errors.New("kafka: unreadable state record")

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
	body := make([]byte, 0, len(s.snapshot)+256)
	body = append(body, byte(s.kind))
	body = binary.AppendVarint(body, s.next)
	body = binary.AppendVarint(body, int64(s.epoch))
	body = binary.AppendVarint(body, s.taken)
	body = binary.AppendUvarint(body, uint64(len(s.sources)))
	for _, src := range s.sources {
		body = appendBytes(body, []byte(src.Name))
		body = appendBytes(body, src.Data)
	}
	body = appendBytes(body, s.snapshot)
	out := make([]byte, 0, len(stateMagic)+5+len(body))
	out = append(out, stateMagic...)
	out = append(out, stateVersion)
	out = binary.LittleEndian.AppendUint32(out, crc32.Checksum(body, castagnoli))
	return append(out, body...)
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// decodeState reads a state record's value.
func decodeState(raw []byte) (*state, error) {
	if len(raw) < len(stateMagic)+5 || string(raw[:len(stateMagic)]) != stateMagic {
		return nil, fmt.Errorf("%w: no state header", ErrBadState)
	}
	if v := raw[len(stateMagic)]; v != stateVersion {
		return nil, fmt.Errorf("%w: version %d, this build reads version %d", ErrBadState, v, stateVersion)
	}
	sum := binary.LittleEndian.Uint32(raw[len(stateMagic)+1:])
	body := raw[len(stateMagic)+5:]
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrBadState)
	}
	r := reader{b: body}
	s := &state{kind: stageKind(r.byte())}
	s.next = r.varint()
	s.epoch = int32(r.varint())
	s.taken = r.varint()
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail()
	}
	for i := uint64(0); i < n && r.err == nil; i++ {
		s.sources = append(s.sources, rules.Source{Name: string(r.bytes()), Data: r.bytes()})
	}
	s.snapshot = r.bytes()
	switch {
	case r.err != nil:
		return nil, fmt.Errorf("%w: truncated", ErrBadState)
	case len(r.b) != 0:
		return nil, fmt.Errorf("%w: %d bytes past its end", ErrBadState, len(r.b))
	case s.kind != stageEngine && s.kind != stageFleet:
		return nil, fmt.Errorf("%w: unknown stage %d", ErrBadState, s.kind)
	case s.next < -1:
		return nil, fmt.Errorf("%w: offset %d", ErrBadState, s.next)
	}
	return s, nil
}

// reader decodes a body; the first failure sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail() { r.err, r.b = errors.New("truncated"), nil }

func (r *reader) byte() byte {
	if len(r.b) == 0 {
		r.fail()
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.b)) {
		r.fail()
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
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
