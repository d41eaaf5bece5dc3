package dedup

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/stream"
)

// TestStateRoundTrip: LoadState restores every verdict, the watermark and
// the counters, and the restored Deduper appends the very same state.
func TestStateRoundTrip(t *testing.T) {
	cfg := Config{Window: 15 * time.Minute}
	d := newTest(t, cfg)
	for i := range int64(240) {
		for s := range stream.SeriesID(50) {
			require.Equal(t, Fresh, d.Admit(s, t0+i*10*sec, float64(s)))
		}
	}
	wm := d.Watermark()
	st, err := d.AppendState([]byte("prefix"))
	require.NoError(t, err)
	require.Equal(t, "prefix", string(st[:6]))
	st = st[6:]

	r, err := LoadState(st, cfg)
	require.NoError(t, err)
	t.Cleanup(r.Reset)
	require.Equal(t, wm, r.Watermark())
	require.Equal(t, counterStats(d.Stats()), counterStats(r.Stats()))
	again, err := r.AppendState(nil)
	require.NoError(t, err)
	require.Equal(t, st, again, "canonical: restored state appends the same bytes")

	for _, x := range []*Deduper{d, r} {
		require.Equal(t, Duplicate, x.Admit(3, wm, 3))
		require.Equal(t, Conflict, x.Admit(4, wm-10*sec, 5))
		require.Equal(t, Fresh, x.Admit(4, wm+sec, 5))
		require.Equal(t, TooLate, x.Admit(1, t0, 1))
	}
	require.Equal(t, counterStats(d.Stats()), counterStats(r.Stats()))

	_, err = LoadState(st, Config{Window: time.Minute})
	require.ErrorIs(t, err, ErrConfigMismatch)
	for _, cut := range []int{0, 3, 10, len(st) / 2, len(st) - 1} {
		_, err = LoadState(st[:cut], cfg)
		require.ErrorIs(t, err, ErrBadSnapshot, "cut at %d", cut)
	}
	_, err = LoadState(append(st[:len(st):len(st)], 0), cfg)
	require.ErrorIs(t, err, ErrBadSnapshot)
}

// TestLoadStateRefusesTinyTable: a live generation's table smaller than
// any Deduper makes is refused as a bad snapshot. A table of one slot was
// accepted, and the first key admitted into it grew it to two slots,
// which hold no key (three quarters of two is none), so insert looked
// for a key to evict in an empty table and never returned.
func TestLoadStateRefusesTinyTable(t *testing.T) {
	cfg := Config{Window: time.Minute}
	d := newTest(t, cfg)
	require.Equal(t, Fresh, d.Admit(1, 0, 1))
	for _, size := range []int{1, 2, 3, minSlots - 1} {
		for i := range d.gens {
			if gen := &d.gens[i]; gen.live && gen.gen == 0 {
				gen.t = table{slots: make([]entry, size)}
			}
		}
		st, err := d.AppendState(nil)
		require.NoError(t, err)
		_, err = LoadState(st, cfg)
		require.ErrorIs(t, err, ErrBadSnapshot, "a table of %d slots", size)
		require.ErrorContains(t, err, "do not fit")
	}
}
