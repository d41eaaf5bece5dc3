package bench

import (
	"context"
	"slices"
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
// is the cost of the extra copies (ns/extra-copy). No rules.
func BenchmarkGapTracking(b *testing.B) {
	ds, err := scenario.Generate(scenario.MustNamed("B01"), 1)
	if err != nil {
		b.Fatal(err)
	}
	// Materialise the streams up front: the benchmark times the engine, not
	// the generator.
	var all, unique []stream.Sample
	for i := range ds.Len() {
		s := ds.Sample(i)
		all = append(all, s)
		if ds.At(i).Copy() == 0 {
			unique = append(unique, s)
		}
	}
	var perUnique float64 // copies=1's ns per sample, for the cost of a copy
	for _, c := range []struct {
		name    string
		samples []stream.Sample
	}{{"copies=1", unique}, {"copies=4", all}} {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			delivered := 0
			b.ReportAllocs()
			for b.Loop() {
				eng, err := fault.New(fault.Config{DisableDedup: true})
				if err != nil {
					b.Fatal(err)
				}
				for batch := range slices.Chunk(c.samples, 4096) {
					if err := eng.Process(ctx, batch); err != nil {
						b.Fatal(err)
					}
					delivered += len(batch)
				}
				if err := eng.Close(ctx); err != nil {
					b.Fatal(err)
				}
				if eng.Stats().FleetGaps != 1 {
					b.Fatalf("fleet gaps %d, want 1", eng.Stats().FleetGaps)
				}
			}
			ns := float64(b.Elapsed().Nanoseconds())
			b.ReportMetric(ns/float64(delivered), "ns/delivery")
			b.ReportMetric(ns/float64(b.N*len(unique)), "ns/unique")
			if len(c.samples) == len(unique) {
				perUnique = ns / float64(b.N*len(unique))
			} else if perUnique > 0 {
				extra := float64(len(all)-len(unique)) / float64(len(unique))
				b.ReportMetric((ns/float64(b.N*len(unique))-perUnique)/extra, "ns/extra-copy")
			}
		})
	}
}
