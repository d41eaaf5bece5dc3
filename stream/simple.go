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

// plainBytes has a 1 for each plain byte: the bytes a name of a simple
// record is made of. A table rather than bit tests: no branch depends on
// whether a byte is a letter or a digit.
var plainBytes = func() (t [256]uint8) {
	for c := '!'; c <= '~'; c++ {
		t[c] = 1
	}
	t['"'], t[','], t['='], t['\\'] = 0, 0, 0, 0
	return t
}()

// isPlain reports whether c may be part of a name in a simple record.
func isPlain(c byte) bool { return plainBytes[c] != 0 }

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

// plainName reports whether s is a name of a simple record: not empty,
// and plain bytes only.
func plainName(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isPlain(s[i]) {
			return false
		}
	}
	return s != ""
}

// plainEnd returns the offset of the first byte at or after i that is not
// plain.
func plainEnd(rec []byte, i int) int {
	for i < len(rec) && isPlain(rec[i]) {
		i++
	}
	return i
}

// parseSimpleInt parses v, the digits of an integer field without its
// suffix, into f: an int64 ("i"), or with unsigned a uint64 ("u") of at
// most 19 digits (20 may overflow: those are left to the parser).
func parseSimpleInt(v []byte, unsigned bool, f *simpleField) bool {
	if unsigned && (len(v) == 0 || len(v) > 19 || v[0] == '-') {
		return false
	}
	n, ok := parseInt64(v)
	if unsigned {
		f.value = float64(uint64(n))
	} else {
		f.value = float64(n)
	}
	return ok
}

// pow10 holds the powers of ten a float64 holds exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// parseSimpleValue parses the field value at rec[i:] into f and returns
// the offset after it, which is the end of rec or a ',' or ' '.
func parseSimpleValue(rec []byte, i int, f *simpleField) (int, bool) {
	if i == len(rec) {
		return 0, false
	}
	switch rec[i] {
	case '"':
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
	case 't', 'T', 'f', 'F':
		end := i
		for end < len(rec) && rec[end] != ',' && rec[end] != ' ' {
			end++
		}
		switch string(rec[i:end]) {
		case "t", "T", "true", "True", "TRUE":
			f.value = 1
		case "f", "F", "false", "False", "FALSE":
			f.value = 0
		default:
			return 0, false
		}
		return end, true
	}
	// A number: [-] digits [. digits], an integer if "i" or "u" follows.
	// Read in one pass: the integer m of its digits, and where the dot is.
	d0 := i
	neg := rec[i] == '-'
	if neg {
		d0++
	}
	var m uint64
	dot := -1 // offset of the dot from d0
	end := d0
	for ; end < len(rec); end++ {
		c := rec[end]
		if c-'0' <= 9 {
			m = m*10 + uint64(c-'0') // wraps past 19 digits: then not used
			continue
		}
		if c == '.' && dot < 0 {
			dot = end - d0
			continue
		}
		if c == ',' || c == ' ' {
			break
		}
		if (c == 'i' || c == 'u') && (end+1 == len(rec) || rec[end+1] == ',' || rec[end+1] == ' ') {
			return end + 1, parseSimpleInt(rec[i:end], c == 'u', f)
		}
		return 0, false
	}
	n := end - d0 // digits and dot
	digits, frac := n, 0
	if dot >= 0 {
		digits, frac = n-1, n-1-dot
	}
	if digits == 0 || dot == 0 || dot == n-1 {
		return 0, false
	}
	// Exact when m is below 2⁵³ and 10^frac is a float64 (frac ≤ 22): the
	// quotient of two exact values is then correctly rounded, as
	// strconv.ParseFloat rounds (its own first fast path).
	if digits <= 19 && m < 1<<53 && frac < len(pow10) {
		f.value = float64(m) / pow10[frac]
		if neg {
			f.value = -f.value // -0 is negative zero, as strconv gives
		}
		return end, true
	}
	v := rec[i:end]
	x, err := strconv.ParseFloat(unsafe.String(&v[0], len(v)), 64)
	f.value = x
	return end, err == nil
}
