package rules_test

import (
	"fmt"

	"github.com/faultline-go/faultline/rules"
	"github.com/faultline-go/faultline/stream"
)

func ExampleParse() {
	src := []byte(`groups:
  - name: api
    rules:
      - alert: HighErrorRate
        match: 'http_errors{job="api"}'
        expr: value > 0.05 && labels.env == "prod"
        for: 2m
        labels: {severity: page}
        annotations:
          summary: 'errors at {{ $value | humanizePercentage }} on {{ $labels.instance }}'
`)
	rs, err := rules.Parse("rules.yaml", src)
	if err != nil {
		fmt.Println(err)
		return
	}

	s := stream.NewSample("http_errors",
		stream.NewLabels("job", "api", "env", "prod", "instance", "web-1"), 0, 0.08, 0)
	ev := rules.NewEvaluator() // one per goroutine
	for _, i := range rs.Select(s.Name, s.Labels, nil) {
		r := rs.Rule(i)
		firing, err := ev.Eval(r, &s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		ann, _ := r.ExpandAnnotations(s.Labels, s.Value)
		fmt.Println(r.Alert, firing, r.For, r.Labels, ann)
	}
	// Output:
	// HighErrorRate true 2m0s {severity="page"} {summary="errors at 8% on web-1"}
}

func ExampleParse_errors() {
	src := []byte(`groups:
  - name: api
    rules:
      - alert: HighErrorRate
        expr: value > 0.05
        severity: page
      - alert: SlowRequests
        expr: value > 2
        for: 5 minutes
      - alert: BrokenExpr
        expr: value > 0.05 && lables.job == "api"
`)
	_, err := rules.Parse("rules.yaml", src)
	fmt.Println(err)
	// Output:
	// rules.yaml:6:9: group "api": rule "HighErrorRate": unknown field "severity" in a rule (want alert, match, expr, resolve, levels, for, for_tolerance, keep_firing_for, no_data, flapping, labels, annotations, cohort)
	// rules.yaml:9:14: group "api": rule "SlowRequests": for: invalid duration "5 minutes": unexpected " "; write durations as in 1h30m, 90s or 250ms
	// rules.yaml:11:31: group "api": rule "BrokenExpr": invalid expression: unknown name lables
}

func ExampleParseSelector() {
	sel, err := rules.ParseSelector(`http_errors{job="api", env=~"prod|stage"}`)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(sel.Name())
	fmt.Println(sel.Matches("http_errors", stream.NewLabels("job", "api", "env", "prod")))
	fmt.Println(sel.Matches("http_errors", stream.NewLabels("job", "api", "env", "production")))
	// Output:
	// http_errors
	// true
	// false
}

func ExampleRuleset_Series() {
	rs, err := rules.Parse("rules.yaml", []byte(`series:
  - match: 'check_up{region="eu"}'
    cadence: 60s
    absent_after: 5m
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	spec, ok := rs.Series("check_up", stream.NewLabels("region", "eu", "check", "c1"))
	fmt.Println(ok, spec.Cadence, spec.AbsentAfter, spec.Match)
	// Output:
	// true 1m0s 5m0s check_up{region="eu"}
}

// ExampleEvaluator_EvalHistory evaluates a windowed rule on a history: a
// counter sampled every 10 s that restarts once.
func ExampleEvaluator_EvalHistory() {
	rs, err := rules.Parse("rules.yaml", []byte(`
groups:
  - name: devices
    rules:
      - alert: Reconnecting
        match: reconnects_total
        expr: rate(1m) > 0.5 && value > previous()
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	r := rs.Rule(0)
	fmt.Println("window:", r.Window, "history:", r.UsesHistory())

	// 10, 20, 30, then a restart: 5, 15, 25 (60 s after the first).
	var pts []rules.Point
	for i, v := range []float64{10, 20, 30, 5, 15, 25} {
		pts = append(pts, rules.Point{T: int64(i+1) * 10e9, V: v})
	}
	s := stream.NewSample("reconnects_total", nil, pts[5].T, pts[5].V, 0)
	ev := rules.NewEvaluator()
	firing, err := ev.EvalHistory(r, &s, &rules.History{Newer: pts})
	fmt.Println(firing, err) // increase 54 (45 measured, reset included) in 1m: 0.9/s
	// Output:
	// window: 1m0s history: true
	// true <nil>
}

func ExampleParseSources() {
	src := rules.Source{Name: "disk.yaml", Data: []byte(`
groups:
  - name: disks
    rules:
      - alert: DiskFull
        match: disk_used_ratio
        expr: value > 0.9
`)}
	rs, err := rules.ParseSources(src)
	fmt.Println(rs.Len(), err)
	// Output: 1 <nil>
}
