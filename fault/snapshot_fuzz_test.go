package fault_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/rules"
	"github.com/faultline-go/faultline/stream"
)

// fuzzSnapConfig is the config of FuzzRestore's engines: dedup off, since
// the deduper's state has its own tests and passes through the file
// system.
func fuzzSnapConfig(tb testing.TB) fault.Config {
	rs, err := rules.Parse("snap.yaml", []byte(snapRules))
	require.NoError(tb, err)
	return fault.Config{Rules: rs, SourceLabel: "check", MaxSources: 3, DisableDedup: true}
}

// FuzzRestore fuzzes Restore with snapshots of a small engine, mutated. An
// input whose first byte is odd has its frame (body length and checksum)
// fixed up after the mutation, so that the fuzzer reaches the decoder
// behind the checksum. Whatever the input, Restore does not panic and
// either fails with ErrBadSnapshot or ErrSnapshotMismatch, or returns an
// engine that snapshots and restores again. Without the fix-up, a mutated
// snapshot is refused.
func FuzzRestore(f *testing.F) {
	cfg := fuzzSnapConfig(f)
	e, err := fault.New(cfg)
	require.NoError(f, err)
	ctx := context.Background()
	var in []stream.Sample
	for i := range 40 {
		for c := range 6 {
			if c == 5 && i > 10 {
				continue // goes absent
			}
			check := "c00000" + string(rune('0'+c))
			ts := t0 + int64(i)*int64(10*time.Second) + int64(c)*int64(time.Second)
			in = append(in, stream.NewSample("check_up", stream.NewLabels("check", check), ts, float64((i+c)%10), ts+int64(50*time.Millisecond)))
		}
	}
	in = append(in, stream.NewSample("echo", stream.NewLabels(fault.OriginLabel, "x"), in[len(in)-1].Time, 1, in[len(in)-1].Arrival))
	for i := 0; i < len(in); i += 60 {
		require.NoError(f, e.Process(ctx, in[i:min(i+60, len(in))]))
		snap, err := e.AppendSnapshot(nil)
		require.NoError(f, err)
		f.Add(append([]byte{0}, snap...))
		f.Add(append([]byte{1}, snap...))
	}
	f.Add([]byte{})
	f.Add([]byte{0, 'F', 'L', 'T'})

	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		fix, snap := data[0]&1 != 0, bytes.Clone(data[1:])
		if fix && len(snap) >= 24 {
			binary.LittleEndian.PutUint64(snap[12:], uint64(len(snap)-24))
			body := snap[:len(snap)-4]
			binary.LittleEndian.PutUint32(snap[len(snap)-4:], crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)))
		}
		r, err := fault.Restore(cfg, bytes.NewReader(snap))
		if err != nil {
			require.Nil(t, r)
			require.True(t, errorIsAny(err, fault.ErrBadSnapshot, fault.ErrSnapshotMismatch), "%v", err)
			return
		}
		again, err := r.AppendSnapshot(nil)
		require.NoError(t, err)
		_, err = fault.Restore(cfg, bytes.NewReader(again))
		require.NoError(t, err)
	})
}

func errorIsAny(err error, targets ...error) bool {
	for _, target := range targets {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}
