package stream

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// step is what one call of Next gave, with the raw line, comparable.
type step struct {
	Samples []Sample
	Err     string
	Raw     string
}

// decodeSteps decodes r to the end, calling between records what change
// says (nil: nothing), and returns every call's result and the stats. It
// checks the repeat table's bounds after each call. With lpOnly, every
// record is parsed by line-protocol/v2.
func decodeSteps(t *testing.T, r io.Reader, opts DecoderOptions, lpOnly bool, change func(d *Decoder, call int)) ([]step, DecodeStats) {
	t.Helper()
	d := NewDecoder(r, opts)
	d.noSimple = lpOnly
	var out []step
	var dst []Sample
	for call := range 1 << 20 {
		if change != nil {
			change(d, call)
		}
		var err error
		dst, err = d.Next(dst[:0])
		if err == io.EOF {
			return out, d.Stats()
		}
		s := step{Samples: append([]Sample(nil), dst...), Raw: string(d.Raw())}
		if err != nil {
			s.Err = err.Error()
		}
		out = append(out, s)
		require.LessOrEqual(t, d.rep.len(), max(d.rep.maxEntries, 0))
		require.LessOrEqual(t, d.rep.bytes, d.rep.maxBytes+maxRepeatCost)
	}
	t.Fatal("decoder does not terminate")
	return nil, DecodeStats{}
}

// withoutTables zeroes the counters of the intern and repeat tables, which
// are all the repeat table may change.
func withoutTables(st DecodeStats) DecodeStats {
	st.InternResets, st.InternedSeries, st.RepeatHits, st.RepeatResets = 0, 0, 0, 0
	return st
}

// repeatLines builds an input from the lines of data in which lines come
// again: pattern says, two bits per line, how many copies follow each line
// (0 to 3), and every fourth line an earlier line is delivered again. In
// a capture, a copy's arrival prefix is made later.
func repeatLines(data []byte, pattern uint32, capture bool) []byte {
	lines := bytes.SplitAfter(data, []byte("\n"))
	var out []byte
	again := func(l []byte, c int) {
		if capture {
			if a, off, err := parseArrival(bytes.TrimRight(l, "\r\n")); err == nil && a < 1<<62 {
				out = strconv.AppendInt(out, a+int64(c), 10)
				out = append(out, ' ')
				out = append(out, l[off:]...)
				return
			}
		}
		out = append(out, l...)
	}
	for i, l := range lines {
		if len(l) > 0 && l[len(l)-1] != '\n' {
			l = append(bytes.Clone(l), '\n') // a copy after the last line needs it ended
		}
		out = append(out, l...)
		for c := range int(pattern >> (2 * (i % 16)) & 3) {
			again(l, c+1)
		}
		if i%4 == 3 {
			again(lines[i/2], 7)
		}
	}
	return out
}

// checkFastPathsChangeNothing decodes input with the repeat table and the
// simple-record parser (as opts say) and with neither, every record parsed
// by line-protocol/v2, and requires the same results, raw lines and
// counters. Every changeEvery records (0: never) it switches the precision
// and the arrival clock, in both decoders alike. It returns the stats with
// the fast paths.
func checkFastPathsChangeNothing(t *testing.T, input []byte, opts DecoderOptions, changeEvery int) DecodeStats {
	t.Helper()
	var change func(d *Decoder, call int)
	if changeEvery > 0 {
		change = func(d *Decoder, call int) {
			if call%changeEvery == changeEvery-1 {
				require.NoError(t, d.SetPrecision(fuzzPrecisions[call/changeEvery%len(fuzzPrecisions)]))
				if call/changeEvery%2 == 0 {
					d.SetArrival(func() int64 { return int64(call) })
				} else {
					d.SetArrival(nil)
				}
			}
		}
	}
	off := opts
	off.MaxRepeats = -1
	want, wantSt := decodeSteps(t, bytes.NewReader(input), off, true, change)
	got, gotSt := decodeSteps(t, bytes.NewReader(input), opts, false, change)
	require.Equal(t, want, got, "input %q", input)
	require.Equal(t, withoutTables(wantSt), withoutTables(gotSt))
	require.Zero(t, wantSt.RepeatHits)
	return gotSt
}

func TestRepeatTable(t *testing.T) {
	// Copies of good records are hits; copies of bad ones are parsed again
	// and give the same error.
	input := "a,h=x v=1,s=\"q\" 1\n" +
		"a,h=x v=1,s=\"q\" 1\n" + // hit
		"a,h=x v=1,s=\"q\" 1 \n" + // not a copy: a trailing space
		"  a,h=x v=1,s=\"q\" 1\n" + // leading spaces are not part of the record: hit
		"b v=1,v=2 1\n" +
		"b v=1,v=2 1\n" + // an error again
		"a,h=x v=1,s=\"q\" 1\r\n" // the line ending is not part of the record: hit
	st := checkFastPathsChangeNothing(t, []byte(input), DecoderOptions{}, 0)
	require.Equal(t, int64(3), st.RepeatHits)
	require.Equal(t, int64(5), st.StringFields, "a copy's string fields are counted too")
	require.Equal(t, int64(2), st.Errors)
	require.Zero(t, st.RepeatResets)

	// Captures: copies arrive at other times; the record is what counts.
	capture := "10 m v=1 5\n11 m v=1 5\n12 m v=1\n13 m v=1\n"
	res, st := decodeAll(t, strings.NewReader(capture), DecoderOptions{Format: Capture})
	require.Equal(t, []result{
		{samples: []Sample{sample("m_v", 5, 10, 1)}},
		{samples: []Sample{sample("m_v", 5, 11, 1)}},
		{samples: []Sample{sample("m_v", 12, 12, 1)}},
		{samples: []Sample{sample("m_v", 13, 13, 1)}}, // dated by its own arrival
	}, res)
	require.Equal(t, int64(2), st.RepeatHits)

	// A copy is dated with the precision and clock in force when it is
	// read; if that fails, it is parsed and rejected as any record.
	d := NewDecoder(strings.NewReader("m v=1 9223372036\nm v=1 9223372036\nm v=1\nm v=1\nm v=1\n"), DecoderOptions{Arrival: func() int64 { return 7 }})
	got, err := d.Next(nil)
	require.NoError(t, err)
	require.NoError(t, d.SetPrecision(time.Second))
	got, err = d.Next(got)
	require.NoError(t, err)
	require.Equal(t, []Sample{sample("m_v", 9223372036, 7, 1), sample("m_v", 9223372036e9, 7, 1)}, got)
	got, err = d.Next(got[:0])
	require.NoError(t, err)
	got, err = d.Next(got)
	require.NoError(t, err)
	require.Equal(t, []Sample{sample("m_v", 7, 7, 1), sample("m_v", 7, 7, 1)}, got)
	d.SetArrival(nil)
	_, err = d.Next(nil)
	require.ErrorIs(t, err, ErrMissingTimestamp)
	var re *RecordError
	require.ErrorAs(t, err, &re)
	require.Equal(t, 6, re.Column)
	require.Equal(t, int64(2), d.Stats().RepeatHits)

	// Off, nothing is remembered.
	_, st = decodeAll(t, strings.NewReader(input), DecoderOptions{MaxRepeats: -1})
	require.Zero(t, st.RepeatHits)
}

// TestRepeatTableBounds fills the repeat table by records and by bytes,
// and checks that huge records are not remembered.
func TestRepeatTableBounds(t *testing.T) {
	var b strings.Builder
	for i := range 40 {
		fmt.Fprintf(&b, "m,i=%d v=1 1\nm,i=%d v=1 1\n", i%10, i%10)
	}
	st := checkFastPathsChangeNothing(t, []byte(b.String()), DecoderOptions{MaxRepeats: 4}, 0)
	require.Equal(t, int64(40), st.RepeatHits, "each record's copy follows it")
	require.Equal(t, int64(9), st.RepeatResets, "40 records in a table of 4")

	// By bytes: 4 records × 512 bytes hold two records of some 730 bytes
	// each, not four.
	b.Reset()
	for i := range 20 {
		fmt.Fprintf(&b, "m,i=%d,pad=%s v=1 1\n", i/2, strings.Repeat("p", 280))
	}
	st = checkFastPathsChangeNothing(t, []byte(b.String()), DecoderOptions{MaxRepeats: 4}, 0)
	require.Equal(t, int64(4), st.RepeatResets)
	require.Equal(t, int64(10), st.RepeatHits)

	// Too large to be remembered: parsed every time.
	big := "m,pad=" + strings.Repeat("p", 9000) + " v=1 1\n"
	st = checkFastPathsChangeNothing(t, []byte(big+big+big), DecoderOptions{MaxLineBytes: 10000}, 0)
	require.Zero(t, st.RepeatHits)
	require.Zero(t, st.RepeatResets)

	// The cap.
	d := NewDecoder(strings.NewReader(""), DecoderOptions{MaxRepeats: 1 << 40})
	require.Equal(t, maxMaxRepeats, d.rep.maxEntries)
	require.Equal(t, defaultMaxRepeats, NewDecoder(nil, DecoderOptions{}).rep.maxEntries)
	require.False(t, NewDecoder(nil, DecoderOptions{MaxRepeats: -1}).rep.look())
}

// TestRepeatTableSteadyStateAllocs checks that records never seen before
// and their copies allocate nothing once the tables are warm.
func TestRepeatTableSteadyStateAllocs(t *testing.T) {
	var inputs [][]byte
	var lines int
	for i := range 10 {
		in, n := b01Like(nil, 200, 20*i, 20, 4) // other rounds: other records
		inputs, lines = append(inputs, in), n
	}
	d := NewDecoder(bytes.NewReader(nil), DecoderOptions{Format: Capture})
	dst := make([]Sample, 0, 16)
	run := func() {
		if n := decodePass(t, d, inputs[0], dst); n != lines {
			t.Fatalf("decoded %d samples, want %d", n, lines)
		}
		inputs = inputs[1:]
	}
	for range 3 { // until the tables' arrays have grown to their sizes
		run()
	}
	allocs := testing.AllocsPerRun(5, run)
	require.LessOrEqual(t, allocs, 1.0, "allocations per %d lines (bytes.NewReader's)", lines)
	st := d.Stats()
	// Each record's 3 copies, but for a few whose first delivery came just
	// before the table was cleared.
	require.LessOrEqual(t, st.RepeatHits, st.Records*3/4)
	require.GreaterOrEqual(t, st.RepeatHits, st.Records*3/4-st.Records/1000)
	require.Positive(t, st.RepeatResets)
}

// FuzzDecoderRepeats checks that the fast paths change nothing: the lines of
// data, with copies of them delivered again (see repeatLines), decode to the
// same samples, errors, raw lines and counters with the repeat table and the
// simple-record parser as with line-protocol/v2 alone, with tables from tiny
// to the default, while the precision and the arrival clock change every
// few records.
func FuzzDecoderRepeats(f *testing.F) {
	for _, seed := range []string{
		"cpu,host=a,dc=x usage=1.5,value=2i,s=\"x\",b=t 100\n# c\n\ncpu v=1\nm v=1,v=2 1\n",
		"100 cpu,host=a v=1 90\n200 m v=2\r\n-5 x,a\\ b=c\\,d f\\=g=3u\n# x\n1 m v=1\n",
		"m v=1 9223372036\nm v=1 -9223372036854775808\nm v=1\nm,a=1,a=2 v=1 1\nm s=\"x\n",
	} {
		f.Add([]byte(seed), false, uint16(0), uint8(0), uint32(0x9e3779b9), uint8(0))
		f.Add([]byte(seed), true, uint16(0), uint8(2<<4), uint32(0xffffffff), uint8(3))
		f.Add([]byte(seed), false, uint16(1<<9), uint8(3<<4|8|3), uint32(0x5555), uint8(2))
	}
	f.Fuzz(func(t *testing.T, data []byte, capture bool, knobs uint16, mode uint8, pattern uint32, changeEvery uint8) {
		opts := fuzzOptions(capture, knobs, mode)
		if opts.MaxRepeats < 0 {
			opts.MaxRepeats = 2
		}
		input := repeatLines(data, pattern, capture)
		checkFastPathsChangeNothing(t, input, opts, int(changeEvery%8))
	})
}

// TestRepeatTableSparse: a table that filled up without finding copies
// looks up and remembers only one record in sparseEvery, and the first
// copy it finds turns it back to remembering every record.
func TestRepeatTableSparse(t *testing.T) {
	var in bytes.Buffer
	rec := func(i int) { fmt.Fprintf(&in, "m,host=h%d v=%d 1700000000000000000\n", i, i) }
	d := NewDecoder(&in, DecoderOptions{MaxRepeats: 64})
	next := func() {
		t.Helper()
		_, err := d.Next(nil)
		require.NoError(t, err)
	}
	for i := range 65 { // the 65th record fills the table anew
		rec(i)
		next()
	}
	require.True(t, d.rep.sparse, "64 records without a copy")
	require.Equal(t, 1, d.rep.len())
	for range sparseEvery {
		rec(100) // the first is remembered, its copies are not looked up
		next()
	}
	require.Zero(t, d.Stats().RepeatHits, "%d records in %d are not looked up", sparseEvery-1, sparseEvery)
	require.Equal(t, 2, d.rep.len())
	for i := 101; i < 101+2*sparseEvery; i++ {
		rec(i)
		next()
	}
	require.Equal(t, 4, d.rep.len(), "one record in %d", sparseEvery)
	for i := 101; i < 101+2*sparseEvery; i++ {
		rec(i) // copies: the remembered one is found
		next()
	}
	require.Equal(t, int64(2), d.Stats().RepeatHits)
	require.False(t, d.rep.sparse, "a hit turns it back")
	n := d.rep.len()
	for i := 200; i < 210; i++ {
		rec(i)
		next()
	}
	require.Equal(t, n+10, d.rep.len(), "every record is remembered again")
	for i := 200; i < 210; i++ {
		rec(i)
		next()
	}
	require.Equal(t, int64(12), d.Stats().RepeatHits)
}
