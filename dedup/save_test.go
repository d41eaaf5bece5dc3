package dedup

import (
	"encoding/binary"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/internal/frame"
	"github.com/faultline-go/faultline/stream"
)

// load is Load that Resets the Deduper when the test ends.
func load(t *testing.T, path string, cfg Config) *Deduper {
	t.Helper()
	d, err := Load(path, cfg)
	require.NoError(t, err)
	t.Cleanup(d.Reset)
	return d
}

// counterStats returns s without the memory held, which a round trip
// need not preserve: tables of generations that are not live are not
// saved.
func counterStats(s Stats) Stats {
	s.BytesUsed = 0
	return s
}

func TestSaveLoadRoundTrip(t *testing.T) {
	const w = 15 * minute
	for _, mb := range []int{0, 256 << 20} {
		cfg := Config{Window: time.Duration(w), MaxBytes: mb}
		d := newTest(t, cfg)
		// Keys over 40 min of sample time, so generations have rotated,
		// plus a duplicate, a conflict and a too-late delivery.
		const series = 50
		for i := range int64(240) {
			for s := range stream.SeriesID(series) {
				require.Equal(t, Fresh, d.Admit(s, t0+i*10*sec, float64(s)))
			}
		}
		wm := d.Watermark()
		require.Equal(t, Duplicate, d.Admit(1, wm, 1))
		require.Equal(t, Conflict, d.Admit(1, wm, 2))
		require.Equal(t, TooLate, d.Admit(1, t0, 1))
		before := d.Stats()
		require.Positive(t, before.Rotations)

		dir := filepath.Join(t.TempDir(), "dedup")
		require.NoError(t, d.Save(dir))
		require.Equal(t, before, d.Stats(), "Save does not change d")

		r := load(t, dir, cfg)
		require.Equal(t, wm, r.Watermark())
		require.Equal(t, counterStats(before), counterStats(r.Stats()))
		require.Equal(t, liveGens(d.gens[:]), liveGens(r.gens[:]), "live generations, slot by slot")
		require.Equal(t, d.counts, r.counts)

		// Every key still inside the window is a Duplicate (or a Conflict
		// with another value), the older ones are TooLate, and new keys are
		// Fresh: the restart re-admits nothing.
		for i := range int64(240) {
			ts := t0 + i*10*sec
			for s := range stream.SeriesID(series) {
				want := Duplicate
				if ts < wm-w {
					want = TooLate
				}
				require.Equal(t, want, r.Admit(s, ts, float64(s)), "series %d ts %d", s, ts)
				if want == Duplicate && s == 0 {
					require.Equal(t, Conflict, r.Admit(s, ts, -1))
				}
			}
		}
		require.Equal(t, Fresh, r.Admit(series, wm, 0))
		require.Equal(t, Fresh, r.Admit(0, wm+w, 0)) // rotation goes on after Load
		require.Equal(t, TooLate, r.Admit(0, wm-1, 0))
	}
}

// liveGens returns a copy of gens in which those not live are zero: their
// tables are kept for reuse, but not saved.
func liveGens(gens []generation) []generation {
	gens = append([]generation(nil), gens...)
	for i := range gens {
		if !gens[i].live {
			gens[i] = generation{}
		}
	}
	return gens
}

func TestSaveOverwritesAndCleansUp(t *testing.T) {
	dir := t.TempDir()
	d := newTest(t, Config{})
	require.Equal(t, Fresh, d.Admit(1, t0, 1))
	require.NoError(t, d.Save(dir))
	require.Equal(t, Fresh, d.Admit(2, t0, 1))
	require.NoError(t, d.Save(dir))

	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	require.Len(t, names, 1, "the metadata file alone: %v", names)
	require.Contains(t, names, metaName)

	r := load(t, dir, Config{})
	require.Equal(t, Duplicate, r.Admit(1, t0, 1))
	require.Equal(t, Duplicate, r.Admit(2, t0, 1), "the latest Save wins")
}

func TestSaveEmpty(t *testing.T) {
	dir := t.TempDir()
	d := newTest(t, Config{})
	require.NoError(t, d.Save(dir))
	r := load(t, dir, Config{})
	require.Equal(t, d.Watermark(), r.Watermark())
	require.Equal(t, Fresh, r.Admit(1, t0, 1))
}

func TestLoadMissing(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope"), Config{})
	require.ErrorIs(t, err, fs.ErrNotExist)

	// An existing directory without a committed snapshot, as a crash
	// during the first Save leaves it, is missing too.
	dir := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(dir, snapPrefix+"123"), 0o755))
	_, err = Load(dir, Config{})
	require.ErrorIs(t, err, fs.ErrNotExist)
}

func TestLoadInvalidConfig(t *testing.T) {
	_, err := Load(t.TempDir(), Config{Window: -1})
	require.ErrorContains(t, err, "Window must not be negative")
}

// saved returns a directory with a small saved Deduper.
func saved(t *testing.T, cfg Config) string {
	t.Helper()
	d := newTest(t, cfg)
	for i := range int64(100) {
		d.Admit(stream.SeriesID(i), t0+i*sec, 1)
	}
	dir := t.TempDir()
	require.NoError(t, d.Save(dir))
	return dir
}

func TestLoadConfigMismatch(t *testing.T) {
	dir := saved(t, Config{})
	f := func(cfg Config) {
		t.Helper()
		_, err := Load(dir, cfg)
		require.ErrorIs(t, err, ErrConfigMismatch)
		require.NotErrorIs(t, err, ErrBadSnapshot)
		require.ErrorContains(t, err, "saved with Window=15m0s MaxBytes=67108864")
	}
	f(Config{Window: time.Minute})
	f(Config{MaxBytes: 256 << 20})

	// A MaxBytes that gives the same table size is the same geometry.
	load(t, dir, Config{Window: DefaultWindow, MaxBytes: 64<<20 + entryBytes})
}

func TestLoadBadSnapshot(t *testing.T) {
	dir := saved(t, Config{})
	metaPath := filepath.Join(dir, metaName)
	good, err := os.ReadFile(metaPath)
	require.NoError(t, err)

	// resealed returns meta with a fresh checksum, so that its content
	// checks are reached.
	resealed := func(meta []byte) []byte {
		body := meta[:len(meta)-4]
		return binary.LittleEndian.AppendUint32(body[:len(body):len(body)], frame.Checksum(body))
	}
	f := func(meta []byte, want string) {
		t.Helper()
		require.NoError(t, os.WriteFile(metaPath, meta, 0o644))
		_, err := Load(dir, Config{})
		require.ErrorIs(t, err, ErrBadSnapshot)
		require.NotErrorIs(t, err, fs.ErrNotExist)
		require.ErrorContains(t, err, want)
	}
	flipped := append([]byte(nil), good...)
	flipped[len(metaMagic)+20] ^= 0x40
	f(flipped, "checksum mismatch")
	f(good[:len(good)/2], "present") // the frame's length check comes first
	f(nil, "not a dedup snapshot")
	f([]byte("hello, world, this is not a snapshot"), "not a dedup snapshot")

	v4 := append([]byte(nil), good...)
	binary.LittleEndian.PutUint32(v4[len(metaMagic):], metaVersion+1)
	f(resealed(v4), "unsupported version 4")

	// A watermark the live generations do not cover. The body starts
	// after the frame's magic, version and length.
	const head = frame.MagicLen + 4 + 8
	wm := append([]byte(nil), good...)
	off := head + 8 + 8 + 4 + 8 + 8 + 1
	binary.LittleEndian.PutUint64(wm[off:], binary.LittleEndian.Uint64(wm[off:])+uint64(time.Hour))
	f(resealed(wm), "is missing")

	// The first live generation's table: its slot count and key count,
	// then the occupancy bitmap and the keys.
	off += 8 + 6*8 // the watermark, the counters
	var size, n uint64
	for {
		if good[off] == 0 {
			off++ // a generation that is not live
			continue
		}
		off += 1 + 8 // live, generation number
		size = binary.LittleEndian.Uint64(good[off:])
		n = binary.LittleEndian.Uint64(good[off+8:])
		if size > 0 {
			break
		}
		off += 16 // live, but without a table yet
	}
	require.Equal(t, uint64(minSlots), size)
	require.Positive(t, n)
	patch := func(at int, v uint64, want string) {
		t.Helper()
		b := append([]byte(nil), good...)
		binary.LittleEndian.PutUint64(b[at:], v)
		f(resealed(b), want)
	}
	patch(off, 1<<40, "do not fit")       // more slots than the bound
	patch(off+8, size, "do not fit")      // no empty slot
	patch(off+8, 1<<50, "do not fit")     // more keys than bytes
	patch(off+8, n-1, "slots held, want") // the bitmap holds more
	bitmap := off + 16
	keys := bitmap + int(size/8)
	patch(keys+8, 0, "out of range")              // a key's offset: empty
	patch(keys+8, 1<<62, "out of range")          // past its generation
	patch(keys, 12345, "where a lookup finds it") // another series: not at its home
}

// TestLoadRefusesOldVersions: metadata that earlier builds saved is
// refused, and the error names both versions: version 1
// (testdata/v1/dedup.meta, written by Save before the metadata became a
// frame) and version 2 (testdata/v2/dedup.meta, fastcache generations;
// their directories are not needed to refuse it).
func TestLoadRefusesOldVersions(t *testing.T) {
	for _, v := range []string{"1", "2"} {
		_, err := Load(filepath.Join("testdata", "v"+v), Config{})
		require.ErrorIs(t, err, ErrBadSnapshot)
		require.NotErrorIs(t, err, fs.ErrNotExist)
		require.ErrorContains(t, err, "unsupported version "+v+" (this build reads version 3)")

		meta, err := os.ReadFile(filepath.Join("testdata", "v"+v, metaName))
		require.NoError(t, err)
		_, err = LoadState(meta, Config{})
		require.ErrorIs(t, err, ErrBadSnapshot)
		require.ErrorContains(t, err, "unsupported version "+v+" (this build reads version 3)")
	}
}

// TestSaveRemovesVersion2: a Save over a directory that holds a version 2
// snapshot replaces its metadata and removes its generation directories.
func TestSaveRemovesVersion2(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(dir, snapPrefix+"123"), 0o755))
	meta, err := os.ReadFile(filepath.Join("testdata", "v2", metaName))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, metaName), meta, 0o644))
	d := newTest(t, Config{})
	require.Equal(t, Fresh, d.Admit(1, t0, 1))
	require.NoError(t, d.Save(dir))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1)
	require.Equal(t, Duplicate, load(t, dir, Config{}).Admit(1, t0, 1))
}

func TestSaveError(t *testing.T) {
	// path is a file: Save fails and says where.
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	d := newTest(t, Config{})
	err := d.Save(file)
	require.Error(t, err)
	require.True(t, strings.HasPrefix(err.Error(), "dedup: save "+file), err.Error())
}
