package dedup

import (
	"math"
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

// TestLoadStateRefusesKeyAboveWatermarkOrTwice: state whose checksum is
// valid but whose watermark generation holds a key above the watermark,
// or whose table holds one key twice, is refused as a bad snapshot. Such a
// state was accepted: the next Fresh sample above the watermark with that
// key took the held key's slot as if it were empty, and the table counted
// one key more than it held.
func TestLoadStateRefusesKeyAboveWatermarkOrTwice(t *testing.T) {
	cfg := Config{Window: time.Minute}
	// tampered returns the state of a Deduper holding (1, t0) and (2, t0),
	// after edit has changed its watermark generation's table.
	tampered := func(edit func(d *Deduper, t *table)) []byte {
		d := newTest(t, cfg)
		require.Equal(t, Fresh, d.Admit(1, t0, 1))
		require.Equal(t, Fresh, d.Admit(2, t0, 1))
		edit(d, &d.gens[d.slot(d.top)].t)
		st, err := d.AppendState(nil)
		require.NoError(t, err)
		return st
	}
	_, off := newTest(t, cfg).locate(t0) // t0's offset in its generation, plus one

	// A key one nanosecond above the watermark.
	above := tampered(func(d *Deduper, tb *table) {
		j, found := tb.find(3, off+1)
		require.False(t, found)
		tb.slots[j] = entry{series: 3, off: off + 1, value: math.Float64bits(1)}
		tb.n++
	})
	_, err := LoadState(above, cfg)
	require.ErrorIs(t, err, ErrBadSnapshot)
	require.ErrorContains(t, err, "above the watermark")

	// Key (1, t0) a second time, in the next empty slot of its run, where
	// a lookup passes it: reachable, but held twice.
	twice := tampered(func(d *Deduper, tb *table) {
		j, found := tb.find(1, off)
		require.True(t, found)
		for tb.slots[j].off != 0 {
			j = (j + 1) % len(tb.slots)
		}
		tb.slots[j] = entry{series: 1, off: off, value: math.Float64bits(1)}
		tb.n++
		require.True(t, tb.reachable())
	})
	_, err = LoadState(twice, cfg)
	require.ErrorIs(t, err, ErrBadSnapshot)
	require.ErrorContains(t, err, "held twice")
}
