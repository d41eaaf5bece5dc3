package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/faultline-go/faultline/bench/scenario"
	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/stream"
)

// BenchmarkGapTracking measures what periodic gap tracking costs: the slot
// lattice, the timing wheel, the fleet and per-series detectors, on B01 at
// 10,000 checks (the stratcond incident, 90 minutes, every sample delivered
// 4 times). Dedup is off, so every redelivered copy reaches the tracker and
// collapses onto its slot there. No rules. Samples are built into a reused
// batch of 4,096 from the compact dataset, as a collector's decoder fills
// its buffer. Reported, per unique sample:
//
//   - input: building the batches alone (ns/unique-copies=1 and =4),
//     measured first in the same run;
//   - copies=1 and copies=4: ns/unique in all, and ns/unique-engine, that
//     less the input's cost: what the engine itself spends. The input
//     runs alone, with the caches to itself, so what is taken off is if
//     anything too little;
//   - ns/extra-copy-engine: copies=4's engine cost less copies=1's, per
//     extra copy;
//   - floor: the least any per-series tracking does for a unique sample,
//     a hash of its series key and one state lookup (ns/unique-floor,
//     input taken off), and engine/floor, the engine's own cost per
//     unique sample as a multiple of it.
func BenchmarkGapTracking(b *testing.B) {
	ds, err := scenario.Generate(scenario.MustNamed("B01"), 1)
	if err != nil {
		b.Fatal(err)
	}
	var uniques []int // the deliveries of copies=1: each sample's first copy
	for i := range ds.Len() {
		if ds.At(i).Copy() == 0 {
			uniques = append(uniques, i)
		}
	}
	all := make([]int, ds.Len())
	for i := range all {
		all[i] = i
	}
	unique := len(uniques)
	extras := float64(ds.Len()-unique) / float64(unique) // extra copies per unique sample
	// feed builds the deliveries into batches of 4,096, as a decoder fills
	// its buffer, and hands each to process.
	feed := func(deliveries []int, process func([]stream.Sample)) {
		batch := make([]stream.Sample, 0, 4096)
		for _, i := range deliveries {
			if batch = append(batch, ds.Sample(i)); len(batch) == cap(batch) {
				process(batch)
				batch = batch[:0]
			}
		}
		process(batch)
	}
	// input is the cost of building the batches alone, per unique sample,
	// for copies=1 and copies=4: measured first, in the same run, and taken
	// off the totals for the engine's own cost.
	var input [5]float64
	b.Run("input", func(b *testing.B) {
		var sum int64
		var spent [5]float64 // this run's, so that -count repeats start afresh
		for b.Loop() {
			for _, copies := range []int{1, 4} {
				deliveries := all
				if copies == 1 {
					deliveries = uniques
				}
				start := time.Now()
				feed(deliveries, func(batch []stream.Sample) {
					for i := range batch {
						sum += batch[i].Time
					}
				})
				spent[copies] += float64(time.Since(start).Nanoseconds())
			}
		}
		inputSink = sum
		for _, copies := range []int{1, 4} {
			input[copies] = spent[copies] / float64(b.N*unique)
			b.ReportMetric(input[copies], fmt.Sprintf("ns/unique-copies=%d", copies))
		}
	})
	// floor is the least any per-series tracking must do for a sample: hash
	// its series key (name and labels) and look its state up (a Go map to
	// a 64-byte record, one per series, which it updates), per unique
	// sample, less the input, measured in the same run.
	var floor float64
	b.Run("floor", func(b *testing.B) {
		type state struct {
			last int64
			n    uint64
			_    [48]byte
		}
		states := make([]state, len(ds.Series))
		index := make(map[stream.SeriesID]int32, len(ds.Series))
		for i := range ds.Series {
			index[ds.Series[i].ID] = int32(i)
		}
		for b.Loop() {
			feed(uniques, func(batch []stream.Sample) {
				for i := range batch {
					smp := &batch[i]
					st := &states[index[stream.Hash(smp.Name, smp.Labels)]]
					st.last = max(st.last, smp.Time)
					st.n++
				}
			})
		}
		total := float64(b.Elapsed().Nanoseconds()) / float64(b.N*unique)
		b.ReportMetric(total, "ns/unique")
		if input[1] > 0 {
			floor = total - input[1]
			b.ReportMetric(floor, "ns/unique-floor")
		}
	})
	var engine1 float64 // copies=1's engine ns per unique sample, for the cost of a copy
	for _, copies := range []int{1, 4} {
		b.Run(fmt.Sprintf("copies=%d", copies), func(b *testing.B) {
			ctx := context.Background()
			deliveries := all
			if copies == 1 {
				deliveries = uniques
			}
			delivered := 0
			b.ReportAllocs()
			for b.Loop() {
				eng, err := fault.New(fault.Config{DisableDedup: true})
				if err != nil {
					b.Fatal(err)
				}
				feed(deliveries, func(batch []stream.Sample) {
					if err := eng.Process(ctx, batch); err != nil {
						b.Fatal(err)
					}
					delivered += len(batch)
				})
				if err := eng.Close(ctx); err != nil {
					b.Fatal(err)
				}
				if eng.Stats().FleetGaps != 1 {
					b.Fatalf("fleet gaps %d, want 1", eng.Stats().FleetGaps)
				}
			}
			ns := float64(b.Elapsed().Nanoseconds())
			total := ns / float64(b.N*unique)
			b.ReportMetric(ns/float64(delivered), "ns/delivery")
			b.ReportMetric(total, "ns/unique")
			if input[copies] == 0 {
				return // input was not run (-bench left it out): no engine figures
			}
			engine := total - input[copies]
			b.ReportMetric(engine, "ns/unique-engine")
			if floor > 0 {
				b.ReportMetric(engine/floor, "engine/floor")
			}
			if copies == 1 {
				engine1 = engine
			} else if engine1 > 0 {
				b.ReportMetric((engine-engine1)/extras, "ns/extra-copy-engine")
			}
		})
	}
}

// inputSink keeps the input benchmark's loop from being optimized away.
var inputSink int64
