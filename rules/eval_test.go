package rules

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/stream"
)

// compileRule builds a rule from an expression the way Parse does.
func compileRule(t testing.TB, expr string) *Rule {
	t.Helper()
	src := fmt.Sprintf("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: %q\n", expr)
	rs, err := Parse("test.yaml", []byte(src))
	require.NoError(t, err, expr)
	return rs.Rule(0)
}

var evalTime = time.Date(2024, 5, 1, 14, 30, 15, 0, time.FixedZone("CEST", 2*3600))

func testSample() *stream.Sample {
	s := stream.NewSample("http_errors_total",
		stream.NewLabels("job", "api", "env", "prod", "instance", "web-1:9100", "empty", ""),
		evalTime.UnixNano(), 0.25, 0)
	return &s
}

func TestEval(t *testing.T) {
	e := NewEvaluator()
	f := func(expr string, want bool) {
		t.Helper()
		r := compileRule(t, expr)
		got, err := e.Eval(r, testSample())
		require.NoError(t, err, expr)
		require.Equal(t, want, got, expr)
		// The virtual machine agrees with the fast path, where there is one.
		got, err = e.evalVM(r, testSample())
		require.NoError(t, err, expr)
		require.Equal(t, want, got, "VM: %s", expr)
	}
	// value
	f(`value > 0.2`, true)
	f(`value > 1`, false)
	f(`value == 0.25`, true)
	f(`value * 4 == 1`, true)
	f(`value / 0 > 1e308`, true)
	f(`-value < 0`, true)
	f(`value in 0..1`, false) // a float is not in an int range
	f(`abs(value - 0.25) < 1e-9`, true)
	// name
	f(`name == "http_errors_total"`, true)
	f(`name startsWith "http_"`, true)
	f(`name endsWith "_total"`, true)
	f(`name contains "errors"`, true)
	f(`name matches "^http_.*_total$"`, true)
	f(`name != "http_errors_total"`, false)
	// labels, by member and by index, missing labels read as ""
	f(`labels.job == "api"`, true)
	f(`labels["job"] == "api"`, true)
	f(`labels.job != "api"`, false)
	f(`labels.nope == ""`, true)
	f(`labels["nope"] == ""`, true)
	f(`labels.empty == ""`, true)
	f(`"job" in labels`, true)
	f(`"nope" in labels`, false)
	f(`"empty" in labels`, true)
	f(`"nope" not in labels`, true)
	f(`not ("job" in labels)`, false)
	f(`labels.env in ["prod", "stage"]`, true)
	f(`labels.env not in ["prod", "stage"]`, false)
	f(`labels.instance matches "^web-\\d+:9100$"`, true)
	f(`labels.instance startsWith "web-"`, true)
	f(`labels.job == labels.env`, false)
	f(`labels[labels.job == "api" ? "env" : "job"] == "prod"`, true)
	f(`upper(labels.job) == "API"`, true)
	f(`len(labels.instance) == 10`, true)
	f(`labels.job + "/" + labels.env == "api/prod"`, true)
	f(`len(labels) == 4`, true)
	f(`labels?.job == "api"`, true)
	f(`labels?.["nope"] == ""`, true)
	// string functions (the iterating builtins, and labels as a whole map,
	// are refused: see TestParseRejectsUnbounded)
	f(`lower(labels.env) == "prod" && lower(name) == name`, true)
	f(`trimSuffix(labels.instance, ":9100") == "web-1"`, true)
	f(`trimPrefix(name, "http_") == "errors_total"`, true)
	f(`trim("  api ") == labels.job && trim("xapix", "x") == labels.job`, true)
	f(`hasPrefix(name, "http") && hasSuffix(name, "_total")`, true)
	f(`labels.instance[:indexOf(labels.instance, ":")] == "web-1"`, true)
	f(`lastIndexOf(name, "_") == 11`, true)
	f(`int(labels.instance[6:]) == 9100 && float("0.25") == value`, true)
	f(`let id = labels.job + "/" + labels.env; id == "api/prod" && len(id) == 8`, true)
	f(`{"api": 0.2, "web": 0.5}[labels.job] < value`, true)
	f(`{"web": 0.5}[labels.job] == nil`, true)
	f(`[0.1, 0.2][int(value * 4)] == 0.2`, true)
	// numbers
	f(`round(value * 10) == 3 && ceil(value) == 1 && floor(value) == 0`, true)
	f(`max(value, 1) == 1 && min(value, 1) == value`, true)
	f(`value in 1..1000`, false)
	// ts is the sample time in UTC
	f(`ts.Hour() == 12`, true)
	f(`ts.Minute() == 30 && ts.Second() == 15`, true)
	f(`ts.Year() == 2024 && ts.Day() == 1 && ts.YearDay() == 122`, true)
	f(`ts.Unix() == 1714566615`, true)
	f(`ts.Weekday().String() == "Wednesday"`, true)
	f(`ts.Location().String() == "UTC"`, true)
	f(`ts > date("2024-05-01")`, true)
	f(`ts - date("2024-05-01T12:00:00Z") == duration("30m15s")`, true)
	f(`ts > date("01/05/2024 14:00", "02/01/2006 15:04", "Europe/Paris")`, true)
	f(`ts.Add(duration("12h")).Day() == 2`, true)
	// combinations
	f(`value > 0.05 && labels.job == "api" && labels.env != "dev"`, true)
	f(`value > 0.5 || labels.job == "api"`, true)
	f(`value > 0.5 or labels.job == "web"`, false)
	f(`!(value > 0.5)`, true)
	f(`("job" in labels) == true`, true)
	f(`true`, true)
}

func TestEvalMissingAndNaN(t *testing.T) {
	e := NewEvaluator()
	bare := &stream.Sample{Name: "x", Value: math.NaN()}
	f := func(expr string, want bool) {
		t.Helper()
		r := compileRule(t, expr)
		got, err := e.Eval(r, bare)
		require.NoError(t, err, expr)
		require.Equal(t, want, got, expr)
		got, err = e.evalVM(r, bare)
		require.NoError(t, err, expr)
		require.Equal(t, want, got, "VM: %s", expr)
	}
	f(`labels.job == ""`, true)
	f(`"job" in labels`, false)
	f(`len(labels) == 0`, true)
	f(`value > 0`, false)
	f(`value <= 0`, false)
	f(`value != value`, true)
	f(`value == value`, false)
	f(`ts.Year() == 1970`, true)
}

func TestEvalRuntimeError(t *testing.T) {
	r := compileRule(t, `labels.job == "api" && [1, 2][int(value)] == 2`)
	require.Nil(t, r.fast)
	s := testSample()
	s.Value = 5
	_, err := NewEvaluator().Eval(r, s)
	require.ErrorIs(t, err, ErrExpr)
	var e *Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, "test.yaml", e.File)
	require.Equal(t, 4, e.Line)
	require.Equal(t, "A", e.Rule)
	require.Contains(t, err.Error(), "index out of range")
	require.NotContains(t, err.Error(), "\n")

	_, err = NewEvaluator().Eval(&Rule{Alert: "X"}, s)
	require.ErrorIs(t, err, ErrExpr)
}

func TestEvalUnknownTypeNotBool(t *testing.T) {
	// The type of this one is only known at run time.
	r := compileRule(t, `value > 1 ? true : labels.job`)
	s := testSample()
	_, err := NewEvaluator().Eval(r, s)
	require.ErrorIs(t, err, ErrExpr)
	require.ErrorContains(t, err, "bool(string)")
	s.Value = 2
	ok, err := NewEvaluator().Eval(r, s)
	require.NoError(t, err)
	require.True(t, ok)
}

// TestEvalDoesNotRetain checks that a label read on the VM path does not
// outlive the sample it came from: the next sample's labels are seen.
func TestEvalNextSample(t *testing.T) {
	e := NewEvaluator()
	r := compileRule(t, `labels.job + labels.env == "apiprod" && name == "a" && ts.Hour() == 0`)
	require.Nil(t, r.fast)
	a := stream.NewSample("a", stream.NewLabels("job", "api", "env", "prod"), 0, 1, 0)
	b := stream.NewSample("b", stream.NewLabels("job", "web", "env", "prod"), 0, 1, 0)
	for range 3 {
		ok, err := e.Eval(r, &a)
		require.NoError(t, err)
		require.True(t, ok)
		ok, err = e.Eval(r, &b)
		require.NoError(t, err)
		require.False(t, ok)
	}
}

func TestEvalNoAllocs(t *testing.T) {
	e := NewEvaluator()
	s := testSample()
	for _, expr := range []string{
		`value > 90`,
		`labels.job == "api"`,
		`labels["instance"] startsWith "web"`,
		`"env" in labels && labels.nope == ""`,
		// These run on the virtual machine.
		`labels.job == labels.env || value in [1.5, 2.5]`,
		`len(labels.job) == 3 && name matches "^http"`,
		`len(labels) == 4 && labels.instance endsWith ":9100"`,
		`ts > date("2024-05-01") && name startsWith "http"`, // date() is folded at Parse time
	} {
		r := compileRule(t, expr)
		_, err := e.Eval(r, s)
		require.NoError(t, err)
		allocs := testing.AllocsPerRun(100, func() { _, _ = e.Eval(r, s) })
		require.Zero(t, allocs, expr)
	}
}

func TestExpandAnnotations(t *testing.T) {
	rs, err := Parse("a.yaml", alertFile(`    annotations:
      summary: 'errors at {{ $value }} on {{ $labels.instance }}{{ $labels.nope }}'
      human: '{{ $value | humanize }} {{ 0.1234 | humanizePercentage }} {{ 3725 | humanizeDuration }}'
      upper: '{{ $labels.job | toUpper }} {{ "X" | toLower }} {{ index $labels "job" }}'
      plain: no template here
      broken: '{{ $labels.job.x }}'
`))
	require.NoError(t, err)
	r := rs.Rule(0)
	got, err := r.ExpandAnnotations(stream.NewLabels("instance", "web-1", "job", "api"), 1234.5)
	require.ErrorIs(t, err, ErrTemplate)
	require.Contains(t, err.Error(), `annotation "broken"`)
	require.Equal(t, stream.Labels{
		{Name: "broken", Value: got[0].Value},
		{Name: "human", Value: "1.234k 12.34% 1h 2m 5s"},
		{Name: "plain", Value: "no template here"},
		{Name: "summary", Value: "errors at 1234.5 on web-1"},
		{Name: "upper", Value: "API x api"},
	}, got)
	require.True(t, strings.HasPrefix(got[0].Value, "<error expanding template: "))
	// The rule's annotations stay unexpanded.
	require.Equal(t, "no template here", r.Annotations[2].Value)
	require.Contains(t, r.Annotations[3].Value, "{{ $value }}")

	none, err := compileRule(t, "value > 1").ExpandAnnotations(nil, 1)
	require.NoError(t, err)
	require.Nil(t, none)
}

func TestHumanize(t *testing.T) {
	f := func(fn func(any) (string, error), v any, want string) {
		t.Helper()
		got, err := fn(v)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	f(humanize, 0.0, "0")
	f(humanize, 1234.0, "1.234k")
	f(humanize, 1.5e9, "1.5G")
	f(humanize, -2500.0, "-2.5k")
	f(humanize, 0.0012, "1.2m")
	f(humanize, "42", "42")
	f(humanize, math.Inf(1), "+Inf")
	f(humanizePercentage, 0.5, "50%")
	f(humanizeDuration, 0.0, "0s")
	f(humanizeDuration, 0.25, "250ms")
	f(humanizeDuration, 2e-5, "20us")
	f(humanizeDuration, 3e-9, "3ns")
	f(humanizeDuration, 42.5, "42.5s")
	f(humanizeDuration, 90, "1m 30s")
	f(humanizeDuration, 90061, "1d 1h 1m 1s")
	f(humanizeDuration, -90, "-1m 30s")
	_, err := humanize(struct{}{})
	require.Error(t, err)
	_, err = humanize("x")
	require.Error(t, err)
}

// TestConcurrentEval evaluates one Ruleset from several goroutines, each
// with its own Evaluator; run it with -race.
func TestConcurrentEval(t *testing.T) {
	rs, err := Parse("c.yaml", []byte(`groups:
- name: g
  rules:
  - {alert: Fast, expr: 'value > 50 && labels.job == "api"', match: 'req{env="prod"}'}
  - {alert: VM, expr: 'labels.job + "-" + labels.env == "api-prod" && value in 0..100'}
  - {alert: Map, expr: 'len(labels) == 3 && int(ts.Weekday()) >= 0'}
  - alert: Annotated
    expr: value > 0
    annotations: {summary: '{{ $labels.job }} at {{ $value }}'}
`))
	require.NoError(t, err)
	const goroutines, samples = 8, 500
	var wg sync.WaitGroup
	results := make([][4]int, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			e := NewEvaluator()
			var idx []int
			for i := range samples {
				s := stream.NewSample("req", stream.NewLabels("job", "api", "env", "prod", "i", fmt.Sprint(i%7)), int64(i)*1e9, float64(i%100), 0)
				idx = rs.Select(s.Name, s.Labels, idx[:0])
				for _, k := range idx {
					ok, err := e.Eval(rs.Rule(k), &s)
					if err != nil {
						t.Error(err)
						return
					}
					if ok {
						results[g][k]++
					}
					if _, err := rs.Rule(k).ExpandAnnotations(s.Labels, s.Value); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	for g := range goroutines {
		require.Equal(t, [4]int{245, 500, 500, 495}, results[g])
	}
}

// TestExpandAnnotationsIsBounded: Go 1.22's templates range over integers,
// so a one-line annotation could build gigabytes on every event
// ({{ range 50000000 }}xxxxxxxxxx{{ end }} took 30 s and 3 GB per event in
// replay). Ranges are over the series' labels now (see checkTemplate), but
// what a range writes still grows with the template and the labels. An
// expansion stops at maxTemplateBytes with an error, as an expression's
// strings stop at their budget.
func TestExpandAnnotationsIsBounded(t *testing.T) {
	rs, err := Parse("a.yaml", alertFile(`    labels:
      big: '{{ range $labels }}xxxxxxxxxxxxxxxxxxxx{{ end }}'
    annotations:
      big: '{{ range $labels }}xxxxxxxxxxxxxxxxxxxx{{ end }}'
      fits: '{{ range $labels }}xxxxxxxxxx{{ end }}'
`))
	require.NoError(t, err)
	r := rs.Rule(0)
	labels := make(stream.Labels, 6553)
	for i := range labels {
		labels[i] = stream.Label{Name: fmt.Sprintf("l%d", i), Value: "v"}
	}
	got, err := r.ExpandAnnotations(labels, 2)
	require.ErrorIs(t, err, ErrTemplate)
	require.Contains(t, err.Error(), `annotation "big"`)
	require.True(t, strings.HasPrefix(got[0].Value, "<error expanding template: "))
	require.Less(t, len(got[0].Value), 1000)
	require.Len(t, got[1].Value, 65530)
	ls, err := r.ExpandLabels(labels, 2)
	require.ErrorIs(t, err, ErrTemplate)
	require.Less(t, len(ls[0].Value), 1000)
}
