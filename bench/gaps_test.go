package bench

import (
	"context"
	"fmt"
	"testing"

	"github.com/faultline-go/faultline/bench/scenario"
	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/stream"
)

// BenchmarkGapTracking measures what periodic gap tracking costs: the slot
// lattice, the timing wheel, the fleet and per-series detectors, on B01 at
// 10,000 checks (the stratcond incident, 90 minutes, every sample delivered
// 4 times). Dedup is off, so every redelivered copy reaches the tracker and
// collapses onto its slot there: copies=4 minus copies=1, in the same run,
// is the cost of the extra copies (ns/extra-copy). Samples are built into a
// reused batch of 4,096 from the compact dataset, as a collector's decoder
// fills its buffer (a few ns a sample, included); no rules.
func BenchmarkGapTracking(b *testing.B) {
	ds, err := scenario.Generate(scenario.MustNamed("B01"), 1)
	if err != nil {
		b.Fatal(err)
	}
	unique := 0
	for i := range ds.Len() {
		if ds.At(i).Copy() == 0 {
			unique++
		}
	}
	var perUnique float64 // copies=1's ns per sample, for the cost of a copy
	for _, copies := range []int{1, 4} {
		b.Run(fmt.Sprintf("copies=%d", copies), func(b *testing.B) {
			ctx := context.Background()
			batch := make([]stream.Sample, 0, 4096)
			delivered := 0
			b.ReportAllocs()
			for b.Loop() {
				eng, err := fault.New(fault.Config{DisableDedup: true})
				if err != nil {
					b.Fatal(err)
				}
				flush := func() {
					if err := eng.Process(ctx, batch); err != nil {
						b.Fatal(err)
					}
					delivered += len(batch)
					batch = batch[:0]
				}
				for i := range ds.Len() {
					if copies == 1 && ds.At(i).Copy() != 0 {
						continue
					}
					if batch = append(batch, ds.Sample(i)); len(batch) == cap(batch) {
						flush()
					}
				}
				flush()
				if err := eng.Close(ctx); err != nil {
					b.Fatal(err)
				}
				if eng.Stats().FleetGaps != 1 {
					b.Fatalf("fleet gaps %d, want 1", eng.Stats().FleetGaps)
				}
			}
			ns := float64(b.Elapsed().Nanoseconds())
			b.ReportMetric(ns/float64(delivered), "ns/delivery")
			b.ReportMetric(ns/float64(b.N*unique), "ns/unique")
			if copies == 1 {
				perUnique = ns / float64(b.N*unique)
			} else if perUnique > 0 {
				extra := float64(ds.Len()-unique) / float64(unique)
				b.ReportMetric((ns/float64(b.N*unique)-perUnique)/extra, "ns/extra-copy")
			}
		})
	}
}
