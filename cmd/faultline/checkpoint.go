package main

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"

	"github.com/faultline-go/faultline/internal/frame"
)

// A replay checkpoint (--state FILE) is the engine's snapshot together with
// the position in the input it was taken at: how many records (input
// lines that are not blank or comments, across every input in order) the
// engine had been given, a hash of those records, so that a resumed run
// refuses an input other than the one the checkpoint covers, and the event
// counts of the summary so far.
//
// It is a frame (internal/frame: magic, version, length, CRC-32C) of magic
// "FLTCKPT\x00", version 3, whose body holds, in frame fields: i64
// position; u64 digest, the xxHash64 of the records covered, each without
// its line ending and followed by "\n"; a varint number of summary
// entries, each a string key and a u64 count, in key order; and the engine
// snapshot (fault.Engine.Snapshot) as bytes. Earlier versions (1, and 2
// without the digest) are refused.
const (
	ckptMagic   = "FLTCKPT\x00"
	ckptVersion = 3
)

type checkpoint struct {
	position int64          // records the engine had been given
	digest   uint64         // xxHash64 of those records
	events   map[string]int // the summary's event counts
	snapshot []byte         // the engine's
}

// writeCheckpoint commits ck to path atomically (frame.WriteFile): a crash
// leaves either the previous checkpoint or this one.
func writeCheckpoint(path string, ck checkpoint) error {
	w := frame.Begin(nil, ckptMagic, ckptVersion)
	w.I64(ck.position)
	w.U64(ck.digest)
	keys := slices.Sorted(maps.Keys(ck.events))
	w.Uv(uint64(len(keys)))
	for _, k := range keys {
		w.Str(k)
		w.U64(uint64(ck.events[k]))
	}
	w.Bytes(ck.snapshot)
	return frame.WriteFile(path, w.Finish())
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
	bad := func(err error) (checkpoint, error) {
		return checkpoint{}, fmt.Errorf("%s: not a readable checkpoint: %w", path, err)
	}
	v, r, err := frame.Open(raw, ckptMagic)
	// The version is checked first, whenever Open could read one: a frame
	// of another version need not pass this version's length check.
	if (err == nil || v != 0) && v != ckptVersion {
		return bad(fmt.Errorf("version %d, this build reads version %d", v, ckptVersion))
	}
	if err != nil {
		return bad(err)
	}
	ck := checkpoint{position: r.I64(), digest: r.U64(), events: map[string]int{}}
	if ck.position < 0 {
		r.Fail("negative position %d", ck.position)
	}
	prev := ""
	for i := range r.Count(1 + 8) { // a key's length and a count
		k := r.Str()
		if i > 0 && k <= prev {
			r.Fail("summary key %q out of order", k)
		}
		ck.events[k], prev = int(r.U64()), k
	}
	ck.snapshot = r.Bytes()
	if err := r.Done(); err != nil {
		return bad(err)
	}
	return ck, nil
}
