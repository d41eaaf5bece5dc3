package stream

import (
	"strconv"
	"unsafe"
)

// A fast path for the records collectors write most: no escapes, no quotes
// in names, ASCII only, single spaces. parseSimple parses such a record in
// one pass; anything else, valid or not, it leaves to the line-protocol
// parser (line-protocol/v2), which also gives the errors. Whatever
// parseSimple accepts, that parser accepts with the same parts and values:
// FuzzSimpleRecord and TestSimpleRecordCorpus check this against it, on
// random input and on its own test corpus.
//
// The simple subset, with plain = the bytes '!'…'~' except , = \ ":
//
//	record    = name { "," name "=" name } " " field { "," field } [ " " timestamp ]
//	name      = plain { plain }            (a measurement may not start with '#')
//	field     = name "=" value
//	value     = float | int "i" | digits "u" | bool | string
//	float     = [ "-" ] digits [ "." digits ]
//	int       = [ "-" ] digits
//	bool      = t | T | true | True | TRUE | f | F | false | False | FALSE
//	string    = '"' { ' '…'~' except " and \ } '"'
//	timestamp = [ "-" ] digits             (an int64)

// plainLo and plainHi are the plain bytes below 64 and from 64 to 127, one
// bit each.
const (
	plainLo uint64 = 0xffff_fffe_0000_0000 &^ (1<<'"' | 1<<',' | 1<<'=')
	plainHi uint64 = (1<<63 - 1) &^ (1 << ('\\' - 64))
)

// isPlain reports whether c may be part of a name in a simple record.
func isPlain(c byte) bool {
	if c < 64 {
		return plainLo>>c&1 != 0
	}
	return c < 128 && plainHi>>(c-64)&1 != 0
}

// simpleRecord is a record parsed by parseSimple: offsets into it and the
// fields' values.
type simpleRecord struct {
	mEnd   int          // the measurement is rec[:mEnd]
	tags   []simpleSpan // key and value of each tag
	fields []simpleField
	hasTS  bool
	ts     int64
}

// simpleSpan is the key rec[k0:k1] and the value rec[v0:v1] of a tag.
type simpleSpan struct{ k0, k1, v0, v1 int32 }

// simpleField is the key rec[k0:k1] of a field and its value; str is set
// for a string field, whose value is not kept.
type simpleField struct {
	k0, k1 int32
	str    bool
	value  float64
}

// parseSimple parses rec, a record without its line ending, into r if it is
// in the simple subset, and reports whether it is.
func parseSimple(rec []byte, r *simpleRecord) bool {
	r.tags, r.fields, r.hasTS = r.tags[:0], r.fields[:0], false
	if len(rec) == 0 || rec[0] == '#' {
		return false
	}
	i := plainEnd(rec, 0)
	if i == 0 {
		return false
	}
	r.mEnd = i
	for i < len(rec) && rec[i] == ',' {
		k0 := i + 1
		k1 := plainEnd(rec, k0)
		if k1 == k0 || k1 == len(rec) || rec[k1] != '=' {
			return false
		}
		v1 := plainEnd(rec, k1+1)
		if v1 == k1+1 {
			return false
		}
		r.tags = append(r.tags, simpleSpan{int32(k0), int32(k1), int32(k1 + 1), int32(v1)})
		i = v1
	}
	if i == len(rec) || rec[i] != ' ' {
		return false
	}
	for {
		k0 := i + 1
		k1 := plainEnd(rec, k0)
		if k1 == k0 || k1 == len(rec) || rec[k1] != '=' {
			return false
		}
		f := simpleField{k0: int32(k0), k1: int32(k1)}
		var ok bool
		if i, ok = parseSimpleValue(rec, k1+1, &f); !ok {
			return false
		}
		r.fields = append(r.fields, f)
		if i == len(rec) {
			return true
		}
		if rec[i] == ' ' {
			break
		}
		if rec[i] != ',' {
			return false
		}
	}
	ts, ok := parseInt64(rec[i+1:])
	r.ts, r.hasTS = ts, ok
	return ok
}

// plainEnd returns the offset of the first byte at or after i that is not
// plain.
func plainEnd(rec []byte, i int) int {
	for i < len(rec) && isPlain(rec[i]) {
		i++
	}
	return i
}

// parseSimpleValue parses the field value at rec[i:] into f and returns
// the offset after it, which is the end of rec or a ',' or ' '.
func parseSimpleValue(rec []byte, i int, f *simpleField) (int, bool) {
	if i == len(rec) {
		return 0, false
	}
	if rec[i] == '"' {
		for j := i + 1; j < len(rec); j++ {
			switch c := rec[j]; {
			case c == '"':
				f.str = true
				return j + 1, j+1 == len(rec) || rec[j+1] == ',' || rec[j+1] == ' '
			case c < ' ' || c > '~' || c == '\\':
				return 0, false
			}
		}
		return 0, false
	}
	end := i
	for end < len(rec) && rec[end] != ',' && rec[end] != ' ' {
		end++
	}
	if end == i {
		return 0, false
	}
	v := rec[i:end]
	switch v[0] {
	case 't', 'T', 'f', 'F':
		switch string(v) {
		case "t", "T", "true", "True", "TRUE":
			f.value = 1
		case "f", "F", "false", "False", "FALSE":
			f.value = 0
		default:
			return 0, false
		}
		return end, true
	}
	switch v[len(v)-1] {
	case 'i':
		n, ok := parseInt64(v[:len(v)-1])
		f.value = float64(n)
		return end, ok
	case 'u':
		digits := v[:len(v)-1]
		if len(digits) == 0 || len(digits) > 19 || digits[0] == '-' {
			return 0, false // 20 digits may overflow: leave them to the parser
		}
		n, ok := parseInt64(digits) // 19 digits fit an int64 unless they start with 9…
		if !ok {
			return 0, false
		}
		f.value = float64(uint64(n))
		return end, true
	}
	// A float: [-] digits [. digits].
	neg := v[0] == '-'
	d := v
	if neg {
		d = v[1:]
	}
	dot := -1
	for j, c := range d {
		switch {
		case c == '.' && dot < 0:
			dot = j
		case c < '0' || c > '9':
			return 0, false
		}
	}
	if len(d) == 0 || dot == 0 || dot == len(d)-1 {
		return 0, false
	}
	if dot < 0 && len(d) <= 15 { // an integer below 2⁵³: exact
		n, _ := parseInt64(d)
		f.value = float64(n)
		if neg {
			f.value = -f.value // -0 is negative zero, as strconv gives
		}
		return end, true
	}
	x, err := strconv.ParseFloat(unsafe.String(&v[0], len(v)), 64)
	f.value = x
	return end, err == nil
}
