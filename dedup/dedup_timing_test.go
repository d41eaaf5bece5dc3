package dedup

import (
	"strconv"
	"testing"
	"time"

	"github.com/faultline-go/faultline/stream"
)

// benchSeries series report every 10 s; with a 15 min window that is 90k
// keys per window, well inside the default 64 MiB.
const benchSeries = 1000

// benchKey returns the series and sample time of the i-th distinct key of a
// stream moving forward in sample time.
func benchKey(i int) (stream.SeriesID, int64) {
	return stream.SeriesID(uint64(i%benchSeries) * 0x9e3779b97f4a7c15), t0 + int64(i/benchSeries)*10*sec
}

func reportPerSample(b *testing.B, samples int) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(samples), "ns/sample")
}

// BenchmarkAdmitUnique admits distinct keys only: every delivery is Fresh,
// and the generations rotate as sample time moves on.
func BenchmarkAdmitUnique(b *testing.B) {
	d := newTest(b, Config{Window: 15 * time.Minute})
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s, ts := benchKey(i)
		d.Admit(s, ts, 1)
		i++
	}
	reportPerSample(b, i)
}

// BenchmarkAdmitDup4 delivers every key four times, as at-least-once
// collectors often do: each batch of 256 keys is delivered, then redelivered
// three times. One delivery in four is Fresh, the rest are Duplicate.
func BenchmarkAdmitDup4(b *testing.B) {
	const batch = 256
	d := newTest(b, Config{Window: 15 * time.Minute})
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		k := i/(4*batch)*batch + i%batch
		s, ts := benchKey(k)
		d.Admit(s, ts, 1)
		i++
	}
	reportPerSample(b, i)
}

// BenchmarkAgainstFastcache admits the same deliveries with the Deduper
// and with the fastcache-based implementation it replaced (refDeduper, in
// ref_test.go), alternating, in one run: 100,000 series reporting every
// 10 s (600,000 keys in a 15-minute window), each key delivered copies
// times in a row. Reported per delivery: ns-table, ns-fastcache and
// table/fastcache.
func BenchmarkAgainstFastcache(b *testing.B) {
	const series = 100_000
	for _, copies := range []int{1, 4} {
		b.Run("copies="+strconv.Itoa(copies), func(b *testing.B) {
			d := newTest(b, Config{Window: 15 * time.Minute})
			ref := newRef(15 * time.Minute)
			defer ref.reset()
			const chunk = 1 << 16
			var tTable, tRef time.Duration
			next := 0 // the next delivery of each
			run := func(admit func(stream.SeriesID, int64, float64) Verdict, from int) {
				for j := from; j < from+chunk; j++ {
					k := j / copies
					admit(stream.SeriesID(uint64(k%series)*0x9e3779b97f4a7c15), t0+int64(k/series)*10*sec, 1)
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				start := time.Now()
				run(d.Admit, next)
				tTable += time.Since(start)
				start = time.Now()
				run(ref.Admit, next)
				tRef += time.Since(start)
				next += chunk
			}
			n := float64(b.N * chunk)
			b.ReportMetric(float64(tTable.Nanoseconds())/n, "ns-table")
			b.ReportMetric(float64(tRef.Nanoseconds())/n, "ns-fastcache")
			b.ReportMetric(float64(tTable)/float64(tRef), "table/fastcache")
		})
	}
}
