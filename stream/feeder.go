package stream

import "errors"

// errEndOfRecord is what a feeder returns when the line-protocol decoder
// reads past the record it was given, which only an unterminated string
// field does. The decoder then sees the end of its input and reports the
// string as unterminated; the Decoder replaces it before the next record.
var errEndOfRecord = errors.New("stream: read past the end of a record")

// feeder is the io.Reader under the Decoder's line-protocol decoder. It
// serves one record at a time, followed by a '\n', so that one long-lived
// line-protocol decoder parses every record without allocating, while the
// Decoder keeps control of line splitting, line length and comments.
//
// The first Read after load returns a single byte. The line-protocol decoder
// then holds just that byte when it starts the entry, slides it to the front
// of its buffer and reads the rest of the record behind it, so its buffer
// holds one record at a time and never grows beyond what the longest record
// needs. (Served in one piece, records longer than 256 bytes would pile up in
// that buffer and make it grow without bound.)
type feeder struct {
	rec   []byte // bytes of the record not yet served
	nl    bool   // the '\n' ending the record is not yet served
	first bool   // serve one byte only
	dead  bool   // a Read asked for bytes past the record
}

// load makes rec (a line without its line ending) the next record to serve.
// The bytes must stay unchanged until the record is decoded.
func (f *feeder) load(rec []byte) {
	f.rec = rec
	f.nl = true
	f.first = true
}

// pending reports whether part of the current record has not been served.
func (f *feeder) pending() bool { return len(f.rec) > 0 || f.nl }

// Read implements io.Reader.
func (f *feeder) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if len(f.rec) == 0 {
		if !f.nl {
			f.dead = true
			return 0, errEndOfRecord
		}
		p[0] = '\n'
		f.nl = false
		return 1, nil
	}
	if f.first {
		p = p[:1]
		f.first = false
	}
	n := copy(p, f.rec)
	f.rec = f.rec[n:]
	if len(f.rec) == 0 && n < len(p) {
		p[n] = '\n'
		n++
		f.nl = false
	}
	return n, nil
}
