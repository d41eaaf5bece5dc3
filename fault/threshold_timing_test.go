package fault

import (
	"context"
	"strconv"
	"testing"

	"github.com/faultline-go/faultline/rules"
	"github.com/faultline-go/faultline/stream"
)

// BenchmarkEvaluate measures a sample of a series with one rule, through
// Process without dedup: the rule not holding (no alert state, the common
// case), and holding steadily (a firing alert, looked up and stepped).
func BenchmarkEvaluate(b *testing.B) {
	for _, tc := range []struct {
		name  string
		value float64
	}{{"quiet", 10}, {"firing", 95}} {
		b.Run(tc.name, func(b *testing.B) {
			rs, err := rules.Parse("b.yaml", []byte("groups:\n- name: g\n  rules:\n  - {alert: A, match: m, expr: value > 80}\n"))
			if err != nil {
				b.Fatal(err)
			}
			e, err := New(Config{Rules: rs, DisableDedup: true})
			if err != nil {
				b.Fatal(err)
			}
			const n = 1000
			batch := make([]stream.Sample, n)
			for i := range batch {
				batch[i] = smp("m", sec(0), sec(0.3), tc.value, "id", strconv.Itoa(i))
			}
			ctx := context.Background()
			step := func() {
				for i := range batch {
					batch[i].Time += 60e9
					batch[i].Arrival += 60e9
				}
				if err := e.Process(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
			for range 10 {
				step()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				step()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/sample")
		})
	}
}
