package input

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/faultline-go/faultline/clock"
	"github.com/faultline-go/faultline/metrics"
	"github.com/faultline-go/faultline/stream"
)

// Runtime is where an input delivers: *pipeline.Runtime implements it.
// Now dates arrivals; Ingest queues samples, waiting for room until its
// context ends (then it returns an error matching pipeline.ErrBusy);
// BadInput reports a record that could not be decoded. All three are
// called from many goroutines at once.
type Runtime interface {
	Now() time.Time
	Ingest(ctx context.Context, batch []stream.Sample) error
	BadInput(input string, err error)
}

// Options configures any input. A zero Options consists entirely of
// default values.
type Options struct {
	// Name names the input in its bad_input events (label faultline_input)
	// and in its metrics (label input). By default "http", "tcp" or
	// "stdin".
	Name string
	// MaxLineBytes bounds one line; a longer one is skipped, reported as
	// a bad record and counted (limit "line"). By default 1 MiB.
	MaxLineBytes int
	// MaxBatch bounds the samples handed to the runtime at once. By
	// default 4096.
	MaxBatch int
	// MaxRepeats is the decoders' repeat table (stream.DecoderOptions):
	// copies of recent records are not parsed again. By default 1024
	// records; -1 turns it off, which saves 40–50 ns a record on input
	// that never repeats a line.
	MaxRepeats int
	// MaxInterned bounds each decoder's intern table, in series
	// (stream.DecoderOptions): by default 262,144, at most about 512 bytes
	// a series (names and labels; some 75 bytes for records of 10 fields).
	// An input keeps up to 2×GOMAXPROCS idle decoders, and each comes to
	// hold the series of the requests it decodes, so an input's tables can
	// take that many times the bound.
	MaxInterned int
	// Precision is the unit of the line-protocol timestamps of the stream
	// inputs (TCP, Reader), as stream.DecoderOptions.Precision: by default
	// nanoseconds, what Telegraf's serializer writes. HTTP ignores it:
	// each request names its own (the precision parameter).
	Precision time.Duration
	// Clock times the waits for the runtime (HTTPOptions.BusyTimeout).
	// Arrivals are dated by Runtime.Now. By default the system's clock.
	Clock clock.Clock
	// Logger receives the input's diagnostics. By default nothing is
	// logged.
	Logger *slog.Logger
}

// Defaults of the options.
const (
	DefaultMaxLineBytes = 1 << 20
	DefaultMaxBatch     = 4096
	DefaultMaxBodyBytes = 32 << 20
	DefaultMaxConns     = 1024
	DefaultBusyTimeout  = time.Second
	DefaultIdleTimeout  = 5 * time.Minute
	DefaultMaxErrors    = 10
)

func (o Options) withDefaults(name string) Options {
	if o.Name == "" {
		o.Name = name
	}
	if o.MaxLineBytes <= 0 {
		o.MaxLineBytes = DefaultMaxLineBytes
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	if o.Clock == nil {
		o.Clock = clock.Real()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Limit names a bound of an input, as the label limit of
// faultline_input_limits_total says it.
type Limit uint8

// The bounds an input counts when they are hit.
const (
	LimitBody        Limit = iota // a request body over HTTPOptions.MaxBodyBytes (413)
	LimitLine                     // a line over Options.MaxLineBytes (a bad record)
	LimitConnections              // a connection refused: MaxConns were open
	LimitTimeout                  // a read that timed out (a slow or idle client cut off)
	numLimits
)

var limitNames = [numLimits]string{"body", "line", "connections", "timeout"}

// String returns the limit's label value.
func (l Limit) String() string {
	if l < numLimits {
		return limitNames[l]
	}
	return "unknown"
}

// base is what every input shares: the runtime, the options, the counters
// and a small pool of feeds.
type base struct {
	rt    Runtime
	hand  hander // rt, if it takes batches over
	o     Options
	feeds chan *feed // idle feeds, bounded: more are made when all are busy
	ctr   counters
}

// counters are an input's counts: its decoders' (summed) and its own.
type counters struct {
	bytes, lines, records, samples, badRecords, stringFields atomic.Uint64
	internResets, repeatHits, repeatResets                   atomic.Uint64
	ingested                                                 atomic.Uint64
	limits                                                   [numLimits]atomic.Uint64
	conns                                                    atomic.Int64
	connsTotal                                               atomic.Uint64
	unauthorized                                             atomic.Uint64
}

func newBase(rt Runtime, o Options, name string) base {
	h, _ := rt.(hander)
	return base{rt: rt, hand: h, o: o.withDefaults(name), feeds: make(chan *feed, 2*runtime.GOMAXPROCS(0))}
}

// hander is a Runtime that takes batches over instead of copying them, as
// pipeline.Runtime does (see its Hand): flush gives it a feed's batch when
// it can, and the feed goes on with a batch from Batch.
type hander interface {
	Hand(ctx context.Context, batch []stream.Sample) error
	Batch(n int) []stream.Sample
}

// limit counts a bound hit.
func (b *base) limit(l Limit) { b.ctr.limits[l].Add(1) }

// appendMetrics appends the counters shared by every input.
func (b *base) appendMetrics(dst []metrics.Metric) []metrics.Metric {
	c, name := &b.ctr, b.o.Name
	with := func(m metrics.Metric) metrics.Metric { return m.With("input", name) }
	dst = append(dst,
		with(metrics.C("faultline_input_bytes_total", "Bytes read by the input's decoders (after gzip).", c.bytes.Load())),
		with(metrics.C("faultline_input_lines_total", "Lines read, blank and comment lines included.", c.lines.Load())),
		with(metrics.C("faultline_input_records_total", "Records read (lines that are not blank or comments), good and bad.", c.records.Load())),
		with(metrics.C("faultline_input_bad_records_total", "Records rejected, each reported with its line and column.", c.badRecords.Load())),
		with(metrics.C("faultline_input_string_fields_total", "String fields skipped in accepted records.", c.stringFields.Load())),
		with(metrics.C("faultline_input_decoded_samples_total", "Samples decoded.", c.samples.Load())),
		with(metrics.C("faultline_input_samples_total", "Samples handed to the runtime in calls that queued them all (refusals are counted by the runtime).", c.ingested.Load())),
		with(metrics.C("faultline_input_intern_resets_total", "Times a decoder's intern table was full and cleared.", c.internResets.Load())),
		with(metrics.C("faultline_input_repeat_hits_total", "Records found in a decoder's repeat table and not parsed again.", c.repeatHits.Load())),
		with(metrics.C("faultline_input_repeat_resets_total", "Times a decoder's repeat table was full and cleared.", c.repeatResets.Load())),
	)
	for l := range numLimits {
		dst = append(dst, with(metrics.C("faultline_input_limits_total", "Times a bound of the input was hit, by bound.", c.limits[l].Load())).With("limit", l.String()))
	}
	return dst
}

// appendConnMetrics appends the counters of inputs that take connections.
func (b *base) appendConnMetrics(dst []metrics.Metric) []metrics.Metric {
	c := &b.ctr
	return append(dst,
		metrics.G("faultline_input_connections", "Connections open.", float64(c.conns.Load())).With("input", b.o.Name),
		metrics.C("faultline_input_connections_total", "Connections accepted (refused ones apart).", c.connsTotal.Load()).With("input", b.o.Name),
	)
}

// feed decodes one stream of records (a request body, a connection,
// standard input) and hands its samples to the runtime in batches.
//
// batch[:sent] has been handed over already: flush may run in the middle
// of Decoder.Next (see flushingReader), when Next has not yet appended
// anything of the record it is reading, and the samples it hands over must
// not be handed over again when Next returns.
type feed struct {
	dec    *stream.Decoder
	batch  []stream.Sample
	sent   int
	inNext bool               // Decoder.Next runs, appending to batch: it cannot be given away
	seen   stream.DecodeStats // of dec, already added to the counters
}

// getFeed returns an idle feed reading r, or a new one.
func (b *base) getFeed(r io.Reader) *feed {
	select {
	case f := <-b.feeds:
		f.dec.Reset(r)
		return f
	default:
	}
	return &feed{dec: stream.NewDecoder(r, stream.DecoderOptions{MaxLineBytes: b.o.MaxLineBytes, MaxRepeats: b.o.MaxRepeats, MaxInterned: b.o.MaxInterned, Precision: b.o.Precision})}
}

// putFeed counts what f decoded and keeps it for reuse, unless enough are
// kept.
func (b *base) putFeed(f *feed) {
	b.count(f)
	f.dec.Reset(nil)
	f.dec.SetArrival(nil)
	clear(f.batch)
	f.batch, f.sent = f.batch[:0], 0
	if cap(f.batch) > 4*b.o.MaxBatch {
		f.batch = nil
	}
	select {
	case b.feeds <- f:
	default:
	}
}

// count adds what f's decoder counted since the last call.
func (b *base) count(f *feed) {
	s := f.dec.Stats()
	p := f.seen
	c := &b.ctr
	c.bytes.Add(uint64(s.Bytes - p.Bytes))
	c.lines.Add(uint64(s.Lines - p.Lines))
	c.records.Add(uint64(s.Records - p.Records))
	c.samples.Add(uint64(s.Samples - p.Samples))
	c.badRecords.Add(uint64(s.Errors - p.Errors))
	c.stringFields.Add(uint64(s.StringFields - p.StringFields))
	c.internResets.Add(uint64(s.InternResets - p.InternResets))
	c.repeatHits.Add(uint64(s.RepeatHits - p.RepeatHits))
	c.repeatResets.Add(uint64(s.RepeatResets - p.RepeatResets))
	f.seen = s
}

// next decodes the next record. A bad record is reported to the runtime
// (with where, e.g. the client's address, before its position) and
// returned; so is the end of input (io.EOF) and a read error.
func (b *base) next(f *feed, where string) (*stream.RecordError, error) {
	var err error
	f.inNext = true
	f.batch, err = f.dec.Next(f.batch)
	f.inNext = false
	if f.sent > 0 { // drop what was handed over, keep what Next added
		n := copy(f.batch, f.batch[f.sent:])
		clear(f.batch[n:])
		f.batch, f.sent = f.batch[:n], 0
	}
	if err == nil || err == io.EOF { // io.EOF as Next returns it, unwrapped
		return nil, err
	}
	var re *stream.RecordError // escapes: only for an error, not per record
	if errors.As(err, &re) {
		if errors.Is(re, stream.ErrLineTooLong) {
			b.limit(LimitLine)
		}
		if where != "" {
			b.rt.BadInput(b.o.Name, fmt.Errorf("%s: %w", where, re))
		} else {
			b.rt.BadInput(b.o.Name, re)
		}
		return re, nil
	}
	return nil, err
}

// full reports whether f holds a batch's worth of samples not yet handed
// over.
func (b *base) full(f *feed) bool { return len(f.batch)-f.sent >= b.o.MaxBatch }

// flush hands the samples not yet handed over to the runtime, waiting for
// room until ctx ends, and counts them. Outside Decoder.Next, a batch none
// of which was handed over yet is given away if the runtime takes it.
func (b *base) flush(ctx context.Context, f *feed) error {
	part := f.batch[f.sent:]
	if len(part) == 0 {
		return nil
	}
	var err error
	if b.hand != nil && f.sent == 0 && !f.inNext {
		f.batch = b.hand.Batch(cap(part))
		err = b.hand.Hand(ctx, part)
	} else {
		f.sent = len(f.batch)
		err = b.rt.Ingest(ctx, part)
	}
	if err == nil {
		b.ctr.ingested.Add(uint64(len(part)))
	}
	b.count(f)
	return err
}

// flushingReader hands a feed's decoded samples to the runtime before each
// read from its input, so that a stream's samples never wait for more
// input: the decoder reads only when it holds no complete line.
type flushingReader struct {
	r      io.Reader
	b      *base
	f      *feed
	ctx    context.Context
	before func() // called before each read, e.g. to set a deadline
}

func (fr *flushingReader) Read(p []byte) (int, error) {
	if err := fr.b.flush(fr.ctx, fr.f); err != nil {
		return 0, err
	}
	if fr.before != nil {
		fr.before()
	}
	return fr.r.Read(p)
}

// stream reads records from r until it ends, handing their samples to the
// runtime as they come (see flushingReader): the loop of the TCP and
// standard input inputs. It returns nil at the end of input, and the error
// that ended it otherwise.
func (b *base) stream(ctx context.Context, r io.Reader, where string, before func()) error {
	fr := &flushingReader{r: r, b: b, ctx: ctx, before: before}
	f := b.getFeed(fr)
	fr.f = f
	defer b.putFeed(f)
	f.dec.SetArrival(func() int64 { return b.rt.Now().UnixNano() })
	for {
		_, err := b.next(f, where)
		if err == nil && b.full(f) {
			err = b.flush(ctx, f)
		}
		if err == nil {
			continue
		}
		if errors.Is(err, io.EOF) {
			return b.flush(ctx, f)
		}
		// What was decoded before a read error is good.
		if ferr := b.flush(ctx, f); ferr != nil {
			return errors.Join(err, ferr)
		}
		return err
	}
}
