package fault

import "math"

// wheel is a hashed timing wheel of series wake-ups: O(1) to schedule,
// reschedule and deliver, where a binary heap cost the gap prototype 2–3× as
// much. Time is cut into ticks of wheelRes nanoseconds (a constant, so that
// the hot path divides by multiplying); a wake-up due at time D
// goes to tick ceil(D/res) and is delivered once the engine clock passes that
// tick's start, so never before D and at most res after it.
//
// Each series is linked into at most one bucket, through a doubly linked
// list threaded through the series' trackers (8 bytes each), so the wheel
// holds no memory beyond that and its bucket heads, however long it runs. A wake-up
// more than one lap ahead sits in its bucket until its lap comes: the owner
// recomputes each delivered series' due tick and links it again if that is
// still ahead.
type wheel struct {
	heads    []uint32 // per bucket: first series + 1, or 0
	mask     int64
	next     int64     // the next tick to deliver
	trackers *lattices // where the links are
	n        int       // series linked
}

// wheelLink is a series' place in its bucket's list. next is the next
// series + 1, or 0 at the end. prev is the previous series + 1, or, for the
// first series of a bucket, headBit | the bucket; 0 means not linked.
type wheelLink struct {
	prev, next uint32
}

// headBit marks a prev that names a bucket. Series indices stay below it.
const headBit = 1 << 31

// newWheel returns a wheel of 2^bits buckets over the series in trackers.
func newWheel(bits uint, trackers *lattices) *wheel {
	return &wheel{heads: make([]uint32, 1<<bits), mask: 1<<bits - 1, trackers: trackers}
}

func (w *wheel) link(series uint32) *wheelLink { return &(*w.trackers)[series].link }

// start sets the wheel's first tick to the one holding time now.
func (w *wheel) start(now int64) { w.next = w.tickOf(now) }

// wheelEnd is the wheel's last tick, the last whose start fits an int64
// (0.105 s before the end of time). A wake-up due after its start would be
// delivered in a tick that starts past the end of time, which the clock
// never passes: it never comes. (Delivered in the last tick instead, it
// would find itself not due and be scheduled again, for ever.)
const wheelEnd = math.MaxInt64 / wheelRes

// startOf returns the start of tick t, math.MaxInt64 past the wheel's end,
// where t·res would wrap.
func (w *wheel) startOf(t int64) int64 {
	if t > wheelEnd {
		return math.MaxInt64
	}
	return t * wheelRes
}

// tickOf returns the tick a wake-up due at time d is delivered in.
func (w *wheel) tickOf(d int64) int64 {
	t := d / wheelRes
	if t*wheelRes < d {
		t++
	}
	return t
}

// schedule links series into the bucket of tick t, or of the next tick if t
// has already been delivered, first unlinking it from wherever it was. A
// tick past the wheel's end never comes: series is left unlinked.
func (w *wheel) schedule(series uint32, t int64) {
	w.unlink(series)
	t = max(t, w.next)
	if t > wheelEnd {
		return
	}
	bucket := uint32(t & w.mask)
	b := &w.heads[bucket]
	*w.link(series) = wheelLink{prev: headBit | bucket, next: *b}
	if *b != 0 {
		w.link(*b - 1).prev = series + 1
	}
	*b = series + 1
	w.n++
}

// unlink removes series from its bucket, if it is in one.
func (w *wheel) unlink(series uint32) {
	l := w.link(series)
	switch {
	case l.prev == 0:
		return
	case l.prev&headBit != 0:
		w.heads[l.prev&^headBit] = l.next
	default:
		w.link(l.prev - 1).next = l.next
	}
	if l.next != 0 {
		w.link(l.next - 1).prev = l.prev
	}
	*l = wheelLink{}
	w.n--
}

// deliver delivers the next tick: every series in its bucket is unlinked and
// passed to fn with the tick, which either handles it or, if it is not yet
// due, schedules it again.
func (w *wheel) deliver(fn func(series uint32, tick int64)) {
	t := w.next
	w.next++
	b := &w.heads[t&w.mask]
	s := *b
	*b = 0
	for s != 0 {
		l := w.link(s - 1)
		next := l.next
		*l = wheelLink{}
		w.n--
		fn(s-1, t)
		s = next
	}
}
