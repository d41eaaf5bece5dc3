package dedup

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/VictoriaMetrics/fastcache"

	"github.com/faultline-go/faultline/internal/align"
	"github.com/faultline-go/faultline/internal/frame"
)

// Errors returned by Load, matchable with errors.Is. A missing snapshot is
// reported with an error wrapping fs.ErrNotExist instead.
var (
	// ErrBadSnapshot means the snapshot cannot be read: it is corrupt,
	// truncated, inconsistent or of a version this build does not know.
	ErrBadSnapshot = errors.New("dedup: unreadable snapshot")

	// ErrConfigMismatch means the snapshot was saved under another Window
	// or another memory geometry than the Config given to Load.
	ErrConfigMismatch = errors.New("dedup: snapshot config mismatch")
)

// Snapshot layout under the directory given to Save and Load:
//
//	dedup.meta          metadata, the commit point (format below)
//	snap-<random>/      the generations of the snapshot dedup.meta names
//	    gen-<slot>/     one fastcache SaveToFile directory per live generation
//
// dedup.meta is a frame (internal/frame: magic, version, length, CRC-32C)
// of magic "FLTDEDUP", version 2, whose body holds, in frame fields: i64
// window; i64 maxBytes; u32 generations; u64 chunks per bucket; i64
// generation width; bool has-watermark; i64 watermark; u64 counters fresh,
// duplicate, conflict, too late, overflow, rotations; the snapshot
// directory name as a string; per generation slot: bool live, and if live
// i64 generation, u64 sets, u64 entries, u64 wraps, 512 × u64 bucket
// offsets, and the wrapped-bucket bitmap as 8 × u64 (bucket j is bit j%64
// of word j/64). Version 1, the same fields in a layout of its own, is
// refused.
const (
	metaName    = "dedup.meta"
	metaMagic   = "FLTDEDUP"
	metaVersion = 2
	snapPrefix  = "snap-"
	genPrefix   = "gen-"
)

// Save persists d (every live generation, the watermark, the counters and
// the overflow mirror) under the directory path, creating it if needed, so
// that Load can restore it. Save is atomic: the new snapshot is written
// beside the old one, and a metadata file naming it is renamed into place
// last, after everything was synced to disk. A crash during Save leaves the
// previous snapshot loadable. Once the new snapshot is in place, older ones
// under path are removed.
//
// path belongs to one Deduper: two Save calls on the same path must not run
// at once. d is not changed. fastcache saves each generation with one
// short-lived worker goroutine that ends before Save returns.
func (d *Deduper) Save(path string) (err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("dedup: save %s: %w", path, err)
		}
	}()
	if err := os.MkdirAll(path, 0o755); err != nil {
		return err
	}
	snap, err := os.MkdirTemp(path, snapPrefix)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(snap)
		}
	}()

	entries := make([]uint64, len(d.gens))
	for i := range d.gens {
		gen := &d.gens[i]
		if !gen.live {
			continue
		}
		if err := gen.cache.SaveToFile(filepath.Join(snap, genPrefix+strconv.Itoa(i))); err != nil {
			return err
		}
		var fs fastcache.Stats
		gen.cache.UpdateStats(&fs)
		entries[i] = fs.EntriesCount
	}
	if err := syncTree(snap); err != nil {
		return err
	}
	current := filepath.Base(snap)
	if err := frame.WriteFile(filepath.Join(path, metaName), d.appendMeta(nil, current, entries)); err != nil {
		return err
	}
	removeStale(path, current)
	return nil
}

// Load restores a Deduper saved with Save under the directory path. Keys
// admitted before Save are Duplicate or Conflict after Load, and the
// watermark and counters are restored.
//
// If path holds no snapshot, the error wraps fs.ErrNotExist, so a caller can
// fall back to New. A corrupt, truncated or unknown-version snapshot gives an
// error wrapping ErrBadSnapshot. cfg must have the same Window as the saved
// Deduper and a MaxBytes that gives the same generations (Stats.Generations
// and Stats.MaxBytes), else the error wraps ErrConfigMismatch: keys are
// filed by generation, whose width and count derive from both, so a snapshot
// cannot be refiled under another config. A caller that changes them on
// purpose falls back to New and accepts that a key admitted in the last
// Window before the restart may be admitted again.
//
// Like Save, Load uses fastcache's short-lived worker goroutines, which end
// before it returns. Call Reset on the result when it is no longer needed.
func Load(path string, cfg Config) (*Deduper, error) {
	cfg, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	metaPath := filepath.Join(path, metaName)
	raw, err := os.ReadFile(metaPath)
	if err != nil {
		return nil, fmt.Errorf("dedup: load %s: %w", path, err)
	}
	d := newDeduper(cfg)
	snap, entries, err := d.decodeMeta(raw)
	if errors.Is(err, ErrConfigMismatch) {
		return nil, fmt.Errorf("%w (%s)", err, metaPath)
	}
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrBadSnapshot, metaPath, err)
	}
	if err := d.check(); err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrBadSnapshot, metaPath, err)
	}
	for i := range d.gens {
		gen := &d.gens[i]
		if !gen.live {
			continue
		}
		dir := filepath.Join(path, snap, genPrefix+strconv.Itoa(i))
		c, err := fastcache.LoadFromFileMaxBytes(dir, int(gen.chunks)*fcUnit)
		if err == nil {
			gen.cache = c
			var fs fastcache.Stats
			c.UpdateStats(&fs)
			if fs.EntriesCount != entries[i] {
				err = fmt.Errorf("%d keys, want %d", fs.EntriesCount, entries[i])
			}
		}
		if err != nil {
			d.Reset()
			// %v, not %w: a missing generation is a broken snapshot, not
			// a missing one.
			return nil, fmt.Errorf("%w %s: generation %d: %v", ErrBadSnapshot, dir, gen.gen, err)
		}
	}
	return d, nil
}

// appendMeta appends the metadata frame of d, whose generations were saved
// under the snapshot directory snap with entries keys each, to b.
func (d *Deduper) appendMeta(b []byte, snap string, entries []uint64) []byte {
	w := frame.Begin(b, metaMagic, metaVersion)
	w.I64(d.window)
	w.I64(int64(d.maxBytes))
	w.U32(uint32(len(d.gens)))
	w.U64(d.gens[0].chunks)
	w.I64(d.width)
	w.Bool(d.hasWM)
	w.I64(d.wm)
	c := &d.counts
	for _, n := range [...]uint64{c.fresh, c.duplicate, c.conflict, c.tooLate, c.overflow, c.rotations} {
		w.U64(n)
	}
	w.Str(snap)
	for i := range d.gens {
		gen := &d.gens[i]
		w.Bool(gen.live)
		if !gen.live {
			continue
		}
		w.I64(gen.gen)
		w.U64(gen.sets)
		w.U64(entries[i])
		w.U64(gen.wraps)
		for _, p := range gen.pos {
			w.U64(p)
		}
		var bits [fcBuckets / 64]uint64
		for j, wr := range gen.wrapped {
			if wr {
				bits[j/64] |= 1 << (j % 64)
			}
		}
		for _, x := range bits {
			w.U64(x)
		}
	}
	return w.Finish()
}

// decodeMeta fills d, built by newDeduper from the Config given to Load,
// from the metadata frame raw. It returns the snapshot directory name and
// the key count of each generation. Errors other than ErrConfigMismatch
// describe a bad snapshot.
func (d *Deduper) decodeMeta(raw []byte) (snap string, entries []uint64, err error) {
	v, r, err := frame.Open(raw, metaMagic)
	// The version is checked first, whenever Open could read one: a frame
	// of another version need not pass this version's length check.
	if (err == nil || v != 0) && v != metaVersion {
		return "", nil, fmt.Errorf("unsupported version %d (this build reads version %d)", v, metaVersion)
	}
	if err != nil {
		if !bytes.HasPrefix(raw, []byte(metaMagic)) {
			return "", nil, fmt.Errorf("not a dedup snapshot: %w", err)
		}
		return "", nil, err
	}
	window, maxBytes := r.I64(), r.I64()
	gens, chunks, width := r.U32(), r.U64(), r.I64()
	if err := r.Err(); err != nil {
		return "", nil, err
	}
	if window != d.window || gens != uint32(len(d.gens)) || chunks != d.gens[0].chunks {
		return "", nil, fmt.Errorf("%w: saved with Window=%v MaxBytes=%d (%d generations × %d MiB), "+
			"config has Window=%v MaxBytes=%d (%d generations × %d MiB)",
			ErrConfigMismatch, time.Duration(window), maxBytes, gens, chunks*fcUnit>>20,
			time.Duration(d.window), d.maxBytes, len(d.gens), d.gens[0].chunks*fcUnit>>20)
	}
	if width != d.width {
		return "", nil, fmt.Errorf("generation width %d, want %d", width, d.width)
	}
	d.hasWM, d.wm = r.Bool(), r.I64()
	c := &d.counts
	for _, n := range [...]*uint64{&c.fresh, &c.duplicate, &c.conflict, &c.tooLate, &c.overflow, &c.rotations} {
		*n = r.U64()
	}
	snap = r.Str()
	entries = make([]uint64, len(d.gens))
	for i := range d.gens {
		gen := &d.gens[i]
		gen.live = r.Bool()
		if !gen.live {
			continue
		}
		gen.gen, gen.sets, entries[i], gen.wraps = r.I64(), r.U64(), r.U64(), r.U64()
		for j := range gen.pos {
			gen.pos[j] = r.U64()
		}
		for j := 0; j < fcBuckets; j += 64 {
			bits := r.U64()
			for k := range 64 {
				gen.wrapped[j+k] = bits&(1<<k) != 0
			}
		}
	}
	if err := r.Done(); err != nil {
		return "", nil, err
	}
	if !strings.HasPrefix(snap, snapPrefix) || filepath.Base(snap) != snap {
		return "", nil, fmt.Errorf("bad snapshot directory name %q", snap)
	}
	return snap, entries, nil
}

// check verifies that the state decoded into d keeps the invariants Admit
// relies on: every live generation is in its own slot and not above the
// watermark, and every generation that meets [wm-window, wm] is live.
func (d *Deduper) check() error {
	top := align.FloorDiv(d.wm, d.width)
	for i := range d.gens {
		gen := &d.gens[i]
		if !gen.live {
			continue
		}
		if !d.hasWM || d.slot(gen.gen) != i || gen.gen > top {
			return fmt.Errorf("generation %d in slot %d does not fit watermark %d", gen.gen, i, d.wm)
		}
		for _, p := range gen.pos {
			if p > gen.chunks*fcChunk {
				return fmt.Errorf("generation %d: bucket offset %d out of range", gen.gen, p)
			}
		}
	}
	if !d.hasWM {
		return nil
	}
	bottom := align.FloorDiv(satSub(d.wm, d.window), d.width)
	if top-bottom >= int64(len(d.gens)) {
		return fmt.Errorf("watermark %d spans too many generations", d.wm)
	}
	for g := bottom; g <= top; g++ {
		if gen := &d.gens[d.slot(g)]; !gen.live || gen.gen != g {
			return fmt.Errorf("generation %d is missing", g)
		}
	}
	return nil
}

// satSub returns a-b for b >= 0, or math.MinInt64 if that underflows.
func satSub(a, b int64) int64 {
	if a < math.MinInt64+b {
		return math.MinInt64
	}
	return a - b
}

// syncTree syncs every file and directory under root, since fastcache does
// not sync what it writes.
func syncTree(root string) error {
	return filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			return frame.SyncDir(p)
		}
		return frame.SyncPath(p)
	})
}

// removeStale removes, best effort, the snapshots under path other than
// current and leftover temporary metadata files. What it misses is removed
// by the next Save.
func removeStale(path, current string) {
	entries, err := os.ReadDir(path)
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		if (strings.HasPrefix(name, snapPrefix) && name != current) || strings.HasPrefix(name, metaName+".tmp-") {
			_ = os.RemoveAll(filepath.Join(path, name))
		}
	}
}
