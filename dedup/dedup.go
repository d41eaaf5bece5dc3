package dedup

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/VictoriaMetrics/fastcache"
	"github.com/cespare/xxhash/v2"

	"github.com/faultline-go/faultline/internal/align"
	"github.com/faultline-go/faultline/metrics"
	"github.com/faultline-go/faultline/stream"
)

// Verdict is the judgment of one delivery. Its String form is the reason
// name used in logs and counters.
type Verdict uint8

const (
	// Fresh: the key (series, sample time) was not admitted before; it is now.
	Fresh Verdict = iota
	// Duplicate: the key was admitted before with the same value (bit for bit).
	Duplicate
	// Conflict: the key was admitted before with another value. The first
	// value wins and stays recorded.
	Conflict
	// TooLate: the sample time is more than Window behind the watermark, so
	// the Deduper cannot tell whether the key was admitted.
	TooLate
)

// String returns "fresh", "duplicate", "conflict" or "too_late".
func (v Verdict) String() string {
	switch v {
	case Fresh:
		return "fresh"
	case Duplicate:
		return "duplicate"
	case Conflict:
		return "conflict"
	case TooLate:
		return "too_late"
	}
	return "verdict(" + strconv.Itoa(int(v)) + ")"
}

// Defaults applied to zero Config fields.
const (
	// DefaultWindow is the Window of a zero Config.
	DefaultWindow = 15 * time.Minute
	// DefaultMaxBytes is the MaxBytes of a zero Config: 64 MiB.
	DefaultMaxBytes = 64 << 20
)

// Config configures a Deduper. The zero value is valid: every zero field
// takes its default.
type Config struct {
	// Window is how far behind the watermark (the highest sample time
	// admitted) a delivery is still judged; older deliveries are TooLate.
	// It is measured in sample time. It must not be negative.
	//
	// By default it is 15 minutes (DefaultWindow).
	Window time.Duration

	// MaxBytes bounds the memory that holds keys, for all generations
	// together. It must not be negative.
	//
	// The budget is split into 2 to 16 generations of equal size, chosen to
	// maximise the key rate it holds without overflow. fastcache cannot make
	// a cache smaller than 32 MiB and sizes caches in steps of 32 MiB, so
	// each generation is a multiple of 32 MiB: a budget that is not a
	// multiple of 32 MiB is rounded down, and any budget below 64 MiB is
	// raised to 64 MiB (two generations of 32 MiB). Stats.MaxBytes and
	// Stats.Generations report what was chosen.
	//
	// A budget holds about 1.1 million × (Stats.MaxBytes / 32 MiB) ×
	// (G-1)/G keys per Window before Stats.Overflow starts counting, G being
	// Stats.Generations: 1.1 million for 64 MiB, 7.7 million for 256 MiB.
	//
	// This memory is fastcache's, off the Go heap (mmap on Unix), taken in
	// 64 KiB chunks: a generation's first few thousand keys already take
	// 32 MiB (a chunk in each of its 512 buckets); after that it grows by 28
	// bytes per key up to its capacity. fastcache's index comes on top, on
	// the Go heap: 25 to 35 bytes per key held. Plan for up to about
	// 2.3 × MaxBytes of memory when every generation is full.
	//
	// By default it is 64 MiB (DefaultMaxBytes).
	MaxBytes int
}

// Sizes from fastcache v1.13.0 that the overflow mirror depends on (see
// generation.note). TestEvictionModel checks them against fastcache's
// behaviour and its own eviction counter.
const (
	fcBuckets   = 512                 // buckets per cache
	fcChunk     = 64 << 10            // bytes per chunk
	fcUnit      = fcBuckets * fcChunk // 32 MiB: minimum cache size and size step
	fcMaxChunks = 1<<40/fcChunk - 1   // fastcache panics at 2^40 bytes per bucket
	keyLen      = 16                  // series + sample time
	valLen      = 8                   // float64 bits
	entryBytes  = 4 + keyLen + valLen // fastcache's 2+2 byte length header, key, value
	maxGens     = 16                  // upper bound on generations
	noWatermark = math.MinInt64       // Watermark before the first admit
)

// normalize applies the defaults and validates cfg.
func (cfg Config) normalize() (Config, error) {
	if cfg.Window < 0 {
		return cfg, fmt.Errorf("dedup: Window must not be negative, got %v", cfg.Window)
	}
	if cfg.MaxBytes < 0 {
		return cfg, fmt.Errorf("dedup: MaxBytes must not be negative, got %d", cfg.MaxBytes)
	}
	if cfg.Window == 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if _, chunks := geometry(cfg.MaxBytes); chunks > fcMaxChunks {
		return cfg, fmt.Errorf("dedup: MaxBytes %d is too large for fastcache", cfg.MaxBytes)
	}
	return cfg, nil
}

// geometry splits maxBytes into gens generations of chunks fastcache chunks
// per bucket each (chunks·32 MiB per generation). A generation spans
// Window/(gens-1) of sample time, so the key rate held without overflow is
// proportional to chunks·(gens-1); geometry maximises that, preferring fewer
// generations on ties.
func geometry(maxBytes int) (gens int, chunks uint64) {
	units := maxBytes / fcUnit
	if units < 2 {
		return 2, 1
	}
	best := 0
	for g := 2; g <= maxGens && units/g > 0; g++ {
		c := units / g
		if c*(g-1) > best {
			best, gens, chunks = c*(g-1), g, uint64(c)
		}
	}
	return gens, chunks
}

// genWidth returns the sample-time span of one generation, ceil(window/(gens-1)).
func genWidth(window time.Duration, gens int) int64 {
	w, k := int64(window), int64(gens-1)
	width := w / k
	if w%k != 0 {
		width++
	}
	return width
}

// Deduper admits each (series, sample time) once inside a window of sample
// time; see the package documentation for the verdicts, the memory bound,
// the overflow policy and persistence.
//
// A Deduper is used by one goroutine at a time (an engine shard owns one);
// it is not safe for concurrent use. It starts no goroutines. Its keys live
// in off-heap fastcache memory that returns to fastcache's chunk pool only
// on Reset: call Reset when a Deduper is no longer needed.
type Deduper struct {
	window   int64 // Config.Window in nanoseconds
	maxBytes int   // normalized Config.MaxBytes
	width    int64 // sample time spanned by one generation
	gens     []generation

	hasWM bool  // something was admitted since New or Reset
	wm    int64 // highest sample time admitted, if hasWM

	counts counters

	key [keyLen]byte // scratch: the key of the delivery being judged
	val [valLen]byte // scratch: the value of the delivery being judged
	got []byte       // scratch: the value found by HasGet
}

// counters are the Stats counters that Save persists.
type counters struct {
	fresh, duplicate, conflict, tooLate, overflow, rotations uint64
}

// New returns an empty Deduper. It fails if cfg is invalid.
func New(cfg Config) (*Deduper, error) {
	cfg, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	return newDeduper(cfg), nil
}

// newDeduper builds an empty Deduper for a normalized cfg.
func newDeduper(cfg Config) *Deduper {
	gens, chunks := geometry(cfg.MaxBytes)
	d := &Deduper{
		window:   int64(cfg.Window),
		maxBytes: cfg.MaxBytes,
		width:    genWidth(cfg.Window, gens),
		gens:     make([]generation, gens),
		wm:       noWatermark,
		got:      make([]byte, 0, valLen),
	}
	for i := range d.gens {
		d.gens[i].chunks = chunks
		d.gens[i].cache = fastcache.New(int(chunks) * fcUnit)
	}
	return d
}

// Admit judges one delivery of (series, ts) carrying value, ts being the
// sample time in Unix nanoseconds, and records the key if it is Fresh.
//
// Admit never reports a key that was not admitted before as Duplicate or
// Conflict. It allocates nothing itself; fastcache's index grows as a
// generation fills (amortised, tens of bytes per Fresh key, see
// Config.MaxBytes).
func (d *Deduper) Admit(series stream.SeriesID, ts int64, value float64) Verdict {
	// TooLate: ts < wm-window, computed without overflow (wm-ts fits in a
	// uint64 whenever ts < wm).
	if d.hasWM && ts < d.wm && uint64(d.wm)-uint64(ts) > uint64(d.window) {
		d.counts.tooLate++
		return TooLate
	}
	binary.BigEndian.PutUint64(d.key[:8], uint64(series))
	binary.BigEndian.PutUint64(d.key[8:], uint64(ts))
	binary.BigEndian.PutUint64(d.val[:], math.Float64bits(value))
	g := align.FloorDiv(ts, d.width)

	if !d.hasWM || ts > d.wm {
		// Every admitted key has a sample time <= wm, so a key above the
		// watermark cannot have been admitted: no lookup is needed.
		d.advance(ts, g)
		d.record(g)
		return Fresh
	}

	gen := &d.gens[d.slot(g)]
	if !gen.live || gen.gen != g {
		// Unreachable: advance keeps every generation that meets
		// [wm-window, wm] live (see the package documentation).
		panic(fmt.Sprintf("dedup: generation %d of sample time %d is not live (watermark %d)", g, ts, d.wm))
	}
	var found bool
	d.got, found = gen.cache.HasGet(d.got[:0], d.key[:])
	if found {
		if string(d.got) == string(d.val[:]) {
			d.counts.duplicate++
			return Duplicate
		}
		d.counts.conflict++
		return Conflict
	}
	d.record(g)
	return Fresh
}

// record stores the current key and value in generation g, which is live,
// and counts a Fresh admit.
func (d *Deduper) record(g int64) {
	gen := &d.gens[d.slot(g)]
	gen.cache.Set(d.key[:], d.val[:])
	if gen.note(xxhash.Sum64(d.key[:])) {
		d.counts.overflow++
	}
	d.counts.fresh++
}

// advance moves the watermark up to ts, whose generation is g, making live
// every generation up to g that was not live yet. The generations they
// replace end before ts-window.
func (d *Deduper) advance(ts, g int64) {
	oldTop := align.FloorDiv(d.wm, d.width)
	for i := int64(0); i < int64(len(d.gens)); i++ {
		if i > 0 && g < math.MinInt64+i {
			break // ts is near math.MinInt64: no generation below g-i+1
		}
		ng := g - i
		if d.hasWM && ng <= oldTop {
			break // live already
		}
		gen := &d.gens[d.slot(ng)]
		if gen.live {
			d.counts.rotations++
		}
		gen.reset()
		gen.live, gen.gen = true, ng
	}
	d.hasWM, d.wm = true, ts
}

// slot returns the index in d.gens of generation g.
func (d *Deduper) slot(g int64) int {
	n := int64(len(d.gens))
	s := g % n
	if s < 0 {
		s += n
	}
	return int(s)
}

// Watermark returns the highest sample time admitted (Unix nanoseconds), or
// math.MinInt64 if nothing was admitted since New or Reset. A delivery with
// sample time ts is TooLate when ts < Watermark()-Window.
func (d *Deduper) Watermark() int64 {
	if !d.hasWM {
		return noWatermark
	}
	return d.wm
}

// Stats is a snapshot of a Deduper's counters and memory use.
type Stats struct {
	// Fresh, Duplicate, Conflict and TooLate count the deliveries judged
	// with each verdict.
	Fresh     uint64
	Duplicate uint64
	Conflict  uint64
	TooLate   uint64

	// Overflow counts the admits that may have evicted a key still inside
	// the window: Fresh keys written into a full fastcache bucket, each of
	// which overwrote the oldest key of that bucket. Such a key, if
	// delivered again, is admitted as Fresh a second time (a false admit,
	// never a false drop). Above zero, MaxBytes is too small for the key rate.
	Overflow uint64

	// Rotations counts the generations reset to make room for newer ones.
	Rotations uint64

	// Entries is the number of keys held. While Overflow grows it may
	// include some keys already overwritten.
	Entries uint64

	// BytesUsed is the fastcache chunk memory held by the live generations,
	// 32 MiB or more for each generation holding any key. fastcache's index
	// on the Go heap is not included (see Config.MaxBytes).
	BytesUsed uint64

	// MaxBytes is the capacity of all generations together (see
	// Config.MaxBytes for how it relates to the configured budget).
	MaxBytes uint64

	// Generations is the number of generations MaxBytes is split into.
	Generations int
}

// Overflow returns Stats().Overflow alone, without gathering the rest: cheap
// enough to read after every batch.
func (d *Deduper) Overflow() uint64 { return d.counts.overflow }

// Stats returns a snapshot of d's counters and memory use. It walks every
// fastcache bucket, so it is meant for periodic reporting, not for every
// delivery.
func (d *Deduper) Stats() Stats {
	s := Stats{
		Fresh:       d.counts.fresh,
		Duplicate:   d.counts.duplicate,
		Conflict:    d.counts.conflict,
		TooLate:     d.counts.tooLate,
		Overflow:    d.counts.overflow,
		Rotations:   d.counts.rotations,
		Generations: len(d.gens),
	}
	var fs fastcache.Stats
	for i := range d.gens {
		gen := &d.gens[i]
		s.MaxBytes += gen.chunks * fcUnit
		if gen.live {
			gen.cache.UpdateStats(&fs)
		}
	}
	s.Entries, s.BytesUsed = fs.EntriesCount, fs.BytesSize
	return s
}

// Reset returns d to the state New left it in: every key, the watermark and
// the counters are forgotten, and fastcache memory goes back to fastcache's
// chunk pool (it is not returned to the operating system).
func (d *Deduper) Reset() {
	for i := range d.gens {
		d.gens[i].reset()
	}
	d.hasWM, d.wm = false, noWatermark
	d.counts = counters{}
}

// generation is one fastcache cache and the state that goes with it.
type generation struct {
	cache  *fastcache.Cache
	chunks uint64 // 64 KiB chunks per bucket
	live   bool   // cache holds generation gen
	gen    int64  // generation number: sample times [gen·width, (gen+1)·width)
	sets   uint64 // keys Set since the last reset

	// The overflow mirror: fastcache's write offset in each bucket's ring
	// and whether the ring has wrapped, in which case every further Set in
	// that bucket overwrites its oldest key. wraps counts ring wraps, for
	// the test that checks the mirror against fastcache.
	pos     [fcBuckets]uint64
	wrapped [fcBuckets]bool
	wraps   uint64
}

// note mirrors fastcache's bucket.Set for a Set of one entry whose key hashes
// to h, and reports whether it overwrote an older key. Every entry has the
// same size, so once a ring has wrapped each Set overwrites exactly one
// older entry.
func (gen *generation) note(h uint64) (overwrote bool) {
	gen.sets++
	b := h % fcBuckets
	idx := gen.pos[b]
	next := idx + entryBytes
	if next/fcChunk > idx/fcChunk {
		// The entry does not fit in the current chunk: fastcache starts the
		// next chunk, or wraps to the first one.
		if next/fcChunk >= gen.chunks {
			next = entryBytes
			gen.wrapped[b] = true
			gen.wraps++
		} else {
			next = next/fcChunk*fcChunk + entryBytes
		}
	}
	gen.pos[b] = next
	return gen.wrapped[b]
}

// reset empties the generation and marks it not live.
func (gen *generation) reset() {
	if gen.sets > 0 {
		gen.cache.Reset() // skip for an empty cache: Reset allocates 512 maps
	}
	gen.live, gen.gen, gen.sets, gen.wraps = false, 0, 0, 0
	gen.pos = [fcBuckets]uint64{}
	gen.wrapped = [fcBuckets]bool{}
}

// AppendMetrics appends the deduper's memory and window figures as
// self-metrics (package metrics). Its verdict counts are the engine's
// (fault.Stats), so they are left out.
func (s *Stats) AppendMetrics(dst []metrics.Metric) []metrics.Metric {
	return append(dst,
		metrics.G("faultline_dedup_entries", "Keys the deduper holds.", float64(s.Entries)),
		metrics.G("faultline_dedup_bytes", "Memory the deduper's live generations hold (fastcache chunks, off the Go heap).", float64(s.BytesUsed)),
		metrics.G("faultline_dedup_max_bytes", "Memory the deduper may hold in all.", float64(s.MaxBytes)),
		metrics.C("faultline_dedup_rotations_total", "Generations reset to make room for newer ones.", s.Rotations),
	)
}
