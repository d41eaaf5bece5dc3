package stream

import (
	"bytes"
	"errors"
	"io"
)

// initialLineBuf is the size of a line reader's buffer before a long line
// makes it grow (never beyond the line bound).
const initialLineBuf = 32 << 10

// maxEmptyReads is how many consecutive (0, nil) reads a lineReader accepts
// before giving up with io.ErrNoProgress, as bufio does.
const maxEmptyReads = 100

// lineReader splits its input into lines. Its buffer grows only as far as a
// line of max bytes and its line ending need (it starts at initialLineBuf
// bytes): lines longer than max bytes are skipped without being buffered.
//
// A read error that is a timeout (see isTimeout) is returned once, keeping
// what was read of a partial line, and the next call reads again; other
// errors are sticky.
type lineReader struct {
	r     io.Reader
	buf   []byte
	start int   // buf[start:end] is read but not yet returned
	end   int   //
	max   int   // longest line accepted, line ending excluded
	skip  bool  // the rest of an overlong line is still to be discarded
	err   error // error from r; io.EOF at the end of input
	bytes int64 // bytes read from r

	// clock, if set, is called after each read that returns data, and
	// stamp is what it returned the last time. Since buf[start:end] holds
	// no '\n' whenever it reads, every line returned was completed by the
	// last read, and stamp is when its line ending (or last byte) arrived.
	clock func() int64
	stamp int64
	// buf[raw0:raw1] is the last line returned, with its line ending
	// (offsets, not a slice: setting them per line costs no write barrier).
	raw0, raw1 int
}

func (lr *lineReader) reset(r io.Reader) {
	lr.r = r
	lr.start, lr.end = 0, 0
	lr.skip = false
	lr.err = nil
}

// next returns the next line without its line ending ("\n" or "\r\n"; the
// last line may lack one, and a trailing "\r" is dropped from it too). The
// line stays valid until the next call. A line longer than max is reported
// with long set and its first max bytes; its remainder is discarded on the
// next call. At the end of input next returns io.EOF; other read errors are
// returned as they are, after the complete lines read before them (a partial
// last line is dropped, except after a timeout, which is returned once). The
// line's raw bytes, its line ending included, are buf[raw0:raw1].
func (lr *lineReader) next() (line []byte, long bool, err error) {
	lr.raw0, lr.raw1 = 0, 0
	if lr.skip {
		if err := lr.discardLine(); err != nil {
			return nil, false, err
		}
	}
	scanned := 0 // bytes of buf[start:end] known to hold no '\n'
	for {
		if i := bytes.IndexByte(lr.buf[lr.start+scanned:lr.end], '\n'); i >= 0 {
			return lr.bound(lr.cut(scanned + i))
		}
		scanned = lr.end - lr.start
		if lr.err != nil {
			if lr.err != io.EOF && isTimeout(lr.err) {
				err, lr.err = lr.err, nil // once; the partial line stays
				return nil, false, err
			}
			if scanned == 0 || lr.err != io.EOF {
				lr.start = lr.end
				return nil, false, lr.err
			}
			line = lr.buf[lr.start:lr.end]
			lr.raw0, lr.raw1 = lr.start, lr.end
			lr.start = lr.end
			return lr.bound(trimCR(line))
		}
		if scanned > lr.max+1 {
			// Even if the next byte is the '\n' of a "\r\n", the line is
			// longer than max.
			lr.skip = true
			line = lr.buf[lr.start : lr.start+lr.max]
			lr.raw0, lr.raw1 = lr.start, lr.start+lr.max
			lr.start = lr.end
			return line, true, nil
		}
		lr.fill()
	}
}

// cut returns the line whose '\n' is i bytes into buf[start:end], without
// its line ending, and moves past it.
func (lr *lineReader) cut(i int) []byte {
	line := lr.buf[lr.start : lr.start+i]
	lr.raw0, lr.raw1 = lr.start, lr.start+i+1
	lr.start += i + 1
	return trimCR(line)
}

// bound reports a complete line longer than max as long, and its first
// max bytes as its raw bytes.
func (lr *lineReader) bound(line []byte) ([]byte, bool, error) {
	if len(line) > lr.max {
		lr.raw1 = lr.raw0 + lr.max
		return line[:lr.max], true, nil
	}
	return line, false, nil
}

// discardLine drops input up to and including the next '\n'.
func (lr *lineReader) discardLine() error {
	for {
		if i := bytes.IndexByte(lr.buf[lr.start:lr.end], '\n'); i >= 0 {
			lr.start += i + 1
			lr.skip = false
			return nil
		}
		lr.start, lr.end = 0, 0
		if lr.err != nil {
			if lr.err != io.EOF && isTimeout(lr.err) {
				err := lr.err // once; the line is still to be discarded
				lr.err = nil
				return err
			}
			lr.skip = false
			if lr.err == io.EOF {
				return nil // the overlong line was the last one
			}
			return lr.err
		}
		lr.fill()
	}
}

// fill reads more input after buf[start:end], first moving that to the
// front of the buffer and growing the buffer if it is full.
func (lr *lineReader) fill() {
	if lr.start > 0 {
		lr.end = copy(lr.buf, lr.buf[lr.start:lr.end])
		lr.start = 0
	}
	if lr.end == len(lr.buf) {
		// next reports a line as long before it fills max+2 bytes, so the
		// buffer grows only up to that (or initialLineBuf, for short lines).
		limit := max(lr.max+2, initialLineBuf)
		size := min(max(2*len(lr.buf), initialLineBuf), limit)
		buf := make([]byte, max(size, len(lr.buf)+1))
		copy(buf, lr.buf[:lr.end])
		lr.buf = buf
	}
	for range maxEmptyReads {
		n, err := lr.r.Read(lr.buf[lr.end:])
		if n < 0 || n > len(lr.buf)-lr.end {
			lr.err = errBadRead
			return
		}
		lr.end += n
		lr.bytes += int64(n)
		if n > 0 && lr.clock != nil {
			lr.stamp = lr.clock()
		}
		if err != nil {
			lr.err = err
			return
		}
		if n > 0 {
			return
		}
	}
	lr.err = io.ErrNoProgress
}

// trimCR removes one trailing '\r'.
func trimCR(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\r' {
		return b[:n-1]
	}
	return b
}

// isTimeout reports whether err is a timeout, as a read deadline of a
// net.Conn gives (os.ErrDeadlineExceeded): an error in its chain has a
// Timeout method that returns true. Reading again may succeed.
func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
