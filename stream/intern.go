package stream

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// sepByte separates the parts of the raw keys of the intern table. Like sep
// in Hash it never occurs in valid UTF-8, which the line-protocol decoder
// enforces for measurements, tag keys, tag values and field keys, so no two
// different key tuples give the same raw key.
const sepByte = 0xff

const (
	// defaultMaxInterned is the default bound of the intern table, in series.
	defaultMaxInterned = 1 << 18
	// maxMaxInterned caps DecoderOptions.MaxInterned.
	maxMaxInterned = 1 << 30
	// internBytesPerSeries sets the intern table's memory budget: it is
	// reset when its approximate size passes MaxInterned times this.
	internBytesPerSeries = 512
	// smallTagSet is the number of series up to which the series of a tag
	// set are searched linearly rather than through internTable.fields.
	smallTagSet = 16
	// seriesEntrySize is the size of a seriesEntry on 64-bit platforms.
	seriesEntrySize = 48
	// internEntryOverhead approximates the memory a map entry and a list
	// element cost beyond the strings they hold.
	internEntryOverhead = 64
)

// internTable remembers, for the series recently decoded, the sample name,
// the sorted label set and the series identity, so that a repeated series
// costs no allocation and a record one map lookup. It is keyed by raw bytes
// as decoded: the measurement and the tags in input order (a tag set), then
// the field key. It is bounded in series and in bytes, checked before each
// record, and is cleared when full. A tag set of a record in the simple
// subset is also found by its bytes as written (see rawSet), which costs
// its key's bytes once more and saves building the key for every record.
//
// The series of a tag set are kept with it, in the order first seen. Each
// field of a record is first looked for just after where the record's
// previous field was found, so records that repeat their fields in order
// need no search (otherwise a linear one, or a map lookup for large sets).
// Field keys and sample names are shared by all tag sets, which keeps the
// memory a record touches small and hot in cache.
//
// Label sets handed out are shared by every sample of the tag set and must
// not be modified.
type internTable struct {
	sets    map[string]int32 // raw tag-set key → index in setList
	setList []tagSet
	fields  map[string]int32  // for large tag sets: tag-set index (4 bytes LE) + field key → index in the set's series
	keys    map[string]string // field key → the same string, shared by all tag sets
	names   map[string]string // sample name → the same string, shared by all tag sets
	nseries int               // series in all tag sets
	bytes   int               // approximate memory held

	maxSeries int
	maxBytes  int
	resets    int64
	key       []byte // scratch: key of fields
	name      []byte // scratch: sample name

	// prev is the tag set of the record last found by its raw key
	// (rawSetAfter), or -1.
	prev int32
}

// tagSet is one validated tag set of one measurement with its series. Both
// strings point into the set's map key.
type tagSet struct {
	measurement string
	labels      Labels
	series      []seriesEntry
	// oddKeys: a field key of a series is not plain (escaped in line
	// protocol, or not ASCII), so Decoder.decodeKnown leaves the set's
	// records to the parsers.
	oddKeys bool
	// raw is the set's first raw key (see alias), or "" if it has none.
	raw string
	// next is 1 + the tag set of the record that last followed one of
	// this set (see rawSetAfter), or 0.
	next int32
}

// seriesEntry is one series: a field of a tag set.
type seriesEntry struct {
	field string
	name  string
	id    SeriesID
	// stamp is the sequence number of the last record that used the entry;
	// it finds a field repeated within one record.
	stamp int64
}

func (t *internTable) init(maxSeries int) {
	t.maxSeries = maxSeries
	t.maxBytes = maxSeries * internBytesPerSeries
	t.sets = make(map[string]int32)
	t.fields = make(map[string]int32)
	t.keys = make(map[string]string)
	t.names = make(map[string]string)
	t.prev = -1
}

// startRecord clears the table if it has reached its bound. It is called
// before each record, so entries made by one record stay valid until that
// record is decoded, and one record can take the table past its bound by
// what one line holds.
func (t *internTable) startRecord() {
	if t.nseries < t.maxSeries && len(t.setList) < t.maxSeries && t.bytes < t.maxBytes {
		return
	}
	clear(t.sets)
	clear(t.fields)
	clear(t.keys)
	clear(t.names)
	clear(t.setList) // drop the references; samples keep what they use
	t.setList = t.setList[:0]
	t.nseries = 0
	t.bytes = 0
	t.prev = -1
	t.resets++
}

// len returns the number of series in the table.
func (t *internTable) len() int { return t.nseries }

// tagSet returns the tag set whose raw key is key: the measurement (mlen
// bytes), then ntags tags, each tag key and value followed by sepByte. A new
// tag set is validated: if one of its tags is reserved or repeated, tagSet
// returns the index of the first such tag in input order and an error.
func (t *internTable) tagSet(key []byte, mlen, ntags int) (idx int32, badTag int, err error) {
	if i, ok := t.sets[string(key)]; ok {
		return i, 0, nil
	}
	k := string(key)
	labels, badTag, err := parseLabels(k[mlen+1:], ntags)
	if err != nil {
		return -1, badTag, err
	}
	idx = int32(len(t.setList))
	t.setList = append(t.setList, tagSet{measurement: k[:mlen], labels: labels})
	t.sets[k] = idx
	t.bytes += len(k) + len(labels)*32 + internEntryOverhead
	return idx, 0, nil
}

// rawSet returns the tag set of a record of the simple subset (see
// parseSimple) by its measurement and tags as written, raw, if alias has
// named it. Such a key holds no sepByte, so it never meets a key tagSet
// takes, and the records most collectors write skip building that key.
//
// raw not yet validated may be passed too (Decoder.decodeKnown): a key
// tagSet takes always ends with sepByte, so raw not ending with it is
// found only if alias named it, and is then byte for byte the measurement
// and tags of a record parseSimple accepted.
func (t *internTable) rawSet(raw []byte) (int32, bool) {
	if len(raw) == 0 || raw[len(raw)-1] == sepByte {
		return -1, false
	}
	i, ok := t.sets[string(raw)]
	return i, ok
}

// rawSetAfter is rawSet for the tag set of the record that follows the one
// rawSetAfter last found. Collectors write a batch's records in the order
// of the last batch (a Telegraf agent its plugins' series, a fleet's
// batches their hosts), so it tries first the set that followed that one
// last time: a comparison with that set's raw key, which is in cache more
// often than the map's entry for it, instead of a hash and a map lookup.
// Whether it finds the set by this guess or in the map, it finds the same.
func (t *internTable) rawSetAfter(raw []byte) (int32, bool) {
	p := t.prev
	if p >= 0 {
		if n := t.setList[p].next - 1; n >= 0 && t.setList[n].raw == string(raw) {
			t.prev = n
			return n, true
		}
	}
	set, ok := t.rawSet(raw)
	if ok {
		t.follow(set)
	}
	return set, ok
}

// follow records that the current record's tag set is set, for
// rawSetAfter.
func (t *internTable) follow(set int32) {
	if t.prev >= 0 {
		t.setList[t.prev].next = set + 1
	}
	t.prev = set
}

// alias makes raw, the measurement and tags of a simple record as written,
// another key of tag set set.
func (t *internTable) alias(raw []byte, set int32) {
	k := string(raw)
	t.sets[k] = set
	if ts := &t.setList[set]; ts.raw == "" {
		ts.raw = k
	}
	t.bytes += len(k) + internEntryOverhead
}

// labels returns the label set of a tag set.
func (t *internTable) labels(set int32) Labels { return t.setList[set].labels }

// lookup returns the series of field in tag set set, creating it if needed,
// and reports whether record (a sequence number) already used it. It looks
// at position hint of the set's series first and returns the position after
// the one it found, the hint for the record's next field. The entry is valid
// until the next call.
func (t *internTable) lookup(set int32, hint int, field []byte, record int64) (e *seriesEntry, next int, dup bool) {
	ts := &t.setList[set]
	i := hint
	if i >= len(ts.series) || ts.series[i].field != string(field) {
		i = t.find(set, ts, field)
		if i < 0 {
			i = t.add(set, ts, field)
		}
	}
	e = &ts.series[i]
	dup = e.stamp == record
	e.stamp = record
	return e, i + 1, dup
}

// find returns the position of the series of field in tag set ts (number
// set), or -1: by a linear search in a small set, in t.fields for a large
// one.
func (t *internTable) find(set int32, ts *tagSet, field []byte) int {
	if len(ts.series) <= smallTagSet {
		for i := range ts.series {
			if ts.series[i].field == string(field) {
				return i
			}
		}
		return -1
	}
	t.key = appendFieldsKey(t.key[:0], set, field)
	if i, ok := t.fields[string(t.key)]; ok {
		return int(i)
	}
	return -1
}

// add adds the series of field to tag set ts (number set) and returns its
// position.
func (t *internTable) add(set int32, ts *tagSet, field []byte) int {
	f, ok := t.keys[string(field)]
	if !ok {
		f = string(field)
		t.keys[f] = f
		t.bytes += len(f) + internEntryOverhead
	}
	name := t.sampleName(ts.measurement, f)
	if ts.series == nil {
		ts.series = make([]seriesEntry, 0, 4)
	}
	if !plainName(f) {
		ts.oddKeys = true
	}
	ts.series = append(ts.series, seriesEntry{
		field: f,
		name:  name,
		id:    Hash(name, ts.labels),
		stamp: -1,
	})
	t.nseries++
	t.bytes += seriesEntrySize
	switch n := len(ts.series); {
	case n == smallTagSet+1: // the set turns large: index all of it
		for i := range ts.series {
			t.index(set, ts.series[i].field, i)
		}
	case n > smallTagSet+1:
		t.index(set, f, n-1)
	}
	return len(ts.series) - 1
}

// index records in t.fields that field is at position i of tag set set.
func (t *internTable) index(set int32, field string, i int) {
	t.key = appendFieldsKey(t.key[:0], set, field)
	k := string(t.key)
	t.fields[k] = int32(i)
	t.bytes += len(k) + internEntryOverhead
}

// appendFieldsKey appends the key of internTable.fields for a field of a
// tag set to dst.
func appendFieldsKey[T string | []byte](dst []byte, set int32, field T) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(set))
	return append(dst, field...)
}

// sampleName returns the sample name of a field: <measurement>_<field>, or
// just <measurement> for a field named "value".
func (t *internTable) sampleName(measurement, field string) string {
	if field == "value" {
		return measurement
	}
	t.name = append(t.name[:0], measurement...)
	t.name = append(t.name, '_')
	t.name = append(t.name, field...)
	if n, ok := t.names[string(t.name)]; ok {
		return n
	}
	n := string(t.name)
	t.names[n] = n
	t.bytes += len(n) + internEntryOverhead
	return n
}

// parseLabels builds the sorted label set of n tags encoded as in a raw
// tag-set key. If a tag key is reserved (starts with "__") or repeated, it
// returns the index of the first such tag in input order and an error.
func parseLabels(s string, n int) (Labels, int, error) {
	if n == 0 {
		return nil, 0, nil
	}
	ls := make(Labels, n)
	rest := s
	ok := true
	for i := range ls {
		name, r, _ := strings.Cut(rest, sep)
		value, r, _ := strings.Cut(r, sep)
		rest = r
		ls[i] = Label{Name: name, Value: value}
		if strings.HasPrefix(name, "__") {
			ok = false
		}
	}
	if ok {
		ls.Sort()
		for i := 1; i < len(ls); i++ {
			if ls[i].Name == ls[i-1].Name {
				ok = false
				break
			}
		}
	}
	if ok {
		return ls, 0, nil
	}
	// Rare: find the first bad tag in input order.
	seen := make(map[string]struct{}, n)
	rest = s
	for i := range n {
		name, r, _ := strings.Cut(rest, sep)
		_, rest, _ = strings.Cut(r, sep)
		if strings.HasPrefix(name, "__") {
			return nil, i, fmt.Errorf("%w %q", ErrReservedTag, name)
		}
		if _, dup := seen[name]; dup {
			return nil, i, fmt.Errorf("%w %q", ErrDuplicateTag, name)
		}
		seen[name] = struct{}{}
	}
	return nil, 0, fmt.Errorf("%w: no bad tag found", ErrDuplicateTag) // unreachable
}
