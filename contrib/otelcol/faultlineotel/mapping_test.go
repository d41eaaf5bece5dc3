package faultlineotel_test

import (
	"errors"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/faultline-go/faultline/contrib/otelcol/faultlineotel"
	"github.com/faultline-go/faultline/contrib/otelcol/internal/fixture"
	"github.com/faultline-go/faultline/metrics"
	"github.com/faultline-go/faultline/stream"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

const arrival = int64(1767225601_000000000) // t0 + 1s

// newMetrics returns metrics of one resource (with the given attributes)
// and one scope, and that scope's metric slice.
func newMetrics(t *testing.T, res map[string]any) (pmetric.Metrics, pmetric.MetricSlice) {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	require.NoError(t, rm.Resource().Attributes().FromRaw(res))
	return md, rm.ScopeMetrics().AppendEmpty().Metrics()
}

func ts(d time.Duration) pcommon.Timestamp { return pcommon.NewTimestampFromTime(t0.Add(d)) }

func mapAll(t *testing.T, m *faultlineotel.Mapper, md pmetric.Metrics) ([]stream.Sample, []*faultlineotel.PointError) {
	t.Helper()
	var bad []*faultlineotel.PointError
	out := m.Append(nil, md, arrival, func(pe *faultlineotel.PointError) { bad = append(bad, pe) })
	for _, s := range out {
		require.Equal(t, stream.Hash(s.Name, s.Labels), s.Series, "series identity computed")
		require.True(t, s.Labels.IsSorted())
		require.Equal(t, arrival, s.Arrival)
	}
	return out, bad
}

// sample formats a sample for comparison: name{labels} value @time.
func format(s stream.Sample) string {
	return s.Name + s.Labels.String() + " " + strconv.FormatFloat(s.Value, 'g', -1, 64) + " @" + time.Unix(0, s.Time).UTC().Sub(t0).String()
}

func formatAll(ss []stream.Sample) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = format(s)
	}
	return out
}

func counter(m *faultlineotel.Mapper, name string, labels ...string) float64 {
	for _, mt := range m.AppendMetrics(nil) {
		if mt.Name != name {
			continue
		}
		ok := true
		for i := 0; i+1 < len(labels); i += 2 {
			ok = ok && hasLabel(mt, labels[i], labels[i+1])
		}
		if ok {
			return mt.Value
		}
	}
	return -1
}

func hasLabel(m metrics.Metric, name, value string) bool {
	for _, l := range m.Labels {
		if l.Name == name && l.Value == value {
			return true
		}
	}
	return false
}

// Every metric type maps as the package doc's table says.
func TestMappingOfEveryMetricType(t *testing.T) {
	md, want := fixture.EveryType(t0)
	m := faultlineotel.NewMapper(faultlineotel.NewDefaultConfig())
	got, bad := mapAll(t, m, md)
	require.Empty(t, bad)
	for i := range want {
		want[i] += " @0s"
	}
	require.Equal(t, want, formatAll(got))
	require.Equal(t, 9.0, counter(m, "faultline_otelcol_points_total"))
	require.Equal(t, 14.0, counter(m, "faultline_otelcol_samples_total"))
	require.Equal(t, 2.0, counter(m, "faultline_otelcol_buckets_skipped_total"), "the histogram with buckets and the exponential one")
	require.Equal(t, 1.0, counter(m, "faultline_otelcol_empty_metrics_total"))
}

// The naming rule: dotted and other keys become label names, attributes
// override resource attributes, keys made equal are merged, values of
// every type are strings, empty values are left out.
func TestNamingRule(t *testing.T) {
	for _, c := range [][2]string{
		{"host.name", "host_name"}, {"k8s.pod.name", "k8s_pod_name"}, {"http.response.status_code", "http_response_status_code"},
		{"already_fine", "already_fine"}, {"9lives", "_9lives"}, {"__name__", "key__name__"}, {"_x", "_x"},
		{"dash-and space", "dash_and_space"}, {"ünï", "key__n__"}, {"", "_"}, {"a:b", "a_b"},
	} {
		require.Equal(t, c[1], faultlineotel.LabelName(c[0]), c[0])
	}
	require.Equal(t, "http_server_request_duration", faultlineotel.MetricName("http.server.request.duration"))
	require.Equal(t, "ns:metric_x", faultlineotel.MetricName("ns:metric.x"))
	require.Equal(t, "_2xx_count", faultlineotel.MetricName("2xx.count"))

	md, ms := newMetrics(t, map[string]any{"service.name": "api", "host.name": "h1", "ignored.attr": "x"})
	g := ms.AppendEmpty()
	g.SetName("m")
	p := g.SetEmptyGauge().DataPoints().AppendEmpty()
	p.SetTimestamp(ts(0))
	p.SetDoubleValue(1)
	require.NoError(t, p.Attributes().FromRaw(map[string]any{
		"host.name": "override",                 // an attribute wins over the resource's
		"a.b":       "1", "a_b": "2", "a-b": "", // merged in key order, the empty one left out
		"int": 42, "bool": true, "double": 1.5, "list": []any{"x", 1}, "map": map[string]any{"k": "v"},
		"empty": "",
	}))
	got, bad := mapAll(t, faultlineotel.NewMapper(faultlineotel.NewDefaultConfig()), md)
	require.Empty(t, bad)
	require.Equal(t, []string{`m{a_b="1;2", bool="true", double="1.5", host_name="override", int="42", list="[\"x\",1]", map="{\"k\":\"v\"}", service_name="api"} 1 @0s`}, formatAll(got))
}

// Resource attributes are configurable; faultline_origin is recognised
// on the resource, the scope and the point, whatever the configuration.
func TestResourceAttributesAndOrigin(t *testing.T) {
	cfg := faultlineotel.NewDefaultConfig()
	cfg.ResourceAttributes = []string{"cloud.region"}
	m := faultlineotel.NewMapper(cfg)

	md := pmetric.NewMetrics()
	add := func(res, scope, point map[string]any) {
		rm := md.ResourceMetrics().AppendEmpty()
		require.NoError(t, rm.Resource().Attributes().FromRaw(res))
		sm := rm.ScopeMetrics().AppendEmpty()
		require.NoError(t, sm.Scope().Attributes().FromRaw(scope))
		g := sm.Metrics().AppendEmpty()
		g.SetName("events")
		p := g.SetEmptyGauge().DataPoints().AppendEmpty()
		p.SetTimestamp(ts(0))
		p.SetIntValue(1)
		require.NoError(t, p.Attributes().FromRaw(point))
	}
	add(map[string]any{"cloud.region": "eu", "host.name": "h1"}, nil, nil)
	add(map[string]any{"faultline_origin": "edge"}, nil, nil)
	add(nil, map[string]any{"faultline_origin": "scope"}, nil)
	add(map[string]any{"faultline_origin": "res"}, nil, map[string]any{"faultline_origin": "point"})
	got, _ := mapAll(t, m, md)
	require.Equal(t, []string{
		`events{cloud_region="eu"} 1 @0s`,
		`events{faultline_origin="edge"} 1 @0s`,
		`events{faultline_origin="scope"} 1 @0s`,
		`events{faultline_origin="point"} 1 @0s`,
	}, formatAll(got))
}

// Bad data is counted and reported with its position, never a panic;
// the good points of the same batch are mapped.
func TestBadData(t *testing.T) {
	cfg := faultlineotel.NewDefaultConfig()
	cfg.MaxLabelBytes = 1 << 10
	m := faultlineotel.NewMapper(cfg)
	md, ms := newMetrics(t, nil)
	g := ms.AppendEmpty()
	g.SetName("load")
	dps := g.SetEmptyGauge().DataPoints()
	point := func(set func(p pmetric.NumberDataPoint)) {
		p := dps.AppendEmpty()
		p.SetTimestamp(ts(0))
		p.SetDoubleValue(1)
		p.Attributes().PutStr("i", strconv.Itoa(dps.Len()-1))
		set(p)
	}
	point(func(p pmetric.NumberDataPoint) {})                                         // 0: good
	point(func(p pmetric.NumberDataPoint) { p.SetDoubleValue(math.NaN()) })           // 1: NaN, kept
	point(func(p pmetric.NumberDataPoint) { p.SetTimestamp(0) })                      // 2: no timestamp
	point(func(p pmetric.NumberDataPoint) { p.SetTimestamp(math.MaxUint64) })         // 3: out of range
	point(func(p pmetric.NumberDataPoint) { pmetric.NewNumberDataPoint().CopyTo(p) }) // 4: no value (and no timestamp)
	point(func(p pmetric.NumberDataPoint) {                                           // 5: no value
		v := pmetric.NewNumberDataPoint()
		v.SetTimestamp(ts(0))
		v.CopyTo(p)
	})
	point(func(p pmetric.NumberDataPoint) { // 6: a staleness marker
		p.SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
	})
	point(func(p pmetric.NumberDataPoint) { // 7: 100,000 attributes
		raw := make(map[string]any, 100_000)
		for i := range 100_000 {
			raw["k"+strconv.Itoa(i)] = i
		}
		require.NoError(t, p.Attributes().FromRaw(raw))
	})
	point(func(p pmetric.NumberDataPoint) { // 8: 64 attributes and a resource label: 65
		for i := range 63 {
			p.Attributes().PutInt("k"+strconv.Itoa(i), int64(i))
		}
	})
	point(func(p pmetric.NumberDataPoint) { p.Attributes().PutStr("big", string(make([]byte, 4096))) }) // 9: too large
	point(func(p pmetric.NumberDataPoint) { p.SetDoubleValue(math.Inf(1)) })                            // 10: kept
	md.ResourceMetrics().At(0).Resource().Attributes().PutStr("host.name", "h")

	got, bad := mapAll(t, m, md)
	require.Equal(t, []string{`load{host_name="h", i="0"} 1 @0s`, `load{host_name="h", i="1"} NaN @0s`, `load{host_name="h", i="10"} +Inf @0s`}, formatAll(got))
	var where []string
	for _, pe := range bad {
		where = append(where, pe.Error())
	}
	require.Equal(t, []string{
		`resource 0, scope 0, metric 0 "load", point 2: no timestamp`,
		`resource 0, scope 0, metric 0 "load", point 3: no timestamp`,
		`resource 0, scope 0, metric 0 "load", point 4: no timestamp`,
		`resource 0, scope 0, metric 0 "load", point 5: number point without a value`,
		`resource 0, scope 0, metric 0 "load", point 7: too many labels: 100000 attributes, at most 64 labels`,
		`resource 0, scope 0, metric 0 "load", point 8: too many labels: 65 labels, at most 64`,
		`resource 0, scope 0, metric 0 "load", point 9: labels too large: 4111 bytes of label names and values, at most 1024`,
	}, where)
	require.True(t, errors.Is(bad[0], faultlineotel.ErrNoTimestamp))
	require.True(t, errors.Is(bad[4], faultlineotel.ErrTooManyLabels))
	require.Equal(t, 11.0, counter(m, "faultline_otelcol_points_total"))
	require.Equal(t, 1.0, counter(m, "faultline_otelcol_nan_values_total"))
	for reason, n := range map[string]float64{"no_recorded_value": 1, "no_timestamp": 3, "no_value": 1, "too_many_labels": 2, "labels_too_large": 1} {
		require.Equal(t, n, counter(m, "faultline_otelcol_points_skipped_total", "reason", reason), reason)
	}
}

// A metric without a name (OTLP requires one) gives no sample: its points
// are refused and reported. They were named "_", where every nameless
// metric of every source met as one series.
func TestMetricWithoutNameIsRefused(t *testing.T) {
	m := faultlineotel.NewMapper(faultlineotel.NewDefaultConfig())
	md, ms := newMetrics(t, nil)
	for range 2 { // two nameless metrics: a gauge of two points and a histogram
		g := ms.AppendEmpty().SetEmptyGauge().DataPoints()
		for v := range 2 {
			p := g.AppendEmpty()
			p.SetTimestamp(ts(0))
			p.SetIntValue(int64(v))
		}
	}
	h := ms.At(1)
	h.SetEmptyHistogram().DataPoints().AppendEmpty().SetTimestamp(ts(0))
	named := ms.AppendEmpty()
	named.SetName("up")
	p := named.SetEmptyGauge().DataPoints().AppendEmpty()
	p.SetTimestamp(ts(0))
	p.SetIntValue(1)

	got, bad := mapAll(t, m, md)
	require.Equal(t, []string{`up{} 1 @0s`}, formatAll(got))
	var where []string
	for _, pe := range bad {
		require.ErrorIs(t, pe, faultlineotel.ErrNoName)
		where = append(where, pe.Error())
	}
	require.Equal(t, []string{
		`resource 0, scope 0, metric 0 "", point 0: metric without a name`,
		`resource 0, scope 0, metric 0 "", point 1: metric without a name`,
		`resource 0, scope 0, metric 1 "", point 0: metric without a name`,
	}, where)
	require.Equal(t, 3.0, counter(m, "faultline_otelcol_points_skipped_total", "reason", "no_name"))
	require.Equal(t, 4.0, counter(m, "faultline_otelcol_points_total"))
}
