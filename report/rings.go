package report

import (
	"time"

	"github.com/faultline-go/faultline/fault"
)

// binWidth is the width of a phase bin, ns.
const binWidth = int64(fault.PhaseBinWidth)

// minuteNs is one minute, ns.
const minuteNs = int64(time.Minute)

// floorDiv is a/b rounded towards −∞ (b > 0).
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// floorMod is a modulo b in [0, b) (b > 0).
func floorMod(a, b int64) int64 { return a - floorDiv(a, b)*b }

// counts are the slot judgments of a span: expected, missed on time, and of
// those filled late or lost.
type counts struct {
	e, m, late, lost uint64
}

func (c *counts) add(d counts) {
	c.e += d.e
	c.m += d.m
	c.late += d.late
	c.lost += d.lost
}

// rate is the share of the expected slots missed on time, or −1 when none
// was expected.
func (c counts) rate() float64 {
	if c.e == 0 {
		return -1
	}
	return float64(c.m) / float64(c.e)
}

// binSlot is one phase bin of the ring: 24 bytes.
type binSlot struct {
	idx              int64 // bin index (Start / binWidth) + 1; 0: empty
	e, m, late, lost uint32
}

// binRing keeps the last len(slots) phase bins, added up over the engines
// that report them.
type binRing struct {
	slots   []binSlot
	newest  int64  // largest bin index added
	oldest  int64  // smallest bin index added
	dropped uint64 // bins that arrived older than the ring
}

func (r *binRing) init(n int) { r.slots = make([]binSlot, n) }

func (r *binRing) add(p fault.PhaseBin) {
	idx := floorDiv(p.Start, binWidth)
	n := int64(len(r.slots))
	if r.newest != 0 && idx <= r.newest-n {
		r.dropped++
		return
	}
	s := &r.slots[floorMod(idx, n)]
	if s.idx != idx+1 {
		*s = binSlot{idx: idx + 1}
	}
	s.e += p.Expected
	s.m += p.Missed
	s.late += p.Late
	s.lost += p.Lost
	if r.newest == 0 || idx > r.newest {
		r.newest = idx
	}
	if r.oldest == 0 || idx < r.oldest {
		r.oldest = idx
	}
}

// first returns the oldest bin index the ring may still hold.
func (r *binRing) first() int64 {
	return max(r.oldest, r.newest-int64(len(r.slots))+1)
}

// at returns bin idx's counts, zero if the ring does not hold it.
func (r *binRing) at(idx int64) counts {
	if r.newest == 0 || idx > r.newest || idx <= r.newest-int64(len(r.slots)) {
		return counts{}
	}
	s := &r.slots[floorMod(idx, int64(len(r.slots)))]
	if s.idx != idx+1 {
		return counts{}
	}
	return counts{uint64(s.e), uint64(s.m), uint64(s.late), uint64(s.lost)}
}

// minuteSlot is one minute of delivery: fresh and redelivered samples (from
// the sources' minutes) and the slot judgments of arrivals expected in it
// (from the phase bins).
type minuteSlot struct {
	idx                int64 // minute index + 1; 0: empty
	fresh, redelivered uint64
	slots              counts
	othersLag          int64 // the largest median lag of the sources not drawn one by one, ns; −1: none
}

// minuteRing keeps the last len(slots) minutes, with the lag of each drawn
// source (lagW: lag × fresh summed over shards, lagN: fresh).
type minuteRing struct {
	slots   []minuteSlot
	nsrc    int
	lagW    []float64 // [slot*nsrc + source]
	lagN    []uint64
	newest  int64
	dropped uint64
}

func (r *minuteRing) init(n, sources int) {
	r.slots = make([]minuteSlot, n)
	r.nsrc = sources
	r.lagW = make([]float64, n*sources)
	r.lagN = make([]uint64, n*sources)
}

// slot returns minute idx's slot, reset if it held an older minute, or nil
// if the minute is older than the ring.
func (r *minuteRing) slot(idx int64) (*minuteSlot, int) {
	n := int64(len(r.slots))
	if r.newest != 0 && idx <= r.newest-n {
		r.dropped++
		return nil, 0
	}
	i := int(floorMod(idx, n))
	s := &r.slots[i]
	if s.idx != idx+1 {
		*s = minuteSlot{idx: idx + 1, othersLag: -1}
		clear(r.lagW[i*r.nsrc : (i+1)*r.nsrc])
		clear(r.lagN[i*r.nsrc : (i+1)*r.nsrc])
	}
	if r.newest == 0 || idx > r.newest {
		r.newest = idx
	}
	return s, i
}

func (r *minuteRing) addBin(p fault.PhaseBin) {
	s, _ := r.slot(floorDiv(p.Start, minuteNs))
	if s == nil {
		return
	}
	s.slots.add(counts{uint64(p.Expected), uint64(p.Missed), uint64(p.Late), uint64(p.Lost)})
}

// addSource adds a source's minute; src is its index among the drawn
// sources, or −1.
func (r *minuteRing) addSource(m fault.SourceMinute, src int) {
	s, i := r.slot(floorDiv(m.Start, minuteNs))
	if s == nil {
		return
	}
	s.fresh += m.Fresh
	s.redelivered += m.Redelivered
	if m.Fresh == 0 {
		return // no lag measured
	}
	if src < 0 {
		s.othersLag = max(s.othersLag, int64(m.Lag))
		return
	}
	r.lagW[i*r.nsrc+src] += float64(m.Lag) * float64(m.Fresh)
	r.lagN[i*r.nsrc+src] += m.Fresh
}

// at returns minute idx's slot and its index, or nil if the ring does not
// hold it.
func (r *minuteRing) at(idx int64) (*minuteSlot, int) {
	if r.newest == 0 || idx > r.newest || idx <= r.newest-int64(len(r.slots)) {
		return nil, 0
	}
	i := int(floorMod(idx, int64(len(r.slots))))
	if r.slots[i].idx != idx+1 {
		return nil, 0
	}
	return &r.slots[i], i
}

// lag returns the lag of drawn source src in the minute at ring index i,
// or −1 when it measured none.
func (r *minuteRing) lag(i, src int) float64 {
	n := r.lagN[i*r.nsrc+src]
	if n == 0 {
		return -1
	}
	return r.lagW[i*r.nsrc+src] / float64(n)
}

// maxOthers bounds the sources not drawn one by one that are counted.
const maxOthers = 1 << 16

// sourceTable names the sources drawn one by one: the first max seen.
type sourceTable struct {
	max    int
	byName map[string]int
	names  []string
	others map[string]struct{} // the sources not drawn, up to maxOthers
}

func (t *sourceTable) init(n int) {
	t.max = n
	t.byName = map[string]int{}
	t.others = map[string]struct{}{}
}

// index returns the source's index among the drawn ones, or −1.
func (t *sourceTable) index(m fault.SourceMinute) int {
	name := sourceName(m)
	if i, ok := t.byName[name]; ok {
		return i
	}
	if len(t.names) < t.max {
		t.byName[name] = len(t.names)
		t.names = append(t.names, name)
		return len(t.names) - 1
	}
	if _, ok := t.others[name]; !ok && len(t.others) < maxOthers {
		t.others[name] = struct{}{}
	}
	return -1
}

func sourceName(m fault.SourceMinute) string {
	switch {
	case m.Overflow:
		return "(sources over the engine's limit)"
	case m.Source == "":
		return "(all input)"
	}
	return clip(m.Source)
}
