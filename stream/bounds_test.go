package stream

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Tests that drive each of the decoder's bounds past its limit and check
// its policy, and that good input after it is decoded as usual.

// repeatReader yields n copies of byte c without holding them in memory.
type repeatReader struct {
	c byte
	n int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	k := min(len(p), r.n)
	for i := range p[:k] {
		p[i] = r.c
	}
	r.n -= k
	return k, nil
}

// TestLongLineIsSkippedUnbuffered sends lines far longer than MaxLineBytes:
// each is rejected and counted as ErrLineTooLong at column MaxLineBytes+1,
// the line reader's buffer never grows beyond one line of MaxLineBytes, and
// the lines after it decode.
func TestLongLineIsSkippedUnbuffered(t *testing.T) {
	for _, c := range []struct {
		max, long int // MaxLineBytes (0: the default) and the long line's length
	}{
		{1024, 4 << 20},
		{0, 3 << 20}, // the default, 1 MiB
	} {
		limit := c.max
		if limit == 0 {
			limit = defaultMaxLineBytes
		}
		in := io.MultiReader(
			strings.NewReader("m v=1 1\nm,host="),
			&repeatReader{c: 'x', n: c.long},
			strings.NewReader(" v=1 2\nm v=3 3\n"),
			strings.NewReader("m,host="), &repeatReader{c: 'y', n: c.long}, // last line, no newline
		)
		d := NewDecoder(in, DecoderOptions{MaxLineBytes: c.max})
		var got []Sample
		var errs []*RecordError
		for {
			var err error
			n := len(got)
			got, err = d.Next(got)
			if err == io.EOF {
				break
			}
			if err != nil {
				var re *RecordError
				require.ErrorAs(t, err, &re)
				require.ErrorIs(t, err, ErrLineTooLong)
				require.Len(t, got, n, "a rejected line gives no samples")
				errs = append(errs, re)
			}
			require.LessOrEqual(t, len(d.lines.buf), max(limit+2, initialLineBuf), "the buffer holds at most one line")
		}
		require.Equal(t, []Sample{sample("m_v", 1, 1, 1), sample("m_v", 3, 3, 3)}, got)
		require.Len(t, errs, 2)
		require.Equal(t, int64(2), errs[0].Record)
		require.Equal(t, int64(4), errs[1].Record)
		for _, re := range errs {
			require.Equal(t, limit+1, re.Column)
		}
		st := d.Stats()
		require.Equal(t, int64(2), st.Errors)
		require.Equal(t, int64(4), st.Records)
		require.Equal(t, int64(2), st.Samples)
	}
}

// TestDecoderOptionCaps checks that MaxLineBytes and MaxInterned above their
// caps are taken as the caps.
func TestDecoderOptionCaps(t *testing.T) {
	d := NewDecoder(strings.NewReader("m v=1 1\n"), DecoderOptions{MaxLineBytes: 4 << 30, MaxInterned: 1 << 40})
	require.Equal(t, maxMaxLineBytes, d.maxLine)
	require.Equal(t, maxMaxLineBytes, d.lines.max)
	require.Equal(t, maxMaxInterned, d.tab.maxSeries)
	got, err := d.Next(nil)
	require.NoError(t, err)
	require.Equal(t, []Sample{sample("m_v", 1, 1, 1)}, got)
}

// decodeEach decodes input record by record, checking after each call that
// the intern table is within its bounds, and returns the samples and stats.
func decodeEach(t *testing.T, input string, opts DecoderOptions, check func(*Decoder)) ([]Sample, DecodeStats) {
	t.Helper()
	d := NewDecoder(strings.NewReader(input), opts)
	var all []Sample
	for {
		var err error
		all, err = d.Next(all)
		if err == io.EOF {
			return all, d.Stats()
		}
		require.NoError(t, err)
		check(d)
	}
}

// TestInternByteBudgetResets fills the intern table by bytes, with few
// series carrying long labels: it is cleared when it holds about
// MaxInterned×512 bytes, long before it holds MaxInterned series, and
// clearing it changes no sample.
func TestInternByteBudgetResets(t *testing.T) {
	const maxInterned = 4
	var b strings.Builder
	for i := range 12 {
		host := fmt.Sprintf("h%d-%s", i%6, strings.Repeat("x", 1000))
		fmt.Fprintf(&b, "m,host=%s v=%d %d\n", host, i, i+1)
	}
	input := b.String()
	// The largest a record adds: its tag set, its series, the field key and
	// the sample name.
	perRecord := len("m") + 1 + len("host") + 1 + len("h0-") + 1000 + 1 + 32 + internEntryOverhead +
		seriesEntrySize + 2*internEntryOverhead + len("v") + len("m_v")
	got, st := decodeEach(t, input, DecoderOptions{MaxInterned: maxInterned}, func(d *Decoder) {
		require.Less(t, d.tab.nseries, maxInterned, "the byte budget, not the series bound, clears the table")
		require.LessOrEqual(t, d.tab.bytes, d.tab.maxBytes+perRecord, "one record takes the table past its budget by at most what it holds")
	})
	require.GreaterOrEqual(t, st.InternResets, int64(4), "6 series of 1 KB labels do not fit 2 KiB")
	want, wantSt := decodeEach(t, input, DecoderOptions{}, func(*Decoder) {})
	require.Zero(t, wantSt.InternResets)
	require.Equal(t, want, got, "resets are invisible in the samples")
	require.Equal(t, int64(12), st.Samples)
	require.Zero(t, st.Errors)
}

// TestInternTagSetBoundResets fills the intern table with tag sets that
// have no series (records of string fields only): the table is bounded by
// tag sets too, so they cannot pile up, and records after a reset decode.
func TestInternTagSetBoundResets(t *testing.T) {
	const maxInterned = 2
	var b strings.Builder
	for i := range 10 {
		fmt.Fprintf(&b, "m,host=h%d s=\"only a string\" %d\n", i, i+1)
	}
	b.WriteString("m,host=h1 v=7 20\nm,host=h1 v=8 21\n")
	d := NewDecoder(strings.NewReader(b.String()), DecoderOptions{MaxInterned: maxInterned})
	var got []Sample
	for {
		var err error
		got, err = d.Next(got)
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		require.LessOrEqual(t, len(d.tab.setList), maxInterned)
	}
	st := d.Stats()
	require.Equal(t, int64(5), st.InternResets, "every second record fills the table")
	require.Equal(t, int64(10), st.StringFields)
	require.Zero(t, st.Errors)
	require.Equal(t, []Sample{sample("m_v", 20, 20, 7, "host", "h1"), sample("m_v", 21, 21, 8, "host", "h1")}, got)
	require.Same(t, &got[0].Labels[0], &got[1].Labels[0], "interned again after the reset")
}

// emptyReader returns (0, nil) n times, then reads from r; n < 0 means for
// ever.
type emptyReader struct {
	n int
	r io.Reader
}

func (e *emptyReader) Read(p []byte) (int, error) {
	if e.n != 0 {
		e.n--
		return 0, nil
	}
	return e.r.Read(p)
}

// TestEmptyReadsBound checks the bound on reads that return nothing: fewer
// than maxEmptyReads in a row are waited out, a reader that never makes
// progress ends decoding with io.ErrNoProgress instead of spinning.
func TestEmptyReadsBound(t *testing.T) {
	d := NewDecoder(&emptyReader{n: maxEmptyReads - 1, r: strings.NewReader("m v=1 1\n")}, DecoderOptions{})
	got, err := d.Next(nil)
	require.NoError(t, err)
	require.Equal(t, []Sample{sample("m_v", 1, 1, 1)}, got)

	d = NewDecoder(&emptyReader{n: -1}, DecoderOptions{})
	_, err = d.Next(nil)
	require.ErrorIs(t, err, io.ErrNoProgress)
	_, err = d.Next(nil)
	require.ErrorIs(t, err, io.ErrNoProgress, "the error is sticky")

	// Complete lines read before the reader gave up are still decoded.
	d = NewDecoder(io.MultiReader(bytes.NewReader([]byte("m v=1 1\nm v=2")), &emptyReader{n: -1}), DecoderOptions{})
	got, err = d.Next(nil)
	require.NoError(t, err)
	require.Equal(t, []Sample{sample("m_v", 1, 1, 1)}, got)
	_, err = d.Next(nil)
	require.ErrorIs(t, err, io.ErrNoProgress, "a partial last line is dropped")
}

// TestInternHoldsAFleet decodes what 10,000 hosts running Telegraf's cpu
// plugin send (one record of 10 fields each, 100,000 series), twice: with
// the default options the intern table holds them all. A default below the
// fleet's series (65,536 was) clears the table every few thousand records,
// and every record then allocates its name and labels again.
func TestInternHoldsAFleet(t *testing.T) {
	var b strings.Builder
	for round := range 2 {
		for h := range 10000 {
			fmt.Fprintf(&b, "cpu,cpu=cpu-total,host=h%05d usage_user=1.5,usage_system=0.25,usage_idle=98,usage_nice=0,usage_iowait=0.1,usage_irq=0,usage_softirq=0.05,usage_steal=0,usage_guest=0,usage_guest_nice=%d %d\n", h, round, 1+round)
		}
	}
	d := NewDecoder(strings.NewReader(b.String()), DecoderOptions{})
	var batch []Sample
	for {
		var err error
		if batch, err = d.Next(batch[:0]); err == io.EOF {
			break
		}
		require.NoError(t, err)
	}
	st := d.Stats()
	require.Equal(t, int64(200000), st.Samples)
	require.Zero(t, st.InternResets)
	require.Equal(t, int64(100000), st.InternedSeries)
	// What DecoderOptions.MaxInterned's doc says such series take.
	require.InDelta(t, 75, float64(d.tab.bytes)/float64(d.tab.nseries), 10, "bytes a series")
}
