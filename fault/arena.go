package fault

import (
	"encoding/binary"

	"github.com/faultline-go/faultline/stream"
)

// keyArena stores series names and labels as bytes in large chunks, so that
// a million series cost the garbage collector a few hundred chunk pointers to
// scan instead of millions of strings. A key is written once, when its series
// is first seen, and decoded only when an event needs it. The keys of
// evicted series stay until a compaction rewrites the arena (evict.go).
type keyArena struct {
	chunks [][]byte
}

// Chunks start small and double up to arenaChunk, so that an engine with
// a few series holds a few kilobytes of keys, not a megabyte.
const (
	arenaFirstChunk = 1 << 12
	arenaChunk      = 1 << 20
)

// keyRef locates a key: chunk index in the high 32 bits, offset in the low.
type keyRef uint64

// put stores name and labels and returns where.
func (a *keyArena) put(name string, labels stream.Labels) keyRef {
	size := binary.MaxVarintLen64 * (2 + 2*len(labels))
	size += len(name)
	for _, l := range labels {
		size += len(l.Name) + len(l.Value)
	}
	n := len(a.chunks)
	if n == 0 || cap(a.chunks[n-1])-len(a.chunks[n-1]) < size {
		next := arenaFirstChunk
		if n > 0 {
			next = min(2*cap(a.chunks[n-1]), arenaChunk)
		}
		a.chunks = append(a.chunks, make([]byte, 0, max(next, size)))
		n++
	}
	c := a.chunks[n-1]
	ref := keyRef(uint64(n-1)<<32 | uint64(len(c)))
	c = appendBytesString(c, name)
	c = binary.AppendUvarint(c, uint64(len(labels)))
	for _, l := range labels {
		c = appendBytesString(c, l.Name)
		c = appendBytesString(c, l.Value)
	}
	a.chunks[n-1] = c
	return ref
}

func appendBytesString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// get decodes the key at ref. The strings it returns are new allocations.
func (a *keyArena) get(ref keyRef) (name string, labels stream.Labels) {
	c := a.chunks[ref>>32][uint32(ref):]
	name, c = readString(c)
	n, k := binary.Uvarint(c)
	c = c[k:]
	labels = make(stream.Labels, n)
	for i := range labels {
		labels[i].Name, c = readString(c)
		labels[i].Value, c = readString(c)
	}
	return name, labels
}

func readString(c []byte) (string, []byte) {
	n, k := binary.Uvarint(c)
	return string(c[k : k+int(n)]), c[k+int(n):]
}

// bytes reports the memory held by the arena.
func (a *keyArena) bytes() int {
	var n int
	for _, c := range a.chunks {
		n += cap(c)
	}
	return n
}
