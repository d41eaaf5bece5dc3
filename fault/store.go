package fault

import (
	"fmt"
	"maps"
	"slices"

	"github.com/faultline-go/faultline/internal/frame"
	"github.com/faultline-go/faultline/internal/seriesgap"
	"github.com/faultline-go/faultline/stream"
)

// store is the series store: every series' identity, key and rule
// bindings, its arrival tracking and miss memory, the timing wheel that
// schedules its judgments, the side tables of series in a transient state
// (learning their cadence, absent), and eviction. Slices are indexed by
// series slot.
type store struct {
	index    seriesIndex
	series   []series
	trackers lattices
	misses   []seriesgap.Misses
	keys     keyArena
	wheel    *wheel
	evict    evictState
	declared map[uint32]int64 // declared absence thresholds (ns), by slot

	warmed uint64 // what warm read, so that its reads are not optimised away

	learning  map[uint32]learning
	learnPeak int // the most series seen learning at once since learning was last rebuilt (doneLearning)
	absences  map[uint32]absence
	inhibited map[uint32][]uint32 // by fleet gap episode: the series whose absence it explains, in order
}

func newStore() store {
	return store{
		declared:  make(map[uint32]int64),
		learning:  make(map[uint32]learning),
		absences:  make(map[uint32]absence),
		inhibited: make(map[uint32][]uint32),
	}
}

// add appends a new series' state to the tables indexed by slot. They
// grow by an eighth at a time, not by append's quarter, so that a million
// series leave about 9 bytes a series unused rather than 18; the copy
// this costs (amortised, 8 times each series' 144 bytes) is paid once per
// new series, not per sample.
func (st *store) add(s series, t tracker) {
	if n := len(st.series); n == cap(st.series) {
		size := n + max(n/8, 1024)
		st.series = append(make([]series, 0, size), st.series...)
		st.trackers = append(make(lattices, 0, size), st.trackers...)
		st.misses = append(make([]seriesgap.Misses, 0, size), st.misses...)
	}
	st.series = append(st.series, s)
	st.trackers = append(st.trackers, t)
	st.misses = append(st.misses, seriesgap.Misses{})
}

// doneLearning removes series idx from the learning side table. Go maps
// never give back memory, and at start every series is learning at once:
// a million series would keep ~96 MB of an empty table for good. So when
// the table has shrunk to an eighth of its peak, it is rebuilt at its
// size (amortised O(1) per removal).
func (st *store) doneLearning(idx uint32) {
	st.learnPeak = max(st.learnPeak, len(st.learning))
	delete(st.learning, idx)
	if n := len(st.learning); st.learnPeak >= 1024 && n <= st.learnPeak/8 {
		m := make(map[uint32]learning, n)
		maps.Copy(m, st.learning)
		st.learning, st.learnPeak = m, n
	}
}

// warmChunk is how many samples Process warms at a time: their state
// (index slot, series, tracker, dedup slot: four or five cache lines each)
// stays in the first-level caches until they are processed.
const warmChunk = 64

// warmMinSeries is how many series an engine tracks before Process warms
// their state: about 10 MB of it, more than a core's own caches hold.
const warmMinSeries = 1 << 16

// warm reads, for each sample of a chunk about to be processed, the cache
// lines that processing it will read first: its slot in the series index,
// its series and tracker, and its slot in the deduper. The loop does
// nothing else, so the processor overlaps the cache misses of many samples
// instead of meeting them one by one (with a million series almost every
// one is a miss). It changes no state: processing looks every series up
// again, since a judgment due before a sample may evict a series and
// reuse its slot.
//
// Below warmMinSeries series the state stays in the caches anyway, and
// warming would only cost instructions.
func (e *Engine) warm(chunk []stream.Sample) {
	if len(e.st.series) < warmMinSeries {
		return
	}
	var sum uint64
	for i := range chunk {
		smp := &chunk[i]
		if smp.Series == 0 {
			smp.Series = stream.Hash(smp.Name, smp.Labels)
		}
		if idx, ok := e.st.index.get(smp.Series); ok {
			s := &e.st.series[idx]
			sum += uint64(s.lastTs) + uint64(e.st.trackers[idx].nextK)
			if s.alerts > 0 && s.rulesN > 0 {
				st := e.al.alerts[alertKey{series: idx, rule: e.al.ruleIdx[s.rulesOff]}]
				sum += uint64(st.Level())
			}
		}
		if e.dd != nil {
			e.dd.Warm(smp.Series, smp.Time)
		}
	}
	e.st.warmed += sum
}

// appendSeries appends every series: identity, key, evaluation state,
// tracker and miss list, then the timing wheel.
func (e *Engine) appendSeries(w *frame.Writer) {
	w.Uv(uint64(len(e.st.series)))
	for i := range e.st.series {
		if e.free(uint32(i)) {
			continue // listed in the eviction section
		}
		s := &e.st.series[i]
		name, labels := e.st.keys.get(s.key)
		w.U64(uint64(s.id))
		w.Str(name)
		putLabels(w, labels)
		w.I64(s.lastTs)
		w.U16(s.alerts)
		w.U32(s.gapMark)
		w.U32(s.src)
		w.U32(s.seen)
		e.st.trackers[i].appendTo(w)
		for _, m := range e.st.misses[i] {
			w.U16(m)
		}
	}
	wh := e.st.wheel
	w.I64(wh.next)
	w.Uv(uint64(wh.n))
	var heads int
	for _, h := range wh.heads {
		if h != 0 {
			heads++
		}
	}
	w.Uv(uint64(heads))
	for b, h := range wh.heads {
		if h != 0 {
			w.U32(uint32(b))
			w.U32(h)
		}
	}
}

// readSeries restores the series as create would make them, in the same
// order, so the key arena, the index and the rule lists come out the same,
// then their saved state.
func (e *Engine) readSeries(r *frame.Reader) {
	// A series takes at least 8+1+1+8+2+4+4+4+tracker+miss list bytes; a
	// free slot none (the eviction section lists them).
	n64 := r.Uv()
	if r.Err() != nil {
		return
	}
	if n64 > maxSeriesLimit || n64 < uint64(len(e.st.evict.free)) || n64-uint64(len(e.st.evict.free)) > uint64(r.Len()/(32+trackerBytes+2*seriesgap.Ring)) {
		r.Fail("%d series (%d free) do not fit the %d bytes left", n64, len(e.st.evict.free), r.Len())
		return
	}
	n := int(n64)
	e.st.series = make([]series, 0, n)
	e.st.trackers = make(lattices, n)
	e.st.misses = make([]seriesgap.Misses, n)
	for _, idx := range e.st.evict.free {
		if int(idx) >= n || e.st.trackers[idx].flags&flagFree != 0 {
			r.Fail("bad free slot %d of %d", idx, n)
			return
		}
		e.st.trackers[idx].flags = flagFree
	}
	for i := 0; i < n && r.Err() == nil; i++ {
		if e.free(uint32(i)) {
			e.st.series = append(e.st.series, series{})
			continue
		}
		id := stream.SeriesID(r.U64())
		name := r.Str()
		labels := readLabels(r)
		if r.Err() != nil {
			return
		}
		if _, dup := e.st.index.get(id); dup {
			r.Fail("series %x twice", id)
			return
		}
		idx := uint32(i)
		e.st.index.put(id, idx)
		s := series{id: id, key: e.st.keys.put(name, labels)}
		s.lastTs = r.I64()
		s.alerts = r.U16()
		s.gapMark = r.U32()
		s.src = r.U32()
		s.seen = r.U32()
		e.bindRules(&s, idx, name, labels)
		e.st.series = append(e.st.series, s)
		e.attachRules(idx, labels, true) // its cohorts and history, as create gives them
		e.st.trackers[i].readFrom(r)
		for j := range e.st.misses[i] {
			e.st.misses[i][j] = r.U16()
		}
	}
	wh := e.st.wheel
	wh.next = r.I64()
	wh.n = int(min(r.Uv(), maxSeriesLimit))
	heads := r.Count(8)
	for range heads {
		b, h := r.U32(), r.U32()
		if r.Err() != nil {
			return
		}
		if int(b) >= len(wh.heads) || h == 0 || int(h) > n || wh.heads[b] != 0 {
			r.Fail("bad wheel bucket %d → %d", b, h)
			return
		}
		wh.heads[b] = h
	}
}

// trackerBytes is the size of a tracker in a snapshot.
const trackerBytes = 8*3 + 4*5 + seriesgap.SeriesBytes + 8 + 2 + 1*2

func (t *tracker) appendTo(w *frame.Writer) {
	w.I64(t.anchorTs)
	w.U64(t.recv)
	w.U64(t.onTime)
	w.I32(t.cad)
	w.I32(t.anchorK)
	w.I32(t.nextK)
	w.I32(t.lateK)
	w.I32(t.lag)
	t.gap.AppendTo(w)
	w.U32(t.link.prev)
	w.U32(t.link.next)
	w.U16(t.missRun)
	w.U8(t.flags)
	w.U8(t.learnN)
}

func (t *tracker) readFrom(r *frame.Reader) {
	t.anchorTs = r.I64()
	t.recv = r.U64()
	t.onTime = r.U64()
	t.cad = r.I32()
	t.anchorK = r.I32()
	t.nextK = r.I32()
	t.lateK = r.I32()
	t.lag = r.I32()
	t.gap.ReadFrom(r)
	t.link.prev = r.U32()
	t.link.next = r.U32()
	t.missRun = r.U16()
	t.flags = r.U8()
	t.learnN = r.U8()
}

// appendSideTables appends the side tables of series in a transient state,
// each in ascending series order.
func (e *Engine) appendSideTables(w *frame.Writer) {
	w.Uv(uint64(len(e.st.learning)))
	for _, idx := range slices.Sorted(maps.Keys(e.st.learning)) {
		l := e.st.learning[idx]
		w.U32(idx)
		w.I64(l.lastArrival)
		w.I64(l.lag)
		for _, d := range l.diffs {
			w.I64(d)
		}
	}
	w.Uv(uint64(len(e.st.absences)))
	for _, idx := range slices.Sorted(maps.Keys(e.st.absences)) {
		a := e.st.absences[idx]
		w.U32(idx)
		w.I64(a.since)
		w.U32(a.inhibitedBy)
	}
	w.Uv(uint64(len(e.st.inhibited)))
	for _, mark := range slices.Sorted(maps.Keys(e.st.inhibited)) {
		list := e.st.inhibited[mark]
		w.U32(mark)
		w.Uv(uint64(len(list)))
		for _, idx := range list {
			w.U32(idx)
		}
	}
}

func (e *Engine) readSideTables(r *frame.Reader) {
	n := len(e.st.series)
	for range r.Count(4 + 8 + 8 + 24) {
		idx := r.U32()
		l := learning{lastArrival: r.I64(), lag: r.I64()}
		for j := range l.diffs {
			l.diffs[j] = r.I64()
		}
		e.st.learning[idx] = l
		if int(idx) >= n {
			r.Fail("learning series %d of %d", idx, n)
		}
	}
	for range r.Count(4 + 8 + 4) {
		idx := r.U32()
		e.st.absences[idx] = absence{since: r.I64(), inhibitedBy: r.U32()}
		if int(idx) >= n {
			r.Fail("absent series %d of %d", idx, n)
		}
	}
	for range r.Count(4 + 1) {
		mark := r.U32()
		list := make([]uint32, r.Count(4))
		for i := range list {
			if list[i] = r.U32(); int(list[i]) >= n {
				r.Fail("fleet gap %d: series %d of %d", mark, list[i], n)
			}
		}
		e.st.inhibited[mark] = list
	}
}

// checkState checks the invariants the engine relies on that the sections
// cannot check alone, so that a restored engine cannot index out of range.
func (e *Engine) checkState() error {
	n := uint32(len(e.st.series))
	if e.st.evict.cursor != 0 && e.st.evict.cursor >= n {
		return fmt.Errorf("sweep cursor %d of %d series", e.st.evict.cursor, n)
	}
	buckets := uint32(len(e.st.wheel.heads))
	linked := 0
	for i := range e.st.series {
		s := &e.st.series[i]
		if int(s.src) >= e.src.Len() {
			return fmt.Errorf("series %d: source %d of %d", i, s.src, e.src.Len())
		}
		if e.free(uint32(i)) {
			_, learning := e.st.learning[uint32(i)]
			_, absent := e.st.absences[uint32(i)]
			if learning || absent {
				return fmt.Errorf("free slot %d: in a side table", i)
			}
		}
		t := &e.st.trackers[i]
		l := t.link
		switch {
		case l.prev == 0 && l.next != 0,
			l.prev&headBit != 0 && l.prev&^headBit >= buckets,
			l.prev&headBit == 0 && l.prev > n,
			l.next > n:
			return fmt.Errorf("series %d: bad wheel link", i)
		}
		if l.prev != 0 {
			linked++
		}
		if t.lattice() && t.cad <= 0 || t.cad < 0 {
			return fmt.Errorf("series %d: bad tracker", i)
		}
		if e.gaps.Has(uint32(i)) != t.gap.Open() {
			return fmt.Errorf("series %d: periodic gap flag and table disagree", i)
		}
	}
	if linked != e.st.wheel.n {
		return fmt.Errorf("wheel holds %d series, %d linked", e.st.wheel.n, linked)
	}
	// Every bucket's list runs forward and back consistently and ends:
	// together they hold every linked series once.
	walked := 0
	for b, h := range e.st.wheel.heads {
		prev := headBit | uint32(b)
		for s := h; s != 0; s = e.st.trackers[s-1].link.next {
			if walked++; walked > linked || e.st.trackers[s-1].link.prev != prev {
				return fmt.Errorf("wheel bucket %d: bad list", b)
			}
			prev = s
		}
	}
	if walked != linked {
		return fmt.Errorf("wheel lists hold %d series, %d linked", walked, linked)
	}
	return e.checkAlerts()
}
