package fault_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/bench/scenario"
	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/internal/frame"
	"github.com/faultline-go/faultline/rules"
	"github.com/faultline-go/faultline/stream"
)

// fuzzSnapConfig is the config of FuzzRestore's engines: dedup off, since
// the deduper's state has its own tests and passes through the file
// system, and a short SeriesTTL, so that snapshots hold evicted slots.
func fuzzSnapConfig(tb testing.TB) fault.Config {
	rs, err := rules.Parse("snap.yaml", []byte(snapRules))
	require.NoError(tb, err)
	return fault.Config{Rules: rs, SourceLabel: "check", MaxSources: 3, DisableDedup: true, SeriesTTL: 3 * time.Minute}
}

// FuzzRestore fuzzes Restore with snapshots of a small engine, mutated:
// snapshots taken every minute of a stream with threshold, windowed and
// cohort rules, a fleet periodic gap and per-series gaps, an absence, an
// eviction, bad records and a looped sample, so that every section of the
// snapshot holds something. An
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
	// Eight checks every 10 s; five lose the sample at 20 s into each
	// minute (a fleet gap, and a per-series gap each); c7 stops at 4 min
	// (absent, then evicted); a bad record every 90 s.
	var in []stream.Sample
	for i := range 72 {
		for c := range 8 {
			if c == 7 && i >= 24 || c < 5 && i%6 == 2 {
				continue
			}
			check := "h" + strconv.Itoa(c)
			ts := scenario.Origin + int64(i)*int64(10*time.Second)
			in = append(in, stream.NewSample("check_up", stream.NewLabels("check", check), ts, float64((i+c)%10), ts+int64(50*time.Millisecond)))
		}
	}
	in = append(in, stream.NewSample("echo", stream.NewLabels(fault.OriginLabel, "x"), in[len(in)-1].Time, 1, in[len(in)-1].Arrival))
	for i := 0; i < len(in); i += 48 {
		require.NoError(f, e.Process(ctx, in[i:min(i+48, len(in))]))
		if i%144 == 0 {
			e.BadInput("feed", errors.New("bad record"))
		}
		snap, err := e.AppendSnapshot(nil)
		require.NoError(f, err)
		f.Add(append([]byte{0}, snap...))
		f.Add(append([]byte{1}, snap...))
	}
	st := e.Stats()
	require.NotZero(f, st.FleetGaps, "the seeds hold a fleet gap")
	require.NotZero(f, st.GapsConfirmed, "and per-series gaps")
	require.NotZero(f, st.SeriesEvicted, "and evicted slots")
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
			binary.LittleEndian.PutUint32(snap[len(snap)-4:], frame.Checksum(body))
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
