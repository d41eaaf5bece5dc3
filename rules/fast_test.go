package rules

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/stream"
)

// exprGen generates random expressions over the environment, mostly in the
// forms the fast path compiles, with some that it does not.
type exprGen struct {
	r *rand.Rand
}

func (g *exprGen) pick(xs ...string) string { return xs[g.r.IntN(len(xs))] }

func (g *exprGen) boolean(depth int) string {
	if depth <= 0 {
		return g.leafBool()
	}
	switch g.r.IntN(10) {
	case 0, 1:
		return g.boolean(depth-1) + g.pick(" && ", " || ", " and ", " or ") + g.boolean(depth-1)
	case 2:
		return g.pick("!", "not ") + "(" + g.boolean(depth-1) + ")"
	case 3:
		return "(" + g.boolean(depth-1) + ") " + g.pick("==", "!=") + " (" + g.boolean(depth-1) + ")"
	case 4:
		return g.num(depth-1) + " " + g.pick("==", "!=", "<", "<=", ">", ">=") + " " + g.num(depth-1)
	case 5:
		return g.str(depth-1) + " " + g.pick("==", "!=", "<", "<=", ">", ">=") + " " + g.str(depth-1)
	case 6:
		return g.str(depth-1) + " " + g.pick("contains", "startsWith", "endsWith") + " " + g.str(depth-1)
	}
	return g.leafBool()
}

func (g *exprGen) leafBool() string {
	switch g.r.IntN(9) {
	case 0:
		return g.pick("true", "false")
	case 1:
		return fmt.Sprintf("%q in labels", g.labelName())
	case 2:
		return fmt.Sprintf("%s in [%q, %q]", g.str(0), g.labelValue(), g.labelValue())
	case 3:
		return fmt.Sprintf("%s matches %q", g.str(0), g.pick("^a", "b$", "^$", "p.*d", "(?i)API", "[0-9]+"))
	case 4:
		return fmt.Sprintf("%s %s %s", g.str(0), g.pick("==", "!="), g.str(0))
	case 5:
		// Not fast: the virtual machine runs these.
		return g.pick(`len(labels) > 1`, `value in [0.5, 1]`, `labels.job + "x" == "apix"`, `int(value) % 2 == 0`, `ts.Weekday().String() == "Monday"`)
	}
	return g.num(0) + " " + g.pick("==", "!=", "<", "<=", ">", ">=") + " " + g.num(0)
}

func (g *exprGen) num(depth int) string {
	if depth > 0 && g.r.IntN(3) == 0 {
		return "(" + g.num(depth-1) + " " + g.pick("+", "-", "*", "/") + " " + g.num(depth-1) + ")"
	}
	switch g.r.IntN(7) {
	case 0, 1:
		return "value"
	case 2:
		return g.pick("0", "1", "-1", "90", "0.5", "-0.25", "1e308", "9007199254740993", "3")
	case 3:
		return "-value"
	case 4:
		return "ts." + g.pick("Hour", "Minute", "Second", "Day", "Year", "YearDay", "Unix") + "()"
	case 5:
		return g.pick("0.05", "100", "2")
	}
	return "value"
}

func (g *exprGen) str(depth int) string {
	switch g.r.IntN(7) {
	case 0:
		return "name"
	case 1, 2:
		return "labels." + g.labelName()
	case 3:
		return fmt.Sprintf("labels[%q]", g.labelName())
	case 4:
		if depth > 0 {
			return "labels[" + g.str(depth-1) + "]"
		}
	}
	return fmt.Sprintf("%q", g.labelValue())
}

func (g *exprGen) labelName() string  { return g.pick("job", "env", "instance", "nope", "empty") }
func (g *exprGen) labelValue() string { return g.pick("api", "prod", "", "web-1", "API", "job", "env") }

func fastTestSamples() []*stream.Sample {
	values := []float64{0, -0.0, 0.05, 1, 90, 95.5, -3, math.NaN(), math.Inf(1), math.Inf(-1), 1e308, 9007199254740992}
	labelSets := []stream.Labels{
		nil,
		stream.NewLabels("job", "api", "env", "prod", "instance", "web-1", "empty", ""),
		stream.NewLabels("job", "web", "env", "job"),
		stream.NewLabels("env", "API", "nope", "123"),
	}
	names := []string{"http_requests_total", "api", ""}
	times := []int64{0, 1714566615e9, -1e9, 1e18}
	var out []*stream.Sample
	i := 0
	for _, v := range values {
		for _, ls := range labelSets {
			s := stream.NewSample(names[i%len(names)], ls, times[i%len(times)], v, 0)
			out = append(out, &s)
			i++
		}
	}
	return out
}

// TestFastPathAgreesWithVM compiles generated expressions both ways and
// checks that the closures give what expr's virtual machine gives, on
// samples with NaN, infinities, missing and empty labels.
func TestFastPathAgreesWithVM(t *testing.T) {
	g := &exprGen{r: rand.New(rand.NewPCG(1, 2))}
	samples := fastTestSamples()
	e := NewEvaluator()
	fast, compiled := 0, 0
	for range 1200 {
		src := g.boolean(3)
		prog, err := compileExpr(src)
		if err != nil {
			continue // some generated expressions do not type-check
		}
		compiled++
		pred, ok := buildFast(prog.Node())
		if !ok {
			continue
		}
		fast++
		r := &Rule{Alert: "gen", Expr: src, program: prog}
		for _, s := range samples {
			want, err := e.evalVM(r, s)
			require.NoError(t, err, "%s on %v", src, s)
			require.Equal(t, want, pred(&fastIn{Sample: s}), "%s on %s%s value=%v time=%d", src, s.Name, s.Labels, s.Value, s.Time)
		}
	}
	t.Logf("%d generated expressions compiled, %d on the fast path", compiled, fast)
	require.Greater(t, compiled, 600)
	require.Greater(t, fast, compiled/3)
}

func TestFastPathCoverage(t *testing.T) {
	f := func(src string, want bool) {
		t.Helper()
		prog, err := compileExpr(src)
		require.NoError(t, err, src)
		_, ok := buildFast(prog.Node())
		require.Equal(t, want, ok, src)
	}
	f(`value > 90`, true)
	f(`value > 0.05 && labels.job == "api" && labels.env != "dev"`, true)
	f(`labels["job"] in ["a", "b"] or not ("x" in labels)`, true)
	f(`name startsWith "http_" && labels.code matches "^5.."`, true)
	f(`value * 100 / 4 >= 2 && ts.Hour() >= 8 && ts.Hour() < 20`, true)
	f(`labels[labels.job] == ""`, true)
	f(`value > 9007199254740993`, false) // not exact as a float64
	f(`len(labels) > 2`, false)
	f(`value in [1.5, 2.5]`, false)
	f(`labels.job + "x" == "apix"`, false)
	f(`ts.Weekday() == ts.Weekday()`, false)
	f(`int(value) % 2 == 0`, false)
	f(`lower(labels.job) == "api"`, false)
	f(`labels.job in ["a", "b"] || ts > date("2024-05-01")`, false)
}

// TestFastPathGenerator keeps the generator honest: it produces valid
// expressions of every kind.
func TestFastPathGenerator(t *testing.T) {
	g := &exprGen{r: rand.New(rand.NewPCG(3, 4))}
	seen := map[string]bool{}
	for range 500 {
		src := g.boolean(3)
		for _, kw := range []string{"matches", " in labels", "ts.", "labels[", "&&", "not "} {
			if strings.Contains(src, kw) {
				seen[kw] = true
			}
		}
	}
	require.Len(t, seen, 6)
}
