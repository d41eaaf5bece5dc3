package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"maps"
	"os"
	"slices"

	"github.com/faultline-go/faultline/dedup"
)

// A replay checkpoint (--state FILE) is the engine's snapshot together with
// the position in the input it was taken at: how many records (input
// lines that are not blank or comments, across every input in order) the
// engine had been given, and the event counts of the summary so far.
//
// Layout, version 1, little-endian: the magic "FLTCKPT\x00", u32 version,
// u64 position, u32 number of summary entries, each a u16 length and bytes
// of its key and a u64 count, u64 length and bytes of the engine snapshot
// (fault.Engine.Snapshot), and a u32 CRC-32C of all that precedes it.
const (
	ckptMagic   = "FLTCKPT\x00"
	ckptVersion = 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type checkpoint struct {
	position int64          // records the engine had been given
	events   map[string]int // the summary's event counts
	snapshot []byte         // the engine's
}

// writeCheckpoint commits ck to path atomically: a temporary file in the
// same directory, synced, renamed over path, and the directory synced. A
// crash leaves either the previous checkpoint or this one.
func writeCheckpoint(path string, ck checkpoint) error {
	le := binary.LittleEndian
	b := append([]byte(nil), ckptMagic...)
	b = le.AppendUint32(b, ckptVersion)
	b = le.AppendUint64(b, uint64(ck.position))
	keys := slices.Sorted(maps.Keys(ck.events))
	b = le.AppendUint32(b, uint32(len(keys)))
	for _, k := range keys {
		b = le.AppendUint16(b, uint16(len(k)))
		b = append(b, k...)
		b = le.AppendUint64(b, uint64(ck.events[k]))
	}
	b = le.AppendUint64(b, uint64(len(ck.snapshot)))
	b = append(b, ck.snapshot...)
	b = le.AppendUint32(b, crc32.Checksum(b, castagnoli))
	return dedup.WriteFileAtomic(path, b)
}

// errNoCheckpoint: the state file does not exist yet.
var errNoCheckpoint = errors.New("no checkpoint")

// readCheckpoint reads the checkpoint at path.
func readCheckpoint(path string) (checkpoint, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return checkpoint{}, errNoCheckpoint
	}
	if err != nil {
		return checkpoint{}, err
	}
	bad := func(why string) (checkpoint, error) {
		return checkpoint{}, fmt.Errorf("%s: not a readable checkpoint: %s", path, why)
	}
	le := binary.LittleEndian
	if len(raw) < len(ckptMagic)+4+8+4+8+4 || string(raw[:len(ckptMagic)]) != ckptMagic {
		return bad("bad header")
	}
	body := raw[:len(raw)-4]
	if crc32.Checksum(body, castagnoli) != le.Uint32(raw[len(raw)-4:]) {
		return bad("checksum mismatch")
	}
	b := body[len(ckptMagic):]
	if v := le.Uint32(b); v != ckptVersion {
		return bad(fmt.Sprintf("version %d, this build reads version %d", v, ckptVersion))
	}
	ck := checkpoint{position: int64(le.Uint64(b[4:])), events: map[string]int{}}
	n := le.Uint32(b[12:])
	b = b[16:]
	for range n {
		if len(b) < 2 || len(b) < 2+int(le.Uint16(b))+8 {
			return bad("truncated")
		}
		k := int(le.Uint16(b))
		ck.events[string(b[2:2+k])] = int(le.Uint64(b[2+k:]))
		b = b[2+k+8:]
	}
	if len(b) < 8 || le.Uint64(b) != uint64(len(b)-8) || ck.position < 0 {
		return bad("bad snapshot length")
	}
	ck.snapshot = b[8:]
	return ck, nil
}
