// Package metrics describes faultline's self-metrics without reflection or
// global registries, and writes them in the Prometheus text format.
//
// Every part that counts something (the engine, the deduper, the decoder,
// the pipeline's inputs, shards and sinks) appends its counters and gauges
// as Metric values: a name, a help text, a kind and a value, with labels
// where one part has several instances. An embedder exports them through
// whatever it uses (client_golang, OpenTelemetry, VictoriaMetrics/metrics);
// WriteText serves them at /metrics as they are.
//
// This package must not know what the metrics mean: it holds no state and
// registers nothing.
package metrics

import (
	"bufio"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Kind says how a metric's value behaves.
type Kind uint8

const (
	// Counter is a cumulative count that only grows (and restarts at zero
	// with the process).
	Counter Kind = iota
	// Gauge is a value that goes up and down.
	Gauge
)

// String returns "counter" or "gauge", as the text format's TYPE line
// spells it.
func (k Kind) String() string {
	if k == Gauge {
		return "gauge"
	}
	return "counter"
}

// Label is one label of a metric.
type Label struct {
	Name, Value string
}

// Metric is one sample of a self-metric.
type Metric struct {
	Name   string // e.g. faultline_samples_total; counters end in _total
	Help   string // one line
	Kind   Kind
	Labels []Label // sorted by name; none for most metrics
	Value  float64
}

// Source is anything that reports metrics. AppendMetrics appends its
// metrics to dst and returns the extended slice; it is safe to call from
// any goroutine unless the implementation says otherwise.
type Source interface {
	AppendMetrics(dst []Metric) []Metric
}

// SourceFunc adapts a function to a Source.
type SourceFunc func(dst []Metric) []Metric

// AppendMetrics calls f.
func (f SourceFunc) AppendMetrics(dst []Metric) []Metric { return f(dst) }

// Sources combines several sources into one.
type Sources []Source

// AppendMetrics appends every source's metrics, in order.
func (s Sources) AppendMetrics(dst []Metric) []Metric {
	for _, src := range s {
		dst = src.AppendMetrics(dst)
	}
	return dst
}

// C returns a counter without labels.
func C(name, help string, v uint64) Metric {
	return Metric{Name: name, Help: help, Kind: Counter, Value: float64(v)}
}

// G returns a gauge without labels.
func G(name, help string, v float64) Metric {
	return Metric{Name: name, Help: help, Kind: Gauge, Value: v}
}

// With returns m with the label name set to value: one more label, kept
// sorted by name, or a new value for a label m has (a label name given
// twice would make the exposition invalid). m's labels are not changed.
func (m Metric) With(name, value string) Metric {
	ls := make([]Label, 0, len(m.Labels)+1)
	ls = append(ls, m.Labels...)
	i, found := slices.BinarySearchFunc(ls, name, func(l Label, n string) int { return strings.Compare(l.Name, n) })
	if found {
		ls[i].Value = value
	} else {
		ls = slices.Insert(ls, i, Label{name, value})
	}
	m.Labels = ls
	return m
}

// WriteText writes ms in the Prometheus text exposition format (version
// 0.0.4), with a HELP and a TYPE line before each name's first sample.
// Samples of one name are written together, in the order of their first
// appearance, whatever the order of ms; ms itself is not changed. Bytes of
// a help text or label value that are not UTF-8 are written as U+FFFD.
func WriteText(w io.Writer, ms []Metric) error {
	order := make([]int, len(ms))
	first := make(map[string]int, len(ms))
	for i, m := range ms {
		if _, ok := first[m.Name]; !ok {
			first[m.Name] = i
		}
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return first[ms[a].Name] - first[ms[b].Name] })
	bw := bufio.NewWriter(w)
	var buf []byte
	prev := ""
	for k, i := range order {
		m := &ms[i]
		buf = buf[:0]
		if k == 0 || m.Name != prev {
			buf = append(buf, "# HELP "...)
			buf = append(buf, m.Name...)
			buf = append(buf, ' ')
			buf = appendEscaped(buf, m.Help, false)
			buf = append(buf, "\n# TYPE "...)
			buf = append(buf, m.Name...)
			buf = append(buf, ' ')
			buf = append(buf, m.Kind.String()...)
			buf = append(buf, '\n')
			prev = m.Name
		}
		buf = append(buf, m.Name...)
		if len(m.Labels) > 0 {
			buf = append(buf, '{')
			for j, l := range m.Labels {
				if j > 0 {
					buf = append(buf, ',')
				}
				buf = append(buf, l.Name...)
				buf = append(buf, `="`...)
				buf = appendEscaped(buf, l.Value, true)
				buf = append(buf, '"')
			}
			buf = append(buf, '}')
		}
		buf = append(buf, ' ')
		buf = appendValue(buf, m.Value)
		buf = append(buf, '\n')
		if _, err := bw.Write(buf); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// appendEscaped escapes a help text (backslash, newline) or a label value
// (also the double quote). The format is UTF-8: each run of bytes that is
// not becomes U+FFFD, or Prometheus would refuse the whole exposition.
func appendEscaped(dst []byte, s string, quote bool) []byte {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			dst = append(dst, `\\`...)
		case c == '\n':
			dst = append(dst, `\n`...)
		case c == '"' && quote:
			dst = append(dst, `\"`...)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

func appendValue(dst []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(dst, "NaN"...)
	case math.IsInf(v, 1):
		return append(dst, "+Inf"...)
	case math.IsInf(v, -1):
		return append(dst, "-Inf"...)
	case v == math.Trunc(v) && math.Abs(v) < 1<<53:
		return strconv.AppendInt(dst, int64(v), 10)
	}
	return strconv.AppendFloat(dst, v, 'g', -1, 64)
}
