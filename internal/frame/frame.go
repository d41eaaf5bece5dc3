// Package frame is faultline's one binary container: the layout of
// engine snapshots, deduper state and replay checkpoints, the field
// encoding inside them, and the atomic file write that commits them.
//
// A frame is
//
//	magic (8 bytes) | u32 version | u64 body length | body | u32 CRC-32C
//
// little-endian, the checksum (Castagnoli) covering everything before it.
// Open checks all of it before the body is read. The body is a sequence of
// fields written by a Writer and read back, in the same order, by a
// Reader: fixed-width little-endian integers and floats, varints, strings
// with a varint length. A Reader's first error sticks, so decoding code
// checks it once per section; counts are checked against the bytes left
// before anything is allocated for them.
//
// This package must not know what the frames hold.
package frame

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
)

// MagicLen is the length of a frame's magic.
const MagicLen = 8

// headLen is the length of the magic, version and body length.
const headLen = MagicLen + 4 + 8

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Checksum returns the CRC-32C (Castagnoli) of b.
func Checksum(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// Writer appends a frame's fields. Begin starts one, Finish ends it.
type Writer struct {
	b     []byte
	start int
}

// Begin starts a frame with the given magic (MagicLen bytes) and version
// at the end of dst.
func Begin(dst []byte, magic string, version uint32) *Writer {
	if len(magic) != MagicLen {
		panic("frame: magic must be 8 bytes")
	}
	w := &Writer{b: dst, start: len(dst)}
	w.b = append(w.b, magic...)
	w.U32(version)
	w.U64(0) // the body's length, set by Finish
	return w
}

// Finish sets the body's length, appends the checksum and returns dst
// extended by the frame.
func (w *Writer) Finish() []byte {
	binary.LittleEndian.PutUint64(w.b[w.start+MagicLen+4:], uint64(len(w.b)-w.start-headLen))
	w.U32(Checksum(w.b[w.start:]))
	return w.b
}

// NewWriter returns a Writer that appends fields to dst without a frame
// around them; Data returns them.
func NewWriter(dst []byte) *Writer { return &Writer{b: dst, start: len(dst)} }

// Data returns the bytes written, from the start of the frame (or of
// NewWriter's dst) on.
func (w *Writer) Data() []byte { return w.b[w.start:] }

// Append appends what f appends, for fields with encoders of their own.
func (w *Writer) Append(f func(dst []byte) []byte) { w.b = f(w.b) }

// U8 appends v.
func (w *Writer) U8(v uint8) { w.b = append(w.b, v) }

// U16 appends v.
func (w *Writer) U16(v uint16) { w.b = binary.LittleEndian.AppendUint16(w.b, v) }

// U32 appends v.
func (w *Writer) U32(v uint32) { w.b = binary.LittleEndian.AppendUint32(w.b, v) }

// U64 appends v.
func (w *Writer) U64(v uint64) { w.b = binary.LittleEndian.AppendUint64(w.b, v) }

// I32 appends v.
func (w *Writer) I32(v int32) { w.U32(uint32(v)) }

// I64 appends v.
func (w *Writer) I64(v int64) { w.U64(uint64(v)) }

// F32 appends v's bits.
func (w *Writer) F32(v float32) { w.U32(math.Float32bits(v)) }

// F64 appends v's bits.
func (w *Writer) F64(v float64) { w.U64(math.Float64bits(v)) }

// Uv appends v as an unsigned varint.
func (w *Writer) Uv(v uint64) { w.b = binary.AppendUvarint(w.b, v) }

// Bool appends v as one byte.
func (w *Writer) Bool(v bool) {
	if v {
		w.U8(1)
	} else {
		w.U8(0)
	}
}

// Str appends s with its length.
func (w *Writer) Str(s string) {
	w.Uv(uint64(len(s)))
	w.b = append(w.b, s...)
}

// Bytes appends b with its length.
func (w *Writer) Bytes(b []byte) {
	w.Uv(uint64(len(b)))
	w.b = append(w.b, b...)
}

// Errors of Open, for errors.Is.
var (
	// ErrMagic means the data is not a frame of the kind asked for.
	ErrMagic = errors.New("frame: not the expected kind of file")
	// ErrCorrupt means the frame is truncated, has trailing bytes or fails
	// its checksum.
	ErrCorrupt = errors.New("frame: corrupt")
)

// Open checks a frame of the given magic and returns its version and a
// Reader over its body. It checks the magic, the body's length against
// the data (no truncation, no trailing bytes) and the checksum, and reads
// nothing else.
func Open(raw []byte, magic string) (version uint32, r *Reader, err error) {
	if len(raw) < headLen+4 {
		return 0, nil, fmt.Errorf("%w: %d bytes, shorter than a frame", ErrCorrupt, len(raw))
	}
	if string(raw[:MagicLen]) != magic {
		return 0, nil, fmt.Errorf("%w: magic %q, want %q", ErrMagic, raw[:MagicLen], magic)
	}
	version = binary.LittleEndian.Uint32(raw[MagicLen:])
	n := binary.LittleEndian.Uint64(raw[MagicLen+4:])
	if have := uint64(len(raw) - headLen - 4); n != have {
		return version, nil, fmt.Errorf("%w: body of %d bytes, %d present", ErrCorrupt, n, have)
	}
	if Checksum(raw[:len(raw)-4]) != binary.LittleEndian.Uint32(raw[len(raw)-4:]) {
		return version, nil, fmt.Errorf("%w: checksum mismatch", ErrCorrupt)
	}
	return version, &Reader{b: raw[headLen : len(raw)-4]}, nil
}

// Reader reads the fields a Writer wrote. Its first error sticks: every
// later read returns zero.
type Reader struct {
	b   []byte
	err error
}

// NewReader returns a Reader over b, for fields that are not in a frame
// of their own.
func NewReader(b []byte) *Reader { return &Reader{b: b} }

// ErrTruncated is the sticky error of a read past the end.
var ErrTruncated = errors.New("truncated")

// Err returns the first error met, or nil.
func (r *Reader) Err() error { return r.err }

// Fail records an error of the caller's, unless one is recorded already.
func (r *Reader) Fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf(format, args...)
	}
}

// Len returns the bytes left.
func (r *Reader) Len() int { return len(r.b) }

// Done returns the first error met, or an error if bytes are left.
func (r *Reader) Done() error {
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%d bytes left over", len(r.b))
	}
	return r.err
}

// Take returns the next n bytes, or nil past the end.
func (r *Reader) Take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.err = ErrTruncated
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

// Decode reads a field with a decoder of its own: f decodes the start of
// b and returns the rest. Its error sticks.
func (r *Reader) Decode(f func(b []byte) (rest []byte, err error)) {
	if r.err != nil {
		return
	}
	rest, err := f(r.b)
	if err != nil {
		r.err = err
		return
	}
	r.b = rest
}

// U8 reads a byte.
func (r *Reader) U8() uint8 {
	if b := r.Take(1); b != nil {
		return b[0]
	}
	return 0
}

// U16 reads a uint16.
func (r *Reader) U16() uint16 {
	if b := r.Take(2); b != nil {
		return binary.LittleEndian.Uint16(b)
	}
	return 0
}

// U32 reads a uint32.
func (r *Reader) U32() uint32 {
	if b := r.Take(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

// U64 reads a uint64.
func (r *Reader) U64() uint64 {
	if b := r.Take(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

// I32 reads an int32.
func (r *Reader) I32() int32 { return int32(r.U32()) }

// I64 reads an int64.
func (r *Reader) I64() int64 { return int64(r.U64()) }

// F32 reads a float32.
func (r *Reader) F32() float32 { return math.Float32frombits(r.U32()) }

// F64 reads a float64.
func (r *Reader) F64() float64 { return math.Float64frombits(r.U64()) }

// Bool reads a byte as a bool.
func (r *Reader) Bool() bool { return r.U8() != 0 }

// Str reads a string written by Writer.Str.
func (r *Reader) Str() string { return string(r.Take(r.Count(1))) }

// Bytes reads bytes written by Writer.Bytes; they alias the frame.
func (r *Reader) Bytes() []byte { return r.Take(r.Count(1)) }

// Uv reads an unsigned varint.
func (r *Reader) Uv() uint64 {
	if r.err != nil {
		return 0
	}
	v, k := binary.Uvarint(r.b)
	if k <= 0 {
		r.err = ErrTruncated
		return 0
	}
	r.b = r.b[k:]
	return v
}

// Count reads a length or an element count whose elements take at least
// size bytes each: a count the rest of the data cannot hold is refused
// before anything is allocated for it.
func (r *Reader) Count(size int) int {
	n := r.Uv()
	if r.err == nil && n > uint64(len(r.b)/size) {
		r.Fail("length %d does not fit the %d bytes left", n, len(r.b))
		return 0
	}
	return int(n)
}

// Index reads an index that must be below n.
func (r *Reader) Index(n int) int {
	v := r.Uv()
	if r.err == nil && v >= uint64(n) {
		r.Fail("index %d out of range [0, %d)", v, n)
		return 0
	}
	return int(v)
}
