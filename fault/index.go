package fault

import (
	"math/bits"

	"github.com/faultline-go/faultline/stream"
)

// seriesIndex maps series identities to their state: open addressing with
// linear probing, the home slot taken from the identity's own high bits
// (scaled to the table's length), which are already a well-mixed hash, so
// nothing is hashed again. It holds no pointers, stays at most three
// quarters full and grows by half, so it is half to three quarters full
// (16 bytes a slot, so about 21–32 bytes a series). A removed series' slot
// is refilled by backward shifting, so no tombstones accumulate and lookups
// stay as short as in a fresh table.
type seriesIndex struct {
	slots []indexSlot
	n     int
}

type indexSlot struct {
	id  stream.SeriesID
	idx uint32 // state index + 1; 0 marks an empty slot
}

const minIndexSlots = 1 << 10

// home returns the slot where the probe run of id starts.
func (x *seriesIndex) home(id stream.SeriesID) int {
	hi, _ := bits.Mul64(uint64(id), uint64(len(x.slots)))
	return int(hi)
}

// get returns the state index of series id.
func (x *seriesIndex) get(id stream.SeriesID) (uint32, bool) {
	slots := x.slots
	if len(slots) == 0 {
		return 0, false
	}
	for i := x.home(id); ; {
		s := &slots[i]
		if s.idx == 0 {
			return 0, false
		}
		if s.id == id {
			return s.idx - 1, true
		}
		if i++; i == len(slots) {
			i = 0
		}
	}
}

// put records that series id, not yet in the index, has state index idx.
func (x *seriesIndex) put(id stream.SeriesID, idx uint32) {
	if (x.n+1)*4 > len(x.slots)*3 {
		x.grow()
	}
	x.insert(id, idx+1)
	x.n++
}

func (x *seriesIndex) insert(id stream.SeriesID, idx1 uint32) {
	i := x.home(id)
	for x.slots[i].idx != 0 {
		if i++; i == len(x.slots) {
			i = 0
		}
	}
	x.slots[i] = indexSlot{id: id, idx: idx1}
}

func (x *seriesIndex) grow() {
	old := x.slots
	size := max(minIndexSlots, len(old)+len(old)/2)
	x.slots = make([]indexSlot, size)
	for _, s := range old {
		if s.idx != 0 {
			x.insert(s.id, s.idx)
		}
	}
}

// del removes series id, if present. The entries after it in its probe run
// that may sit no earlier than their home slot move back into the hole
// (backward-shift deletion), so every remaining entry stays reachable
// from its home slot without tombstones.
func (x *seriesIndex) del(id stream.SeriesID) bool {
	n := len(x.slots)
	if n == 0 {
		return false
	}
	i := x.home(id)
	for ; x.slots[i].id != id || x.slots[i].idx == 0; i = (i + 1) % n {
		if x.slots[i].idx == 0 {
			return false
		}
	}
	x.n--
	for j := i; ; {
		x.slots[i] = indexSlot{}
		for {
			j = (j + 1) % n
			if x.slots[j].idx == 0 {
				return true
			}
			// The entry at j may move to the hole at i unless its home
			// slot lies cyclically in (i, j].
			home := x.home(x.slots[j].id)
			if i <= j && (i < home && home <= j) || i > j && (i < home || home <= j) {
				continue
			}
			x.slots[i] = x.slots[j]
			i = j
			break
		}
	}
}
