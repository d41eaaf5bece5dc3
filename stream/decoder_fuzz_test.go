package stream

import (
	"bytes"
	"errors"
	"math"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
	"github.com/stretchr/testify/require"
)

// outcome is a comparable summary of one result.
type outcome struct {
	Samples []Sample
	Record  int64
	Column  int
}

func outcomes(t testing.TB, res []result) []outcome {
	t.Helper()
	var out []outcome
	for _, r := range res {
		if r.err == nil {
			out = append(out, outcome{Samples: r.samples})
			continue
		}
		var re *RecordError
		require.ErrorAs(t, r.err, &re)
		out = append(out, outcome{Record: re.Record, Column: re.Column})
	}
	return out
}

// referenceDecode is a slow, simple model of Decoder: it splits the whole
// input into lines and parses each record with a fresh
// lineprotocol.NewDecoderWithBytes, building samples with NewSample. It
// shares only the arrival prefix parser and the column helpers, which have
// tests of their own.
func referenceDecode(input []byte, opts DecoderOptions) []outcome {
	maxLine := opts.MaxLineBytes
	if maxLine <= 0 {
		maxLine = defaultMaxLineBytes
	}
	lines := bytes.Split(input, []byte("\n"))
	if len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	var out []outcome
	for i, line := range lines {
		no := int64(i + 1)
		line = trimCR(line)
		head := line[:min(len(line), maxLine)]
		switch kind := classify(head); {
		case kind == commentLine:
			continue
		case kind == blankLine && len(line) <= maxLine:
			continue
		case len(line) > maxLine:
			out = append(out, outcome{Record: no, Column: maxLine + 1})
			continue
		}
		samples, col := referenceRecord(line, opts)
		switch {
		case col > 0:
			out = append(out, outcome{Record: no, Column: col})
		case len(samples) > 0:
			out = append(out, outcome{Samples: samples})
		}
	}
	return out
}

// referenceRecord decodes one record; on error it returns the column. An
// opts.Arrival must return the same time for every call.
func referenceRecord(line []byte, opts DecoderOptions) ([]Sample, int) {
	format := opts.Format
	var arrival int64
	if opts.Arrival != nil {
		arrival = opts.Arrival()
	}
	off := 0
	if format == Capture {
		a, o, err := parseArrival(line)
		if err != nil {
			return nil, o + 1
		}
		arrival, off = a, o
	} else {
		off = len(line) - len(bytes.TrimLeft(line, " "))
	}
	rec := line[off:]
	lp := lineprotocol.NewDecoderWithBytes(append(bytes.Clone(rec), '\n'))
	column := func(err error) int {
		var de *lineprotocol.DecodeError
		if errors.As(err, &de) {
			return off + de.Column
		}
		return off + 1
	}
	if !lp.Next() {
		return nil, off + 1
	}
	m, err := lp.Measurement()
	if err != nil {
		return nil, column(err)
	}
	measurement := string(m)
	var labels Labels
	for {
		k, v, err := lp.NextTag()
		if err != nil {
			return nil, column(err)
		}
		if k == nil {
			break
		}
		labels = append(labels, Label{Name: string(k), Value: string(v)})
	}
	seen := map[string]bool{}
	for i, l := range labels {
		if strings.HasPrefix(l.Name, "__") || seen[l.Name] {
			return nil, off + tagOffset(rec, i) + 1
		}
		seen[l.Name] = true
	}
	labels.Sort()
	type field struct {
		name  string
		value float64
	}
	var fields []field
	seenField := map[string]bool{}
	for i := 0; ; i++ {
		k, v, err := lp.NextField()
		if err != nil {
			return nil, column(err)
		}
		if k == nil {
			break
		}
		var x float64
		switch v.Kind() {
		case lineprotocol.String:
			continue
		case lineprotocol.Bool:
			if v.BoolV() {
				x = 1
			}
		case lineprotocol.Int:
			x = float64(v.IntV())
		case lineprotocol.Uint:
			x = float64(v.UintV())
		default:
			x = v.FloatV()
		}
		if seenField[string(k)] {
			return nil, off + fieldOffset(rec, i) + 1
		}
		seenField[string(k)] = true
		name := measurement + "_" + string(k)
		if string(k) == "value" {
			name = measurement
		}
		fields = append(fields, field{name, x})
	}
	tb, err := lp.TimeBytes()
	if err != nil {
		return nil, column(err)
	}
	end := off + len(bytes.TrimRight(rec, " \r"))
	dated := format == Capture || opts.Arrival != nil
	ts := arrival
	if tb != nil {
		t, err := strconv.ParseInt(string(tb), 10, 64)
		if err != nil {
			return nil, end - len(tb) + 1
		}
		if p := big.NewInt(max(int64(opts.Precision), 1)); p.Mul(p, big.NewInt(t)).IsInt64() {
			ts = p.Int64()
		} else {
			return nil, end - len(tb) + 1
		}
		if !dated {
			arrival = ts
		}
	} else if !dated {
		return nil, end + 1
	}
	var samples []Sample
	for _, f := range fields {
		samples = append(samples, NewSample(f.name, labels, ts, f.value, arrival))
	}
	return samples, 0
}

// escapeKey escapes a tag or field key as line protocol writes it.
func escapeKey(s string) string {
	return strings.NewReplacer(",", `\,`, "=", `\=`, " ", `\ `).Replace(s)
}

// checkInvariants checks what must hold for any input.
func checkInvariants(t *testing.T, input []byte, res []result, st DecodeStats) {
	t.Helper()
	lines := bytes.Split(input, []byte("\n"))
	var lastRecord, samples, errs int64
	for _, r := range res {
		if r.err == nil {
			for _, s := range r.samples {
				samples++
				require.Equal(t, Hash(s.Name, s.Labels), s.Series)
				require.True(t, s.Labels.IsSorted())
				for i, l := range s.Labels {
					require.False(t, strings.HasPrefix(l.Name, "__"))
					require.True(t, i == 0 || s.Labels[i-1].Name != l.Name)
				}
			}
			continue
		}
		errs++
		var re *RecordError
		require.ErrorAs(t, r.err, &re)
		require.Greater(t, re.Record, lastRecord, "record numbers increase")
		lastRecord = re.Record
		require.LessOrEqual(t, re.Record, int64(len(lines)))
		line := lines[re.Record-1]
		require.GreaterOrEqual(t, re.Column, 1)
		require.LessOrEqual(t, re.Column, len(line)+2, "%v", re)
		// Errors of ours about a key point at that key.
		for _, sentinel := range []error{ErrDuplicateTag, ErrReservedTag, ErrDuplicateField} {
			if errors.Is(re, sentinel) {
				key, err := strconv.Unquote(strings.TrimPrefix(re.Err.Error(), sentinel.Error()+" "))
				require.NoError(t, err)
				require.True(t, bytes.HasPrefix(line[re.Column-1:], []byte(escapeKey(key)+"=")), "%v in %q", re, line)
			}
		}
	}
	require.Equal(t, samples, st.Samples)
	require.Equal(t, errs, st.Errors)
	require.Equal(t, int64(len(input)), st.Bytes)
	// Every line is counted once, as a record, a comment or a blank line,
	// however long it is.
	wantLines := int64(bytes.Count(input, []byte("\n")))
	if len(input) > 0 && input[len(input)-1] != '\n' {
		wantLines++
	}
	require.Equal(t, wantLines, st.Lines)
	require.Equal(t, st.Lines, st.Records+st.Comments+st.BlankLines)
	require.LessOrEqual(t, st.Errors, st.Records)
}

// fuzzPrecisions are the precisions the fuzz targets pick from.
var fuzzPrecisions = [...]time.Duration{0, time.Microsecond, time.Millisecond, time.Second, time.Minute, time.Hour, 7, time.Nanosecond}

// fuzzOptions returns the decoder options that knobs and mode select:
// Capture or not, MaxLineBytes (knobs' low 9 bits), MaxInterned (0 or a
// tiny table), the precision (mode's bits 0–2), a fixed arrival time
// (bit 3) and MaxRepeats (bits 4–5: the default, off, or a tiny table).
func fuzzOptions(capture bool, knobs uint16, mode uint8) DecoderOptions {
	opts := DecoderOptions{}
	if capture {
		opts.Format = Capture
	}
	if n := int(knobs & 0x1ff); n > 0 {
		opts.MaxLineBytes = n
	}
	opts.MaxInterned = int(knobs>>9) % 4 // 0 (default) or a tiny table
	opts.Precision = fuzzPrecisions[mode&7]
	if mode&8 != 0 {
		opts.Arrival = func() int64 { return 1_700_000_000_123_456_789 }
	}
	opts.MaxRepeats = [4]int{0, -1, 1, 3}[mode>>4&3]
	return opts
}

func FuzzDecoder(f *testing.F) {
	for _, seed := range []string{
		"cpu,host=a,dc=x usage=1.5,value=2i,s=\"x\",b=t 100\n# c\n\ncpu v=1\n",
		"100 cpu,host=a v=1 90\n200 m v=2\r\n-5 x,a\\ b=c\\,d f\\=g=3u\n# x\n",
		"m,a=1,a=2 v=1 1\nm,__name__=x v=1 1\nm v=1,v=2 1\nm s=\"unterminated\nm v=1 1",
		"1 m v=1\n1  m v=1\n1\n1 \nx m v=1\n99999999999999999999 m v=1\n1 # c\n",
		"m v=1e999 1\nm v=NaN 1\nm v=1 9223372036854775808\nm v=1 -\nm v=1 1\rx\n",
		"m\\ ,t\\,x=\\=y f\\ g=\"a\\\"b\" 1\n\t# tab comment\n\tm v=1 1\n",
		"c,h=a u=1.5,v=2i 100\nc,h=a u=2.5,v=3i 110\nc,h=a v=3i,u=1 120\nc,h=a u=t\nm a\\ b=1 1\nm c=1 1\nm a b=2 2\n",
		// Tag sets in the order of the last batch, then in another, with a
		// set written two ways (internTable.rawSetAfter's guesses).
		"a,h=1 v=1 1\nb,h=2 v=1 1\nc v=1 1\na,h=1 v=2 2\nb,h=2 v=2 2\nc v=2 2\nb,h=2 v=3 3\na,h=1 v=3 3\nc v=3 3\na,h=1 v=4 4\nd,x=1,y=2 v=1 4\nd,y=2,x=1 v=2 5\nb,h=2 v=4 4\n",
	} {
		f.Add([]byte(seed), false, uint16(0), uint8(0))
		f.Add([]byte(seed), true, uint16(0), uint8(0))
		f.Add([]byte(seed), false, uint16(12|1<<9), uint8(0))
		f.Add([]byte(seed), false, uint16(0), uint8(3|8))
		f.Add([]byte(seed), true, uint16(1<<9), uint8(5|2<<4))
		f.Add([]byte(seed), false, uint16(0), uint8(6|8|1<<4))
	}
	f.Fuzz(func(t *testing.T, data []byte, capture bool, knobs uint16, mode uint8) {
		opts := fuzzOptions(capture, knobs, mode)
		res, st := decodeAll(t, bytes.NewReader(data), opts)
		checkInvariants(t, data, res, st)
		require.Equal(t, referenceDecode(data, opts), outcomes(t, res), "input %q", data)

		res2, st2 := decodeAll(t, iotest.OneByteReader(bytes.NewReader(data)), opts)
		require.Equal(t, res, res2, "reading byte by byte changes nothing")
		require.Equal(t, st, st2)
	})
}

func TestReferenceAgrees(t *testing.T) {
	// The seeds of FuzzDecoder run as part of go test; this adds inputs
	// with the edge cases of the column helpers.
	for _, in := range []string{
		`m,a\,b=1,a\,b=2 v=1 1`,
		`m,a\ b=1,c=\=,a\ b=2 v=1 1`,
		`m\,x,a=1 s="a,b=c \" d",v=1,s2="\\",v=2 1`,
		`m f\=g=1,f\=g=2 1`,
		`m,a\\=1,a\\=2 v=1 1`,
	} {
		res, st := decodeAll(t, strings.NewReader(in), DecoderOptions{})
		checkInvariants(t, []byte(in), res, st)
		require.Equal(t, int64(1), st.Errors, in)
		require.Equal(t, referenceDecode([]byte(in), DecoderOptions{}), outcomes(t, res), in)
	}
}

// FuzzParseInt64 checks parseInt64, and nineteenDigits (the arrival time's
// fast path) where it applies, against strconv.ParseInt, which also
// accepts a leading '+' where a timestamp may not have one.
func FuzzParseInt64(f *testing.F) {
	for _, s := range []string{"0", "-0", "1700000000123456789", "9223372036854775807", "-9223372036854775808",
		"9223372036854775808", "00000000000000000000001", "0000000000000000000", "9999999999999999999", "1767225599973303000 x", "12345678", "1234567/", "123456:8", "-", "", "+1", "1 2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseInt64([]byte(s))
		want, err := strconv.ParseInt(s, 10, 64)
		if len(s) >= 19 { // the arrival fast path agrees where it applies
			if v, ok19 := nineteenDigits([]byte(s)); ok19 || len(s) == 19 && s[0] != '-' {
				w, err19 := strconv.ParseInt(s[:19], 10, 64)
				ok19 = ok19 && v <= math.MaxInt64
				require.Equal(t, err19 == nil && !strings.HasPrefix(s, "+"), ok19, s)
				if ok19 {
					require.Equal(t, w, int64(v), s)
				}
			}
		}
		if strings.HasPrefix(s, "+") {
			require.False(t, ok, s)
			return
		}
		require.Equal(t, err == nil, ok, s)
		if ok {
			require.Equal(t, want, got, s)
		} else {
			require.Zero(t, got, s)
		}
	})
}
