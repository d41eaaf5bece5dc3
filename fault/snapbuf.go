package fault

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// enc appends little-endian fields to a snapshot.
type enc struct{ b []byte }

func (w *enc) u8(v uint8)   { w.b = append(w.b, v) }
func (w *enc) u16(v uint16) { w.b = binary.LittleEndian.AppendUint16(w.b, v) }
func (w *enc) u32(v uint32) { w.b = binary.LittleEndian.AppendUint32(w.b, v) }
func (w *enc) u64(v uint64) { w.b = binary.LittleEndian.AppendUint64(w.b, v) }
func (w *enc) i64(v int64)  { w.u64(uint64(v)) }
func (w *enc) i32(v int32)  { w.u32(uint32(v)) }
func (w *enc) f64(v float64) {
	w.u64(math.Float64bits(v))
}
func (w *enc) f32(v float32) { w.u32(math.Float32bits(v)) }
func (w *enc) uv(v uint64)   { w.b = binary.AppendUvarint(w.b, v) }
func (w *enc) bool(v bool) {
	if v {
		w.u8(1)
	} else {
		w.u8(0)
	}
}
func (w *enc) str(s string) {
	w.uv(uint64(len(s)))
	w.b = append(w.b, s...)
}

// dec reads the fields enc wrote. Its first error sticks: every later read
// returns zero, so decoding code checks err once per section, and nothing
// it reads past a problem is used.
type dec struct {
	b   []byte
	err error
}

// errTruncated is the sticky error of a read past the end.
var errTruncated = errors.New("truncated")

func (r *dec) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf(format, args...)
	}
}

func (r *dec) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.err = errTruncated
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *dec) u8() uint8 {
	if b := r.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *dec) u16() uint16 {
	if b := r.take(2); b != nil {
		return binary.LittleEndian.Uint16(b)
	}
	return 0
}

func (r *dec) u32() uint32 {
	if b := r.take(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (r *dec) u64() uint64 {
	if b := r.take(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

func (r *dec) i64() int64    { return int64(r.u64()) }
func (r *dec) i32() int32    { return int32(r.u32()) }
func (r *dec) f64() float64  { return math.Float64frombits(r.u64()) }
func (r *dec) f32() float32  { return math.Float32frombits(r.u32()) }
func (r *dec) bool() bool    { return r.u8() != 0 }
func (r *dec) str() string   { return string(r.take(r.count(1))) }
func (r *dec) bytes() []byte { return r.take(r.count(1)) }

func (r *dec) uv() uint64 {
	if r.err != nil {
		return 0
	}
	v, k := binary.Uvarint(r.b)
	if k <= 0 {
		r.err = errTruncated
		return 0
	}
	r.b = r.b[k:]
	return v
}

// count reads a length or an element count whose elements take at least
// size bytes each: a count the rest of the snapshot cannot hold is refused
// before anything is allocated for it.
func (r *dec) count(size int) int {
	n := r.uv()
	if r.err == nil && n > uint64(len(r.b)/size) {
		r.fail("length %d does not fit the %d bytes left", n, len(r.b))
		return 0
	}
	return int(n)
}

// index reads an index that must be below n.
func (r *dec) index(n int) int {
	v := r.uv()
	if r.err == nil && v >= uint64(n) {
		r.fail("index %d out of range [0, %d)", v, n)
		return 0
	}
	return int(v)
}
