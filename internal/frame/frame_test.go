package frame_test

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/internal/frame"
)

const magic = "FLTTEST\x00"

func sample() []byte {
	w := frame.Begin([]byte("prefix"), magic, 7)
	w.U8(1)
	w.U16(2)
	w.U32(3)
	w.U64(4)
	w.I32(-5)
	w.I64(-6)
	w.F32(7.5)
	w.F64(math.Inf(-1))
	w.Uv(300)
	w.Bool(true)
	w.Str("héllo")
	w.Bytes([]byte{9, 9})
	return w.Finish()
}

func TestRoundTrip(t *testing.T) {
	b := sample()
	require.Equal(t, "prefix", string(b[:6]))
	v, r, err := frame.Open(b[6:], magic)
	require.NoError(t, err)
	require.EqualValues(t, 7, v)
	require.EqualValues(t, 1, r.U8())
	require.EqualValues(t, 2, r.U16())
	require.EqualValues(t, 3, r.U32())
	require.EqualValues(t, 4, r.U64())
	require.EqualValues(t, -5, r.I32())
	require.EqualValues(t, -6, r.I64())
	require.EqualValues(t, 7.5, r.F32())
	require.True(t, math.IsInf(r.F64(), -1))
	require.EqualValues(t, 300, r.Uv())
	require.True(t, r.Bool())
	require.Equal(t, "héllo", r.Str())
	require.Equal(t, []byte{9, 9}, r.Bytes())
	require.NoError(t, r.Done())
}

func TestOpenRefusesDamage(t *testing.T) {
	b := sample()[6:]
	_, _, err := frame.Open(b, "FLTOTHER")
	require.ErrorIs(t, err, frame.ErrMagic)
	for _, cut := range []int{0, 5, 20, len(b) - 1} {
		_, _, err := frame.Open(b[:cut], magic)
		require.ErrorIs(t, err, frame.ErrCorrupt, "cut at %d", cut)
	}
	_, _, err = frame.Open(append(bytes.Clone(b), 0), magic)
	require.ErrorIs(t, err, frame.ErrCorrupt)
	for i := frame.MagicLen; i < len(b); i++ {
		bad := bytes.Clone(b)
		bad[i] ^= 0x40
		_, _, err := frame.Open(bad, magic)
		require.ErrorIs(t, err, frame.ErrCorrupt, "flipped byte %d", i)
	}
}

func TestReaderErrorsStick(t *testing.T) {
	r := frame.NewReader([]byte{5, 1, 2})
	require.Zero(t, r.Count(1), "5 elements of a byte do not fit in 2 bytes")
	require.Error(t, r.Err())
	require.Zero(t, r.U8(), "reads after an error return zero")

	r = frame.NewReader([]byte{3})
	require.Zero(t, r.Index(3))
	require.ErrorContains(t, r.Err(), "out of range")

	r = frame.NewReader([]byte{1, 2})
	r.U8()
	require.ErrorContains(t, r.Done(), "1 bytes left over")
	r = frame.NewReader(nil)
	r.U32()
	require.ErrorIs(t, r.Err(), frame.ErrTruncated)
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "state")
	require.NoError(t, frame.WriteFile(p, []byte("one")))
	require.NoError(t, frame.WriteFile(p, []byte("two")))
	got, err := os.ReadFile(p)
	require.NoError(t, err)
	require.Equal(t, "two", string(got))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary file left")
	require.Error(t, frame.WriteFile(filepath.Join(dir, "missing", "x"), nil))
}

// RemoveTemps removes what a WriteFile killed before its rename leaves
// (a regular file named as os.CreateTemp names WriteFile's: the file's
// name, ".tmp-", its number), and nothing else: not the file, not the
// temporary files of other files, not names that only look alike. A "*"
// in the file's name is part of it, not where the number goes.
func TestRemoveTemps(t *testing.T) {
	for _, name := range []string{"state", "st*ate"} {
		dir := t.TempDir()
		p := filepath.Join(dir, name)
		require.NoError(t, frame.WriteFile(p, []byte("checkpoint")))
		var leftovers []string
		for range 2 {
			f, err := os.CreateTemp(dir, name+".tmp-*") // as WriteFile creates them
			require.NoError(t, err)
			require.NoError(t, f.Close())
			leftovers = append(leftovers, f.Name())
		}
		keep := []string{name, name + ".tmp-", name + ".tmp-1x", name + ".tmp-1.bak", name + ".tmp--1",
			"x" + name + ".tmp-1", name + "2.tmp-1", name + ".lock", "other.tmp-1"}
		for _, k := range keep[1:] {
			require.NoError(t, os.WriteFile(filepath.Join(dir, k), nil, 0o600))
		}
		require.NoError(t, os.Mkdir(filepath.Join(dir, name+".tmp-9"), 0o755)) // not a regular file
		keep = append(keep, name+".tmp-9")

		removed, err := frame.RemoveTemps(p)
		require.NoError(t, err)
		require.ElementsMatch(t, leftovers, removed, name)
		var left []string
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		for _, e := range entries {
			left = append(left, e.Name())
		}
		require.ElementsMatch(t, keep, left, name)
	}
	_, err := frame.RemoveTemps(filepath.Join(t.TempDir(), "missing", "state"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestOwnEncoders(t *testing.T) {
	w := frame.NewWriter([]byte("x"))
	w.Append(func(dst []byte) []byte { return append(dst, 'a', 'b') })
	w.U8(3)
	require.Equal(t, "ab\x03", string(w.Data()))
	r := frame.NewReader(w.Data())
	var got []byte
	r.Decode(func(b []byte) ([]byte, error) { got = b[:2]; return b[2:], nil })
	require.Equal(t, "ab", string(got))
	require.EqualValues(t, 3, r.U8())
	r.Decode(func(b []byte) ([]byte, error) { return nil, errors.New("bad") })
	require.EqualError(t, r.Err(), "bad")
}
