package faultlineotel_test

import (
	"strconv"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/faultline-go/faultline/contrib/otelcol/faultlineotel"
	"github.com/faultline-go/faultline/stream"
)

// benchMetrics is 100 hosts × 10 gauge points, each point with three
// attributes (two of them dotted), each resource with service.name and
// host.name.
func benchMetrics() pmetric.Metrics {
	md := pmetric.NewMetrics()
	ts := pcommon.NewTimestampFromTime(time.Unix(1767225600, 0))
	for h := range 100 {
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutStr("service.name", "node")
		rm.Resource().Attributes().PutStr("host.name", "host-"+strconv.Itoa(h))
		m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
		m.SetName("system.cpu.utilization")
		dps := m.SetEmptyGauge().DataPoints()
		for c := range 10 {
			p := dps.AppendEmpty()
			p.SetTimestamp(ts)
			p.SetDoubleValue(float64(c))
			p.Attributes().PutStr("cpu", strconv.Itoa(c))
			p.Attributes().PutStr("cpu.mode", "user")
			p.Attributes().PutStr("system.device", "sda")
		}
	}
	return md
}

// BenchmarkMapperAppend measures the mapping per data point, beside a
// baseline in the same run: the same samples built directly with
// stream.NewSample from strings already in hand (labels allocated,
// sorted and hashed: what any mapping must do). Report the ratio of
// mapper to baseline ns/point:
//
//	go test -run '^$' -bench MapperAppend -benchtime 200x ./faultlineotel/
func BenchmarkMapperAppend(b *testing.B) {
	md := benchMetrics()
	points := md.DataPointCount()
	b.Run("mapper", func(b *testing.B) {
		m := faultlineotel.NewMapper(faultlineotel.NewDefaultConfig())
		dst := make([]stream.Sample, 0, points)
		b.ReportAllocs()
		for b.Loop() {
			dst = m.Append(dst[:0], md, 1, nil)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*points), "ns/point")
	})
	b.Run("baseline", func(b *testing.B) {
		hosts := make([]string, 100)
		cpus := make([]string, 10)
		for i := range hosts {
			hosts[i] = "host-" + strconv.Itoa(i)
		}
		for i := range cpus {
			cpus[i] = strconv.Itoa(i)
		}
		dst := make([]stream.Sample, 0, points)
		b.ReportAllocs()
		for b.Loop() {
			dst = dst[:0]
			for _, h := range hosts {
				for c, cpu := range cpus {
					ls := stream.Labels{{Name: "cpu", Value: cpu}, {Name: "cpu_mode", Value: "user"}, {Name: "host_name", Value: h},
						{Name: "service_name", Value: "node"}, {Name: "system_device", Value: "sda"}}
					dst = append(dst, stream.NewSample("system_cpu_utilization", ls, 1767225600e9, float64(c), 1))
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*points), "ns/point")
	})
}
