package dedup

import (
	"encoding/binary"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/stream"
)

// fuzzKey is a key of the exact model.
type fuzzKey struct {
	series stream.SeriesID
	ts     int64
}

// fuzzOps decodes a fuzz input into a window and a sequence of deliveries.
// Each delivery takes 4 bytes: a series (8 of them), a mode and a step,
// a value (3 of them). Most sample times move around the last one by
// small steps, so keys repeat and generations rotate; some are taken
// from the input whole, or are the extremes of int64.
func fuzzOps(data []byte) (window time.Duration, ops []step) {
	if len(data) == 0 {
		return time.Microsecond, nil
	}
	window = time.Duration(data[0]%64+1) * time.Microsecond
	data = data[1:]
	cur := t0
	for len(data) >= 4 {
		b := data[:4]
		data = data[4:]
		s := step{series: stream.SeriesID(b[0] % 8), value: float64(b[3] % 3)}
		switch mode := b[1] % 16; {
		case mode < 12:
			cur += int64(int8(b[2])) * int64(window) / 256
		case mode < 14:
			cur = t0 - int64(window)*2 + int64(b[2])*int64(window)/32
		case mode == 14 && len(data) >= 8:
			cur = int64(binary.LittleEndian.Uint64(data))
			data = data[8:]
		default:
			cur = [...]int64{math.MinInt64, math.MinInt64 + 1, math.MaxInt64 - 1, math.MaxInt64}[b[2]%4]
		}
		s.ts = cur
		ops = append(ops, s)
	}
	return window, ops
}

// FuzzAdmit is the differential test of the Deduper against the
// fastcache-based implementation it replaced (refDeduper) and an exact
// model (a map of every key admitted): the same verdict for every
// delivery and the same watermark. A second Deduper, whose tables are
// bounded at 16 slots so that they overflow, must keep the guarantees
// that survive overflow: never a Duplicate or Conflict for a key not
// admitted before, the right one for a key it still holds, no more false
// admits than Overflow counts (a key admitted again is judged by the value
// it was admitted with again), and the same TooLate verdicts. Along the
// way both are saved and restored (AppendState, LoadState), which must
// change nothing and be canonical.
func FuzzAdmit(f *testing.F) {
	f.Add([]byte{3, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 2, 0, 16, 0, 2, 0, 16, 0})
	f.Add([]byte{0, 5, 15, 3, 1, 5, 15, 3, 1, 6, 12, 200, 2, 6, 12, 100, 0})
	f.Add([]byte{63, 7, 14, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 7, 15, 3, 1, 7, 15, 0, 1, 0, 13, 40, 2})
	seed := make([]byte, 1, 1+4*200)
	seed[0] = 9
	for i := range 200 {
		seed = append(seed, byte(i*7), byte(i%12), byte(i*13), byte(i%5))
	}
	f.Add(seed)
	// 8 series, each stepping one unit forward in turn and back now and
	// then: more keys in a generation than a bounded table holds.
	fill := []byte{40}
	for i := range 300 {
		step := byte(0)
		if i%8 == 7 {
			step = 1
		}
		if i%50 == 49 {
			step = 0xf0 // back by 16 units
		}
		fill = append(fill, byte(i), 0, step, byte(i/8%3))
	}
	f.Add(fill)
	f.Fuzz(func(t *testing.T, data []byte) {
		window, ops := fuzzOps(data)
		cfg := Config{Window: window, MaxBytes: 1}
		d, err := New(cfg)
		require.NoError(t, err)
		small, err := New(cfg)
		require.NoError(t, err)
		small.maxSlots = 16 // 12 keys a generation
		ref := newRef(window)
		defer ref.reset()

		model := map[fuzzKey]float64{}
		readmitted := map[fuzzKey]float64{} // keys the bounded Deduper admitted again, with the value
		wm, hasWM := int64(0), false
		var falseAdmits uint64
		for i, op := range ops {
			want := ref.Admit(op.series, op.ts, op.value)
			k := fuzzKey{op.series, op.ts}
			v, seen := model[k]
			// The model's verdict, which the reference must agree with.
			exact := Fresh
			switch {
			case hasWM && op.ts < wm && uint64(wm)-uint64(op.ts) > uint64(window):
				exact = TooLate
			case seen && math.Float64bits(v) == math.Float64bits(op.value):
				exact = Duplicate
			case seen:
				exact = Conflict
			}
			require.Equal(t, exact, want, "op %d %+v: reference against the model", i, op)
			if exact == Fresh {
				model[k] = op.value
				if !hasWM || op.ts > wm {
					wm, hasWM = op.ts, true
				}
			}
			require.Equal(t, want, d.Admit(op.series, op.ts, op.value), "op %d %+v", i, op)
			require.Equal(t, ref.Watermark(), d.Watermark(), "op %d", i)

			// The bounded Deduper may admit an evicted key again (a false
			// admit, counted); from then on it judges the key by the
			// value it admitted last, which readmitted records.
			got := small.Admit(op.series, op.ts, op.value)
			last, again := readmitted[k]
			sameLast := math.Float64bits(last) == math.Float64bits(op.value)
			switch {
			case exact == TooLate || !again && got == exact:
				require.Equal(t, exact, got, "op %d %+v: bounded tables", i, op)
			case got == Fresh && seen:
				falseAdmits++ // an evicted key
				readmitted[k] = op.value
			case again && (got == Duplicate && sameLast || got == Conflict && !sameLast):
			default:
				require.Equal(t, exact, got, "op %d %+v: bounded tables (admitted again: %v)", i, op, again)
			}
			require.LessOrEqual(t, falseAdmits, small.Overflow(), "op %d", i)
			require.Equal(t, d.Watermark(), small.Watermark(), "op %d", i)

			if i%64 == 63 {
				d = roundTrip(t, d, cfg)
				small = roundTrip(t, small, cfg)
			}
		}
		s := d.Stats()
		require.Zero(t, s.Overflow)
		require.Equal(t, uint64(len(ops)), s.Fresh+s.Duplicate+s.Conflict+s.TooLate)
		for i := range small.gens {
			require.True(t, small.gens[i].t.n == 0 || small.gens[i].t.reachable())
			require.LessOrEqual(t, small.gens[i].t.n, limit(16))
		}
	})
}

// roundTrip saves d's state, restores it and checks that the restored
// Deduper appends the same state and has the same counters.
func roundTrip(t *testing.T, d *Deduper, cfg Config) *Deduper {
	t.Helper()
	st, err := d.AppendState(nil)
	require.NoError(t, err)
	ncfg, err := cfg.normalize()
	require.NoError(t, err)
	r := newDeduper(ncfg)
	r.maxSlots = d.maxSlots // a test bound, if any
	require.NoError(t, r.decode(st))
	again, err := r.AppendState(nil)
	require.NoError(t, err)
	require.Equal(t, st, again, "canonical")
	require.Equal(t, d.counts, r.counts)
	require.Equal(t, d.Watermark(), r.Watermark())
	return r
}
