package rules

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/stream"
)

// benchRule parses a one-rule file with the given expression.
func benchRule(b *testing.B, expr string) *Rule {
	b.Helper()
	src := fmt.Sprintf("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: %q\n", expr)
	rs, err := Parse("bench.yaml", []byte(src))
	require.NoError(b, err)
	return rs.Rule(0)
}

func benchSample() *stream.Sample {
	s := stream.NewSample("http_requests_total",
		stream.NewLabels("env", "prod", "host", "web-7", "instance", "10.0.0.7:9100", "job", "api", "region", "eu-west-1"),
		time.Date(2024, 5, 1, 14, 30, 0, 0, time.UTC).UnixNano(), 95.5, 0)
	return &s
}

// evalBenchCases are the expressions of BenchmarkEval and BenchmarkEvalVM.
var evalBenchCases = []struct{ name, expr string }{
	{"value", `value > 90`},
	{"label_member", `labels.job == "api"`},
	{"label_index", `labels["host"] == "web-7"`},
	{"label_missing", `labels.nope == ""`},
	{"label_in", `"host" in labels`},
	{"label_regex", `labels.env matches "^(prod|stage)$"`},
	{"label_set", `labels.env in ["prod", "stage"]`},
	{"value_and_labels", `value > 0.05 && labels.job == "api" && labels.env != "dev"`},
	{"name", `name startsWith "http_"`},
	{"ts_hour", `ts.Hour() >= 8`},
	{"vm_only", `len(labels.job) == 3 && value in [95.5, 96.5]`},
}

// BenchmarkEval measures Eval: the fast path where the expression allows it
// (all cases but vm_only), the virtual machine otherwise.
func BenchmarkEval(b *testing.B) {
	for _, c := range evalBenchCases {
		b.Run(c.name, func(b *testing.B) {
			r := benchRule(b, c.expr)
			s := benchSample()
			e := NewEvaluator()
			ok, err := e.Eval(r, s)
			require.NoError(b, err)
			require.True(b, ok)
			b.ReportAllocs()
			for b.Loop() {
				_, _ = e.Eval(r, s)
			}
		})
	}
}

// BenchmarkEvalVM measures the same expressions on expr's virtual machine,
// which Eval uses for expressions the fast path does not cover.
func BenchmarkEvalVM(b *testing.B) {
	for _, c := range evalBenchCases {
		b.Run(c.name, func(b *testing.B) {
			r := benchRule(b, c.expr)
			s := benchSample()
			e := NewEvaluator()
			ok, err := e.evalVM(r, s)
			require.NoError(b, err)
			require.True(b, ok)
			b.ReportAllocs()
			for b.Loop() {
				_, _ = e.evalVM(r, s)
			}
		})
	}
}

// BenchmarkEvalParallel runs one Ruleset from all Ps, each with its own
// Evaluator.
func BenchmarkEvalParallel(b *testing.B) {
	r := benchRule(b, `value > 0.05 && labels.job == "api"`)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		s := benchSample()
		e := NewEvaluator()
		for pb.Next() {
			_, _ = e.Eval(r, s)
		}
	})
}

func BenchmarkSelect(b *testing.B) {
	var src []byte
	src = append(src, "groups:\n- name: g\n  rules:\n"...)
	for i := range 200 {
		src = fmt.Appendf(src, "  - alert: A%d\n    match: 'metric_%d{job=\"api\"}'\n    expr: value > 1\n", i, i)
	}
	for i := range 10 {
		src = fmt.Appendf(src, "  - alert: B%d\n    match: '{env=~\"prod|stage\"}'\n    expr: value > 1\n", i)
	}
	rs, err := Parse("bench.yaml", src)
	require.NoError(b, err)
	labels := stream.NewLabels("env", "prod", "job", "api", "instance", "i1")
	dst := rs.Select("metric_42", labels, nil)
	require.Len(b, dst, 11)
	b.ReportAllocs()
	for b.Loop() {
		dst = rs.Select("metric_42", labels, dst[:0])
	}
}

func BenchmarkParse(b *testing.B) {
	src := []byte(`groups:
  - name: api
    rules:
      - alert: HighErrorRate
        match: 'http_errors{job="api", env=~"prod|stage"}'
        expr: value > 0.05 && labels.job == "api"
        for: 2m
        labels: {severity: page}
        annotations:
          summary: 'errors at {{ $value }} on {{ $labels.instance }}'
`)
	b.ReportAllocs()
	for b.Loop() {
		_, err := Parse("bench.yaml", src)
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEvalHistory measures windowed functions over a 5m history of 30
// points (one every 10 s), on the fast path and, for let_vm, on the VM.
func BenchmarkEvalHistory(b *testing.B) {
	s := benchSample()
	pts := make([]Point, 30)
	for i := range pts {
		pts[i] = Point{T: s.Time - int64(29-i)*10e9, V: float64(i * 50)}
	}
	s.Value = pts[29].V
	h := &History{Older: pts[:17], Newer: pts[17:]} // a wrapped ring
	for _, c := range []struct{ name, expr string }{
		{"rate", `rate(5m) > 1`},
		{"avg_and_value", `avg_over_time(5m) > 0.9 && value > 1`},
		{"previous", `value - previous() > 10`},
		{"rate_vs_rate", `rate(1m) < 2 * rate(5m) && resets(5m) == 0`},
		{"let_vm", `let r = rate(5m); r > 1 && r < 1000`},
	} {
		b.Run(c.name, func(b *testing.B) {
			r := benchRule(b, c.expr)
			e := NewEvaluator()
			ok, err := e.EvalHistory(r, s, h)
			require.NoError(b, err)
			require.True(b, ok, c.expr)
			b.ReportAllocs()
			for b.Loop() {
				_, _ = e.EvalHistory(r, s, h)
			}
		})
	}
}
