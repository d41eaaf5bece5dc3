// Package faultprom exports faultline's self-metrics through
// client_golang: a Collector wraps any metrics.Source (a
// pipeline.Runtime, an input, a sink, an engine's Stats) as a
// prometheus.Collector, so that an embedder serves them from the registry
// it already has. Import it as
//
//	import faultprom "github.com/faultline-go/faultline/contrib/prometheus"
//
// Each metrics.Metric becomes a constant metric of its name and help, a
// counter or a gauge as its Kind says, with its labels as variable labels.
// Nothing is copied or kept between scrapes: every Collect asks the source
// again.
//
// This module is apart from faultline's so that faultline itself does not
// depend on client_golang.
package faultprom

import (
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/faultline-go/faultline/metrics"
)

// Options configures a Collector. A nil *Options means the defaults.
type Options struct {
	// Unchecked makes the Collector unchecked: Describe describes nothing,
	// and the registry does not hold its metrics to descriptors given at
	// registration. Use it for a source whose set of metric names may
	// still grow after registration. By default the Collector describes
	// what the source reports when it is registered (DescribeByCollect).
	Unchecked bool
	// ConstLabels are added to every metric, e.g. the name of one of
	// several runtimes in a process. By default none.
	ConstLabels prometheus.Labels
}

// Collector is a prometheus.Collector of a metrics.Source. It is safe for
// concurrent use.
type Collector struct {
	src       metrics.Source
	unchecked bool
	constL    prometheus.Labels
	mu        sync.Mutex
	descs     map[string]*prometheus.Desc // by name and label names
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns a collector of src's metrics.
func NewCollector(src metrics.Source, opts *Options) *Collector {
	c := &Collector{src: src, descs: map[string]*prometheus.Desc{}}
	if opts != nil {
		c.unchecked, c.constL = opts.Unchecked, opts.ConstLabels
	}
	return c
}

// Describe sends the descriptors of the metrics the source reports now,
// or nothing with Options.Unchecked.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	if c.unchecked {
		return
	}
	prometheus.DescribeByCollect(c, ch)
}

// Collect sends the source's metrics as constant metrics.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	var values []string
	for _, m := range c.src.AppendMetrics(nil) {
		desc := c.desc(&m)
		values = values[:0]
		for _, l := range m.Labels {
			values = append(values, l.Value)
		}
		vt := prometheus.CounterValue
		if m.Kind == metrics.Gauge {
			vt = prometheus.GaugeValue
		}
		pm, err := prometheus.NewConstMetric(desc, vt, m.Value, values...)
		if err != nil {
			pm = prometheus.NewInvalidMetric(desc, err)
		}
		ch <- pm
	}
}

// desc returns the descriptor of m's name, help and label names.
func (c *Collector) desc(m *metrics.Metric) *prometheus.Desc {
	var key strings.Builder
	key.WriteString(m.Name)
	for _, l := range m.Labels {
		key.WriteByte(0)
		key.WriteString(l.Name)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if d, ok := c.descs[key.String()]; ok {
		return d
	}
	names := make([]string, len(m.Labels))
	for i, l := range m.Labels {
		names[i] = l.Name
	}
	d := prometheus.NewDesc(m.Name, m.Help, names, c.constL)
	c.descs[key.String()] = d
	return d
}
