package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"math"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/fastcache"
	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/faultline-go/faultline/bench/scenario"
	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/internal/compact"
	"github.com/faultline-go/faultline/internal/cputime"
	"github.com/faultline-go/faultline/stream"
)

// b01 holds the capture of B01 at 2,000 checks (90 minutes, every sample
// delivered 4 times, 719,316 lines), and the same capture with only each
// sample's first copy, generated once per process.
var b01 struct {
	once          sync.Once
	all, firsts   []byte
	lines, unique int
	err           error
}

func b01Capture(b *testing.B) (all, firsts []byte, lines, unique int) {
	b01.once.Do(func() {
		ds, err := scenario.Generate(scenario.MustNamed("B01").WithN(2000), 1)
		if err != nil {
			b01.err = err
			return
		}
		var buf bytes.Buffer
		if b01.err = ds.WriteCapture(&buf); b01.err != nil {
			return
		}
		b01.all = buf.Bytes()
		// The first copies: the capture's record lines in the same order,
		// less the later copies (the comment lines come first).
		var firsts bytes.Buffer
		rest := b01.all
		for i := 0; len(rest) > 0; {
			line, after, _ := bytes.Cut(rest, []byte("\n"))
			rest = after
			if len(line) > 0 && line[0] == '#' {
				continue
			}
			if ds.At(i).Copy() == 0 {
				firsts.Write(line)
				firsts.WriteByte('\n')
				b01.unique++
			}
			b01.lines++
			i++
		}
		b01.firsts = firsts.Bytes()
	})
	if b01.err != nil {
		b.Fatal(b01.err)
	}
	return b01.all, b01.firsts, b01.lines, b01.unique
}

// replay runs a capture through a decoder and a new engine with the
// defaults (dedup on, the built-in detectors, no rules) as `faultline
// replay --capture` does: batches of 4,096 samples, Close at the end of
// input. It returns the events emitted.
func replay(b *testing.B, capture []byte, dec *stream.Decoder, buf []stream.Sample) int {
	events := 0
	eng, err := fault.New(fault.Config{Sink: fault.SinkFunc(func(context.Context, fault.Event) error {
		events++
		return nil
	})})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	dec.Reset(bytes.NewReader(capture))
	for {
		var err error
		buf, err = dec.Next(buf)
		if err != nil && err != io.EOF {
			b.Fatal(err)
		}
		if len(buf) >= 4096 || err == io.EOF && len(buf) > 0 {
			if err := eng.Process(ctx, buf); err != nil {
				b.Fatal(err)
			}
			buf = buf[:0]
		}
		if err == io.EOF {
			break
		}
	}
	if err := eng.Close(ctx); err != nil {
		b.Fatal(err)
	}
	return events
}

// naive is the naive design of the same job, the baseline the engine is
// compared with: every line parsed by line-protocol/v2, the series key
// built as a string and looked up in a map[string] under a mutex, dedup
// by a fastcache Set on every delivery (after a HasGet for the verdict),
// and a rule (value > 90) run on expr's VM with a fresh map per fresh
// sample. It tracks nothing else: no slots, no gaps, no absences.
type naive struct {
	mu     sync.Mutex
	series map[string]*naiveSeries
	cache  *fastcache.Cache
	prog   *vm.Program
	fired  int
}

type naiveSeries struct {
	last    int64
	samples int
}

func newNaive(b *testing.B) *naive {
	prog, err := expr.Compile("value > 90")
	if err != nil {
		b.Fatal(err)
	}
	return &naive{series: map[string]*naiveSeries{}, cache: fastcache.New(64 << 20), prog: prog}
}

// line handles one capture line.
func (n *naive) line(b *testing.B, line []byte) {
	at, rec, ok := bytes.Cut(line, []byte(" "))
	if !ok || len(line) == 0 || line[0] == '#' {
		return
	}
	if _, err := strconv.ParseInt(string(at), 10, 64); err != nil {
		b.Fatal(err)
	}
	dec := lineprotocol.NewDecoderWithBytes(rec)
	for dec.Next() {
		m, err := dec.Measurement()
		if err != nil {
			b.Fatal(err)
		}
		key := string(m)
		labels := map[string]any{}
		for {
			k, v, err := dec.NextTag()
			if err != nil {
				b.Fatal(err)
			}
			if k == nil {
				break
			}
			key += "," + string(k) + "=" + string(v)
			labels[string(k)] = string(v)
		}
		type field struct {
			name  string
			value float64
		}
		var fields []field
		for {
			k, v, err := dec.NextField()
			if err != nil {
				b.Fatal(err)
			}
			if k == nil {
				break
			}
			fields = append(fields, field{string(k), v.FloatV()})
		}
		ts, err := dec.Time(lineprotocol.Nanosecond, time.Time{})
		if err != nil {
			b.Fatal(err)
		}
		for _, f := range fields {
			n.sample(key+" "+f.name, string(m)+"_"+f.name, labels, ts.UnixNano(), f.value)
		}
	}
}

func (n *naive) sample(key, name string, labels map[string]any, ts int64, value float64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := n.series[key]
	if s == nil {
		s = &naiveSeries{last: math.MinInt64}
		n.series[key] = s
	}
	k := binary.BigEndian.AppendUint64([]byte(key), uint64(ts))
	v := binary.BigEndian.AppendUint64(nil, math.Float64bits(value))
	old, seen := n.cache.HasGet(nil, k)
	n.cache.Set(k, v)
	if seen && bytes.Equal(old, v) {
		return
	}
	s.samples++
	s.last = max(s.last, ts)
	out, err := expr.Run(n.prog, map[string]any{"value": value, "name": name, "labels": labels})
	if err == nil && out == true {
		n.fired++
	}
}

// replayNaive runs a capture through the naive design.
func replayNaive(b *testing.B, capture []byte) {
	n := newNaive(b)
	defer n.cache.Reset()
	rest := capture
	for len(rest) > 0 {
		var line []byte
		line, rest, _ = bytes.Cut(rest, []byte("\n"))
		n.line(b, line)
	}
}

// BenchmarkEndToEnd measures capture bytes to events on B01 at 2,000
// checks (90 minutes, 719,316 lines, every sample delivered 4 times), as
// `faultline replay --capture` runs it, in records (lines) per CPU-second
// of the process (garbage collection included). In the same run it
// measures the naive design (see naive) on the same capture, and reports
// the ratio (naive CPU ÷ faultline CPU: how many times faster faultline
// is). Each iteration runs each once, alternating.
func BenchmarkEndToEnd(b *testing.B) {
	all, _, lines, _ := b01Capture(b)
	dec := stream.NewDecoder(nil, stream.DecoderOptions{Format: stream.Capture})
	buf := make([]stream.Sample, 0, 4096+16)
	replay(b, all, dec, buf) // warm the decoder's intern table, as a long-running one is
	var fl, nv time.Duration
	b.ReportAllocs()
	for b.Loop() {
		fl += cputime.OfCollected(func() { replay(b, all, dec, buf) })
		nv += cputime.OfCollected(func() { replayNaive(b, all) })
	}
	n := float64(b.N) * float64(lines)
	b.ReportMetric(n/fl.Seconds(), "rec/cpu-s")
	b.ReportMetric(n/nv.Seconds(), "rec/cpu-s-naive")
	b.ReportMetric(nv.Seconds()/fl.Seconds(), "naive/faultline")
}

// decodeAll decodes a capture, keeping its samples without pointers.
func decodeAll(b *testing.B, capture []byte) *compact.Samples {
	dec := stream.NewDecoder(bytes.NewReader(capture), stream.DecoderOptions{Format: stream.Capture})
	var all compact.Samples
	var buf []stream.Sample
	for {
		var err error
		buf, err = dec.Next(buf[:0])
		if err == io.EOF {
			return &all
		}
		if err != nil {
			b.Fatal(err)
		}
		all.Add(buf...)
	}
}

// decodeOnly decodes a capture with a warm decoder, handing the samples to
// nothing.
func decodeOnly(b *testing.B, capture []byte, dec *stream.Decoder, buf []stream.Sample) {
	dec.Reset(bytes.NewReader(capture))
	for {
		var err error
		if buf, err = dec.Next(buf[:0]); err == io.EOF {
			return
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}

// engineOnly runs decoded samples through a new engine (the defaults), in
// batches of 4,096, and closes it.
func engineOnly(b *testing.B, samples *compact.Samples, buf []stream.Sample) {
	eng, err := fault.New(fault.Config{Sink: fault.SinkFunc(func(context.Context, fault.Event) error { return nil })})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < samples.Len(); i += 4096 {
		buf = samples.AppendTo(buf[:0], i, min(i+4096, samples.Len()))
		if err := eng.Process(ctx, buf); err != nil {
			b.Fatal(err)
		}
	}
	if err := eng.Close(ctx); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkCopies measures what an exact redelivery costs, end to end
// (decoding and engine), against a unique line, in one run: the B01
// capture with only each sample's first copy, then the whole capture, in
// CPU time. A copy costs (all − firsts) ÷ (lines − unique lines); a
// unique line costs firsts ÷ unique lines; copy/unique is their ratio.
// The same is measured for the decoder alone (decode-copy/unique) and the
// engine alone on the decoded samples (engine-copy/unique), to tell where
// a copy's cost lies.
func BenchmarkCopies(b *testing.B) {
	all, firsts, lines, unique := b01Capture(b)
	sAll, sFirsts := decodeAll(b, all), decodeAll(b, firsts)
	dec := stream.NewDecoder(nil, stream.DecoderOptions{Format: stream.Capture})
	buf := make([]stream.Sample, 0, 4096+16)
	replay(b, all, dec, buf)
	var e2e, decode, engine [2]time.Duration // firsts, all
	b.ReportAllocs()
	for b.Loop() {
		e2e[0] += cputime.OfCollected(func() { replay(b, firsts, dec, buf) })
		e2e[1] += cputime.OfCollected(func() { replay(b, all, dec, buf) })
		decode[0] += cputime.OfCollected(func() { decodeOnly(b, firsts, dec, buf) })
		decode[1] += cputime.OfCollected(func() { decodeOnly(b, all, dec, buf) })
		engine[0] += cputime.OfCollected(func() { engineOnly(b, sFirsts, buf) })
		engine[1] += cputime.OfCollected(func() { engineOnly(b, sAll, buf) })
	}
	report := func(c [2]time.Duration, prefix string) {
		perUnique := float64(c[0].Nanoseconds()) / float64(b.N*unique)
		perCopy := float64((c[1] - c[0]).Nanoseconds()) / float64(b.N*(lines-unique))
		b.ReportMetric(perUnique, "cpu-ns/"+prefix+"unique")
		b.ReportMetric(perCopy, "cpu-ns/"+prefix+"copy")
		b.ReportMetric(perCopy/perUnique, prefix+"copy/unique")
	}
	report(e2e, "")
	report(decode, "decode-")
	report(engine, "engine-")
}
