package input_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/faultline-go/faultline/clock"
	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/input"
	"github.com/faultline-go/faultline/internal/compact"
	"github.com/faultline-go/faultline/internal/cputime"
	"github.com/faultline-go/faultline/pipeline"
	"github.com/faultline-go/faultline/stream"
)

// benchData is Telegraf-like input: hosts reporting a cpu record of three
// fields every 10 s, sent in bodies of perBody lines (1,000 as Telegraf
// batches them, or a few as small agents send them), each body received
// 500 ms after its records' sample time. The decoded records are kept
// without pointers (compact.Samples): kept as []stream.Sample, they made
// each collection cost about a third of the engine phase's CPU time (90 ms
// against 270 ms in one run), paid by whichever phase started one.
type benchData struct {
	bodies   []string
	received []time.Time
	samples  compact.Samples // the bodies' records, decoded
	ends     []int           // body i's samples end at ends[i]
	records  int
}

// batch appends body i's samples to dst, as the decoder gave them.
func (d *benchData) batch(i int, dst []stream.Sample) []stream.Sample {
	from := 0
	if i > 0 {
		from = d.ends[i-1]
	}
	return d.samples.AppendTo(dst, from, d.ends[i])
}

func makeBenchData(hosts, rounds, perBody int) *benchData {
	d := &benchData{}
	for r := range rounds {
		ts := t0.Add(time.Duration(r) * 10 * time.Second)
		for first := 0; first < hosts; first += perBody {
			var b strings.Builder
			for h := first; h < min(first+perBody, hosts); h++ {
				fmt.Fprintf(&b, "cpu,cpu=cpu-total,host=h%05d usage_user=%d.5,usage_system=0.25,usage_idle=%d %d\n", h, (h+r)%50, 90-(h+r)%40, ts.UnixNano())
				d.records++
			}
			// Bodies of one round arrive spread over its 10 s.
			at := ts.Add(500*time.Millisecond + time.Duration(first)*10*time.Second/time.Duration(hosts))
			d.bodies = append(d.bodies, b.String())
			d.received = append(d.received, at)
			dec := stream.NewDecoder(strings.NewReader(b.String()), stream.DecoderOptions{Arrival: func() int64 { return at.UnixNano() }})
			var batch []stream.Sample
			for {
				var err error
				if batch, err = dec.Next(batch); err != nil {
					break
				}
			}
			d.samples.Add(batch...)
			d.ends = append(d.ends, d.samples.Len())
		}
	}
	return d
}

// cost is a measure of wall and CPU time.
type cost struct{ wall, cpu time.Duration }

// measure runs f and returns what it cost. It starts with a collection,
// so that no phase pays for collecting what an earlier one left.
func measure(f func()) cost {
	runtime.GC()
	w, c := time.Now(), cputime.Process()
	f()
	return cost{time.Since(w), cputime.Process() - c}
}

// newEngine returns an engine with the defaults and a sink that discards.
// Its deduper's memory, held off the Go heap, is for the caller to Reset.
func newEngine(b *testing.B) *fault.Engine {
	eng, err := fault.New(fault.Config{Sink: fault.SinkFunc(func(context.Context, fault.Event) error { return nil })})
	if err != nil {
		b.Fatal(err)
	}
	return eng
}

// decodeBody decodes body i with dec, as the HTTP input does, and appends
// its samples to dst.
func decodeBody(dec *stream.Decoder, d *benchData, i int, dst []stream.Sample) []stream.Sample {
	at := d.received[i].UnixNano()
	dec.Reset(strings.NewReader(d.bodies[i]))
	dec.SetArrival(func() int64 { return at })
	for {
		var err error
		if dst, err = dec.Next(dst); err != nil {
			return dst
		}
	}
}

// engineAlone processes the decoded records with one engine, in the
// bodies' batches: the engine's own cost.
func engineAlone(b *testing.B, d *benchData) cost {
	eng := newEngine(b)
	defer eng.Deduper().Reset()
	ctx := context.Background()
	batch := make([]stream.Sample, 0, 4096)
	return measure(func() {
		for i := range d.bodies {
			batch = d.batch(i, batch[:0])
			if err := eng.Process(ctx, batch); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// decodeAlone decodes the bodies as the HTTP input does (one decoder,
// reused), without handing the samples to anything.
func decodeAlone(d *benchData) cost {
	dec := stream.NewDecoder(nil, stream.DecoderOptions{})
	batch := make([]stream.Sample, 0, 4096)
	return measure(func() {
		for i := range d.bodies {
			batch = decodeBody(dec, d, i, batch[:0])
		}
	})
}

// inProcess decodes each body and hands its samples to one engine at
// once, on one goroutine, as an embedder of stream and fault does: the
// cost the runtime's HTTP path is compared with. Unlike decode+engine,
// the sum of two phases measured apart, decoding and the engine share
// the caches here as they do in the runtime.
func inProcess(b *testing.B, d *benchData) cost {
	eng := newEngine(b)
	defer eng.Deduper().Reset()
	ctx := context.Background()
	dec := stream.NewDecoder(nil, stream.DecoderOptions{})
	batch := make([]stream.Sample, 0, 4096)
	return measure(func() {
		for i := range d.bodies {
			batch = decodeBody(dec, d, i, batch[:0])
			if err := eng.Process(ctx, batch); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// throughRuntime sends the bodies to the HTTP input of a runtime of that
// many shards (or, with decoded, Ingests the decoded records), and waits
// until the shards have processed everything.
func throughRuntime(b *testing.B, d *benchData, shards int, decoded bool) cost {
	clk := clock.NewFake(t0)
	rt, err := pipeline.New(pipeline.Config{Shards: shards, Clock: clk})
	if err != nil {
		b.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- rt.Run(ctx) }()
	defer func() {
		stop()
		if err := <-ran; err != nil {
			b.Fatal(err)
		}
	}()
	h := input.NewHTTP(rt, input.HTTPOptions{Options: input.Options{Clock: clk}, BusyTimeout: time.Minute})
	reqs := make([]*http.Request, len(d.bodies))
	for i, body := range d.bodies {
		reqs[i] = httptest.NewRequest(http.MethodPost, "/api/v2/write", strings.NewReader(body))
	}
	batch := make([]stream.Sample, 0, 4096)
	return measure(func() {
		for i, req := range reqs {
			clk.Set(d.received[i])
			if decoded {
				batch = d.batch(i, batch[:0])
				if err := rt.Ingest(context.Background(), batch); err != nil {
					b.Fatal(err)
				}
				continue
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusNoContent {
				b.Fatalf("%d %s", w.Code, w.Body)
			}
		}
		if err := rt.Sync(context.Background()); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkHTTPIngest compares, in one run, the cost per record of the
// engine alone with that of HTTP writes through the runtime (decoding,
// stamping, queueing, shards, merger) at 1 and 2 shards, and of the
// runtime fed decoded records at 1 and 2 shards; the decoder alone is
// measured too, to tell its share, and the same bodies decoded and
// processed in-process on one goroutine (inProcess), to tell what the
// runtime adds to what an embedder pays. Each iteration sends
// 10,000 hosts × 30 rounds of a 3-field cpu record (300,000 records)
// through each. Reported per record: wall time (ns/rec-…) and CPU time
// of all threads (cpu-ns/rec-…), and the ratios the criteria name:
// http1/engine (CPU), and the speed-up of 2 shards over 1 (wall).
func BenchmarkHTTPIngest(b *testing.B) {
	d := makeBenchData(10000, 30, 1000)
	b.ReportAllocs()
	var eng, dec, inproc, http1, http2, ing1, ing2 cost
	// A pass before the measured ones: the first phase to run would
	// otherwise pay alone for growing the heap (page faults).
	engineAlone(b, d)
	throughRuntime(b, d, 1, false)
	for b.Loop() {
		add := func(c *cost, x cost) { c.wall += x.wall; c.cpu += x.cpu }
		add(&eng, engineAlone(b, d))
		add(&dec, decodeAlone(d))
		add(&inproc, inProcess(b, d))
		add(&http1, throughRuntime(b, d, 1, false))
		add(&http2, throughRuntime(b, d, 2, false))
		add(&ing1, throughRuntime(b, d, 1, true))
		add(&ing2, throughRuntime(b, d, 2, true))
	}
	n := float64(b.N) * float64(d.records)
	per := func(x time.Duration) float64 { return float64(x.Nanoseconds()) / n }
	for _, m := range []struct {
		name string
		c    cost
	}{{"engine", eng}, {"decode", dec}, {"inproc", inproc}, {"http-1shard", http1}, {"http-2shards", http2}, {"ingest-1shard", ing1}, {"ingest-2shards", ing2}} {
		b.ReportMetric(per(m.c.wall), "ns/rec-"+m.name)
		b.ReportMetric(per(m.c.cpu), "cpu-ns/rec-"+m.name)
	}
	b.ReportMetric(float64(http1.cpu)/float64(eng.cpu), "cpu-http1/engine")
	// What the runtime adds to the same job done in-process: against the
	// decoder's and the engine's costs measured apart, and against bytes
	// decoded and handed to an engine on one goroutine, as an embedder
	// does (inproc).
	b.ReportMetric(float64(http1.cpu)/float64(eng.cpu+dec.cpu), "cpu-http1/decode+engine")
	b.ReportMetric(float64(inproc.cpu)/float64(eng.cpu), "cpu-inproc/engine")
	b.ReportMetric(float64(http1.cpu)/float64(inproc.cpu), "cpu-http1/inproc")
	b.ReportMetric(float64(http1.wall)/float64(eng.wall), "wall-http1/engine")
	b.ReportMetric(float64(http1.wall)/float64(http2.wall), "speedup-http-2shards")
	b.ReportMetric(float64(ing1.wall)/float64(ing2.wall), "speedup-ingest-2shards")
}

// BenchmarkHTTPSmallWrites is BenchmarkHTTPIngest at one shard for writes
// of 10 lines, as many small agents send them: 1,000 hosts × 30 rounds in
// 3,000 requests. It reports the CPU time of a write (cpu-ns/request), that
// of the writes and of the same records Ingested decoded, each against the
// engine alone (cpu-http1/engine, cpu-ingest1/engine), and what a write
// costs beyond decoding and the engine, counted in records of the engine
// alone (request-overhead/engine-rec).
func BenchmarkHTTPSmallWrites(b *testing.B) {
	const lines = 10
	d := makeBenchData(1000, 30, lines)
	b.ReportAllocs()
	var eng, dec, http1, ing1 cost
	engineAlone(b, d)
	throughRuntime(b, d, 1, false)
	for b.Loop() {
		add := func(c *cost, x cost) { c.cpu += x.cpu }
		add(&eng, engineAlone(b, d))
		add(&dec, decodeAlone(d))
		add(&http1, throughRuntime(b, d, 1, false))
		add(&ing1, throughRuntime(b, d, 1, true))
	}
	b.ReportMetric(float64(ing1.cpu)/float64(eng.cpu), "cpu-ingest1/engine")
	reqs := float64(b.N) * float64(len(d.bodies))
	b.ReportMetric(float64(http1.cpu.Nanoseconds())/reqs, "cpu-ns/request")
	b.ReportMetric(float64(http1.cpu)/float64(eng.cpu), "cpu-http1/engine")
	perRec := float64(eng.cpu) / (float64(b.N) * float64(d.records))
	over := float64(http1.cpu-eng.cpu-dec.cpu) / reqs
	b.ReportMetric(over/perRec, "request-overhead/engine-rec")
}
