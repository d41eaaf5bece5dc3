package dedup

import (
	"fmt"
	"math"
	"strconv"
	"time"

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
	// together. It must not be negative; a budget below 1 MiB is raised to
	// 1 MiB (MinMaxBytes).
	//
	// The budget is split into 8 generations (Stats.Generations), each a
	// table of 24-byte slots that starts small (or at the size of the
	// generation before it), doubles as it fills and never takes more
	// than MaxBytes/8; Stats.MaxBytes reports the
	// capacity in whole slots. A table holds keys up to three quarters of
	// its slots, so the budget holds MaxBytes/32 keys in all, and
	// 7/8 of that, about MaxBytes/37 keys (1.8 million for 64 MiB), per
	// Window before Stats.Overflow starts counting: a Window spans seven
	// generations' worth of sample time.
	//
	// The tables are ordinary Go memory without pointers: the garbage
	// collector never scans them. Memory grows with the keys held, from a
	// few hundred kilobytes, up to MaxBytes; a table keeps its size when
	// its generation is recycled, and Reset releases them all. While a
	// table doubles, the old one is garbage until the next collection.
	//
	// By default it is 64 MiB (DefaultMaxBytes).
	MaxBytes int
}

// Geometry of the tables.
const (
	// MinMaxBytes is the smallest byte budget: a smaller Config.MaxBytes
	// is raised to it.
	MinMaxBytes = 1 << 20
	// maxMaxBytes is the largest byte budget accepted.
	maxMaxBytes = 1 << 40
	// gensCount is the number of generations: a Window spans gensCount-1
	// of them, and the oldest is recycled as the watermark moves on.
	gensCount   = 8
	noWatermark = math.MinInt64 // Watermark before the first admit
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
	if cfg.MaxBytes > maxMaxBytes {
		return cfg, fmt.Errorf("dedup: MaxBytes %d is too large (at most %d)", cfg.MaxBytes, maxMaxBytes)
	}
	cfg.MaxBytes = max(cfg.MaxBytes, MinMaxBytes)
	return cfg, nil
}

// tableSlots returns the slots each of the gensCount tables may grow to
// under a budget of maxBytes.
func tableSlots(maxBytes int) int {
	return maxBytes / (gensCount * entryBytes)
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
// it is not safe for concurrent use. It starts no goroutines.
type Deduper struct {
	window   int64 // Config.Window in nanoseconds
	maxBytes int   // normalized Config.MaxBytes
	width    int64 // sample time spanned by one generation
	maxSlots int   // slots a generation's table may grow to
	gens     [gensCount]generation

	hasWM    bool   // something was admitted since New or Reset
	wm       int64  // highest sample time admitted, if hasWM
	top      int64  // generation of wm, if hasWM
	topAt    uint64 // uint64(top·width), wrapping: where generation top starts
	topExact bool   // top·width is an int64 (it is not only for the lowest generation)

	counts counters
	warmed uint64 // what Warm read, so that its reads are not optimised away
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

// newDeduper builds an empty Deduper for a normalized cfg. Tables are
// allocated as keys arrive.
func newDeduper(cfg Config) *Deduper {
	return &Deduper{
		window:   int64(cfg.Window),
		maxBytes: cfg.MaxBytes,
		width:    genWidth(cfg.Window, gensCount),
		maxSlots: tableSlots(cfg.MaxBytes),
		wm:       noWatermark,
	}
}

// Admit judges one delivery of (series, ts) carrying value, ts being the
// sample time in Unix nanoseconds, and records the key if it is Fresh.
//
// Admit never reports a key that was not admitted before as Duplicate or
// Conflict. It allocates only when a generation's table doubles.
func (d *Deduper) Admit(series stream.SeriesID, ts int64, value float64) Verdict {
	// TooLate: ts < wm-window, computed without overflow (wm-ts fits in a
	// uint64 whenever ts < wm).
	if d.hasWM && ts < d.wm && uint64(d.wm)-uint64(ts) > uint64(d.window) {
		d.counts.tooLate++
		return TooLate
	}
	g := d.top
	off, ok := d.inTop(ts) // locate's common case, inlined
	if !ok {
		g, off = d.locate(ts)
	}
	v := math.Float64bits(value)
	if !d.hasWM || ts > d.wm {
		// Every admitted key has a sample time <= wm, so a key above the
		// watermark cannot have been admitted: only an empty slot is
		// looked for.
		d.advance(ts, g)
		gen := &d.gens[d.slot(g)]
		j := 0
		if len(gen.t.slots) > 0 {
			j, _ = gen.t.find(uint64(series), off)
		}
		d.record(gen, j, uint64(series), off, v)
		return Fresh
	}
	gen := &d.gens[d.slot(g)]
	if !gen.live || gen.gen != g {
		// Unreachable: advance keeps every generation that meets
		// [wm-window, wm] live (see the package documentation).
		panic(fmt.Sprintf("dedup: generation %d of sample time %d is not live (watermark %d)", g, ts, d.wm))
	}
	j := 0
	if len(gen.t.slots) > 0 {
		var found bool
		if j, found = gen.t.probe(gen.t.home(uint64(series), off), uint64(series), off); found { // find, inlined
			if gen.t.slots[j].value == v {
				d.counts.duplicate++
				return Duplicate
			}
			d.counts.conflict++
			return Conflict
		}
	}
	d.record(gen, j, uint64(series), off, v)
	return Fresh
}

// Warm reads the slot where Admit would look (series, ts) up, and
// changes nothing. A caller about to admit a batch warms its keys first,
// in a loop of its own, so that their cache misses overlap instead of
// coming one after another.
func (d *Deduper) Warm(series stream.SeriesID, ts int64) {
	if !d.hasWM {
		return
	}
	g, off := d.locate(ts)
	if t := &d.gens[d.slot(g)].t; len(t.slots) > 0 {
		d.warmed += t.slots[home(hash(uint64(series), off), len(t.slots))].off
	}
}

// locate returns the generation of sample time ts and ts's offset in it,
// plus one. Most sample times fall in the watermark's generation or the
// one before it, found without dividing.
func (d *Deduper) locate(ts int64) (g int64, off uint64) {
	w := uint64(d.width)
	if off, ok := d.inTop(ts); ok {
		return d.top, off
	}
	if d.hasWM {
		// ts below the watermark has a true offset from the start of
		// generation top (see inTop) below w, at least -(2^64-1): [-w, 0)
		// is generation top-1. Anything else, near the ends of int64, is
		// divided.
		o := uint64(ts) - d.topAt
		if ts < d.wm && o+w < w && d.top > math.MinInt64 {
			return d.top - 1, o + w + 1
		}
	}
	g = align.FloorDiv(ts, d.width)
	return g, uint64(ts) - uint64(g)*w + 1
}

// inTop returns the offset of ts in generation top, the watermark's, and
// whether ts falls in it: locate's common case, small enough to inline.
// The offset from the start of top is taken in wrapping arithmetic, which
// tells a true offset only up to a multiple of 2^64; ts at or after the
// start (when the start is an int64) has a true offset in [0, 2^64), and
// [0, width) is generation top.
func (d *Deduper) inTop(ts int64) (off uint64, ok bool) {
	o := uint64(ts) - d.topAt
	return o + 1, d.hasWM && o < uint64(d.width) && d.topExact && ts >= int64(d.topAt)
}

// record stores a Fresh key in gen, which is live, at the empty slot j
// that find returned (any, if the table has no slots yet), and counts it.
func (d *Deduper) record(gen *generation, j int, series, off, value uint64) {
	if gen.t.insert(j, series, off, value, d.maxSlots) {
		d.counts.overflow++
	}
	d.counts.fresh++
}

// advance moves the watermark up to ts, whose generation is g, making live
// every generation up to g that was not live yet. The generations they
// replace end before ts-window.
func (d *Deduper) advance(ts, g int64) {
	if d.hasWM && g == d.top {
		d.wm = ts
		return
	}
	oldTop, hint := d.top, 0
	if d.hasWM {
		hint = len(d.gens[d.slot(oldTop)].t.slots)
	}
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
	d.setTop(g)
	// The new generation will most likely take as many keys as the one
	// before it: its table starts at that one's size rather than doubling
	// its way up again.
	if t := &d.gens[d.slot(g)].t; len(t.slots) < hint {
		t.slots = make([]entry, hint)
	}
}

// setTop records g as the watermark's generation.
func (d *Deduper) setTop(g int64) {
	d.top, d.topAt = g, uint64(g)*uint64(d.width)
	// Only the lowest generation can start below math.MinInt64.
	d.topExact = g > align.FloorDiv(math.MinInt64, d.width) || math.MinInt64%d.width == 0
}

// slot returns the index in d.gens of generation g: g mod gensCount, a
// power of two.
func (d *Deduper) slot(g int64) int {
	return int(g & (gensCount - 1))
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

	// Overflow counts the keys evicted while still inside the window, one
	// for each Fresh key admitted into a full table (see the package
	// documentation). Such a key, if delivered again, is admitted as Fresh
	// a second time (a false admit, never a false drop). Above zero,
	// MaxBytes is too small for the key rate.
	Overflow uint64

	// Rotations counts the generations reset to make room for newer ones.
	Rotations uint64

	// Entries is the number of keys held.
	Entries uint64

	// BytesUsed is the memory the generations' tables hold.
	BytesUsed uint64

	// MaxBytes is what the tables may grow to in all: Config.MaxBytes
	// rounded down to whole slots.
	MaxBytes uint64

	// Generations is the number of generations MaxBytes is split into.
	Generations int
}

// Overflow returns Stats().Overflow alone.
func (d *Deduper) Overflow() uint64 { return d.counts.overflow }

// Stats returns a snapshot of d's counters and memory use. It is cheap:
// a few fields per generation.
func (d *Deduper) Stats() Stats {
	s := Stats{
		Fresh:       d.counts.fresh,
		Duplicate:   d.counts.duplicate,
		Conflict:    d.counts.conflict,
		TooLate:     d.counts.tooLate,
		Overflow:    d.counts.overflow,
		Rotations:   d.counts.rotations,
		MaxBytes:    uint64(len(d.gens) * d.maxSlots * entryBytes),
		Generations: len(d.gens),
	}
	for i := range d.gens {
		gen := &d.gens[i]
		s.BytesUsed += uint64(len(gen.t.slots) * entryBytes)
		if gen.live {
			s.Entries += uint64(gen.t.n)
		}
	}
	return s
}

// Reset returns d to the state New left it in: every key, the watermark and
// the counters are forgotten, and the tables are released to the garbage
// collector.
func (d *Deduper) Reset() {
	for i := range d.gens {
		d.gens[i] = generation{}
	}
	d.hasWM, d.wm = false, noWatermark
	d.setTop(0)
	d.counts = counters{}
}

// generation is one generation's table and its place in time.
type generation struct {
	t    table
	live bool  // t holds generation gen
	gen  int64 // generation number: sample times [gen·width, (gen+1)·width)
}

// reset empties the generation and marks it not live. Its table keeps its
// slots.
func (gen *generation) reset() {
	gen.t.clear()
	gen.live, gen.gen = false, 0
}

// AppendMetrics appends the deduper's memory and window figures as
// self-metrics (package metrics). Its verdict counts are the engine's
// (fault.Stats), so they are left out.
func (s *Stats) AppendMetrics(dst []metrics.Metric) []metrics.Metric {
	return append(dst,
		metrics.G("faultline_dedup_entries", "Keys the deduper holds.", float64(s.Entries)),
		metrics.G("faultline_dedup_bytes", "Memory the deduper's tables hold.", float64(s.BytesUsed)),
		metrics.G("faultline_dedup_max_bytes", "Memory the deduper's tables may grow to.", float64(s.MaxBytes)),
		metrics.C("faultline_dedup_rotations_total", "Generations reset to make room for newer ones.", s.Rotations),
	)
}
