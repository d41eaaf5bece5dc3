package dedup

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/VictoriaMetrics/fastcache"
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
// dedup.meta, version 1, little-endian: magic "FLTDEDUP"; u32 version; i64
// window; i64 maxBytes; u32 generations; u64 chunks per bucket; i64
// generation width; u8 has-watermark; i64 watermark; u64 counters fresh,
// duplicate, conflict, too late, overflow, rotations; u16 length and bytes of
// the snapshot directory name; per generation slot: u8 live, and if live i64
// generation, u64 sets, u64 entries, u64 wraps, 512 × u64 bucket offsets,
// 64 bytes of wrapped-bucket bitmap; and last a u32 CRC-32C of all of the
// above.
const (
	metaName    = "dedup.meta"
	metaMagic   = "FLTDEDUP"
	metaVersion = 1
	snapPrefix  = "snap-"
	genPrefix   = "gen-"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

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
	if err := writeFileAtomic(filepath.Join(path, metaName), d.appendMeta(nil, current, entries)); err != nil {
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

// appendMeta appends the metadata of d, whose generations were saved under
// the snapshot directory snap with entries keys each, to b.
func (d *Deduper) appendMeta(b []byte, snap string, entries []uint64) []byte {
	le := binary.LittleEndian
	b = append(b, metaMagic...)
	b = le.AppendUint32(b, metaVersion)
	b = le.AppendUint64(b, uint64(d.window))
	b = le.AppendUint64(b, uint64(d.maxBytes))
	b = le.AppendUint32(b, uint32(len(d.gens)))
	b = le.AppendUint64(b, d.gens[0].chunks)
	b = le.AppendUint64(b, uint64(d.width))
	b = appendBool(b, d.hasWM)
	b = le.AppendUint64(b, uint64(d.wm))
	c := &d.counts
	for _, n := range [...]uint64{c.fresh, c.duplicate, c.conflict, c.tooLate, c.overflow, c.rotations} {
		b = le.AppendUint64(b, n)
	}
	b = le.AppendUint16(b, uint16(len(snap)))
	b = append(b, snap...)
	for i := range d.gens {
		gen := &d.gens[i]
		b = appendBool(b, gen.live)
		if !gen.live {
			continue
		}
		b = le.AppendUint64(b, uint64(gen.gen))
		b = le.AppendUint64(b, gen.sets)
		b = le.AppendUint64(b, entries[i])
		b = le.AppendUint64(b, gen.wraps)
		for _, p := range gen.pos {
			b = le.AppendUint64(b, p)
		}
		var bits [fcBuckets / 8]byte
		for j, w := range gen.wrapped {
			if w {
				bits[j/8] |= 1 << (j % 8)
			}
		}
		b = append(b, bits[:]...)
	}
	return le.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// decodeMeta fills d, built by newDeduper from the Config given to Load,
// from the metadata raw. It returns the snapshot directory name and the key
// count of each generation. Errors other than ErrConfigMismatch describe a
// bad snapshot.
func (d *Deduper) decodeMeta(raw []byte) (snap string, entries []uint64, err error) {
	if len(raw) < len(metaMagic)+4+4 || string(raw[:len(metaMagic)]) != metaMagic {
		return "", nil, errors.New("not a dedup snapshot")
	}
	body := raw[:len(raw)-4]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(raw[len(raw)-4:]) {
		return "", nil, errors.New("checksum mismatch")
	}
	r := metaReader{b: body[len(metaMagic):]}
	if v := r.u32(); v != metaVersion {
		return "", nil, fmt.Errorf("unsupported version %d (this build reads version %d)", v, metaVersion)
	}
	window, maxBytes := int64(r.u64()), int64(r.u64())
	gens, chunks, width := r.u32(), r.u64(), int64(r.u64())
	if r.short {
		return "", nil, errors.New("truncated")
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
	d.hasWM, d.wm = r.bool(), int64(r.u64())
	c := &d.counts
	for _, n := range [...]*uint64{&c.fresh, &c.duplicate, &c.conflict, &c.tooLate, &c.overflow, &c.rotations} {
		*n = r.u64()
	}
	snap = string(r.bytes(int(r.u16())))
	entries = make([]uint64, len(d.gens))
	for i := range d.gens {
		gen := &d.gens[i]
		gen.live = r.bool()
		if !gen.live {
			continue
		}
		gen.gen, gen.sets, entries[i], gen.wraps = int64(r.u64()), r.u64(), r.u64(), r.u64()
		for j := range gen.pos {
			gen.pos[j] = r.u64()
		}
		bits := r.bytes(fcBuckets / 8)
		for j := range gen.wrapped {
			gen.wrapped[j] = !r.short && bits[j/8]&(1<<(j%8)) != 0
		}
	}
	switch {
	case r.short:
		return "", nil, errors.New("truncated")
	case len(r.b) != 0:
		return "", nil, fmt.Errorf("%d trailing bytes", len(r.b))
	case !strings.HasPrefix(snap, snapPrefix) || filepath.Base(snap) != snap:
		return "", nil, fmt.Errorf("bad snapshot directory name %q", snap)
	}
	return snap, entries, nil
}

// check verifies that the state decoded into d keeps the invariants Admit
// relies on: every live generation is in its own slot and not above the
// watermark, and every generation that meets [wm-window, wm] is live.
func (d *Deduper) check() error {
	top := floorDiv(d.wm, d.width)
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
	bottom := floorDiv(satSub(d.wm, d.window), d.width)
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

// metaReader reads little-endian fields; past the end it returns zeros and
// sets short.
type metaReader struct {
	b     []byte
	short bool
}

func (r *metaReader) bytes(n int) []byte {
	if r.short || n > len(r.b) {
		r.short = true
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *metaReader) bool() bool { b := r.bytes(1); return b != nil && b[0] != 0 }

func (r *metaReader) u16() uint16 {
	if b := r.bytes(2); b != nil {
		return binary.LittleEndian.Uint16(b)
	}
	return 0
}

func (r *metaReader) u32() uint32 {
	if b := r.bytes(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (r *metaReader) u64() uint64 {
	if b := r.bytes(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// satSub returns a-b for b >= 0, or math.MinInt64 if that underflows.
func satSub(a, b int64) int64 {
	if a < math.MinInt64+b {
		return math.MinInt64
	}
	return a - b
}

// writeFileAtomic replaces the file path with data: it writes a temporary
// file beside it, syncs it, renames it over path and syncs the directory.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return syncDir(dir)
}

// syncTree syncs every file and directory under root, since fastcache does
// not sync what it writes.
func syncTree(root string) error {
	return filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			return syncDir(p)
		}
		return syncPath(p)
	})
}

// syncDir syncs a directory so that renames and new entries in it are
// durable. Windows cannot sync directories; there it does nothing.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	return syncPath(dir)
}

// syncPath opens a file or directory, syncs it to disk and closes it.
func syncPath(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
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
