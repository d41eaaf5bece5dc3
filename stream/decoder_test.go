package stream

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"
)

// result is what one call of Next gave: samples or an error.
type result struct {
	samples []Sample
	err     error
}

// decodeAll decodes r to the end and returns every call's result, except
// empty successful ones.
func decodeAll(t testing.TB, r io.Reader, opts DecoderOptions) ([]result, DecodeStats) {
	t.Helper()
	d := NewDecoder(r, opts)
	return decodeRest(t, d, false), d.Stats()
}

// decodeRest decodes d's input to the end and returns every call's result,
// except empty successful ones; with timeouts, it passes over read
// timeouts, which are otherwise an error of the test.
func decodeRest(t testing.TB, d *Decoder, timeouts bool) []result {
	t.Helper()
	var out []result
	var dst []Sample
	for range 1 << 20 {
		var err error
		dst, err = d.Next(dst[:0])
		if err == io.EOF {
			return out
		}
		if timeouts && isTimeout(err) {
			require.Empty(t, dst)
			continue
		}
		if err != nil {
			var re *RecordError
			require.ErrorAs(t, err, &re, "only record errors expected")
			require.Empty(t, dst)
			out = append(out, result{err: err})
			continue
		}
		if len(dst) > 0 {
			out = append(out, result{samples: append([]Sample(nil), dst...)})
		}
	}
	t.Fatal("decoder does not terminate")
	return nil
}

// samplesOf decodes input, which must be free of errors.
func samplesOf(t *testing.T, input string, opts DecoderOptions) []Sample {
	t.Helper()
	res, _ := decodeAll(t, strings.NewReader(input), opts)
	var all []Sample
	for _, r := range res {
		require.NoError(t, r.err)
		all = append(all, r.samples...)
	}
	return all
}

// sample builds the sample a decoder gives: labels are nil when empty.
func sample(name string, ts, arrival int64, value float64, labels ...string) Sample {
	var ls Labels
	if len(labels) > 0 {
		ls = NewLabels(labels...)
	}
	return NewSample(name, ls, ts, value, arrival)
}

func TestDecoderFields(t *testing.T) {
	f := func(line string, want ...Sample) {
		t.Helper()
		got := samplesOf(t, line, DecoderOptions{})
		require.Equal(t, want, got)
		for _, s := range got {
			require.Equal(t, Hash(s.Name, s.Labels), s.Series)
			require.True(t, s.Labels.IsSorted())
		}
	}
	// Field naming: <measurement>_<field>, "value" gives the measurement.
	f("cpu,host=a usage=1.5,value=2 100",
		sample("cpu_usage", 100, 100, 1.5, "host", "a"),
		sample("cpu", 100, 100, 2, "host", "a"))
	// Type conversion.
	f("m i=-3i,u=18446744073709551615u,f=2.5e3,t=t,T=TRUE,fa=false,F=F 7",
		sample("m_i", 7, 7, -3),
		sample("m_u", 7, 7, 18446744073709551615),
		sample("m_f", 7, 7, 2500),
		sample("m_t", 7, 7, 1),
		sample("m_T", 7, 7, 1),
		sample("m_fa", 7, 7, 0),
		sample("m_F", 7, 7, 0))
	// String fields are skipped.
	f(`m s="a b, c=d",v=1,t="\"" 5`, sample("m_v", 5, 5, 1))
	// Tags become sorted labels.
	f("m,z=1,a=2,m=3 v=1 -5", sample("m_v", -5, -5, 1, "a", "2", "m", "3", "z", "1"))
	// Escapes are decoded; leading and trailing spaces are allowed.
	f(`  my\ meas,ta\=g=v\,1 fi\ eld=1 9  `, sample("my meas_fi eld", 9, 9, 1, "ta=g", "v,1"))
	// Timestamp extremes.
	f("m v=1 -9223372036854775808", sample("m_v", -9223372036854775808, -9223372036854775808, 1))
	f("m v=1 9223372036854775807", sample("m_v", 9223372036854775807, 9223372036854775807, 1))
}

func TestDecoderCaptureArrival(t *testing.T) {
	got := samplesOf(t, "200 cpu,host=a v=1 100\n300 cpu,host=a v=2\n-5 m value=3 -7\n", DecoderOptions{Format: Capture})
	require.Equal(t, []Sample{
		sample("cpu_v", 100, 200, 1, "host", "a"),
		sample("cpu_v", 300, 300, 2, "host", "a"), // no timestamp: sample time = arrival
		sample("m", -7, -5, 3),
	}, got)
}

func TestDecoderStringFieldsOnly(t *testing.T) {
	res, st := decodeAll(t, strings.NewReader("m s=\"x\",t=\"y\" 1\nm v=1 2\n"), DecoderOptions{})
	require.Equal(t, []result{{samples: []Sample{sample("m_v", 2, 2, 1)}}}, res)
	require.Equal(t, int64(2), st.StringFields)
	require.Equal(t, int64(2), st.Records)
	require.Equal(t, int64(0), st.Errors)
	require.Equal(t, int64(1), st.Samples)
}

// want describes one expected result: samples, or an error at a position.
type want struct {
	samples []Sample
	record  int64
	column  int
	is      error  // sentinel the error wraps, if any
	msg     string // substring of the error message
}

func check(t *testing.T, got []result, wants []want) {
	t.Helper()
	require.Len(t, got, len(wants), "results: %v", got)
	for i, w := range wants {
		g := got[i]
		if w.samples != nil {
			require.NoError(t, g.err, "result %d", i)
			require.Equal(t, w.samples, g.samples, "result %d", i)
			continue
		}
		var re *RecordError
		require.ErrorAs(t, g.err, &re, "result %d", i)
		require.Equal(t, w.record, re.Record, "result %d: %v", i, re)
		require.Equal(t, w.column, re.Column, "result %d: %v", i, re)
		if w.is != nil {
			require.ErrorIs(t, re, w.is, "result %d", i)
		}
		require.Contains(t, re.Error(), w.msg, "result %d", i)
		require.Contains(t, re.Error(), fmt.Sprintf("record %d, column %d: ", w.record, w.column))
	}
}

func TestDecoderMalformedLineProtocol(t *testing.T) {
	input := strings.Join([]string{
		"# a comment",                     // 1
		"cpu,host=a v=1 10",               // 2 good
		"",                                // 3 blank
		"cpu,host=a v=1",                  // 4 missing timestamp
		"cpu,host= v=1 10",                // 5 syntax: empty tag value
		"cpu,host=a,host=b v=1 10",        // 6 duplicate tag
		"cpu,__name__=x v=1 10",           // 7 reserved tag
		"cpu,host=a v=1,w=2,v=3 10",       // 8 duplicate field
		"cpu,host=a v=1 1x",               // 9 bad timestamp
		"cpu,host=a v=1.2.3 10",           // 10 bad value
		"   \t ",                          // 11 blank
		"cpu,host=a v=1,s=\"unterminated", // 12 unterminated string
		"cpu,host=a v=2 20",               // 13 good
		"cpu,host=a v=1e999 10",           // 14 out of range
		"cpu,host=b v=3 30",               // 15 good, no trailing newline
	}, "\n")
	res, st := decodeAll(t, strings.NewReader(input), DecoderOptions{})
	check(t, res, []want{
		{samples: []Sample{sample("cpu_v", 10, 10, 1, "host", "a")}},
		{record: 4, column: 15, is: ErrMissingTimestamp},
		{record: 5, column: 10, msg: "expected tag value"},
		{record: 6, column: 12, is: ErrDuplicateTag, msg: `"host"`},
		{record: 7, column: 5, is: ErrReservedTag, msg: `"__name__"`},
		{record: 8, column: 20, is: ErrDuplicateField, msg: `"v"`},
		{record: 9, column: 16, msg: "invalid timestamp"},
		{record: 10, column: 14, msg: "cannot parse value"},
		{record: 12, column: 18, msg: "closing quote"},
		{samples: []Sample{sample("cpu_v", 20, 20, 2, "host", "a")}},
		{record: 14, column: 14, msg: "out of range"},
		{samples: []Sample{sample("cpu_v", 30, 30, 3, "host", "b")}},
	})
	require.Equal(t, DecodeStats{
		Bytes:          int64(len(input)),
		Lines:          15,
		Records:        12,
		Samples:        3,
		Errors:         9,
		Comments:       1,
		BlankLines:     2,
		InternedSeries: 3, // cpu_w of the rejected record 8 is interned too
	}, st)
}

func TestDecoderMalformedCapture(t *testing.T) {
	input := strings.Join([]string{
		"# capture of 2024-01-01",      // 1
		"100 cpu,host=a v=1 90",        // 2 good
		"cpu,host=a v=1 90",            // 3 no prefix
		"100cpu,host=a v=1 90",         // 4 no space
		"100  cpu,host=a v=1 90",       // 5 two spaces
		"100",                          // 6 prefix only
		"100 ",                         // 7 prefix and space only
		"-",                            // 8 sign only
		"99999999999999999999 m v=1",   // 9 overflow
		"100 # not a comment",          // 10
		"  # indented comment",         // 11 comment
		"110 cpu,host=a v=1,v=2 90",    // 12 duplicate field
		"120 cpu,host=a v=2",           // 13 good: sample time = arrival
		"130 cpu,host=a,host=b v=1 10", // 14 duplicate tag
		"140 cpu,host=a v=1 12 extra",  // 15 text after timestamp
		"150 cpu,host=a v=3 140\r",     // 16 good, CRLF
	}, "\n") + "\n"
	res, st := decodeAll(t, strings.NewReader(input), DecoderOptions{Format: Capture})
	check(t, res, []want{
		{samples: []Sample{sample("cpu_v", 90, 100, 1, "host", "a")}},
		{record: 3, column: 1, is: ErrArrival},
		{record: 4, column: 4, is: ErrArrival},
		{record: 5, column: 5, is: ErrArrival, msg: "exactly one space"},
		{record: 6, column: 4, is: ErrArrival},
		{record: 7, column: 5, is: ErrArrival},
		{record: 8, column: 2, is: ErrArrival},
		{record: 9, column: 1, is: ErrArrival, msg: "out of range"},
		{record: 10, column: 5, is: ErrArrival, msg: "comment"},
		{record: 12, column: 20, is: ErrDuplicateField},
		{samples: []Sample{sample("cpu_v", 120, 120, 2, "host", "a")}},
		{record: 14, column: 16, is: ErrDuplicateTag},
		{record: 15, column: 23, msg: "unexpected text after timestamp"},
		{samples: []Sample{sample("cpu_v", 140, 150, 3, "host", "a")}},
	})
	require.Equal(t, int64(16), st.Lines)
	require.Equal(t, int64(14), st.Records)
	require.Equal(t, int64(11), st.Errors)
	require.Equal(t, int64(2), st.Comments)
	require.Equal(t, int64(3), st.Samples)
}

func TestDecoderLongLines(t *testing.T) {
	const max = 32
	long := "m,host=" + strings.Repeat("x", 40) + " v=1 1" // 52 bytes
	exact := "m,h=" + strings.Repeat("y", max-len("m,h= v=1 1")) + " v=1 1"
	require.Len(t, exact, max)
	input := strings.Join([]string{
		long,                            // 1 too long
		"m v=1 2",                       // 2
		"# " + strings.Repeat("c", 100), // 3 long comment: skipped
		exact + "\r",                    // 4 exactly max, CRLF
		strings.Repeat(" ", 40),         // 5 long blank: an error
		long,                            // 6 too long
		long,                            // 7 too long, last, no newline
	}, "\n")
	for _, r := range []func(string) io.Reader{
		func(s string) io.Reader { return strings.NewReader(s) },
		func(s string) io.Reader { return iotest.OneByteReader(strings.NewReader(s)) },
	} {
		res, st := decodeAll(t, r(input), DecoderOptions{MaxLineBytes: max})
		check(t, res, []want{
			{record: 1, column: max + 1, is: ErrLineTooLong},
			{samples: []Sample{sample("m_v", 2, 2, 1)}},
			{samples: []Sample{sample("m_v", 1, 1, 1, "h", strings.Repeat("y", max-len("m,h= v=1 1")))}},
			{record: 5, column: max + 1, is: ErrLineTooLong},
			{record: 6, column: max + 1, is: ErrLineTooLong},
			{record: 7, column: max + 1, is: ErrLineTooLong},
		})
		require.Equal(t, int64(1), st.Comments)
		require.Equal(t, int64(6), st.Records)
		require.Equal(t, int64(4), st.Errors)
	}
}

func TestDecoderLineEndings(t *testing.T) {
	wantSamples := []Sample{sample("a_v", 1, 1, 1), sample("b_v", 2, 2, 2), sample("c_v", 3, 3, 3)}
	for _, in := range []string{
		"a v=1 1\nb v=2 2\nc v=3 3",
		"a v=1 1\nb v=2 2\nc v=3 3\n",
		"a v=1 1\r\nb v=2 2\r\nc v=3 3\r\n",
		"a v=1 1\r\n\r\nb v=2 2\r\n# x\r\nc v=3 3\r",
		"\n\na v=1 1\nb v=2 2\nc v=3 3\n\n\n",
	} {
		require.Equal(t, wantSamples, samplesOf(t, in, DecoderOptions{}), "%q", in)
	}
	// A lone CR inside a line is an error, for that line only.
	res, _ := decodeAll(t, strings.NewReader("a v=1 1\rb v=2 2\nc v=3 3\n"), DecoderOptions{})
	check(t, res, []want{
		{record: 1, column: 8, msg: "after timestamp"},
		{samples: []Sample{sample("c_v", 3, 3, 3)}},
	})
}

// TestDecoderReaders checks that how the input arrives does not matter, with
// records of all sizes around the internal buffer sizes.
func TestDecoderReaders(t *testing.T) {
	var b strings.Builder
	for i := range 300 {
		fmt.Fprintf(&b, "%d m,host=h%d,pad=p%s v=%di,s=\"%s\" %d\n", 1000+i, i%7, strings.Repeat("p", i*i%9000), i, strings.Repeat("s", i*37%700), i)
		if i%50 == 0 {
			b.WriteString("1 bad line\n# comment\n\n")
		}
	}
	input := b.String()
	opts := DecoderOptions{Format: Capture, MaxLineBytes: 10000}
	want, wantStats := decodeAll(t, strings.NewReader(input), opts)
	require.Equal(t, int64(300), wantStats.Samples)
	require.Equal(t, int64(6), wantStats.Errors)
	for name, r := range map[string]io.Reader{
		"one byte": iotest.OneByteReader(strings.NewReader(input)),
		"half":     iotest.HalfReader(strings.NewReader(input)),
		"data err": iotest.DataErrReader(strings.NewReader(input)),
	} {
		got, stats := decodeAll(t, r, opts)
		require.Equal(t, want, got, name)
		require.Equal(t, wantStats, stats, name)
	}
}

func TestDecoderReadError(t *testing.T) {
	boom := errors.New("boom")
	r := io.MultiReader(strings.NewReader("m v=1 1\nm v=2 2\nm v=3"), iotest.ErrReader(boom))
	d := NewDecoder(r, DecoderOptions{})
	dst, err := d.Next(nil)
	require.NoError(t, err)
	dst, err = d.Next(dst)
	require.NoError(t, err)
	require.Len(t, dst, 2)
	_, err = d.Next(dst)
	require.Same(t, boom, err, "I/O errors are returned as they are") //nolint:testifylint // identity matters
	_, err = d.Next(dst)
	require.Same(t, boom, err) //nolint:testifylint // sticky
}

func TestDecoderUnknownFormat(t *testing.T) {
	d := NewDecoder(strings.NewReader("m v=1 1\n"), DecoderOptions{Format: 7})
	_, err := d.Next(nil)
	require.ErrorContains(t, err, "unknown format 7")
	require.Equal(t, "Format(7)", Format(7).String())
	require.Equal(t, "capture", Capture.String())
	require.Equal(t, "line protocol", LineProtocol.String())
}

func TestDecoderIntern(t *testing.T) {
	input := "cpu,host=a,dc=x u=1,s=2 1\ncpu,dc=x,host=a u=3 2\ncpu,host=a,dc=x u=4,s=5 3\nmem,host=a,dc=x u=1 4\n"
	got := samplesOf(t, input, DecoderOptions{})
	require.Len(t, got, 6)
	// One tag set shares one label slice; equal series share names.
	require.Same(t, &got[0].Labels[0], &got[1].Labels[0])
	require.Same(t, &got[0].Labels[0], &got[3].Labels[0])
	require.Equal(t, got[0].Series, got[2].Series, "tag order does not change the series")
	require.Equal(t, got[0].Labels, got[2].Labels)
	require.Equal(t, got[0].Series, got[3].Series)
	require.NotEqual(t, got[0].Series, got[5].Series)

	// A tiny table gives the same samples, and counts its resets.
	res, st := decodeAll(t, strings.NewReader(input), DecoderOptions{MaxInterned: 1})
	var small []Sample
	for _, r := range res {
		small = append(small, r.samples...)
	}
	require.Equal(t, got, small)
	require.Equal(t, int64(3), st.InternResets)
	require.Equal(t, int64(1), st.InternedSeries)
}

func TestDecoderReset(t *testing.T) {
	d := NewDecoder(strings.NewReader("m v=1 1\nm v=1 2\n"), DecoderOptions{})
	var dst []Sample
	var err error
	for err == nil {
		dst, err = d.Next(dst)
	}
	require.ErrorIs(t, err, io.EOF)
	require.Len(t, dst, 2)

	// The same series on the same line number of a new input is not a
	// duplicate field; line numbers start again.
	d.Reset(strings.NewReader("m v=1 3\nm v\n"))
	dst, err = d.Next(dst[:0])
	require.NoError(t, err)
	require.Equal(t, []Sample{sample("m_v", 3, 3, 1)}, dst)
	_, err = d.Next(dst[:0])
	var re *RecordError
	require.ErrorAs(t, err, &re)
	require.Equal(t, int64(2), re.Record)
	_, err = d.Next(dst[:0])
	require.ErrorIs(t, err, io.EOF)

	st := d.Stats()
	require.Equal(t, int64(4), st.Records)
	require.Equal(t, int64(3), st.Samples)
	require.Equal(t, int64(1), st.Errors)
}

func TestDecoderAppends(t *testing.T) {
	d := NewDecoder(strings.NewReader("m v=1 1\nm v=2 2,\n"), DecoderOptions{})
	prev := sample("x", 0, 0, 0)
	dst, err := d.Next([]Sample{prev})
	require.NoError(t, err)
	require.Equal(t, []Sample{prev, sample("m_v", 1, 1, 1)}, dst)
	dst, err = d.Next(dst)
	require.Error(t, err)
	require.Len(t, dst, 2, "a bad record appends nothing")
}

// TestDecoderSteadyStateAllocs checks that decoding repeated series, with
// records long enough to defeat the line-protocol decoder's buffer sliding,
// allocates nothing once warm, which also shows that no buffer keeps
// growing. The repeat table is off: the input is decoded again and again,
// and every record must be parsed.
func TestDecoderSteadyStateAllocs(t *testing.T) {
	var b bytes.Buffer
	for i := range 2000 {
		fmt.Fprintf(&b, "%d disk,host=h%d,path=/%s used=%di,free=%d,pct=%d.5 %d\n",
			i, i%10, strings.Repeat("d", 400), i, i, i, i)
	}
	input := b.Bytes()
	d := NewDecoder(bytes.NewReader(input), DecoderOptions{Format: Capture, MaxRepeats: -1})
	dst := make([]Sample, 0, 16)
	run := func() {
		d.Reset(bytes.NewReader(input))
		n := 0
		for {
			var err error
			dst, err = d.Next(dst[:0])
			if err == io.EOF {
				break
			}
			require.NoError(t, err)
			n += len(dst)
		}
		require.Equal(t, 6000, n)
	}
	run()
	allocs := testing.AllocsPerRun(5, run)
	t.Logf("allocs %v", allocs)
	require.LessOrEqual(t, allocs, 5.0, "allocations per 6000 samples")
}

func TestDecoderRejectsValues(t *testing.T) {
	f := func(value, msg string) {
		t.Helper()
		res, _ := decodeAll(t, strings.NewReader("m v=1,w="+value+" 1\nm v=2 2\n"), DecoderOptions{})
		check(t, res, []want{
			{record: 1, column: 9, msg: msg},
			{samples: []Sample{sample("m_v", 2, 2, 2)}},
		})
	}
	f("NaN", "unrecognized type")
	f("-Inf", "non-number")
	f("1e999", "out of range")
	f("9223372036854775808i", "out of range")
	f("-1u", "invalid unsigned")
	f("1.2.3", "invalid float")
	f("tru", "invalid bool")
}

func TestParseInt64(t *testing.T) {
	f := func(s string, want int64, ok bool) {
		t.Helper()
		got, gotOK := parseInt64([]byte(s))
		require.Equal(t, ok, gotOK, s)
		require.Equal(t, want, got, s)
	}
	f("0", 0, true)
	f("-0", 0, true)
	f("0001", 1, true)
	f("1700000000000000000", 1700000000000000000, true)
	f("9223372036854775807", 9223372036854775807, true)
	f("-9223372036854775808", -9223372036854775808, true)
	f("9223372036854775808", 0, false)
	f("-9223372036854775809", 0, false)
	f("99999999999999999999", 0, false)
	f("", 0, false)
	f("-", 0, false)
	f("1-2", 0, false)
	f("--1", 0, false)
	f("+1", 0, false)
	f("9999999999999999999", 0, false)             // 19 digits, out of range
	f("09223372036854775807", math.MaxInt64, true) // 20 digits
	f("-09223372036854775808", math.MinInt64, true)
	f("12345678", 12345678, true) // 8 at a time
	f("1234567812345678", 1234567812345678, true)
	for i := range 19 { // a bad byte anywhere
		for _, c := range []byte{'/', ':', '?', 'a', 0xb0, 0x40} {
			b := []byte("1234567890123456789")
			b[i] = c
			f(string(b), 0, false)
		}
	}
}

func TestDecoderLargeTagSet(t *testing.T) {
	var fwd, rev []string
	for i := range 40 {
		fwd = append(fwd, fmt.Sprintf("f%d=%d", i, i))
		rev = append(rev, fmt.Sprintf("f%d=%d", 39-i, 39-i))
	}
	input := strings.Join([]string{
		"m,h=a " + strings.Join(fwd[:10], ",") + " 1", // small set
		"m,h=a " + strings.Join(fwd, ",") + " 2",      // turns large
		"m,h=a " + strings.Join(rev, ",") + " 3",      // every hint misses
		"m,h=a " + strings.Join(rev, ",") + ",f7=1 4", // duplicate in a large set
		"m,h=a " + strings.Join(fwd[5:], ",") + " 5",  // hits after a skip
		"m,h=a " + strings.Join(fwd, ",") + ",x=1 6",  // a new field
	}, "\n")
	res, st := decodeAll(t, strings.NewReader(input), DecoderOptions{})
	checkInvariants(t, []byte(input), res, st)
	require.Equal(t, referenceDecode([]byte(input), DecoderOptions{}), outcomes(t, res))
	require.Equal(t, int64(41), st.InternedSeries)
	require.Equal(t, int64(1), st.Errors)
	require.Equal(t, int64(10+40+40+35+41), st.Samples)
}
