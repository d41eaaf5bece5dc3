package dedup

import "math/bits"

// entry is one admitted key and its value: 24 bytes, no pointers. off is
// the key's sample time as an offset into its generation, plus one, so a
// zero entry is an empty slot and every real one is non-zero.
type entry struct {
	series uint64
	off    uint64 // sample time − generation start + 1, in [1, width]
	value  uint64 // math.Float64bits of the first value admitted
}

// entryBytes is the size of an entry.
const entryBytes = 24

// minSlots is the size a generation's table starts at.
const minSlots = 1 << 10

// table is one generation's keys: open addressing with linear probing over
// a flat slice of entries, sized in slots (any number, not only powers of
// two: a key's home slot is its hash scaled to the length). It grows by
// doubling up to max slots while it is at most three quarters full; at max
// it stays three quarters full by evicting one key for each new one (see
// insert). Keys are never removed otherwise, so no tombstones are needed;
// the evicting delete shifts its run back (backward-shift deletion).
type table struct {
	slots []entry
	n     int // keys held
}

// hash mixes a key of a generation into 64 well-spread bits. series is
// usually a hash already, but need not be (tests use small numbers), and
// sample times are regular, so both are mixed.
func hash(series, off uint64) uint64 {
	h := series ^ off*0x9e3779b97f4a7c15
	h ^= h >> 32
	h *= 0xd6e8feb86659fd93
	h ^= h >> 32
	return h
}

// home returns the slot a hash starts probing at, in a table of n slots.
func home(h uint64, n int) int {
	hi, _ := bits.Mul64(h, uint64(n))
	return int(hi)
}

// find returns the slot holding (series, off) and true, or the first empty
// slot of its probe run and false. The table must not be full (it never is:
// at most three quarters).
func (t *table) find(series, off uint64) (int, bool) {
	return t.probe(t.home(series, off), series, off)
}

// home returns the home slot of a key.
func (t *table) home(series, off uint64) int { return home(hash(series, off), len(t.slots)) }

// probe is find from slot i, the key's home slot (inlined where find is
// not: Admit calls it for every delivery).
func (t *table) probe(i int, series, off uint64) (int, bool) {
	s := t.slots
	for {
		e := &s[i]
		if e.off == off && e.series == series {
			return i, true
		}
		if e.off == 0 {
			return i, false
		}
		if i++; i == len(s) {
			i = 0
		}
	}
}

// limit returns how many keys a table of n slots holds.
func limit(n int) int { return n / 4 * 3 }

// insert stores a key that find reported missing at the empty slot j, in a
// table allowed to grow to max slots. It reports whether a key still held
// had to be evicted to make room: with the table at max slots and three
// quarters full, the oldest key (lowest sample time) among the first few
// of its probe run is overwritten in place, or, when its home slot is
// empty, the first key after it is deleted.
func (t *table) insert(j int, series, off, value uint64, max int) (evicted bool) {
	if len(t.slots) == 0 || t.n >= limit(len(t.slots)) && len(t.slots) < max {
		t.grow(max)
		j, _ = t.find(series, off)
	}
	e := entry{series, off, value}
	if t.n < limit(len(t.slots)) {
		t.slots[j] = e
		t.n++
		return false
	}
	s := t.slots
	h := home(hash(series, off), len(s))
	if h == j {
		// No key between the home slot and the empty one: take the empty
		// one, and delete the next key held, so the count stays.
		q := j
		for {
			if q++; q == len(s) {
				q = 0
			}
			if s[q].off != 0 {
				break
			}
		}
		t.del(q)
		s[j] = e
		t.n++
		return true
	}
	// Every slot in [h, j) is held and on e's probe path: overwriting one
	// leaves every other key reachable.
	victim := h
	for i, k := h, 0; i != j && k < 8; k++ {
		if s[i].off < s[victim].off {
			victim = i
		}
		if i++; i == len(s) {
			i = 0
		}
	}
	s[victim] = e
	return true
}

// del removes the key at slot i, moving back the keys after it in its run
// that may move (backward-shift deletion), so every key stays reachable
// from its home slot without tombstones.
func (t *table) del(i int) {
	s := t.slots
	n := len(s)
	for j := i; ; {
		s[i] = entry{}
		for {
			if j++; j == n {
				j = 0
			}
			if s[j].off == 0 {
				t.n--
				return
			}
			// The key at j may move to the hole at i unless its home
			// lies cyclically in (i, j].
			h := home(hash(s[j].series, s[j].off), n)
			if i <= j && i < h && h <= j || i > j && (i < h || h <= j) {
				continue
			}
			s[i] = s[j]
			i = j
			break
		}
	}
}

// grow doubles the table (at most to max slots) and reinserts its keys.
func (t *table) grow(max int) {
	old := t.slots
	size := min(max, 2*len(old))
	if len(old) == 0 {
		size = min(max, minSlots)
	}
	t.slots = make([]entry, size)
	for _, e := range old {
		if e.off != 0 {
			j, _ := t.find(e.series, e.off)
			t.slots[j] = e
		}
	}
}

// clear empties the table, keeping its slots for the next generation.
func (t *table) clear() {
	if t.n > 0 {
		clear(t.slots)
	}
	t.n = 0
}

// reachable reports whether every key of the table can be found from its
// home slot: no empty slot lies between them. Load checks this, so that a
// crafted snapshot cannot hide a key from lookups (which would only cause
// a false admit) or break the table's invariants.
func (t *table) reachable() bool {
	s := t.slots
	n := len(s)
	start := -1 // an empty slot: runs are walked from there
	for i := range s {
		if s[i].off == 0 {
			start = i
			break
		}
	}
	if start < 0 {
		return false // full: lookups of a missing key would not end
	}
	runStart := 0 // distance from start of the first slot of the current run
	for d := 1; d < n; d++ {
		i := (start + d) % n
		if s[i].off == 0 {
			runStart = d + 1
			continue
		}
		// The home slot, as a distance from start, must lie in
		// [runStart, d].
		h := (home(hash(s[i].series, s[i].off), n) - start + n) % n
		if h < runStart || h > d {
			return false
		}
	}
	return true
}

// twice returns the slot of a key held a second time, and true, or false
// if every key is held once. The table must be reachable: a lookup then
// finds a key's first copy, so a key that lookups do not find at its own
// slot is a second copy. Load checks this, as Admit never files a key
// twice, and the count of keys held would be one too high.
func (t *table) twice() (int, bool) {
	for j, e := range t.slots {
		if e.off == 0 {
			continue
		}
		if i, _ := t.find(e.series, e.off); i != j {
			return j, true
		}
	}
	return 0, false
}
