package dedup

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

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

// Snapshot layout under the directory given to Save and Load: one file,
// dedup.meta, a frame (internal/frame: magic, version, length, CRC-32C) of
// magic "FLTDEDUP", version 3, whose body holds, in frame fields: i64
// window; i64 maxBytes; u32 generations; u64 slots a table may grow to;
// i64 generation width; bool has-watermark; i64 watermark; u64 counters
// fresh, duplicate, conflict, too late, overflow, rotations; per
// generation slot: bool live, and if live i64 generation, u64 table slots,
// u64 keys held, the occupancy bitmap as ceil(slots/64) × u64 (slot j is
// bit j%64 of word j/64), and each held slot in slot order as u64 series,
// u64 sample-time offset plus one, u64 value bits. A table's keys keep
// their slots, so the state is canonical: a Deduper restored from it saves
// the very same bytes.
//
// Version 1 and version 2 (fastcache generations in snap-* directories
// beside the metadata) are refused, naming both versions.
const (
	metaName    = "dedup.meta"
	metaMagic   = "FLTDEDUP"
	metaVersion = 3
	snapPrefix  = "snap-" // version 2's generation directories, removed by Save
)

// Save persists d (every live generation, the watermark and the counters)
// to the file dedup.meta under the directory path, creating the directory
// if needed, so that Load can restore it. Save is atomic: the file is
// written beside the old one, synced, and renamed into place. A crash
// during Save leaves the previous snapshot loadable. Leftovers of earlier
// snapshots under path are removed.
//
// path belongs to one Deduper: two Save calls on the same path must not run
// at once. d is not changed.
func (d *Deduper) Save(path string) (err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("dedup: save %s: %w", path, err)
		}
	}()
	if err := os.MkdirAll(path, 0o755); err != nil {
		return err
	}
	if err := frame.WriteFile(filepath.Join(path, metaName), d.appendFrame(nil)); err != nil {
		return err
	}
	removeStale(path)
	return nil
}

// Load restores a Deduper saved with Save under the directory path. Keys
// admitted before Save are Duplicate or Conflict after Load, and the
// watermark and counters are restored.
//
// If path holds no snapshot, the error wraps fs.ErrNotExist, so a caller can
// fall back to New. A corrupt, truncated or unknown-version snapshot gives an
// error wrapping ErrBadSnapshot. cfg must have the same Window as the saved
// Deduper and a MaxBytes that gives the same table size (Stats.MaxBytes),
// else the error wraps ErrConfigMismatch: keys are filed by generation and
// slot, whose width and count derive from both, so a snapshot cannot be
// refiled under another config. A caller that changes them on purpose falls
// back to New and accepts that a key admitted in the last Window before the
// restart may be admitted again.
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
	err = d.decode(raw)
	if errors.Is(err, ErrConfigMismatch) {
		return nil, fmt.Errorf("%w (%s)", err, metaPath)
	}
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrBadSnapshot, metaPath, err)
	}
	return d, nil
}

// appendFrame appends d's state as a frame (see the layout above) to b.
func (d *Deduper) appendFrame(b []byte) []byte {
	w := frame.Begin(b, metaMagic, metaVersion)
	w.I64(d.window)
	w.I64(int64(d.maxBytes))
	w.U32(uint32(len(d.gens)))
	w.U64(uint64(d.maxSlots))
	w.I64(d.width)
	w.Bool(d.hasWM)
	w.I64(d.wm)
	c := &d.counts
	for _, n := range [...]uint64{c.fresh, c.duplicate, c.conflict, c.tooLate, c.overflow, c.rotations} {
		w.U64(n)
	}
	for i := range d.gens {
		gen := &d.gens[i]
		w.Bool(gen.live)
		if !gen.live {
			continue
		}
		s := gen.t.slots
		w.I64(gen.gen)
		w.U64(uint64(len(s)))
		w.U64(uint64(gen.t.n))
		for j := 0; j < len(s); j += 64 {
			var bits uint64
			for k, e := range s[j:min(j+64, len(s))] {
				if e.off != 0 {
					bits |= 1 << k
				}
			}
			w.U64(bits)
		}
		for _, e := range s {
			if e.off != 0 {
				w.U64(e.series)
				w.U64(e.off)
				w.U64(e.value)
			}
		}
	}
	return w.Finish()
}

// decode fills d, built by newDeduper from the Config given to Load, from
// the frame raw. Errors other than ErrConfigMismatch describe a bad
// snapshot.
func (d *Deduper) decode(raw []byte) error {
	v, r, err := frame.Open(raw, metaMagic)
	// The version is checked first, whenever Open could read one: a frame
	// of another version need not pass this version's length check.
	if (err == nil || v != 0) && v != metaVersion {
		return fmt.Errorf("unsupported version %d (this build reads version %d)", v, metaVersion)
	}
	if err != nil {
		if !bytes.HasPrefix(raw, []byte(metaMagic)) {
			return fmt.Errorf("not a dedup snapshot: %w", err)
		}
		return err
	}
	window, maxBytes := r.I64(), r.I64()
	gens, slots, width := r.U32(), r.U64(), r.I64()
	if err := r.Err(); err != nil {
		return err
	}
	if window != d.window || gens != uint32(len(d.gens)) || slots != uint64(d.maxSlots) {
		return fmt.Errorf("%w: saved with Window=%v MaxBytes=%d (%d generations × %d slots), "+
			"config has Window=%v MaxBytes=%d (%d generations × %d slots)",
			ErrConfigMismatch, time.Duration(window), maxBytes, gens, slots,
			time.Duration(d.window), d.maxBytes, len(d.gens), d.maxSlots)
	}
	if width != d.width {
		return fmt.Errorf("generation width %d, want %d", width, d.width)
	}
	d.hasWM, d.wm = r.Bool(), r.I64()
	c := &d.counts
	for _, n := range [...]*uint64{&c.fresh, &c.duplicate, &c.conflict, &c.tooLate, &c.overflow, &c.rotations} {
		*n = r.U64()
	}
	// The watermark's generation and its offset in it, plus one: every key
	// of that generation must be at or below it, as Admit takes a key
	// above the watermark for one never admitted and files it in the
	// slot find returns without looking whether it is held. (Without a
	// watermark, check refuses every live generation.)
	wmGen := align.FloorDiv(d.wm, d.width)
	wmOff := uint64(d.wm) - uint64(wmGen)*uint64(d.width) + 1
	for i := range d.gens {
		gen := &d.gens[i]
		if gen.live = r.Bool(); !gen.live {
			continue
		}
		gen.gen = r.I64()
		size, n := r.U64(), r.U64()
		if r.Err() != nil {
			break
		}
		if size == 0 && n == 0 {
			continue // live, but no key has come yet
		}
		words := (size + 63) / 64
		// Checked against the bytes left before anything is allocated. A
		// table smaller than New makes (minSlots, or the bound if lower)
		// could hold no key once grown, and insert would find none to
		// evict.
		if size > uint64(d.maxSlots) || size < uint64(min(minSlots, d.maxSlots)) ||
			n > uint64(limit(int(size))) || n >= size ||
			words*8+n*entryBytes > uint64(r.Len()) {
			return fmt.Errorf("generation %d: %d keys in %d slots do not fit", gen.gen, n, size)
		}
		gen.t = table{slots: make([]entry, size), n: int(n)}
		bitmap := r.Take(int(words * 8))
		held := uint64(0)
		for j := range gen.t.slots {
			if bitmap[j/8]&(1<<(j%8)) == 0 {
				continue
			}
			if held++; held > n {
				break
			}
			e := entry{series: r.U64(), off: r.U64(), value: r.U64()}
			if e.off == 0 || e.off > uint64(d.width) {
				return fmt.Errorf("generation %d: slot %d: offset %d out of range", gen.gen, j, e.off)
			}
			if gen.gen == wmGen && e.off > wmOff {
				return fmt.Errorf("generation %d: slot %d: offset %d is above the watermark %d (offset %d)",
					gen.gen, j, e.off, d.wm, wmOff)
			}
			gen.t.slots[j] = e
		}
		if held != n {
			return fmt.Errorf("generation %d: %d slots held, want %d", gen.gen, held, n)
		}
		if !gen.t.reachable() {
			return fmt.Errorf("generation %d: a key is not where a lookup finds it", gen.gen)
		}
		if j, ok := gen.t.twice(); ok {
			e := gen.t.slots[j]
			return fmt.Errorf("generation %d: slot %d: key (series %d, offset %d) held twice", gen.gen, j, e.series, e.off)
		}
	}
	if err := r.Done(); err != nil {
		return err
	}
	if d.hasWM {
		d.setTop(align.FloorDiv(d.wm, d.width))
	}
	return d.check()
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

// removeStale removes, best effort, what earlier snapshots left under path:
// version 2's generation directories and temporary metadata files. What it
// misses is removed by the next Save.
func removeStale(path string) {
	entries, err := os.ReadDir(path)
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, snapPrefix) || strings.HasPrefix(name, metaName+".tmp-") {
			_ = os.RemoveAll(filepath.Join(path, name))
		}
	}
}
