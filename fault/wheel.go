package fault

// wheel is a hashed timing wheel of series wake-ups: O(1) to schedule and
// O(1) per due entry, where a binary heap cost the gap prototype 2–3× as
// much. Time is cut into ticks of res nanoseconds; an entry due at time D
// goes to tick ceil(D/res) and is delivered once the engine clock passes
// that tick's start, so never before D and at most res after it.
//
// Entries are not removed when a series reschedules; the owner validates
// each delivered entry against the series' current wake tick and ignores
// stale ones. Entries due further than one lap ahead stay in their bucket
// and are kept until their lap comes round.
type wheel struct {
	res     int64
	buckets [][]wheelEntry
	mask    int64
	next    int64 // the next tick to deliver
	origin  int64 // ticks are stored relative to it (see rel)
	n       int   // entries held, stale ones included
	spare   []wheelEntry
}

type wheelEntry struct {
	tick   int64
	series uint32
}

// newWheel returns a wheel of 2^bits buckets of res nanoseconds each.
func newWheel(res int64, bits uint) *wheel {
	return &wheel{res: res, buckets: make([][]wheelEntry, 1<<bits), mask: 1<<bits - 1}
}

// start sets the wheel's first tick to the one holding time now.
func (w *wheel) start(now int64) {
	w.next = w.tickOf(now)
	w.origin = w.next - 1
}

// rel returns tick t relative to the wheel's origin, as series store it:
// never 0 for a tick the wheel can hold, so 0 can mean "none".
func (w *wheel) rel(t int64) uint32 { return uint32(t - w.origin) }

// tickOf returns the tick an entry due at time d is delivered in.
func (w *wheel) tickOf(d int64) int64 {
	t := d / w.res
	if t*w.res < d {
		t++
	}
	return t
}

// schedule adds an entry for series due at tick t, or at the next tick if t
// has already been delivered. It returns the tick used.
func (w *wheel) schedule(series uint32, t int64) int64 {
	if t < w.next {
		t = w.next
	}
	b := &w.buckets[t&w.mask]
	*b = append(*b, wheelEntry{tick: t, series: series})
	w.n++
	return t
}

// deliver delivers the next tick: fn is called with the series and tick of
// each entry due in it, in the order they were scheduled. fn may schedule
// new entries; one due in the tick being delivered goes to the next tick.
func (w *wheel) deliver(fn func(series uint32, tick int64)) {
	t := w.next
	w.next++
	i := t & w.mask
	due := w.buckets[i]
	if len(due) == 0 {
		return
	}
	w.buckets[i] = w.spare[:0]
	for _, e := range due {
		if e.tick == t {
			w.n--
			fn(e.series, t)
		} else {
			w.buckets[i] = append(w.buckets[i], e) // a later lap
		}
	}
	w.spare = due[:0]
}

// advance delivers, in tick order, every tick that starts strictly before
// now.
func (w *wheel) advance(now int64, fn func(series uint32, tick int64)) {
	for w.next*w.res < now {
		if w.n == 0 {
			w.next = w.tickOf(now) // nothing to deliver: jump
			return
		}
		w.deliver(fn)
	}
}
