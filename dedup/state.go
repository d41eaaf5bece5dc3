package dedup

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/golang/snappy"

	"github.com/faultline-go/faultline/internal/frame"
)

// The in-memory form of a snapshot, for hosts that embed the deduper's state
// in a larger snapshot of their own (fault.Engine.Snapshot does): the same
// metadata as Save writes to dedup.meta, under a fixed snapshot directory
// name, followed by each live generation's fastcache buckets in canonical
// form. Layout, little-endian:
//
//	u32 length and bytes of the metadata frame (see Save)
//	per live generation, in slot order:
//	    u64 chunks per bucket
//	    per bucket 0…511: u64 write offset, u64 fastcache generation,
//	        u64 key count, that many (u64 key hash, u64 position) pairs in
//	        ascending hash order, u64 chunks in use, u64 length and bytes of
//	        the chunk data
//
// A bucket whose ring has not wrapped (fastcache generation 1) keeps only
// the bytes below its write offset: the rest of its chunks is never read.
// Canonical means that a Deduper restored by LoadState appends the very
// same bytes again, so a host can compare snapshots byte for byte.
// AppendState and LoadState carry no checksum of their own beyond the
// metadata's: the host's snapshot covers them.
const stateDirName = snapPrefix + "state"

// AppendState appends d's complete state (what Save persists) to b in a
// self-contained binary form and returns the extended slice. d is not
// changed. fastcache saves only to files, so AppendState passes each live
// generation through a temporary directory under os.TempDir, removed before
// it returns.
func (d *Deduper) AppendState(b []byte) (_ []byte, err error) {
	tmp, err := os.MkdirTemp("", "faultline-dedup-")
	if err != nil {
		return b, fmt.Errorf("dedup: append state: %w", err)
	}
	defer os.RemoveAll(tmp)

	entries := make([]uint64, len(d.gens))
	var gens [][]byte
	for i := range d.gens {
		gen := &d.gens[i]
		if !gen.live {
			continue
		}
		dir := filepath.Join(tmp, genPrefix+strconv.Itoa(i))
		if err := gen.cache.SaveToFile(dir); err != nil {
			return b, fmt.Errorf("dedup: append state: %w", err)
		}
		g, n, err := canonicalGeneration(dir)
		if err != nil {
			return b, fmt.Errorf("dedup: append state: generation %d: %w", gen.gen, err)
		}
		entries[i] = n
		gens = append(gens, g)
	}
	meta := d.appendMeta(nil, stateDirName, entries)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(meta)))
	b = append(b, meta...)
	for _, g := range gens {
		b = append(b, g...)
	}
	return b, nil
}

// canonicalGeneration reads the fastcache files under dir and returns the
// generation in the canonical form described above, with its key count.
func canonicalGeneration(dir string) ([]byte, uint64, error) {
	meta, err := os.ReadFile(filepath.Join(dir, "metadata.bin"))
	if err != nil {
		return nil, 0, err
	}
	if len(meta) != 8 {
		return nil, 0, errors.New("bad fastcache metadata")
	}
	f, err := os.Open(filepath.Join(dir, "data.0.bin"))
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	zr := bufio.NewReaderSize(snappy.NewReader(f), 1<<16)
	maxChunks := binary.LittleEndian.Uint64(meta)
	le := binary.LittleEndian
	out := le.AppendUint64(nil, maxChunks)
	var keys uint64
	var word [8]byte
	u64 := func() (uint64, error) {
		_, err := io.ReadFull(zr, word[:])
		return le.Uint64(word[:]), err
	}
	type kv struct{ k, v uint64 }
	var kvs []kv
	chunk := make([]byte, fcChunk)
	for want := uint64(0); want < fcBuckets; want++ {
		var h [5]uint64 // bucket number, idx, gen, key count, chunks
		for j := 0; j < 4; j++ {
			if h[j], err = u64(); err != nil {
				return nil, 0, fmt.Errorf("bucket %d: %w", want, err)
			}
		}
		if h[0] != want || h[3] > maxChunks*fcChunk {
			return nil, 0, fmt.Errorf("bucket %d: unexpected layout", want)
		}
		kvs = kvs[:0]
		for range h[3] {
			k, err1 := u64()
			v, err2 := u64()
			if err := cmp.Or(err1, err2); err != nil {
				return nil, 0, err
			}
			kvs = append(kvs, kv{k, v})
		}
		slices.SortFunc(kvs, func(a, b kv) int { return cmp.Compare(a.k, b.k) })
		if h[4], err = u64(); err != nil || h[4] > maxChunks {
			return nil, 0, fmt.Errorf("bucket %d: bad chunk count", want)
		}
		keep := h[4] * fcChunk
		if h[2] == 1 {
			keep = min(keep, h[1])
		}
		out = le.AppendUint64(out, h[1])
		out = le.AppendUint64(out, h[2])
		out = le.AppendUint64(out, uint64(len(kvs)))
		for _, x := range kvs {
			out = le.AppendUint64(out, x.k)
			out = le.AppendUint64(out, x.v)
		}
		out = le.AppendUint64(out, h[4])
		out = le.AppendUint64(out, keep)
		for c := uint64(0); c < h[4]; c++ {
			if _, err := io.ReadFull(zr, chunk); err != nil {
				return nil, 0, err
			}
			lo := c * fcChunk
			if lo < keep {
				out = append(out, chunk[:min(fcChunk, keep-lo)]...)
			}
		}
		keys += uint64(len(kvs))
	}
	if _, err := zr.ReadByte(); err != io.EOF {
		return nil, 0, errors.New("trailing data")
	}
	return out, keys, nil
}

// LoadState restores a Deduper from state appended by AppendState, under
// the same rules as Load: cfg must match the saved Window and memory
// geometry (else an error wrapping ErrConfigMismatch), and bad or truncated
// state gives an error wrapping ErrBadSnapshot. LoadState rebuilds the
// fastcache files in a temporary directory under os.TempDir, loads them and
// removes it. Call Reset on the result when it is no longer needed.
func LoadState(state []byte, cfg Config) (*Deduper, error) {
	ncfg, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: state: %s", ErrBadSnapshot, fmt.Sprintf(format, args...))
	}
	sr := frame.NewReader(state)
	meta := sr.Take(int(sr.U32()))
	if sr.Err() != nil {
		return nil, bad("truncated metadata")
	}
	rest := state[len(state)-sr.Len():]
	// Decode the metadata once here to learn the live generations and
	// check the config; Load decodes it again from the file.
	probe := newDeduperShell(ncfg)
	if _, _, err := probe.decodeMeta(meta); err != nil {
		if errors.Is(err, ErrConfigMismatch) {
			return nil, err
		}
		return nil, bad("%v", err)
	}
	tmp, err := os.MkdirTemp("", "faultline-dedup-")
	if err != nil {
		return nil, fmt.Errorf("dedup: load state: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := os.WriteFile(filepath.Join(tmp, metaName), meta, 0o644); err != nil {
		return nil, fmt.Errorf("dedup: load state: %w", err)
	}
	for i := range probe.gens {
		if !probe.gens[i].live {
			continue
		}
		dir := filepath.Join(tmp, stateDirName, genPrefix+strconv.Itoa(i))
		if rest, err = writeGeneration(dir, rest, probe.gens[i].chunks); err != nil {
			return nil, bad("generation %d: %v", probe.gens[i].gen, err)
		}
	}
	if len(rest) != 0 {
		return nil, bad("%d trailing bytes", len(rest))
	}
	return Load(tmp, cfg)
}

// newDeduperShell returns a Deduper for cfg without fastcache memory, to
// decode metadata into.
func newDeduperShell(cfg Config) *Deduper {
	gens, chunks := geometry(cfg.MaxBytes)
	d := &Deduper{window: int64(cfg.Window), maxBytes: cfg.MaxBytes, width: genWidth(cfg.Window, gens), gens: make([]generation, gens)}
	for i := range d.gens {
		d.gens[i].chunks = chunks
	}
	return d
}

// writeGeneration writes the generation at the start of state, in canonical
// form, as fastcache files under dir, and returns the rest of state.
func writeGeneration(dir string, state []byte, chunks uint64) ([]byte, error) {
	r := frame.NewReader(state)
	maxChunks := r.U64()
	if r.Err() != nil || maxChunks != chunks {
		return nil, errors.New("bad chunk count")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "metadata.bin"), binary.LittleEndian.AppendUint64(nil, maxChunks), 0o644); err != nil {
		return nil, err
	}
	var data bytes.Buffer
	zw := snappy.NewBufferedWriter(&data)
	le := binary.LittleEndian
	zero := make([]byte, fcChunk)
	for bucket := uint64(0); bucket < fcBuckets; bucket++ {
		idx, gen, nkv := r.U64(), r.U64(), r.U64()
		if r.Err() != nil || nkv > uint64(r.Len())/16 {
			return nil, fmt.Errorf("bucket %d: truncated", bucket)
		}
		kvs := r.Take(int(nkv * 16))
		used, keep := r.U64(), r.U64()
		if r.Err() != nil || used > maxChunks || keep > used*fcChunk || keep > uint64(r.Len()) || idx > used*fcChunk {
			return nil, fmt.Errorf("bucket %d: bad chunks", bucket)
		}
		payload := r.Take(int(keep))
		var hdr []byte
		for _, v := range [...]uint64{bucket, idx, gen, nkv} {
			hdr = le.AppendUint64(hdr, v)
		}
		_, _ = zw.Write(hdr)
		_, _ = zw.Write(kvs)
		_, _ = zw.Write(le.AppendUint64(nil, used))
		_, _ = zw.Write(payload)
		for pad := used*fcChunk - keep; pad > 0; {
			k := min(pad, fcChunk)
			_, _ = zw.Write(zero[:k])
			pad -= k
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "data.0.bin"), data.Bytes(), 0o644); err != nil {
		return nil, err
	}
	return state[len(state)-r.Len():], nil
}
