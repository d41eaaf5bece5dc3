package stream

import (
	"hash/maphash"
	"unsafe"
)

const (
	// defaultMaxRepeats is the default bound of the repeat table, in
	// records.
	defaultMaxRepeats = 1 << 10
	// maxMaxRepeats caps DecoderOptions.MaxRepeats.
	maxMaxRepeats = 1 << 20
	// repeatBytesPerRecord sets the repeat table's memory budget: it is
	// cleared when its approximate size would pass MaxRepeats times this.
	repeatBytesPerRecord = 512
	// repeatEntryOverhead approximates what a record costs in the table
	// besides its bytes and samples: its entry and two index slots.
	repeatEntryOverhead = int(unsafe.Sizeof(repeatEntry{})) + 16
	// sampleSize is the size of a Sample.
	sampleSize = int(unsafe.Sizeof(Sample{}))
	// maxRepeatCost is the most a record may cost (as repeatTable.bytes
	// counts) to be remembered: a few huge records must not keep clearing
	// the table.
	maxRepeatCost = 16 << 10
	// sparseEvery is how seldom a table that found next to no copies
	// looks a record up and remembers it: one in sparseEvery (see
	// repeatTable.sparse).
	sparseEvery = 16
)

// repeatTable remembers the records recently decoded without error, each
// with its samples, so that an exact copy of one (at-least-once delivery
// makes most records copies) is recognised by a hash and a byte comparison
// and costs no parsing. It is keyed by the line-protocol record's bytes
// alone (for Capture, what follows the arrival prefix), and holds what the
// bytes determine: the samples' names, labels, series and values, the
// timestamp as written and the number of string fields. Dating a record
// (precision, arrival) is done for every delivery, so copies decode exactly
// as the first one did.
//
// It is bounded in records and in bytes, checked before each record is
// added, and is cleared when full, so one record can take it past its byte
// budget by at most maxRepeatCost: larger records are not remembered.
type repeatTable struct {
	index   []uint64 // open addressing: the high 32 bits of the hash, then position in entries + 1; 0 for none
	entries []repeatEntry
	recs    []byte   // the entries' records, back to back
	samples []Sample // the entries' samples, Time and Arrival unset

	seed       maphash.Seed
	maxEntries int
	maxBytes   int
	bytes      int // approximate memory held: 2× the records (their bytes and the strings taken from them), samples and entries
	hits       int64
	resets     int64

	// A stream without copies would pay for hashing, looking up and
	// remembering every record and gain nothing: about a sixth of decoding
	// a 3-field record. When a table filled up with fewer hits than one per
	// 64 records, it turns sparse: it looks up, and remembers if not found,
	// one record in sparseEvery, so that copies, if they start, are still
	// found (one in sparseEvery² at first), and the first hit turns it
	// back. Nothing is lost either way: a copy not found is parsed.
	fillHits int64 // hits since the last reset
	sparse   bool
	skip     int // records to pass before the next is looked up, while sparse
}

// repeatEntry is one record of a repeatTable.
type repeatEntry struct {
	hash        uint64
	rec, recEnd int32 // recs[rec:recEnd] is the record
	smp, smpEnd int32 // samples[smp:smpEnd] are its samples
	ts          int64 // the timestamp as written, in units of the precision
	strs        int32 // string fields skipped
	hasTS       bool  // the record has a timestamp
}

// init sizes the table for maxEntries records; 0 disables it.
func (t *repeatTable) init(maxEntries int) {
	t.seed = maphash.MakeSeed()
	t.maxEntries = maxEntries
	t.maxBytes = maxEntries * repeatBytesPerRecord
	if maxEntries == 0 {
		return
	}
	n := 1
	for n < 2*maxEntries { // a load factor of ½ at most
		n *= 2
	}
	t.index = make([]uint64, n)
}

// look reports whether the next record is to be looked up in the table,
// and added if not found: every record, or one in sparseEvery while the
// table is sparse; none if the table is disabled.
func (t *repeatTable) look() bool {
	if !t.sparse {
		return t.maxEntries > 0
	}
	if t.skip > 0 {
		t.skip--
		return false
	}
	t.skip = sparseEvery - 1
	return true
}

// hash returns the hash of a record. It is seeded per table: it only
// spreads records over the index, and the bytes are compared on a match.
func (t *repeatTable) hash(rec []byte) uint64 { return maphash.Bytes(t.seed, rec) }

// find returns the entry of record rec, whose hash is h, or nil.
func (t *repeatTable) find(h uint64, rec []byte) *repeatEntry {
	mask := uint64(len(t.index) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		p := t.index[i]
		if p == 0 {
			return nil
		}
		if p>>32 != h>>32 {
			continue // not the same hash: no need to look at the entry
		}
		e := &t.entries[uint32(p)-1]
		if e.hash == h && string(t.recs[e.rec:e.recEnd]) == string(rec) {
			return e
		}
	}
}

// entrySamples returns the samples of an entry.
func (t *repeatTable) entrySamples(e *repeatEntry) []Sample { return t.samples[e.smp:e.smpEnd] }

// add remembers record rec, whose hash is h and which is not in the table,
// with its samples and what dates them. It clears the table first if it is
// full. It is called for records look chose.
func (t *repeatTable) add(h uint64, rec []byte, samples []Sample, ts int64, hasTS bool, strs int64) {
	cost := 2*len(rec) + len(samples)*sampleSize + repeatEntryOverhead
	if cost > maxRepeatCost {
		return
	}
	if len(t.entries) == t.maxEntries || t.bytes+cost > t.maxBytes {
		t.reset()
	}
	e := repeatEntry{
		hash:  h,
		rec:   int32(len(t.recs)),
		smp:   int32(len(t.samples)),
		ts:    ts,
		strs:  int32(strs),
		hasTS: hasTS,
	}
	t.recs = append(t.recs, rec...)
	if len(samples) == 1 { // most records: no call to copy a slice
		t.samples = append(t.samples, samples[0])
	} else {
		t.samples = append(t.samples, samples...)
	}
	e.recEnd, e.smpEnd = int32(len(t.recs)), int32(len(t.samples))
	t.entries = append(t.entries, e)
	t.bytes += cost
	mask := uint64(len(t.index) - 1)
	i := h & mask
	for t.index[i] != 0 {
		i = (i + 1) & mask
	}
	t.index[i] = h>>32<<32 | uint64(len(t.entries))
}

// hit counts a record found in the table.
func (t *repeatTable) hit() {
	t.hits++
	t.fillHits++
	t.sparse = false
}

// reset clears the table, keeping its memory, and decides from the hits
// since the last reset whether it goes on sparse.
func (t *repeatTable) reset() {
	t.sparse = t.fillHits*64 < int64(len(t.entries))
	t.fillHits, t.skip = 0, 0
	clear(t.index)
	clear(t.samples) // drop the references to names and labels
	t.entries = t.entries[:0]
	t.recs = t.recs[:0]
	t.samples = t.samples[:0]
	t.bytes = 0
	t.resets++
}

// len returns the number of records in the table.
func (t *repeatTable) len() int { return len(t.entries) }
