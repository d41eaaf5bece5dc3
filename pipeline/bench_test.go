package pipeline_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/faultline-go/faultline/clock"
	"github.com/faultline-go/faultline/internal/cputime"
	"github.com/faultline-go/faultline/pipeline"
	"github.com/faultline-go/faultline/stream"
)

// cores is a runtime configuration under test: shards engines on that
// many cores (GOMAXPROCS).
type cores struct{ shards, procs int }

// ingestBatches is Telegraf-like input, decoded: hosts reporting a cpu
// record of three fields every 10 s, in batches of 3,000 samples (a body
// of 1,000 lines), each batch stamped 500 ms after its sample time.
func ingestBatches(hosts, rounds int) [][]stream.Sample {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	fields := []string{"cpu_usage_user", "cpu_usage_system", "cpu_usage_idle"}
	var batches [][]stream.Sample
	labels := make([]stream.Labels, hosts)
	ids := make([][3]stream.SeriesID, hosts) // as a decoder sets them
	for h := range labels {
		labels[h] = stream.NewLabels("cpu", "cpu-total", "host", fmt.Sprintf("h%05d", h))
		for i, f := range fields {
			ids[h][i] = stream.Hash(f, labels[h])
		}
	}
	for r := range rounds {
		ts := t0 + int64(r)*int64(10*time.Second)
		var batch []stream.Sample
		for h := range hosts {
			for i, f := range fields {
				batch = append(batch, stream.Sample{Name: f, Labels: labels[h], Series: ids[h][i], Time: ts, Value: float64((h + r + i) % 90), Arrival: ts + int64(500*time.Millisecond)})
			}
			if len(batch) == 3000 || h == hosts-1 {
				batches = append(batches, batch)
				batch = nil
			}
		}
	}
	return batches
}

// ingestAll feeds the batches through a new runtime of c.shards shards
// with GOMAXPROCS at c.procs, and waits until every shard has processed
// them. It returns the wall and CPU time taken.
func ingestAll(b *testing.B, batches [][]stream.Sample, c cores) (wall, cpu time.Duration) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(c.procs))
	clk := clock.NewFake(time.Unix(0, batches[0][0].Arrival))
	rt, err := pipeline.New(pipeline.Config{Shards: c.shards, Clock: clk})
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
	buf := make([]stream.Sample, 0, 3000)
	start, c0 := time.Now(), cputime.Process()
	for _, batch := range batches {
		clk.Set(time.Unix(0, batch[0].Arrival))
		buf = append(buf[:0], batch...) // Ingest takes its own copy
		if err := rt.Ingest(ctx, buf); err != nil {
			b.Fatal(err)
		}
	}
	if err := rt.Sync(ctx); err != nil {
		b.Fatal(err)
	}
	return time.Since(start), cputime.Process() - c0
}

// BenchmarkCores measures how the sharded runtime scales with cores on
// the same input (10,000 hosts × 30 rounds of a 3-field record, 900,000
// samples, decoded): one shard on one core (GOMAXPROCS=1) against two
// shards on two, alternating in one run. Reported: wall and CPU time per
// sample of each, speedup (wall, 1 core ÷ 2 cores) and cpu-2/cpu-1 (what
// sharding adds to the work). On a machine whose other tenants take the
// cores, the speedup is bounded by the cores left to the benchmark, which
// parallelism-2cores (CPU ÷ wall time of the 2-core runs) shows.
func BenchmarkCores(b *testing.B) {
	batches := ingestBatches(10000, 30)
	samples := 0
	for _, batch := range batches {
		samples += len(batch)
	}
	ingestAll(b, batches, cores{1, 1}) // warm up the process
	var w1, c1, w2, c2 time.Duration
	b.ReportAllocs()
	for b.Loop() {
		w, c := ingestAll(b, batches, cores{1, 1})
		w1, c1 = w1+w, c1+c
		w, c = ingestAll(b, batches, cores{2, 2})
		w2, c2 = w2+w, c2+c
	}
	n := float64(b.N * samples)
	b.ReportMetric(float64(w1.Nanoseconds())/n, "ns/sample-1core")
	b.ReportMetric(float64(w2.Nanoseconds())/n, "ns/sample-2cores")
	b.ReportMetric(float64(c1.Nanoseconds())/n, "cpu-ns/sample-1core")
	b.ReportMetric(float64(c2.Nanoseconds())/n, "cpu-ns/sample-2cores")
	b.ReportMetric(float64(w1)/float64(w2), "speedup")
	b.ReportMetric(float64(c2)/float64(c1), "cpu-2/cpu-1")
	b.ReportMetric(float64(c2)/float64(w2), "parallelism-2cores")
}
