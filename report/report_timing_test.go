package report_test

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/faultline-go/faultline/bench/scenario"
	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/report"
)

var (
	stratcond2h     *scenario.Dataset
	stratcond2hOnce sync.Once
)

// stratcond is the stratcond incident over 10,000 checks and 2 hours, the
// lost samples never arriving.
func stratcond(b *testing.B) *scenario.Dataset {
	stratcond2hOnce.Do(func() {
		spec := scenario.MustNamed("B01").WithHorizon(2 * time.Hour)
		spec.Replay = 0
		ds, err := scenario.Generate(spec, 1)
		if err != nil {
			b.Fatal(err)
		}
		stratcond2h = ds
	})
	return stratcond2h
}

// countingWriter counts the bytes written.
type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

var _ io.Writer = (*countingWriter)(nil)

// BenchmarkReport replays 10,000 checks × 2 h of the stratcond incident:
// the engine alone (the baseline), the engine with a Builder as its
// observer and sink and the page written at the end, and writing the page
// alone. Compare the three in one run:
//
//	go test -run '^$' -bench BenchmarkReport -benchtime 3x ./report/
func BenchmarkReport(b *testing.B) {
	ds := stratcond(b)
	run := func(b *testing.B, rep *report.Builder) {
		cfg := fault.Config{}
		if rep != nil {
			cfg.Observer, cfg.Sink = rep, rep
		}
		eng, err := fault.New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		defer eng.Deduper().Reset()
		ctx := context.Background()
		for batch := range ds.Batches(4096) {
			if err := eng.Process(ctx, batch); err != nil {
				b.Fatal(err)
			}
		}
		if err := eng.Close(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("engine", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			run(b, nil)
		}
	})
	b.Run("engine+report", func(b *testing.B) {
		b.ReportAllocs()
		var size int64
		for b.Loop() {
			rep, err := report.New(report.Options{})
			if err != nil {
				b.Fatal(err)
			}
			run(b, rep)
			var w countingWriter
			if err := rep.WriteHTML(&w); err != nil {
				b.Fatal(err)
			}
			size = w.n
		}
		b.ReportMetric(float64(size), "report-bytes")
	})
	b.Run("write", func(b *testing.B) {
		rep, err := report.New(report.Options{})
		if err != nil {
			b.Fatal(err)
		}
		run(b, rep)
		b.ReportAllocs()
		var size int64
		for b.Loop() {
			var w countingWriter
			if err := rep.WriteHTML(&w); err != nil {
				b.Fatal(err)
			}
			size = w.n
		}
		b.ReportMetric(float64(size), "report-bytes")
	})
}

// BenchmarkWriteWorstCase writes the report of the widest 2 hours of
// 10,000 series (see TestReportStaysSmall).
//
//	go test -run '^$' -bench 'BenchmarkReport|BenchmarkWriteWorstCase' -benchtime 3x ./report/
func BenchmarkWriteWorstCase(b *testing.B) {
	rep, err := report.New(report.Options{})
	if err != nil {
		b.Fatal(err)
	}
	worstCase(b, rep)
	b.ReportAllocs()
	var size int64
	for b.Loop() {
		var w countingWriter
		if err := rep.WriteHTML(&w); err != nil {
			b.Fatal(err)
		}
		size = w.n
	}
	b.ReportMetric(float64(size), "report-bytes")
}
