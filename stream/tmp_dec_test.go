package stream

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

func BenchmarkTmpTelegrafHTTP(b *testing.B) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var bodies [][]byte
	for r := range 30 {
		ts := t0.Add(time.Duration(r) * 10 * time.Second)
		for first := 0; first < 10000; first += 1000 {
			var buf bytes.Buffer
			for h := first; h < first+1000; h++ {
				fmt.Fprintf(&buf, "cpu,cpu=cpu-total,host=h%05d usage_user=%d.5,usage_system=0.25,usage_idle=%d %d\n", h, (h+r)%50, 90-(h+r)%40, ts.UnixNano())
			}
			bodies = append(bodies, buf.Bytes())
		}
	}
	dec := NewDecoder(nil, DecoderOptions{})
	batch := make([]Sample, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		for _, body := range bodies {
			dec.Reset(bytes.NewReader(body))
			dec.SetArrival(func() int64 { return 1 })
			for {
				var err error
				if batch, err = dec.Next(batch[:0]); err != nil {
					break
				}
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*300000), "ns/rec")
}
