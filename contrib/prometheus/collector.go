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
	"slices"
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

// Collect sends the source's metrics as constant metrics. One name may
// come with several sets of label names (the sinks of one runtime label
// their metrics differently: contrib/mqtt's Publisher adds client) and
// several help texts: a Prometheus metric family has one help and its
// descriptor one set of label names, so each name gets the union of its
// label names (a label a metric lacks is empty, which Prometheus reads as
// absent) and its first help.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ms := c.src.AppendMetrics(nil)
	type family struct {
		help  string
		names []string
	}
	fams := map[string]*family{}
	for i := range ms {
		m := &ms[i]
		f := fams[m.Name]
		if f == nil {
			f = &family{help: m.Help}
			fams[m.Name] = f
		}
		for _, l := range m.Labels {
			if !slices.Contains(f.names, l.Name) {
				f.names = append(f.names, l.Name)
			}
		}
	}
	for _, f := range fams {
		slices.Sort(f.names)
	}
	var values []string
	for i := range ms {
		m := &ms[i]
		f := fams[m.Name]
		desc := c.desc(m.Name, f.help, f.names)
		values = values[:0]
		for _, name := range f.names {
			v := ""
			for _, l := range m.Labels {
				if l.Name == name {
					v = l.Value
					break
				}
			}
			values = append(values, v)
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

// desc returns the descriptor of a name, help and label names.
func (c *Collector) desc(name, help string, labels []string) *prometheus.Desc {
	var key strings.Builder
	key.WriteString(name)
	key.WriteByte(0)
	key.WriteString(help)
	for _, l := range labels {
		key.WriteByte(0)
		key.WriteString(l)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if d, ok := c.descs[key.String()]; ok {
		return d
	}
	d := prometheus.NewDesc(name, help, slices.Clone(labels), c.constL)
	c.descs[key.String()] = d
	return d
}
