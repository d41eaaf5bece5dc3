package faultlineotel

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/metrics"
	"github.com/faultline-go/faultline/stream"
)

// Causes of the data points a Mapper refuses, for errors.Is. A refused
// point gives no sample; the others of its batch are mapped.
var (
	ErrNoTimestamp    = errors.New("no timestamp")
	ErrNoValue        = errors.New("number point without a value")
	ErrTooManyLabels  = errors.New("too many labels")
	ErrLabelsTooLarge = errors.New("labels too large")
	ErrNoName         = errors.New("metric without a name")
)

// PointError is a data point a Mapper refused, with its position in the
// batch: the indexes of its resource, scope, metric and point, from 0.
type PointError struct {
	Resource, Scope, Metric, Point int
	Name                           string // the metric's OTLP name
	Err                            error
}

// Error formats the problem as
// resource 0, scope 1, metric 2 "system.cpu.time", point 3: no timestamp.
func (e *PointError) Error() string {
	return fmt.Sprintf("resource %d, scope %d, metric %d %q, point %d: %v", e.Resource, e.Scope, e.Metric, e.Name, e.Point, e.Err)
}

// Unwrap returns the cause.
func (e *PointError) Unwrap() error { return e.Err }

// Reasons a data point gives no sample, as counted.
const (
	reasonNoRecordedValue = iota // the point's no_recorded_value flag: a staleness marker
	reasonNoTimestamp
	reasonNoValue
	reasonTooManyLabels
	reasonLabelsTooLarge
	reasonNoName
	nReasons
)

var reasonNames = [nReasons]string{"no_recorded_value", "no_timestamp", "no_value", "too_many_labels", "labels_too_large", "no_name"}

// Mapper turns OTLP metrics into faultline samples, as the package doc
// says. It keeps no state but its counters, and is safe for concurrent
// use.
type Mapper struct {
	resource      map[string]struct{}
	maxLabels     int
	maxLabelBytes int

	names  sync.Map     // attribute key → label name, for keys the rule changes
	nNames atomic.Int64 // entries in names, at most maxCachedNames

	points, samples, nan, buckets, emptyMetrics atomic.Uint64
	skipped                                     [nReasons]atomic.Uint64
}

// maxCachedNames bounds the label names a Mapper remembers; further keys
// are translated each time.
const maxCachedNames = 4096

// labelName is LabelName, remembered for the keys it changes (dotted
// ones, mostly), so that they are not translated and allocated anew for
// every point.
func (m *Mapper) labelName(key string) string {
	if isLabelName(key) && !strings.HasPrefix(key, "__") {
		return key
	}
	if v, ok := m.names.Load(key); ok {
		return v.(string)
	}
	name := LabelName(key)
	if m.nNames.Add(1) <= maxCachedNames {
		m.names.Store(strings.Clone(key), name)
	}
	return name
}

// NewMapper returns a Mapper for the configuration's resource attributes
// and label bounds.
func NewMapper(cfg *Config) *Mapper {
	m := &Mapper{resource: map[string]struct{}{}, maxLabels: cfg.MaxLabels, maxLabelBytes: cfg.MaxLabelBytes}
	for _, a := range cfg.ResourceAttributes {
		m.resource[a] = struct{}{}
	}
	if m.maxLabels == 0 {
		m.maxLabels = DefaultMaxLabels
	}
	if m.maxLabelBytes == 0 {
		m.maxLabelBytes = DefaultMaxLabelBytes
	}
	return m
}

// attr is one label being built: its name after the naming rule, the
// attribute key it came from and its value.
type attr struct{ name, key, value string }

// batch is the state of one Append call.
type batch struct {
	m       *Mapper
	dst     []stream.Sample
	arrival int64
	bad     func(*PointError)
	scratch []attr
	res     []attr // the resource's labels, merged, sorted by name
	origin  string // faultline_origin of the resource or scope, if any
	pos     PointError
}

// Append appends the samples of md's data points to dst, every one
// stamped with arrival (Unix ns), and returns the extended slice. Each
// refused point is counted and handed to bad (which may be nil) with its
// position; the rest of md is still mapped. md is only read.
func (m *Mapper) Append(dst []stream.Sample, md pmetric.Metrics, arrival int64, bad func(*PointError)) []stream.Sample {
	b := batch{m: m, dst: dst, arrival: arrival, bad: bad}
	rms := md.ResourceMetrics()
	for ri := range rms.Len() {
		rm := rms.At(ri)
		b.pos.Resource = ri
		b.resource(rm.Resource().Attributes())
		resOrigin := b.origin
		sms := rm.ScopeMetrics()
		for si := range sms.Len() {
			sm := sms.At(si)
			b.pos.Scope = si
			b.origin = resOrigin
			if v, ok := sm.Scope().Attributes().Get(fault.OriginLabel); ok && b.origin == "" {
				b.origin = v.AsString()
			}
			ms := sm.Metrics()
			for mi := range ms.Len() {
				b.pos.Metric = mi
				b.metric(ms.At(mi))
			}
		}
	}
	return b.dst
}

// resource sets the labels the resource gives every sample.
func (b *batch) resource(attrs pcommon.Map) {
	b.res = b.res[:0]
	b.origin = ""
	attrs.Range(func(k string, v pcommon.Value) bool {
		if k == fault.OriginLabel {
			b.origin = v.AsString()
		} else if _, ok := b.m.resource[k]; ok {
			b.res = append(b.res, attr{name: b.m.labelName(k), key: k, value: v.AsString()})
		}
		return true
	})
	b.res = mergeAttrs(b.res)
}

// metric maps the points of one metric.
func (b *batch) metric(m pmetric.Metric) {
	b.pos.Name = m.Name()
	if m.Name() == "" {
		b.nameless(m)
		return
	}
	name := MetricName(m.Name())
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		b.numbers(name, m.Gauge().DataPoints())
	case pmetric.MetricTypeSum:
		b.numbers(name, m.Sum().DataPoints())
	case pmetric.MetricTypeHistogram:
		dps := m.Histogram().DataPoints()
		for i := range dps.Len() {
			p := dps.At(i)
			b.pos.Point = i
			b.m.points.Add(1)
			if p.BucketCounts().Len() > 0 {
				b.m.buckets.Add(1)
			}
			b.countSum(name, p.Flags(), p.Timestamp(), p.Attributes(), p.Count(), p.HasSum(), p.Sum())
		}
	case pmetric.MetricTypeExponentialHistogram:
		dps := m.ExponentialHistogram().DataPoints()
		for i := range dps.Len() {
			p := dps.At(i)
			b.pos.Point = i
			b.m.points.Add(1)
			if p.Positive().BucketCounts().Len() > 0 || p.Negative().BucketCounts().Len() > 0 || p.ZeroCount() > 0 {
				b.m.buckets.Add(1)
			}
			b.countSum(name, p.Flags(), p.Timestamp(), p.Attributes(), p.Count(), p.HasSum(), p.Sum())
		}
	case pmetric.MetricTypeSummary:
		dps := m.Summary().DataPoints()
		for i := range dps.Len() {
			p := dps.At(i)
			b.pos.Point = i
			b.m.points.Add(1)
			ts, ok := b.check(p.Flags(), p.Timestamp())
			if !ok {
				continue
			}
			labels, ok := b.labels(p.Attributes(), "", "")
			if !ok {
				continue
			}
			b.add(name+"_count", labels, ts, float64(p.Count()))
			b.add(name+"_sum", labels, ts, p.Sum())
			qs := p.QuantileValues()
			for q := range qs.Len() {
				qv := qs.At(q)
				ql, ok := b.labels(p.Attributes(), "quantile", strconv.FormatFloat(qv.Quantile(), 'g', -1, 64))
				if !ok {
					break
				}
				b.add(name, ql, ts, qv.Value())
			}
		}
	default: // pmetric.MetricTypeEmpty: a metric without data
		b.m.emptyMetrics.Add(1)
	}
}

// nameless refuses every point of a metric without a name: OTLP requires
// one, and the samples of every nameless metric would share one name.
func (b *batch) nameless(m pmetric.Metric) {
	var n int
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		n = m.Gauge().DataPoints().Len()
	case pmetric.MetricTypeSum:
		n = m.Sum().DataPoints().Len()
	case pmetric.MetricTypeHistogram:
		n = m.Histogram().DataPoints().Len()
	case pmetric.MetricTypeExponentialHistogram:
		n = m.ExponentialHistogram().DataPoints().Len()
	case pmetric.MetricTypeSummary:
		n = m.Summary().DataPoints().Len()
	default:
		b.m.emptyMetrics.Add(1)
	}
	for i := range n {
		b.pos.Point = i
		b.m.points.Add(1)
		b.refuse(reasonNoName, ErrNoName)
	}
}

// numbers maps gauge and sum points: one sample each.
func (b *batch) numbers(name string, dps pmetric.NumberDataPointSlice) {
	for i := range dps.Len() {
		p := dps.At(i)
		b.pos.Point = i
		b.m.points.Add(1)
		ts, ok := b.check(p.Flags(), p.Timestamp())
		if !ok {
			continue
		}
		var v float64
		switch p.ValueType() {
		case pmetric.NumberDataPointValueTypeInt:
			v = float64(p.IntValue())
		case pmetric.NumberDataPointValueTypeDouble:
			v = p.DoubleValue()
		default:
			b.refuse(reasonNoValue, ErrNoValue)
			continue
		}
		if labels, ok := b.labels(p.Attributes(), "", ""); ok {
			b.add(name, labels, ts, v)
		}
	}
}

// countSum maps a histogram point: its count and, if it has one, its sum.
func (b *batch) countSum(name string, flags pmetric.DataPointFlags, t pcommon.Timestamp, attrs pcommon.Map, count uint64, hasSum bool, sum float64) {
	ts, ok := b.check(flags, t)
	if !ok {
		return
	}
	labels, ok := b.labels(attrs, "", "")
	if !ok {
		return
	}
	b.add(name+"_count", labels, ts, float64(count))
	if hasSum {
		b.add(name+"_sum", labels, ts, sum)
	}
}

// check returns the point's sample time, or false if the point gives no
// sample: it is a staleness marker (not a delivery, so not counted as
// bad) or has no timestamp.
func (b *batch) check(flags pmetric.DataPointFlags, t pcommon.Timestamp) (int64, bool) {
	if flags.NoRecordedValue() {
		b.m.skipped[reasonNoRecordedValue].Add(1)
		return 0, false
	}
	if t == 0 || uint64(t) > math.MaxInt64 {
		b.refuse(reasonNoTimestamp, ErrNoTimestamp)
		return 0, false
	}
	return int64(t), true
}

// refuse counts a refused point and reports it.
func (b *batch) refuse(reason int, err error) {
	b.m.skipped[reason].Add(1)
	if b.bad != nil {
		pe := b.pos
		pe.Err = err
		b.bad(&pe)
	}
}

// labels builds a point's labels: its attributes, then the resource's
// labels that no attribute overrides, then faultline_origin if the
// resource or scope carries it and the point does not, then extra (the
// summary's quantile), which overrides an attribute of its name. Empty
// values are left out. It refuses the point if the labels are over the
// bounds.
func (b *batch) labels(attrs pcommon.Map, extra, extraValue string) (stream.Labels, bool) {
	n := attrs.Len() + len(b.res) + 2
	if attrs.Len() > b.m.maxLabels {
		b.refuse(reasonTooManyLabels, fmt.Errorf("%w: %d attributes, at most %d labels", ErrTooManyLabels, attrs.Len(), b.m.maxLabels))
		return nil, false
	}
	s := b.scratch[:0]
	attrs.Range(func(k string, v pcommon.Value) bool {
		s = append(s, attr{name: b.m.labelName(k), key: k, value: v.AsString()})
		return true
	})
	s = mergeAttrs(s)
	// The resource's labels where no attribute has their name.
	pointN := len(s)
	for _, r := range b.res {
		if _, found := slices.BinarySearchFunc(s[:pointN], r.name, func(a attr, name string) int { return strings.Compare(a.name, name) }); !found {
			s = append(s, r)
		}
	}
	if b.origin != "" && !hasName(s, fault.OriginLabel) {
		s = append(s, attr{name: fault.OriginLabel, value: b.origin})
	}
	if extra != "" {
		s = slices.DeleteFunc(s, func(a attr) bool { return a.name == extra })
		s = append(s, attr{name: extra, value: extraValue})
	}
	b.scratch = s
	labels := make(stream.Labels, 0, min(n, len(s)))
	size := 0
	for _, a := range s {
		if a.value == "" {
			continue
		}
		labels = append(labels, stream.Label{Name: a.name, Value: a.value})
		size += len(a.name) + len(a.value)
	}
	switch {
	case len(labels) > b.m.maxLabels:
		b.refuse(reasonTooManyLabels, fmt.Errorf("%w: %d labels, at most %d", ErrTooManyLabels, len(labels), b.m.maxLabels))
		return nil, false
	case size > b.m.maxLabelBytes:
		b.refuse(reasonLabelsTooLarge, fmt.Errorf("%w: %d bytes of label names and values, at most %d", ErrLabelsTooLarge, size, b.m.maxLabelBytes))
		return nil, false
	}
	labels.Sort()
	return labels, true
}

func hasName(s []attr, name string) bool {
	for _, a := range s {
		if a.name == name {
			return true
		}
	}
	return false
}

// mergeAttrs sorts attributes by name and merges those whose keys the
// naming rule made equal (a.b and a_b): their values are joined with ";"
// in the order of their keys.
func mergeAttrs(s []attr) []attr {
	slices.SortFunc(s, func(a, b attr) int { return cmp.Or(strings.Compare(a.name, b.name), strings.Compare(a.key, b.key)) })
	out := s[:0]
	for _, a := range s {
		if n := len(out); n > 0 && out[n-1].name == a.name {
			switch {
			case out[n-1].value == "":
				out[n-1].value = a.value
			case a.value != "":
				out[n-1].value += ";" + a.value
			}
			continue
		}
		out = append(out, a)
	}
	return out
}

// add appends one sample.
func (b *batch) add(name string, labels stream.Labels, ts int64, v float64) {
	if math.IsNaN(v) {
		b.m.nan.Add(1)
	}
	b.m.samples.Add(1)
	b.dst = append(b.dst, stream.NewSample(name, labels, ts, v, b.arrival))
}

// MetricName is the sample name of an OTLP metric name: every byte but
// ASCII letters, digits, _ and : becomes _, and a name that starts with a
// digit gets a leading _. So http.server.request.duration is
// http_server_request_duration. Nothing is added (no unit, no _total);
// histograms and summaries add _count and _sum.
func MetricName(s string) string { return sanitize(s, true) }

// LabelName is the label name of an OTLP attribute key: every byte but
// ASCII letters, digits and _ becomes _ (host.name is host_name,
// k8s.pod.name is k8s_pod_name); a key that starts with a digit gets a
// leading _; and a key that starts with __ (reserved, as __name__) gets a
// leading "key". Keys that become equal are merged: see the package doc.
func LabelName(s string) string {
	s = sanitize(s, false)
	if strings.HasPrefix(s, "__") {
		s = "key" + s
	}
	return s
}

func sanitize(s string, colon bool) string {
	ok := s != "" && !isDigit(s[0])
	for i := 0; ok && i < len(s); i++ {
		ok = isNameByte(s[i], colon)
	}
	if ok {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 1)
	if s == "" || isDigit(s[0]) {
		b.WriteByte('_')
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; isNameByte(c, colon) {
			b.WriteByte(c)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isNameByte(c byte, colon bool) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || isDigit(c) || colon && c == ':'
}

func isLabelName(s string) bool {
	if s == "" || isDigit(s[0]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isNameByte(s[i], false) {
			return false
		}
	}
	return true
}

// AppendMetrics appends the mapper's counters.
func (m *Mapper) AppendMetrics(dst []metrics.Metric) []metrics.Metric {
	dst = append(dst,
		metrics.C("faultline_otelcol_points_total", "OTLP data points read.", m.points.Load()),
		metrics.C("faultline_otelcol_samples_total", "Samples made from them.", m.samples.Load()),
		metrics.C("faultline_otelcol_nan_values_total", "Samples whose value is NaN (kept: they are deliveries; every comparison with NaN is false).", m.nan.Load()),
		metrics.C("faultline_otelcol_buckets_skipped_total", "Histogram points whose buckets were left out (their count and sum are samples).", m.buckets.Load()),
		metrics.C("faultline_otelcol_empty_metrics_total", "Metrics without a type or data, skipped.", m.emptyMetrics.Load()),
	)
	for r := range nReasons {
		dst = append(dst, metrics.C("faultline_otelcol_points_skipped_total", "Data points that gave no sample, by reason.", m.skipped[r].Load()).With("reason", reasonNames[r]))
	}
	return dst
}
