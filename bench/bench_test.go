package bench

import (
	"bytes"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/faultline-go/faultline/bench/scenario"
	"github.com/faultline-go/faultline/stream"
)

// BenchmarkDecodeCapture decodes the capture of a B01 scenario (1,000
// checks, 4 copies of each sample) with a warm decoder.
func BenchmarkDecodeCapture(b *testing.B) {
	ds, err := scenario.Generate(scenario.MustNamed("B01").WithN(1000), 1)
	if err != nil {
		b.Fatal(err)
	}
	var capture bytes.Buffer
	if err := ds.WriteCapture(&capture); err != nil {
		b.Fatal(err)
	}
	dec := stream.NewDecoder(bytes.NewReader(nil), stream.DecoderOptions{Format: stream.Capture})
	buf := make([]stream.Sample, 0, 16)
	var samples int64
	b.SetBytes(int64(capture.Len()))
	b.ReportAllocs()
	for b.Loop() {
		dec.Reset(bytes.NewReader(capture.Bytes()))
		for {
			var err error
			buf, err = dec.Next(buf[:0])
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			samples += int64(len(buf))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(samples), "ns/sample")
}

// fleet is n series of one metric, each sending every cadence at its own
// offset in the cadence.
type fleet struct {
	names   []string
	labels  []stream.Labels
	ids     []stream.SeriesID
	cadence int64
}

func newFleet(n int, cadence time.Duration) *fleet {
	f := &fleet{cadence: int64(cadence)}
	for i := range n {
		ls := stream.NewLabels("check", fmt.Sprintf("c%07d", i), "region", fmt.Sprintf("r%d", i%16))
		f.names = append(f.names, "check_up")
		f.labels = append(f.labels, ls)
		f.ids = append(f.ids, stream.Hash("check_up", ls))
	}
	return f
}

// sample returns the j-th sample of the fleet's stream, in arrival order:
// series j mod n, in round j / n, arriving 100 ms after its sample time.
func (f *fleet) sample(j int) stream.Sample {
	n := len(f.ids)
	i, round := j%n, int64(j/n)
	ts := scenario.Origin + round*f.cadence + int64(i)*f.cadence/int64(n)
	return stream.Sample{Name: f.names[i], Labels: f.labels[i], Series: f.ids[i], Time: ts, Value: 1, Arrival: ts + int64(100*time.Millisecond)}
}
