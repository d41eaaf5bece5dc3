package bench

import (
	"context"
	"fmt"
	"runtime"
	"runtime/metrics"
	"slices"
	"testing"
	"time"
	"unsafe"

	"github.com/faultline-go/faultline/bench/scenario"
	"github.com/faultline-go/faultline/dedup"
	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/internal/cputime"
	"github.com/faultline-go/faultline/rules"
	"github.com/faultline-go/faultline/stream"
)

// This file compiles against the engine's public API alone, so that
// bench/ab.sh can build it against an earlier commit too and compare in
// one run.

// compactFleet is n series of one metric, check_up{check="c0000042",
// region="r10"}, each sending every cadence at its own offset, whose
// names and label values are kept in one pointer-free arena, so that the
// benchmark's input costs the garbage collector nothing to scan: what a
// forced collection costs is the engine's.
type compactFleet struct {
	n       int
	text    []byte // per series: the check value (8 bytes), then the region value (3 bytes)
	ids     []stream.SeriesID
	labels  []stream.Label // the batch's labels, two per sample, reused
	cadence int64
}

const fleetText = 11

func newCompactFleet(n int, cadence time.Duration) *compactFleet {
	f := &compactFleet{n: n, cadence: int64(cadence), text: make([]byte, 0, n*fleetText), ids: make([]stream.SeriesID, n)}
	for i := range n {
		f.text = fmt.Appendf(f.text, "c%07dr%02d", i, i%16)
	}
	var ls [2]stream.Label
	for i := range n {
		f.ids[i] = stream.Hash("check_up", f.series(i, ls[:0]))
	}
	return f
}

// series appends the labels of series i to dst: strings that point into
// the arena.
func (f *compactFleet) series(i int, dst []stream.Label) stream.Labels {
	t := f.text[i*fleetText:]
	return append(dst,
		stream.Label{Name: "check", Value: unsafe.String(&t[0], 8)},
		stream.Label{Name: "region", Value: unsafe.String(&t[8], 3)})
}

// labelBytes is the text of a series' name and labels: what the engine
// must keep of it.
func (f *compactFleet) labelBytes() int {
	return len("check_up") + len("check") + 8 + len("region") + 3
}

// batch fills dst (of capacity c) with the next deliveries, from
// delivery j on, each sample delivered copies times in a row: series
// j/copies mod n, in round j/copies/n, arriving 100 ms after its sample
// time. It returns the next j.
func (f *compactFleet) batch(dst []stream.Sample, j, copies int) ([]stream.Sample, int) {
	dst = dst[:0]
	if cap(f.labels) < 2*cap(dst) {
		f.labels = make([]stream.Label, 0, 2*cap(dst))
	}
	f.labels = f.labels[:0]
	for len(dst) < cap(dst) {
		k := j / copies
		i, round := k%f.n, int64(k/f.n)
		ts := scenario.Origin + round*f.cadence + int64(i)*f.cadence/int64(f.n)
		if j%copies == 0 || len(dst) == 0 {
			n0 := len(f.labels)
			f.labels = f.series(i, f.labels)
			dst = append(dst, stream.Sample{Name: "check_up", Labels: f.labels[n0:], Series: f.ids[i], Time: ts, Value: float64(i % 100), Arrival: ts + int64(100*time.Millisecond)})
		} else {
			dst = append(dst, dst[len(dst)-1])
		}
		j++
	}
	return dst, j
}

// oneRule selects every series of the fleet.
const oneRule = `groups:
  - name: bench
    rules:
      - alert: High
        match: check_up
        expr: value > 90
`

// BenchmarkEngine1M runs a million series through the engine, every series
// sending once a minute, each sample delivered copies times, with one rule
// that selects every series (value > 90, true for one series in ten).
// Dedup keeps a 3-minute window in up to 1 GiB. The engine is warmed up
// first (five rounds: cadences learned, lattices running, tables grown),
// so the benchmark measures the steady state: dedup, slot tracking,
// judgments and the rule. Reported:
//
//   - cpu-ns/sample: process CPU time per delivery (garbage collection
//     included), and cpu-ns/sample-engine the same less what building
//     the input batches alone takes (measured after, on the same
//     deliveries); ns/sample: wall time;
//   - B/series: the Go heap the engine holds per series with dedup off
//     (measured on an engine of its own), label text included;
//     B/series-text: that text; B/key-dedup: the deduper's memory per key
//     held;
//   - gc-ms and gc-cpu-ms: the wall time and the process CPU time of a
//     forced collection with the engine live (medians of 7), and
//     gc-floor-ms and gc-floor-cpu-ms the same once the engine is gone:
//     the floor, the benchmark's own heap; scan-B/series: the heap the
//     collector must scan (the part that may hold pointers), per series,
//     engine live less engine gone.
func BenchmarkEngine1M(b *testing.B) {
	const n = 1_000_000
	f := newCompactFleet(n, time.Minute)
	rs, err := rules.Parse("bench.yaml", []byte(oneRule))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	discard := fault.SinkFunc(func(context.Context, fault.Event) error { return nil })

	// Memory: an engine with dedup off holds only its series state.
	heapBefore := heapAlloc()
	eng, err := fault.New(fault.Config{Rules: rs, DisableDedup: true, Sink: discard})
	if err != nil {
		b.Fatal(err)
	}
	batch := make([]stream.Sample, 0, 4096)
	for j := 0; j < 5*n; {
		batch, j = f.batch(batch, j, 1)
		if err := eng.Process(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	perSeries := float64(heapAlloc()-heapBefore) / n
	runtime.KeepAlive(eng)
	eng = nil

	for _, copies := range []int{1, 4} {
		b.Run(fmt.Sprintf("copies=%d", copies), func(b *testing.B) {
			eng, err := fault.New(fault.Config{Rules: rs, Dedup: dedup.Config{Window: 3 * time.Minute, MaxBytes: 1 << 30}, Sink: discard})
			if err != nil {
				b.Fatal(err)
			}
			defer eng.Deduper().Reset()
			j := 0
			feed := func(deliveries int) {
				for end := j + deliveries; j < end; {
					batch, j = f.batch(batch, j, copies)
					if err := eng.Process(ctx, batch); err != nil {
						b.Fatal(err)
					}
				}
			}
			feed(5 * n * copies)
			if st := eng.Stats(); st.Series != n {
				b.Fatalf("tracked %d series, want %d", st.Series, n)
			}
			b.ReportAllocs()
			b.ResetTimer()
			j0 := j
			cpu := cputime.Of(func() { feed(b.N) })
			b.StopTimer()
			delivered := float64(j - j0)
			// The input alone: the same deliveries built into batches
			// and handed to nothing.
			input := cputime.Of(func() {
				for k := j0; k < j; {
					batch, k = f.batch(batch, k, copies)
				}
			})
			b.ReportMetric(float64(cpu.Nanoseconds())/delivered, "cpu-ns/sample")
			b.ReportMetric(float64((cpu-input).Nanoseconds())/delivered, "cpu-ns/sample-engine")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/delivered, "ns/sample")
			ds := eng.Deduper().Stats()
			b.ReportMetric(float64(ds.BytesUsed)/float64(ds.Entries), "B/key-dedup")
			b.ReportMetric(perSeries, "B/series")
			b.ReportMetric(float64(f.labelBytes()), "B/series-text")
			gcWall, gcCPU := gcMillis()
			scan := scannable()
			b.ReportMetric(gcWall, "gc-ms")
			b.ReportMetric(gcCPU, "gc-cpu-ms")
			runtime.KeepAlive(eng)
			eng.Deduper().Reset()
			eng = nil
			gcWall, gcCPU = gcMillis() // the floor: the same process, the engine gone
			b.ReportMetric(gcWall, "gc-floor-ms")
			b.ReportMetric(gcCPU, "gc-floor-cpu-ms")
			b.ReportMetric((float64(scan)-float64(scannable()))/n, "scan-B/series")
		})
	}
}

// scannable returns the heap the garbage collector scans (the part of the
// live heap that may hold pointers), after a collection.
func scannable() uint64 {
	runtime.GC()
	m := []metrics.Sample{{Name: "/gc/scan/heap:bytes"}}
	metrics.Read(m)
	return m[0].Value.Uint64()
}

// heapAlloc returns the live Go heap after a collection.
func heapAlloc() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// gcMillis returns the median wall time and the median process CPU time
// of 7 forced collections, in ms. The first one also frees what was let
// go before it, so it is left out.
func gcMillis() (wall, cpu float64) {
	runtime.GC()
	var ws, cs []float64
	for range 7 {
		start := time.Now()
		c := cputime.Of(runtime.GC)
		ws = append(ws, float64(time.Since(start).Nanoseconds())/1e6)
		cs = append(cs, float64(c.Nanoseconds())/1e6)
	}
	slices.Sort(ws)
	slices.Sort(cs)
	return ws[len(ws)/2], cs[len(cs)/2]
}
