// Package compact keeps decoded samples without pointers, for benchmarks
// that hold many of them beside what they measure. A collection that
// happens during a measured phase then scans what the phase holds, not the
// benchmark's input: 700,000 stream.Samples held as they are make each
// collection cost tens of milliseconds, paid by whichever phase started
// it.
//
// This package must not know what is measured.
package compact

import "github.com/faultline-go/faultline/stream"

// Samples is a sequence of samples. Each series' name, labels and
// identity are kept once; each sample is an index of its series and its
// times and value. The zero value is empty and ready to use.
type Samples struct {
	series []stream.Sample // name, labels and identity; the rest unused
	index  map[stream.SeriesID]int32
	recs   []record
}

// record is one sample without pointers.
type record struct {
	series        int32
	time, arrival int64
	value         float64
}

// Add appends samples. Each must have its Series set, as the decoder sets
// it.
func (s *Samples) Add(samples ...stream.Sample) {
	if s.index == nil {
		s.index = make(map[stream.SeriesID]int32)
	}
	for _, smp := range samples {
		ref, ok := s.index[smp.Series]
		if !ok {
			ref = int32(len(s.series))
			s.index[smp.Series] = ref
			s.series = append(s.series, stream.Sample{Name: smp.Name, Labels: smp.Labels, Series: smp.Series})
		}
		s.recs = append(s.recs, record{series: ref, time: smp.Time, arrival: smp.Arrival, value: smp.Value})
	}
}

// Len returns the number of samples.
func (s *Samples) Len() int { return len(s.recs) }

// AppendTo appends samples [from, to) to dst, as they were added.
func (s *Samples) AppendTo(dst []stream.Sample, from, to int) []stream.Sample {
	for _, r := range s.recs[from:to] {
		smp := s.series[r.series]
		smp.Time, smp.Arrival, smp.Value = r.time, r.arrival, r.value
		dst = append(dst, smp)
	}
	return dst
}
