package faultlineotel

import (
	"context"
	"fmt"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/faultline-go/faultline/metrics"
)

// RegisterMetrics reports src's metrics through mp (the collector's
// MeterProvider), under the same names, as asynchronous instruments: a
// float64 observable counter for each counter, a gauge for each gauge,
// read from src when the collector collects. Every observation carries
// the metric's labels and attrs: the Runner adds the component's kind
// and ID (processor="faultline"), as the collector's own metrics do, so
// that several faultline components are told apart. The names are those
// src reports now; a name it first reports later is not exported. Call
// Unregister on the result when the component shuts down.
func RegisterMetrics(mp metric.MeterProvider, src metrics.Source, attrs ...attribute.KeyValue) (metric.Registration, error) {
	meter := mp.Meter(ScopeName)
	byName := map[string]metric.Float64Observable{}
	var insts []metric.Observable
	for _, m := range src.AppendMetrics(nil) {
		if _, ok := byName[m.Name]; ok {
			continue
		}
		var (
			inst metric.Float64Observable
			err  error
		)
		if m.Kind == metrics.Counter {
			inst, err = meter.Float64ObservableCounter(m.Name, metric.WithDescription(m.Help))
		} else {
			inst, err = meter.Float64ObservableGauge(m.Name, metric.WithDescription(m.Help))
		}
		if err != nil {
			return nil, fmt.Errorf("faultlineotel: instrument %s: %w", m.Name, err)
		}
		byName[m.Name] = inst
		insts = append(insts, inst)
	}
	var (
		mu  sync.Mutex
		buf []metrics.Metric
		kvs []attribute.KeyValue
	)
	return meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		mu.Lock()
		defer mu.Unlock()
		buf = src.AppendMetrics(buf[:0])
		for _, m := range buf {
			inst, ok := byName[m.Name]
			if !ok {
				continue
			}
			kvs = append(kvs[:0], attrs...)
			for _, l := range m.Labels {
				kvs = append(kvs, attribute.String(l.Name, l.Value))
			}
			o.ObserveFloat64(inst, m.Value, metric.WithAttributes(kvs...))
		}
		return nil
	}, insts...)
}
