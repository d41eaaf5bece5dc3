package stream

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
)

// Format selects the record format a Decoder reads.
type Format uint8

const (
	// LineProtocol is Influx line protocol, one record per line, with
	// timestamps in units of DecoderOptions.Precision. Records are dated by
	// DecoderOptions.Arrival when it is set: they arrive when read, and a
	// record without a timestamp takes its arrival time as its sample time.
	// Without it, a sample's arrival time is its sample time, and a record
	// without a timestamp is an error (ErrMissingTimestamp).
	LineProtocol Format = iota
	// Capture is the format of "faultline replay --capture": each line is
	// "<arrival_unix_ns> <line protocol line>", a record as a collector
	// received it, in arrival order. The arrival time is a decimal int64 of
	// Unix nanoseconds followed by exactly one space. A line-protocol line
	// without a timestamp takes the arrival time as its sample time.
	// DecoderOptions.Arrival is not used.
	Capture
)

// String returns the format's name: "line protocol" or "capture".
func (f Format) String() string {
	switch f {
	case LineProtocol:
		return "line protocol"
	case Capture:
		return "capture"
	}
	return fmt.Sprintf("Format(%d)", uint8(f))
}

const (
	// defaultMaxLineBytes is the default of DecoderOptions.MaxLineBytes.
	defaultMaxLineBytes = 1 << 20
	// maxMaxLineBytes caps DecoderOptions.MaxLineBytes.
	maxMaxLineBytes = 1 << 30
)

// DecoderOptions configures a Decoder. A zero DecoderOptions consists
// entirely of default values.
type DecoderOptions struct {
	// Format is the record format. By default it is LineProtocol. A value
	// other than LineProtocol and Capture makes Next return an error.
	Format Format

	// Precision is the unit of line-protocol timestamps: a timestamp t
	// gives the sample time t×Precision nanoseconds, and one for which
	// that is out of the int64 range is an error (ErrInvalidTimestamp).
	// InfluxDB's units are time.Nanosecond, Microsecond, Millisecond,
	// Second, Minute and Hour (ParsePrecision reads their names); Capture
	// arrival prefixes are always nanoseconds. By default it is
	// time.Nanosecond. A negative value makes Next return an error.
	Precision time.Duration

	// Arrival, when set, dates LineProtocol records as they are read: the
	// decoder calls it after each read from its input that returns data,
	// and a record arrives at what it returned for the read that brought
	// the end of its line. For a request body received at one time, return
	// that time. It is called from Next, on Next's goroutine (and by
	// SetArrival, for lines read before it). By default a
	// LineProtocol record arrives at its sample time. Capture ignores it.
	Arrival func() int64

	// MaxLineBytes bounds the length of one input line in bytes, its line
	// ending excluded. A longer line is skipped without being buffered and
	// reported as a *RecordError wrapping ErrLineTooLong (a longer comment
	// line is just skipped). It also bounds the decoder's buffers, which
	// hold about two lines at most. By default it is 1 MiB; values above
	// 1 GiB are taken as 1 GiB.
	MaxLineBytes int

	// MaxInterned bounds the decoder's intern table, in series. The table
	// lets a repeated series reuse its name, labels and series identity
	// instead of allocating them again. When it holds MaxInterned series, or
	// about MaxInterned×512 bytes of names and labels, it is cleared
	// (DecodeStats.InternResets counts this). By default it is 262144:
	// a fleet of 10,000 hosts sending Telegraf's cpu plugin (10 fields a
	// record) is 100,000 series, which take about 75 bytes each; a table
	// smaller than the series it sees is cleared again and again, and
	// every record then allocates its name and labels.
	MaxInterned int

	// MaxRepeats bounds the decoder's repeat table, in records. The table
	// remembers recent records decoded without error, keyed by their bytes,
	// with their samples: a record byte-identical to one of them (a copy
	// delivered again) gets the same samples again, dated anew, without
	// being parsed. Copies are still returned: telling a duplicate from a
	// conflict is for dedup. When it holds MaxRepeats records, or about
	// MaxRepeats×512 bytes, it is cleared (DecodeStats.RepeatResets).
	// A table that filled up with fewer hits than one per 64 records
	// looks up only one record in 16 until it finds one again, so that a
	// stream without copies pays next to nothing for it.
	// A record takes twice its bytes and about 72 bytes a sample; one that
	// would take more than 16 KiB is not remembered. The table's arrays
	// grow as it fills. By default it is 1024 (at most 512 KiB, enough
	// for copies delivered within a thousand lines of each other); values
	// above 1,048,576 are taken as 1,048,576; a negative value turns the
	// table off.
	MaxRepeats int
}

// Errors a *RecordError may wrap, for errors.Is. Syntax errors found by the
// line-protocol parser are wrapped as they are.
var (
	// ErrLineTooLong means a line is longer than
	// DecoderOptions.MaxLineBytes.
	ErrLineTooLong = errors.New("stream: line too long")
	// ErrMissingTimestamp means a LineProtocol record has no timestamp
	// and DecoderOptions.Arrival is not set.
	ErrMissingTimestamp = errors.New("stream: missing timestamp")
	// ErrInvalidTimestamp means a timestamp is not a decimal int64, or is
	// out of range at the precision.
	ErrInvalidTimestamp = errors.New("stream: invalid timestamp")
	// ErrArrival means a Capture line does not start with a valid arrival
	// time followed by exactly one space and a line-protocol record.
	ErrArrival = errors.New("stream: invalid arrival time prefix")
	// ErrDuplicateTag means a tag key occurs twice in one record.
	ErrDuplicateTag = errors.New("stream: duplicate tag")
	// ErrReservedTag means a tag key starts with "__", which faultline
	// reserves for its own labels such as __name__.
	ErrReservedTag = errors.New("stream: reserved tag")
	// ErrDuplicateField means a numeric field key occurs twice in one
	// record, which would give two values of one series at one time.
	ErrDuplicateField = errors.New("stream: duplicate field")
	// ErrNoFields means a record has no fields.
	ErrNoFields = errors.New("stream: no fields")
)

// errBadRead is returned when the input reader returns an impossible count.
var errBadRead = errors.New("stream: reader returned an invalid count")

// RecordError reports a malformed record. The decoder skips the record
// (none of its samples are returned) and continues with the next line.
type RecordError struct {
	// Record is the 1-based line number of the record in the input. Blank
	// and comment lines count, so it is the line number an editor shows.
	Record int64
	// Column is the 1-based byte column of the problem in the full input
	// line (for Capture, counted from the start of the arrival prefix).
	Column int
	// Err is the cause.
	Err error
}

// Error formats the error as "record 17, column 12: cause".
func (e *RecordError) Error() string {
	return fmt.Sprintf("record %d, column %d: %v", e.Record, e.Column, e.Err)
}

// Unwrap returns the cause.
func (e *RecordError) Unwrap() error { return e.Err }

// DecodeStats are a Decoder's counters. They are cumulative over the
// decoder's life, across Reset, except InternedSeries.
type DecodeStats struct {
	// Bytes is the number of bytes read from the input.
	Bytes int64
	// Lines is the number of input lines read, blank and comment lines
	// included.
	Lines int64
	// Records is the number of lines that are neither blank nor comments,
	// good and bad.
	Records int64
	// Samples is the number of samples decoded.
	Samples int64
	// Errors is the number of records rejected, each with a *RecordError.
	Errors int64
	// StringFields is the number of string fields skipped in accepted
	// records.
	StringFields int64
	// Comments is the number of comment lines.
	Comments int64
	// BlankLines is the number of empty or white-space-only lines.
	BlankLines int64
	// InternResets is the number of times the intern table was full and
	// was cleared. If it keeps growing, the input has more series than
	// DecoderOptions.MaxInterned and decoding allocates more.
	InternResets int64
	// InternedSeries is the number of series in the intern table now.
	InternedSeries int64
	// RepeatHits is the number of records found in the repeat table (see
	// DecoderOptions.MaxRepeats) and not parsed again.
	RepeatHits int64
	// RepeatResets is the number of times the repeat table was full and
	// was cleared.
	RepeatResets int64
}

// Decoder turns a stream of records, one per line, into samples.
//
// Each field of a record is one sample. The sample name is
// <measurement>_<field>, except that a field named "value" gives just
// <measurement>. Tags become labels, sorted by name. Integer, unsigned and
// boolean fields become float64 (true is 1, false is 0); string fields are
// skipped and counted, so a record of string fields only gives no samples
// and is not an error. Timestamps are in units of DecoderOptions.Precision;
// see Format for arrival times. Blank lines are skipped, and lines whose
// first non-blank byte is '#' are comments in both formats.
//
// A record is decoded in full or not at all: a malformed record gives no
// samples but one *RecordError with its line and column, and decoding
// continues with the next line. Duplicate tag keys, tag keys starting with
// "__" and a numeric field key repeated within a record are errors.
// Line-protocol string values must escape newlines ("\n"): a raw newline
// ends the record. Raw returns the line of the record last decoded or
// rejected, as read, to pass it on or to quote it in an error.
//
// Samples of a series share their Name and Labels with the earlier samples
// of that series (see DecoderOptions.MaxInterned), and samples of one tag
// set share one Labels slice: callers must treat Labels as read-only. A
// record byte-identical to a recent one is not parsed again (see
// DecoderOptions.MaxRepeats); its samples are the same either way.
//
// A read error is returned as it is and ends decoding, except a timeout
// (an error with a Timeout method that reports true, as a read deadline on
// a net.Conn gives): it is returned once, and the next call of Next goes on
// reading where the input stopped, a partial line included.
//
// A Decoder reads its input as needed, through buffers bounded by
// DecoderOptions.MaxLineBytes, and its intern and repeat tables are bounded
// by DecoderOptions.MaxInterned and MaxRepeats. It never reads the clock
// (DecoderOptions.Arrival may). It is not safe for concurrent use.
type Decoder struct {
	format    Format
	precision int64 // nanoseconds per timestamp unit
	maxLine   int
	err       error // sticky configuration error

	lines lineReader
	line  int64 // number of the last line read
	raw   bool  // the last line read was a record: Raw returns it

	lp     *lineprotocol.Decoder // nil: make a new one before the next record
	feed   feeder
	broken bool // lp returned a syntax error and may be mid-record

	tab      internTable
	rep      repeatTable
	look     bool  // the record being decoded was looked up in rep: add it
	seq      int64 // numbers each parse of a record, for internTable.lookup
	simple   simpleRecord
	noSimple bool   // tests: parse every record with the line-protocol parser
	key      []byte // scratch: raw tag-set key
	stats    DecodeStats
}

// NewDecoder returns a decoder that reads records from r.
func NewDecoder(r io.Reader, opts DecoderOptions) *Decoder {
	d := &Decoder{format: opts.Format}
	if opts.Format != LineProtocol && opts.Format != Capture {
		d.err = fmt.Errorf("stream: unknown format %d", uint8(opts.Format))
	}
	if err := d.SetPrecision(opts.Precision); err != nil && d.err == nil {
		d.err = err
	}
	d.lines.clock = opts.Arrival
	d.maxLine = opts.MaxLineBytes
	if d.maxLine <= 0 {
		d.maxLine = defaultMaxLineBytes
	}
	d.maxLine = min(d.maxLine, maxMaxLineBytes)
	maxInterned := opts.MaxInterned
	if maxInterned <= 0 {
		maxInterned = defaultMaxInterned
	}
	d.tab.init(min(maxInterned, maxMaxInterned))
	switch {
	case opts.MaxRepeats == 0:
		d.rep.init(defaultMaxRepeats)
	case opts.MaxRepeats > 0:
		d.rep.init(min(opts.MaxRepeats, maxMaxRepeats))
	}
	d.lines.max = d.maxLine
	d.lines.reset(r)
	return d
}

// Reset makes d read records from r, as a new decoder would, but keeps its
// options, intern and repeat tables, buffers and counters. Line numbers
// start again at 1.
func (d *Decoder) Reset(r io.Reader) {
	d.lines.reset(r)
	d.line = 0
	d.raw = false
}

// SetPrecision sets the unit of the timestamps of the records decoded from
// now on, as DecoderOptions.Precision does (0 is nanoseconds). A receiver
// calls it after Reset for each request that names its precision. It
// returns an error, and changes nothing, if p is negative.
func (d *Decoder) SetPrecision(p time.Duration) error {
	if p < 0 {
		return fmt.Errorf("stream: negative precision %v", p)
	}
	d.precision = max(int64(p), 1)
	return nil
}

// SetArrival sets the function that dates the records read from now on, as
// DecoderOptions.Arrival does (nil: none). A receiver calls it after Reset
// for each request body, with a function that returns when the request was
// received. If the decoder had no function, SetArrival calls the new one
// for the lines it has read but not yet decoded: they arrive now.
func (d *Decoder) SetArrival(arrival func() int64) {
	if arrival != nil && d.lines.clock == nil && d.lines.start < d.lines.end {
		d.lines.stamp = arrival()
	}
	d.lines.clock = arrival
}

// ParsePrecision returns the timestamp unit named by the precision
// parameter of an InfluxDB write request: "ns", "us", "ms" or "s" (API v2)
// and "n", "u", "ms", "s", "m" (minutes) or "h" (API v1). An empty string
// is nanoseconds, the default of both APIs.
func ParsePrecision(s string) (time.Duration, error) {
	switch s {
	case "", "ns", "n":
		return time.Nanosecond, nil
	case "us", "u", "µs":
		return time.Microsecond, nil
	case "ms":
		return time.Millisecond, nil
	case "s":
		return time.Second, nil
	case "m":
		return time.Minute, nil
	case "h":
		return time.Hour, nil
	}
	return 0, fmt.Errorf("stream: unknown precision %q (want ns, us, ms, s, or n, u, m, h)", s)
}

// Stats returns the decoder's counters.
func (d *Decoder) Stats() DecodeStats {
	s := d.stats
	s.Bytes = d.lines.bytes
	s.InternResets = d.tab.resets
	s.InternedSeries = int64(d.tab.len())
	s.RepeatHits = d.rep.hits
	s.RepeatResets = d.rep.resets
	return s
}

// Raw returns the input line of the record that the last call of Next
// decoded or rejected, with its line ending as read ("\n", "\r\n", or none
// at the end of the input); for a line longer than
// DecoderOptions.MaxLineBytes, its first MaxLineBytes bytes. Blank and
// comment lines, which Next skips, are not handed back. After a call that
// returned no record (io.EOF, a read error) it returns nil. The bytes stay
// valid until the next call of Next or Reset and must not be modified.
func (d *Decoder) Raw() []byte {
	if !d.raw {
		return nil
	}
	return d.lines.buf[d.lines.raw0:d.lines.raw1]
}

// Next decodes the next record (one input line), skipping blank and comment
// lines, and appends its samples to dst. It returns io.EOF at the end of the
// input. A malformed record gives a *RecordError and no samples; the
// following call continues with the next record. Other errors, from reading
// the input, are returned as they are and end decoding, except timeouts,
// after which the next call reads on (see Decoder).
func (d *Decoder) Next(dst []Sample) ([]Sample, error) {
	d.raw = false
	if d.err != nil {
		return dst, d.err
	}
	// Most lines are in the buffer already and start with a record: they
	// are taken here, without a call; nextLine takes every other. (The
	// first byte is tested as classify would; classify on it costs ~10
	// more instructions a line, callgrind.)
	lr := &d.lines
	var line []byte
	if i := bytes.IndexByte(lr.buf[lr.start:lr.end], '\n'); i > 0 && i <= lr.max && !lr.skip {
		if c := lr.buf[lr.start]; c != '#' && c != ' ' && c != '\t' && c != '\r' {
			line = lr.cut(i)
			d.line++
			d.stats.Lines++
		}
	}
	if line == nil {
		var err error
		if line, err = d.nextLine(); err != nil {
			return dst, err
		}
	}
	d.stats.Records++
	d.raw = true

	rec, off, arrival := line, 0, lr.stamp // off: the record's offset in line
	if d.format == Capture || line[0] == ' ' {
		var err error
		if rec, off, arrival, err = d.prefix(line); err != nil {
			return dst, err
		}
	}
	n := len(dst)
	var h uint64
	if d.look = d.rep.look(); d.look {
		h = d.rep.hash(rec)
		if e := d.rep.find(h, rec); e != nil {
			// Unless dated otherwise than before (the precision or the
			// arrival source changed): parsing then gives the error and
			// its column.
			if ts, arr, err := d.dates(e.ts, e.hasTS, arrival); err == nil {
				if smp := d.rep.entrySamples(e); len(smp) == 1 { // most records: no call to copy a slice
					dst = append(dst, smp[0])
					dst[n].Time, dst[n].Arrival = ts, arr
				} else {
					dst = append(dst, smp...)
					for i := n; i < len(dst); i++ { // dated in place: dating a copy of each, then appending it, cost more
						dst[i].Time, dst[i].Arrival = ts, arr
					}
				}
				d.stats.StringFields += int64(e.strs)
				d.stats.Samples += int64(len(dst) - n)
				d.rep.hit()
				return dst, nil
			}
		}
	}
	dst, err := d.parse(dst, rec, off, h, arrival)
	if err != nil {
		return dst[:n], err
	}
	d.stats.Samples += int64(len(dst) - n)
	return dst, nil
}

// prefix returns the line-protocol record of a line, its offset in the
// line and the line's arrival time: for Capture, after the arrival time
// that starts the line; otherwise after the spaces that may start it.
func (d *Decoder) prefix(line []byte) (rec []byte, off int, arrival int64, err error) {
	arrival = d.lines.stamp
	if d.format == Capture {
		a, o, err := parseArrival(line)
		if err != nil {
			return nil, 0, 0, d.fail(o+1, err)
		}
		arrival, off = a, o
	} else {
		for off < len(line) && line[off] == ' ' {
			off++
		}
	}
	return line[off:], off, arrival, nil
}

// nextLine returns the next record's line for Next, reading as needed and
// skipping blank and comment lines. A line too long is a bad record.
func (d *Decoder) nextLine() ([]byte, error) {
	for {
		line, long, err := d.lines.next()
		if err != nil {
			return nil, err
		}
		d.line++
		d.stats.Lines++
		switch kind := classify(line); {
		case kind == commentLine:
			d.stats.Comments++
			continue
		case kind == blankLine && !long:
			d.stats.BlankLines++
			continue
		}
		if long {
			d.stats.Records++
			d.raw = true
			return nil, d.fail(d.maxLine+1, fmt.Errorf("%w: more than %d bytes", ErrLineTooLong, d.maxLine))
		}
		return line, nil
	}
}

// parse decodes a record not found in the repeat table, whose hash is h
// (if it was looked up, d.look): as a known tag set's next record if it is one
// (decodeKnown), else with the simple parser if it can, with
// line-protocol/v2 otherwise. off is the offset of the record in its line.
func (d *Decoder) parse(dst []Sample, rec []byte, off int, h uint64, arrival int64) ([]Sample, error) {
	d.tab.startRecord()
	d.seq++
	if d.noSimple {
		return d.decodeLP(dst, rec, off, h, arrival)
	}
	dst, set, ok := d.decodeKnown(dst, rec, h, arrival)
	if ok {
		return dst, nil
	}
	if parseSimple(rec, &d.simple) {
		n0 := len(dst)
		if dst, ok := d.decodeSimple(dst, rec, set, h, arrival); ok {
			return dst, nil
		}
		// Rejected by our rules: parsing again gives the error and its
		// column.
		dst = dst[:n0]
		d.seq++
	}
	return d.decodeLP(dst, rec, off, h, arrival)
}

// decodeSimple decodes a record parsed by parseSimple into d.simple. set is
// the tag set of its measurement and tags as written, which decodeKnown
// looked up (the bytes before the first space are those of a simple
// record), or -1 if the table has none yet. It reports false, having
// appended nothing, if the record breaks a rule of ours (a reserved or
// repeated tag, a repeated field) or cannot be dated.
func (d *Decoder) decodeSimple(dst []Sample, rec []byte, set int32, h uint64, arrival int64) ([]Sample, bool) {
	r := &d.simple
	raw := rec[:r.mEnd]
	if len(r.tags) > 0 {
		raw = rec[:r.tags[len(r.tags)-1].v1]
	}
	if set < 0 {
		d.key = append(append(d.key[:0], rec[:r.mEnd]...), sepByte)
		for _, t := range r.tags {
			d.key = appendTagKey(d.key, rec[t.k0:t.k1], rec[t.v0:t.v1])
		}
		var err error
		if set, _, err = d.tab.tagSet(d.key, r.mEnd, len(r.tags)); err != nil {
			return dst, false
		}
		d.tab.alias(raw, set)
		d.tab.follow(set)
	}
	ts, arrival, err := d.dates(r.ts, r.hasTS, arrival)
	if err != nil {
		return dst, false
	}
	labels := d.tab.labels(set)
	n0 := len(dst)
	var strs int64
	hint := 0
	for _, f := range r.fields {
		if f.str {
			strs++
			continue
		}
		e, next, dup := d.tab.lookup(set, hint, rec[f.k0:f.k1], d.seq)
		if dup {
			return dst[:n0], false
		}
		hint = next
		dst = append(dst, Sample{Name: e.name, Labels: labels, Series: e.id, Time: ts, Value: f.value, Arrival: arrival})
	}
	if d.look {
		d.rep.add(h, rec, dst[n0:], r.ts, r.hasTS, strs)
	}
	d.stats.StringFields += strs
	return dst, true
}

// decodeKnown decodes the record collectors write most: the next report
// of a tag set already seen, in the simple subset, with its fields in the
// order of the set's series. The tag set is found by the bytes before the
// first space (see internTable.rawSet), which validates them, and each
// field key is compared with the one its position expects, so neither is
// scanned byte by byte. Anything else (a field new or out of order, a
// string field, a set with a field key that is not plain, a record that
// cannot be dated, a timestamp not as parseSimple reads it) reports false,
// having appended nothing, and the record is parsed as any other. It
// returns the tag set it found, or -1, for decodeSimple.
func (d *Decoder) decodeKnown(dst []Sample, rec []byte, h uint64, arrival int64) ([]Sample, int32, bool) {
	sp := bytes.IndexByte(rec, ' ')
	if sp <= 0 {
		return dst, -1, false
	}
	set, ok := d.tab.rawSetAfter(rec[:sp])
	if !ok {
		return dst, -1, false
	}
	ts := &d.tab.setList[set]
	if ts.oddKeys {
		return dst, set, false
	}
	n0 := len(dst)
	i := sp + 1
	for k := 0; ; k++ {
		if k == len(ts.series) {
			return dst[:n0], set, false
		}
		e := &ts.series[k]
		j := i + len(e.field)
		if j >= len(rec) || rec[j] != '=' || string(rec[i:j]) != e.field {
			return dst[:n0], set, false
		}
		var f simpleField
		if i, ok = parseSimpleValue(rec, j+1, &f); !ok || f.str {
			return dst[:n0], set, false
		}
		dst = append(dst, Sample{Name: e.name, Labels: ts.labels, Series: e.id, Value: f.value})
		if i == len(rec) || rec[i] == ' ' {
			break
		}
		i++ // a ','
	}
	var raw int64
	hasTS := i < len(rec)
	if hasTS {
		if raw, ok = parseInt64(rec[i+1:]); !ok {
			return dst[:n0], set, false
		}
	}
	t, arr, err := d.dates(raw, hasTS, arrival)
	if err != nil {
		return dst[:n0], set, false
	}
	for x := n0; x < len(dst); x++ {
		dst[x].Time, dst[x].Arrival = t, arr
	}
	if d.look {
		d.rep.add(h, rec, dst[n0:], raw, hasTS, 0)
	}
	return dst, set, true
}

// appendTagKey appends a tag to a raw tag-set key (see internTable.tagSet):
// its key and value, each followed by sepByte.
func appendTagKey(key, k, v []byte) []byte {
	key = append(key, k...)
	key = append(key, sepByte)
	key = append(key, v...)
	return append(key, sepByte)
}

// decodeLP decodes a record with the line-protocol parser. off is the
// offset of the record in its line.
func (d *Decoder) decodeLP(dst []Sample, rec []byte, off int, h uint64, arrival int64) ([]Sample, error) {
	if d.lp == nil || d.broken || d.feed.pending() || d.feed.dead {
		d.feed = feeder{}
		d.lp = lineprotocol.NewDecoder(&d.feed)
		d.broken = false
	}
	d.feed.load(rec)
	if !d.lp.Next() {
		return dst, d.lpFail(off, ErrNoFields)
	}
	m, err := d.lp.Measurement()
	if err != nil {
		return dst, d.lpFail(off, err)
	}
	d.key = append(d.key[:0], m...)
	d.key = append(d.key, sepByte)
	mlen, ntags := len(m), 0
	for {
		k, v, err := d.lp.NextTag()
		if err != nil {
			return dst, d.lpFail(off, err)
		}
		if k == nil {
			break
		}
		d.key = appendTagKey(d.key, k, v)
		ntags++
	}
	set, bad, err := d.tab.tagSet(d.key, mlen, ntags)
	if err != nil {
		d.drain()
		return dst, d.fail(off+tagOffset(rec, bad)+1, err)
	}

	seq := d.seq
	labels := d.tab.labels(set)
	n0 := len(dst)
	var strs int64
	fields, hint := 0, 0
	for ; ; fields++ {
		k, v, err := d.lp.NextField()
		if err != nil {
			return dst, d.lpFail(off, err)
		}
		if k == nil {
			break
		}
		var x float64
		switch v.Kind() {
		case lineprotocol.Float:
			x = v.FloatV()
		case lineprotocol.Int:
			x = float64(v.IntV())
		case lineprotocol.Uint:
			x = float64(v.UintV())
		case lineprotocol.Bool:
			if v.BoolV() {
				x = 1
			}
		default: // String
			strs++
			continue
		}
		e, next, dup := d.tab.lookup(set, hint, k, seq)
		hint = next
		if dup {
			err := fmt.Errorf("%w %q", ErrDuplicateField, k)
			d.drain()
			return dst, d.fail(off+fieldOffset(rec, fields)+1, err)
		}
		dst = append(dst, Sample{Name: e.name, Labels: labels, Series: e.id, Value: x})
	}
	if fields == 0 { // the line-protocol parser does not let this happen
		d.drain()
		return dst, d.fail(off+len(rec)+1, ErrNoFields)
	}
	tb, err := d.lp.TimeBytes()
	if err != nil {
		return dst, d.lpFail(off, err)
	}
	// The record is fully read: only spaces follow the timestamp.
	end := off + len(bytes.TrimRight(rec, " \r"))
	var raw int64
	if tb != nil {
		var ok bool
		if raw, ok = parseInt64(tb); !ok {
			return dst, d.fail(end-len(tb)+1, fmt.Errorf("%w %q", ErrInvalidTimestamp, tb))
		}
	}
	ts, arrival, err := d.dates(raw, tb != nil, arrival)
	switch {
	case err == errTimeRange:
		return dst, d.fail(end-len(tb)+1, fmt.Errorf("%w %q: out of range at precision %v", ErrInvalidTimestamp, tb, time.Duration(d.precision)))
	case err != nil:
		return dst, d.fail(end+1, err)
	}
	if d.look {
		d.rep.add(h, rec, dst[n0:], raw, tb != nil, strs)
	}
	for i := n0; i < len(dst); i++ {
		dst[i].Time = ts
		dst[i].Arrival = arrival
	}
	d.stats.StringFields += strs
	return dst, nil
}

// errTimeRange is what dates returns when a timestamp times the precision
// is out of range.
var errTimeRange = errors.New("stream: timestamp out of range")

// dates returns the sample and arrival times of a record whose timestamp,
// if it has one (hasTS), is ts in units of the precision, and whose line
// arrived at arrival (from its Capture prefix or DecoderOptions.Arrival).
func (d *Decoder) dates(ts int64, hasTS bool, arrival int64) (sampleTime, arrivalTime int64, err error) {
	dated := d.format == Capture || d.lines.clock != nil // arrival is known
	if !hasTS {
		if !dated {
			return 0, 0, ErrMissingTimestamp
		}
		return arrival, arrival, nil
	}
	if p := d.precision; p != 1 {
		t := ts * p
		if t/p != ts {
			return 0, 0, errTimeRange
		}
		ts = t
	}
	if !dated {
		arrival = ts
	}
	return ts, arrival, nil
}

// fail counts a bad record and returns its error.
func (d *Decoder) fail(column int, err error) error {
	d.stats.Errors++
	return &RecordError{Record: d.line, Column: column, Err: err}
}

// lpFail handles an error from the line-protocol decoder: it maps the
// position of a *lineprotocol.DecodeError (relative to the record, which
// starts at offset off in the line) into the line.
func (d *Decoder) lpFail(off int, err error) error {
	d.broken = true
	var de *lineprotocol.DecodeError
	if errors.As(err, &de) {
		return d.fail(off+de.Column, de.Err)
	}
	return d.fail(off+1, err)
}

// drain makes the line-protocol decoder read the rest of a record it has
// not finished, so that it is ready for the next one.
func (d *Decoder) drain() {
	if _, err := d.lp.TimeBytes(); err != nil {
		d.broken = true
	}
}

type lineKind uint8

const (
	recordLine lineKind = iota
	blankLine
	commentLine
)

// classify tells blank and comment lines from records.
func classify(line []byte) lineKind {
	for _, c := range line {
		switch c {
		case ' ', '\t', '\r':
		case '#':
			return commentLine
		default:
			return recordLine
		}
	}
	return blankLine
}

// parseArrival parses the arrival prefix of a Capture line and returns the
// arrival time and the offset of the line-protocol record. On error, off is
// the offset of the problem.
func parseArrival(line []byte) (arrival int64, off int, err error) {
	// Fast path: a valid time, then a space and a record. Arrival times of
	// this century have 19 digits.
	if len(line) > 20 && line[19] == ' ' && line[20] != ' ' && line[20] != '#' {
		if a, ok := nineteenDigits(line); ok && a <= math.MaxInt64 {
			return int64(a), 20, nil
		}
	}
	sp := bytes.IndexByte(line, ' ')
	if sp > 0 && sp+1 < len(line) && line[sp+1] != ' ' && line[sp+1] != '#' {
		if a, ok := parseInt64(line[:sp]); ok {
			return a, sp + 1, nil
		}
	}
	i := 0
	if i < len(line) && line[i] == '-' {
		i++
	}
	for i < len(line) && '0' <= line[i] && line[i] <= '9' {
		i++
	}
	switch {
	case i == 0 || line[i-1] == '-':
		if i == len(line) {
			return 0, i, fmt.Errorf("%w: want <arrival_unix_ns> <line protocol>, found end of line", ErrArrival)
		}
		return 0, i, fmt.Errorf("%w: want a decimal arrival time, found %q", ErrArrival, line[i])
	case i == len(line):
		return 0, i, fmt.Errorf("%w: want a space and a line-protocol record after the arrival time, found end of line", ErrArrival)
	case line[i] != ' ':
		return 0, i, fmt.Errorf("%w: want a space after the arrival time, found %q", ErrArrival, line[i])
	}
	arrival, ok := parseInt64(line[:i])
	if !ok {
		return 0, 0, fmt.Errorf("%w: arrival time %s out of range", ErrArrival, line[:i])
	}
	off = i + 1
	switch {
	case off == len(line):
		return 0, off, fmt.Errorf("%w: want a line-protocol record after the arrival time, found end of line", ErrArrival)
	case line[off] == ' ':
		return 0, off, fmt.Errorf("%w: want exactly one space after the arrival time", ErrArrival)
	case line[off] == '#':
		return 0, off, fmt.Errorf("%w: want a line-protocol record after the arrival time, found a comment", ErrArrival)
	}
	return arrival, off, nil
}

// parseInt64 parses an optionally negative decimal int64.
func parseInt64(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 {
		return 0, false
	}
	var u uint64
	switch {
	case len(b) == 19: // nanoseconds since 2001
		var ok bool
		if u, ok = nineteenDigits(b); !ok {
			return 0, false
		}
	case len(b) < 19: // fits a uint64: check the range once, below
		for len(b) >= 8 {
			v, ok := eightDigits(b)
			if !ok {
				return 0, false
			}
			u = u*1e8 + v
			b = b[8:]
		}
		for _, c := range b {
			c -= '0'
			if c > 9 {
				return 0, false
			}
			u = u*10 + uint64(c)
		}
	default:
		for _, c := range b {
			if c < '0' || c > '9' || u > (1<<63)/10 {
				return 0, false
			}
			u = u*10 + uint64(c-'0')
		}
	}
	switch {
	case neg && u <= 1<<63:
		return -int64(u), true // -(1<<63) wraps to math.MinInt64, as wanted
	case !neg && u <= math.MaxInt64:
		return int64(u), true
	}
	return 0, false
}

// nineteenDigits parses the first 19 bytes of b, which must all be
// decimal digits: a timestamp in nanoseconds since 2001, and the arrival
// time of every Capture line. Its value fits a uint64.
func nineteenDigits(b []byte) (uint64, bool) {
	_ = b[18]
	lo, hi := binary.LittleEndian.Uint64(b[11:]), binary.LittleEndian.Uint64(b[3:])
	c0, c1, c2 := b[0]-'0', b[1]-'0', b[2]-'0'
	if !digits8(lo) || !digits8(hi) || c0 > 9 || c1 > 9 || c2 > 9 {
		return 0, false
	}
	return (uint64(c0)*100+uint64(c1)*10+uint64(c2))*1e16 + value8(hi)*1e8 + value8(lo), true
}

// digits8 reports whether the 8 bytes of v are all decimal digits: a
// byte is one when its high nibble is 3 and adding 6 to it keeps it so
// (0x30–0x39, not 0x3a–0x3f).
func digits8(v uint64) bool {
	return v&0xf0f0f0f0f0f0f0f0|(v+0x0606060606060606)&0xf0f0f0f0f0f0f0f0>>4 == 0x3333333333333333
}

// value8 returns the value of 8 decimal digits, the first in the low byte
// of v.
func value8(v uint64) uint64 {
	v &= 0x0f0f0f0f0f0f0f0f            // 8 digits, the first in the low byte
	v = (v * (10<<8 + 1)) >> 8         // pairs: 10·first + second in each low byte of 16 bits
	v &= 0x00ff00ff00ff00ff            //
	v = (v * (100<<16 + 1)) >> 16      // quads in each low 16 bits of 32
	v &= 0x0000ffff0000ffff            //
	return (v * (10000<<32 + 1)) >> 32 // the 8 digits
}

// eightDigits parses the 8 bytes at the start of b, which must all be
// decimal digits, 8 at a time in a uint64 (timestamps have 19).
func eightDigits(b []byte) (uint64, bool) {
	v := binary.LittleEndian.Uint64(b) // b[0] in the low byte
	if !digits8(v) {
		return 0, false
	}
	return value8(v), true
}

// tagOffset returns the offset in rec, a line-protocol record whose
// measurement and tags parsed, of the key of its i-th tag (from 0).
func tagOffset(rec []byte, i int) int {
	p := skipToken(rec, 0) // the measurement
	for n := 0; p < len(rec) && rec[p] == ','; n++ {
		p++
		if n == i {
			return p
		}
		p = skipToken(rec, p)
	}
	return p
}

// fieldOffset returns the offset in rec, a line-protocol record whose
// fields up to the i-th (from 0) parsed, of the key of its i-th field.
func fieldOffset(rec []byte, i int) int {
	p := 0
	for p < len(rec) && rec[p] != ' ' { // measurement and tags
		p = skipToken(rec, p)
		if p < len(rec) && rec[p] == ',' {
			p++
		}
	}
	for p < len(rec) && rec[p] == ' ' {
		p++
	}
	for n := 0; n < i && p < len(rec); n++ {
		for p < len(rec) && rec[p] != '=' { // key
			if rec[p] == '\\' && p+1 < len(rec) && isTagEscape(rec[p+1]) {
				p++
			}
			p++
		}
		p++ // '='
		if p < len(rec) && rec[p] == '"' {
			for p++; p < len(rec) && rec[p] != '"'; p++ {
				if rec[p] == '\\' && p+1 < len(rec) && (rec[p+1] == '"' || rec[p+1] == '\\') {
					p++
				}
			}
			p++ // closing quote
		} else {
			for p < len(rec) && rec[p] != ',' && rec[p] != ' ' {
				p++
			}
		}
		p++ // ','
	}
	return min(p, len(rec))
}

// skipToken returns the offset of the first unescaped ',' or ' ' at or after
// p: the end of a measurement, tag key=value pair or field key.
func skipToken(rec []byte, p int) int {
	for p < len(rec) {
		switch c := rec[p]; {
		case c == '\\' && p+1 < len(rec) && isTagEscape(rec[p+1]):
			p += 2
		case c == ',' || c == ' ':
			return p
		default:
			p++
		}
	}
	return p
}

// isTagEscape reports whether a backslash before c escapes it in a
// measurement, tag or field key (it escapes ',' and ' ', and '=' in tags
// and field keys, where '=' would otherwise end a key).
func isTagEscape(c byte) bool { return c == ',' || c == ' ' || c == '=' }
