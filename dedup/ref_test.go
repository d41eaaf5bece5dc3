package dedup

import (
	"encoding/binary"
	"math"
	"time"

	"github.com/VictoriaMetrics/fastcache"

	"github.com/faultline-go/faultline/internal/align"
	"github.com/faultline-go/faultline/stream"
)

// refDeduper is the Deduper as it was before its own tables replaced
// fastcache, kept as the reference that the differential tests and the
// benchmarks compare against: keys in one fastcache cache per generation,
// two generations of 32 MiB (what the old geometry chose for budgets below
// 96 MiB). Only Admit and Watermark are kept; the overflow mirror and
// persistence are left out, so it is compared only while no fastcache
// bucket overflows (about 1.1 million keys per generation).
type refDeduper struct {
	window int64
	width  int64
	gens   []refGen
	hasWM  bool
	wm     int64
	key    [16]byte
	val    [8]byte
	got    []byte
}

type refGen struct {
	cache *fastcache.Cache
	live  bool
	gen   int64
	sets  int
}

// newRef returns a reference deduper of two 32 MiB generations, as the old
// geometry gave for budgets below 96 MiB.
func newRef(window time.Duration) *refDeduper {
	if window == 0 {
		window = DefaultWindow
	}
	d := &refDeduper{window: int64(window), width: genWidth(window, 2), gens: make([]refGen, 2), got: make([]byte, 0, 8)}
	for i := range d.gens {
		d.gens[i].cache = fastcache.New(32 << 20)
	}
	return d
}

// reset gives the fastcache memory back to its pool.
func (d *refDeduper) reset() {
	for i := range d.gens {
		d.gens[i].cache.Reset()
	}
}

func (d *refDeduper) Admit(series stream.SeriesID, ts int64, value float64) Verdict {
	if d.hasWM && ts < d.wm && uint64(d.wm)-uint64(ts) > uint64(d.window) {
		return TooLate
	}
	binary.BigEndian.PutUint64(d.key[:8], uint64(series))
	binary.BigEndian.PutUint64(d.key[8:], uint64(ts))
	binary.BigEndian.PutUint64(d.val[:], math.Float64bits(value))
	g := align.FloorDiv(ts, d.width)
	if !d.hasWM || ts > d.wm {
		d.advance(ts, g)
		d.record(g)
		return Fresh
	}
	gen := &d.gens[d.slot(g)]
	if !gen.live || gen.gen != g {
		panic("ref: generation not live")
	}
	var found bool
	d.got, found = gen.cache.HasGet(d.got[:0], d.key[:])
	if found {
		if string(d.got) == string(d.val[:]) {
			return Duplicate
		}
		return Conflict
	}
	d.record(g)
	return Fresh
}

func (d *refDeduper) record(g int64) {
	gen := &d.gens[d.slot(g)]
	gen.cache.Set(d.key[:], d.val[:])
	gen.sets++
}

func (d *refDeduper) advance(ts, g int64) {
	oldTop := align.FloorDiv(d.wm, d.width)
	for i := int64(0); i < int64(len(d.gens)); i++ {
		if i > 0 && g < math.MinInt64+i {
			break
		}
		ng := g - i
		if d.hasWM && ng <= oldTop {
			break
		}
		gen := &d.gens[d.slot(ng)]
		if gen.sets > 0 {
			gen.cache.Reset()
		}
		gen.live, gen.gen, gen.sets = true, ng, 0
	}
	d.hasWM, d.wm = true, ts
}

func (d *refDeduper) slot(g int64) int {
	n := int64(len(d.gens))
	s := g % n
	if s < 0 {
		s += n
	}
	return int(s)
}

func (d *refDeduper) Watermark() int64 {
	if !d.hasWM {
		return noWatermark
	}
	return d.wm
}
