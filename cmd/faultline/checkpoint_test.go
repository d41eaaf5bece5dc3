package main

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/internal/frame"
)

func TestCheckpointRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state")
	ck := checkpoint{position: 1234, digest: 0xfeedface, events: map[string]int{"absence": 3, "periodic_gap": 1}, snapshot: []byte("engine snapshot")}
	require.NoError(t, writeCheckpoint(path, ck))
	got, err := readCheckpoint(path)
	require.NoError(t, err)
	require.Equal(t, ck, got)

	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, ckptMagic, string(raw[:frame.MagicLen]))
	require.EqualValues(t, ckptVersion, binary.LittleEndian.Uint32(raw[frame.MagicLen:]))

	// Overwriting leaves one file, no temporary ones.
	ck.position++
	require.NoError(t, writeCheckpoint(path, ck))
	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	require.Len(t, entries, 1)
	got, err = readCheckpoint(path)
	require.NoError(t, err)
	require.Equal(t, ck.position, got.position)

	_, err = readCheckpoint(filepath.Join(t.TempDir(), "none"))
	require.ErrorIs(t, err, errNoCheckpoint)
}

// TestCheckpointRefusesVersion1: a checkpoint in the version 1 layout of
// earlier builds (magic, u32 version, u64 position, u32 entries of a u16
// length, key and u64 count, u64 length and bytes of the snapshot, u32
// CRC-32C) is refused, by the CLI too, and the error names both versions.
func TestCheckpointRefusesVersion1(t *testing.T) {
	le := binary.LittleEndian
	b := append([]byte(nil), ckptMagic...)
	b = le.AppendUint32(b, 1)
	b = le.AppendUint64(b, 42)
	b = le.AppendUint32(b, 1)
	b = le.AppendUint16(b, uint16(len("absence")))
	b = append(b, "absence"...)
	b = le.AppendUint64(b, 2)
	b = le.AppendUint64(b, 4)
	b = append(b, "snap"...)
	b = le.AppendUint32(b, frame.Checksum(b))

	path := filepath.Join(t.TempDir(), "state")
	require.NoError(t, os.WriteFile(path, b, 0o644))
	_, err := readCheckpoint(path)
	require.ErrorContains(t, err, "not a readable checkpoint: version 1, this build reads version 3")

	code, stdout, stderr := runCLI(t, "", "replay", "--capture", "--state", path)
	require.Equal(t, exitFail, code)
	require.Empty(t, stdout)
	require.Contains(t, stderr, "version 1, this build reads version 3")
}

// TestCheckpointRefusesVersion2: version 2, without the digest of the
// records covered, is refused too.
func TestCheckpointRefusesVersion2(t *testing.T) {
	w := frame.Begin(nil, ckptMagic, 2)
	w.I64(1)
	w.Uv(0)
	w.Bytes([]byte("snap"))
	path := filepath.Join(t.TempDir(), "state")
	require.NoError(t, os.WriteFile(path, w.Finish(), 0o644))
	_, err := readCheckpoint(path)
	require.ErrorContains(t, err, "version 2, this build reads version 3")
}

// TestCheckpointRefusesDamage: every field is checked, not only the frame.
func TestCheckpointRefusesDamage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state")
	f := func(raw []byte, want string) {
		t.Helper()
		require.NoError(t, os.WriteFile(path, raw, 0o644))
		_, err := readCheckpoint(path)
		require.ErrorContains(t, err, "not a readable checkpoint")
		require.ErrorContains(t, err, want)
	}
	body := func(fill func(w *frame.Writer)) []byte {
		w := frame.Begin(nil, ckptMagic, ckptVersion)
		fill(w)
		return w.Finish()
	}
	f(body(func(w *frame.Writer) { w.I64(-1); w.U64(0); w.Uv(0); w.Bytes(nil) }), "negative position")
	f(body(func(w *frame.Writer) { w.I64(1); w.U64(0); w.Uv(1000); w.Bytes(nil) }), "does not fit")
	f(body(func(w *frame.Writer) {
		w.I64(1)
		w.U64(0)
		w.Uv(2)
		w.Str("b")
		w.U64(1)
		w.Str("a")
		w.U64(1)
		w.Bytes(nil)
	}), `"a" out of order`)
	f(body(func(w *frame.Writer) { w.I64(1); w.U64(0); w.Uv(0); w.Bytes(nil); w.U8(0) }), "left over")
	f(body(func(w *frame.Writer) { w.I64(1); w.U64(0); w.Uv(0) }), "truncated")

	good := body(func(w *frame.Writer) { w.I64(1); w.U64(0); w.Uv(0); w.Bytes([]byte("snap")) })
	f(good[:len(good)-1], "corrupt")
	flipped := bytes.Clone(good)
	flipped[len(flipped)-6] ^= 1
	f(flipped, "checksum mismatch")
	f([]byte("junk"), "corrupt")
	f(append([]byte("FLTDEDUP"), good[frame.MagicLen:]...), "not the expected kind")
}
