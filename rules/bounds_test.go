package rules

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/stream"
)

// exprFile wraps an expression in a rule file, as a block scalar on line 6
// starting at column 7.
func exprFile(src string) []byte {
	return []byte("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: |\n      " + src + "\n")
}

// letChain builds let a1 = f(a0 + a0); let a2 = f(a1 + a1) ... n times from
// a0 = from: a string that doubles at every step (with f = "").
func letChain(from, f string, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "let a0 = %s; ", from)
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "let a%d = %s(a%d + a%d); ", i, f, i-1, i-1)
	}
	fmt.Fprintf(&b, "a%d != \"\"", n)
	return b.String()
}

// TestParseRejectsUnbounded checks that Parse refuses what could make an
// evaluation loop or build without bound (see limits.go), with an error at
// the offending part of the expression.
func TestParseRejectsUnbounded(t *testing.T) {
	huge := strings.Repeat("value + ", maxExprNodes/2) + "value > 0"
	for _, c := range []struct {
		src  string
		at   string // where the error points: the first occurrence of this (the last with last set)
		last bool
		near bool // the error is somewhere after at: where the parser gave up
		msg  string
	}{
		// The bombs found by fuzzing.
		{src: `reduce(1..24, #acc + #acc, name) != ""`, at: "reduce", msg: "reduce is not available in rule expressions: it loops over a collection"},
		{src: `reduce(1..40, #acc + #acc, name) != ""`, at: "reduce", msg: "reduce is not available"},
		{src: `reduce(1..20000, #acc + name, "") != ""`, at: "reduce", msg: "reduce is not available"},
		// Loops of every kind, with and without string builtins inside.
		{src: `1..2000000 | any(# == 0)`, at: "..", msg: "may span at most 1000 numbers"}, // the first problem
		{src: `1..20 | any(# == 0)`, at: "any", msg: "any is not available"},
		{src: `len(map(1..600000, #)) > 0`, at: "map", msg: "map is not available"},
		{src: `count(1..100, upper(name + name) != "") > 0`, at: "count", msg: "count is not available"},
		{src: `len(filter(split(name, ""), lower(#) == "a")) > 0`, at: "filter", msg: "filter is not available"},
		{src: `sum(1..10, len(name + #string)) > 0`, at: "sum", msg: "sum is not available"},
		{src: `value > 1 && all(["job", "env"], # in labels)`, at: "all", msg: "all is not available"},
		{src: `let x = name; let y = sortBy([x, x], #); len(y) > 0`, at: "sortBy", msg: "sortBy is not available"},
		// Builtins that build strings or lists.
		{src: `len(repeat(name, 1000000)) > 0`, at: "repeat", msg: "repeat is not available in rule expressions: the strings or lists it builds can grow without bound"},
		{src: `len(replace(name, "", name)) > 0`, at: "replace", msg: "replace is not available"},
		{src: `split(labels.instance, ":")[0] == "web"`, at: "split", msg: "split is not available"},
		{src: `toJSON(toJSON(name)) != ""`, at: "toJSON", msg: "toJSON is not available"},
		{src: `join([name, name], name) != ""`, at: "join", msg: "join is not available"},
		{src: `"env" in keys(labels)`, at: "keys", msg: "keys is not available"},
		{src: `type(value) == "float"`, at: "type", msg: "type is not available in rule expressions; rules may call len, abs"},
		// Ranges.
		{src: `len(1..1001) > 0`, at: "..", msg: "may span at most 1000 numbers in all"},
		{src: `value in 0..600 || value in 0..600`, at: "..", last: true, msg: "may span at most 1000 numbers in all"},
		{src: `value in -9223372036854775807..9223372036854775807`, at: "..", msg: "may span at most 1000 numbers in all"},
		{src: `value in 0..int(value)`, at: "..", msg: "the bounds of a range must be integer constants"},
		// Patterns and times parsed per sample.
		{src: `name matches labels.pattern`, at: "pattern", msg: "the pattern of matches must be a string constant"},
		{src: `labels.job matches labels.env`, at: "env", msg: "the pattern of matches must be a string constant"},
		{src: `name matches "^x" || name matches "[a-z]{1000}[0-9]{1000}x{100}"`, at: `"[a-z]`, msg: "may compile to at most 2048 instructions in all, and this one brings them to 2106"},
		{src: `name matches "[a-z]{1,500}" || labels.job matches "[0-9]{1,500}" || name matches "x{100}"`, at: `"x{100}"`, msg: "may compile to at most 2048 instructions in all"},
		{src: `ts > date(labels.since)`, at: "since", msg: "the arguments of date must be string constants"},
		{src: `ts > date("2024-13-45")`, at: `"2024-13-45"`, msg: "date: invalid date 2024-13-45"},
		{src: `ts - ts < duration("5 minutes")`, at: `"5 minutes"`, msg: `duration: time: unknown unit " minutes"`},
		{src: `ts.Format("15:04") > "08:00"`, at: "Format", msg: "Format is not available in rule expressions: its result grows with its layout"},
		// labels as a whole.
		{src: `let l = labels; l.job == "api"`, at: "labels", msg: `labels can only be read as labels.name, labels["name"], "name" in labels or len(labels)`},
		{src: `labels == {"job": "api"}`, at: "labels", msg: "labels can only be read as"},
		{src: `{"a": 1}?.[name] == 1`, at: "[name]", msg: "?.[ ] with a computed key is only available on labels"},
		{src: `$env.value > 0`, at: "$env", msg: "$env is not available"},
		// Size.
		{src: huge, at: "value", near: true, msg: "the expression is too large: it has more than 1000 operators, names and constants"},
		{src: `name == "` + strings.Repeat("x", maxExprBytes) + `"`, at: "name", msg: "the expression is too long"},
	} {
		_, err := Parse("b.yaml", exprFile(c.src))
		require.Error(t, err, c.src)
		var errs Errors
		require.ErrorAs(t, err, &errs)
		require.Len(t, errs, 1, c.src)
		require.ErrorIs(t, errs[0], ErrExpr)
		require.ErrorContains(t, errs[0], c.msg, c.src)
		off := strings.Index(c.src, c.at)
		if c.last {
			off = strings.LastIndex(c.src, c.at)
		}
		require.GreaterOrEqual(t, off, 0, "%q not in %q", c.at, c.src)
		require.Equal(t, 6, errs[0].Line, c.src)
		if c.near {
			require.Greater(t, errs[0].Col, 7+off)
			continue
		}
		require.Equal(t, 7+utf8.RuneCountInString(c.src[:off]), errs[0].Col, "%s: %v", c.src, errs[0])
	}
}

// TestParseAcceptsBounded checks what rules may still do.
func TestParseAcceptsBounded(t *testing.T) {
	for _, src := range []string{
		`len(labels) > 2 && "job" in labels && labels?.job == "api" && labels["env"] != ""`,
		`labels[labels.job] == "" && labels.job not in ["a", "b"] && not ("x" in labels)`,
		`lower(labels.env) == "prod" && upper(name) startsWith "HTTP"`,
		`trim(labels.job) == "api" && trimPrefix(name, "http_") != "" && trimSuffix(name, "_total") != ""`,
		`hasPrefix(name, "http") && hasSuffix(name, "total") && indexOf(name, "_") > 0 && lastIndexOf(name, "_") > 0`,
		`abs(value) + ceil(value) + floor(value) + round(value) > 0 && min(value, 1) < max(value, 2)`,
		`int(labels.code) >= 500 && float(labels.threshold) < value`,
		`ts > date("2024-05-01") && ts - date("2024-05-01T12:00:00Z") < duration("1h") && date("01/05/2024", "02/01/2006", "Europe/Paris") < ts`,
		`value in 1..1000`,
		`name matches ".{0,500}" && labels.job matches "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$"`,
		`value in 0..499 || value in 500..999`,
		`value in -5..-1`,
		`let x = labels.job + "/" + labels.env; x == "api/prod" && len(x) == 8`,
		`{"api": 0.5, "web": 0.9}[labels.job] < value && [1, 2][int(value) % 2] > 0`,
		`name[0:4] == "http" && labels.instance[:3] == "web"`,
		`ts.Weekday().String() == "Monday" && ts.Add(duration("1h")).Hour() > 3 && (ts - ts).Hours() == 0`,
		`labels.Format == "x" && labels["Format"] == "x"`,
		letChain("name", "", 5),
		strings.Repeat("value + ", maxExprNodes/2-10) + "value > 0",
	} {
		_, err := Parse("b.yaml", exprFile(src))
		require.NoError(t, err, src)
	}
}

// hugeSample has a name and labels as long as a default input line.
func hugeSample() *stream.Sample {
	s := stream.NewSample(strings.Repeat("n", 1<<20),
		stream.NewLabels("job", strings.Repeat("x", 1<<20), "env", strings.Repeat("é", 1<<19), "code", "503"),
		0, 1, 0)
	return &s
}

// TestEvalStringBudget drives expressions that Parse accepts past the string
// budget: doubling let chains (the third bomb of the fuzzer), long
// concatenations, upper and lower of long labels. The evaluation fails with
// an *Error wrapping ErrExpr before it builds more than maxStringBytes, so it
// allocates less than maxEvalAlloc; the budget is per evaluation, so the
// same Evaluator goes on.
func TestEvalStringBudget(t *testing.T) {
	e := NewEvaluator()
	ok := compileRule(t, `upper(labels.job + "-" + labels.env) == "API-PROD" && value > 0.2`)
	for _, c := range []struct {
		src  string
		huge bool // on hugeSample instead of testSample
	}{
		{src: letChain("name", "", 40)},
		{src: letChain(`"x"`, "", 60)},
		{src: letChain("labels.job", "upper", 30)},
		{src: letChain("name", "lower", 30)},
		{src: `let a = name + name; let b = upper(a + a); let c = lower(b + b); let d = c + c + c + c; let e = d + d + d + d; let f = e + e + e + e; let g = f + f + f + f; g != ""`},
		{src: strings.Repeat("name + ", 300) + `name != ""`},
		{src: `upper(labels.job) != ""`, huge: true},
		{src: `lower(labels.env) != ""`, huge: true},
		{src: `labels.job + "x" != ""`, huge: true},
		{src: `name + name != ""`, huge: true},
	} {
		r := compileRule(t, c.src)
		s := testSample()
		if c.huge {
			s = hugeSample()
		}
		_, alloc, err := evalAllocated(e, r, s)
		require.ErrorIs(t, err, ErrExpr, c.src)
		require.ErrorIs(t, err, errStringBudget, c.src)
		require.ErrorContains(t, err, "builds more than 64 KiB of strings")
		checkEvalError(t, r, err)
		require.Less(t, alloc, uint64(maxEvalAlloc), c.src)

		got, err := e.Eval(ok, testSample())
		require.NoError(t, err, "the budget is per evaluation")
		require.True(t, got)
	}
	// Just under the budget, it works.
	r := compileRule(t, letChain(`"x"`, "", 15)) // 32 KiB, 64 KiB - 2 built in all
	got, alloc, err := evalAllocated(e, r, testSample())
	require.NoError(t, err)
	require.True(t, got)
	require.Less(t, alloc, uint64(maxEvalAlloc))
}

// largest returns the largest n <= 4096 for which Parse accepts gen(n).
func largest(t *testing.T, gen func(n int) string) string {
	lo, hi := 0, 4096
	for lo < hi {
		m := (lo + hi + 1) / 2
		if _, err := Parse("w.yaml", exprFile(gen(m))); err == nil {
			lo = m
		} else {
			hi = m - 1
		}
	}
	require.Positive(t, lo)
	return gen(lo)
}

// repeated builds pre + unit sep unit sep ... unit + post, n units.
func repeated(pre, unit, sep, post string) func(int) string {
	return func(n int) string {
		return pre + strings.TrimSuffix(strings.Repeat(unit+sep, n), sep) + post
	}
}

// TestEvalWorstCase evaluates the expressions that allocate the most per
// node that Parse accepts, each grown to the largest size Parse accepts, on
// a small sample and on one whose name and labels are 1 MiB long, on a
// fresh Evaluator and again on a warm one: none allocates more than
// maxEvalAlloc, whether it succeeds or fails.
func TestEvalWorstCase(t *testing.T) {
	gens := map[string]func(int) string{
		"nested lists": func(n int) string { return strings.Repeat("[", n) + "value" + strings.Repeat("]", n) + " != nil" },
		"list":         repeated("[", "-value", ", ", "][0] < 1"),
		"map": func(n int) string {
			var ps []string
			for i := range n {
				ps = append(ps, fmt.Sprintf("a%d: -value", i))
			}
			return "{" + strings.Join(ps, ", ") + "}.a0 < 1"
		},
		"lets": func(n int) string {
			var b strings.Builder
			for i := range n {
				fmt.Fprintf(&b, "let a%d = ts.AddDate(1, 1, 1); ", i)
			}
			return b.String() + "true"
		},
		"method calls": repeated("", "ts.AddDate(1, 2, 3) > ts", " && ", ""),
		"method chain": repeated("ts", `.Add(duration("1h"))`, "", ".Unix() > 0"),
		"method list":  repeated("[", `ts.AddDate(0, 0, 1)`, ", ", "][0] > ts"),
		"time map": func(n int) string {
			var ps []string
			for i := range n {
				ps = append(ps, fmt.Sprintf("a%d: ts.Round(duration(\"1h\"))", i))
			}
			return "{" + strings.Join(ps, ", ") + "}.a0 > ts"
		},
		"aggregates":    repeated("", "max([value, -value, value * 2]) > min([value, 1])", " && ", ""),
		"durations":     repeated("", `(ts - ts).Round(duration("1s")).String() != ""`, " && ", ""),
		"time strings":  repeated("", `ts.String() != ""`, " && ", ""),
		"weekdays":      repeated("", `ts.Weekday().String() != ""`, " && ", ""),
		"locations":     repeated("", `ts.Location().String() != ""`, " && ", ""),
		"lists in":      repeated("", "value in [value, value, value]", " && ", ""),
		"ranges":        repeated("", "value in 0..9", " || ", " || value < 0"),
		"slices":        repeated("", `name[1:3] != ""`, " && ", ""),
		"substrings":    repeated("", `trim(name) != "" && trimSuffix(labels.job, "x") != ""`, " && ", ""),
		"regexes":       repeated("", `name matches "^(a|b)+c*$" || labels.job matches "x$"`, " || ", " || value < 0"),
		"concatenation": repeated("", "labels.job", " + ", ` != ""`),
		"uppers":        repeated("", `upper(labels.job) != ""`, " && ", ""),
		"fetches":       repeated("", `{"a": 1}[labels.job] == 1`, " || ", ""),
		"failed int":    repeated("", `value < 0 || int(labels.job)`, " > 0 && ", " > 0"),
		"failed fetch":  repeated("(value < 0 || ", `(value > 0 ? nil : {"a": 1})[labels.job] == 1`, " || ", ")"),
		"error in a long expression": func(n int) string {
			return `int(labels.job) > 0 && name != "` + strings.Repeat("x", n*4) + `"`
		},
	}
	for what, gen := range gens {
		src := largest(t, gen)
		r := compileRule(t, src)
		for _, s := range []*stream.Sample{testSample(), hugeSample()} {
			e := NewEvaluator()
			_, cold, err := evalAllocated(e, r, s)
			_, warm, err2 := evalAllocated(e, r, s)
			require.Equal(t, err == nil, err2 == nil)
			if err != nil {
				checkEvalError(t, r, err)
				require.Less(t, len(err.Error()), 1024, "%s: the error quotes at most maxQuote bytes of the sample", what)
			}
			if raceEnabled && what == "regexes" {
				continue // regexp's scratch space is not reused: see race_test.go
			}
			require.LessOrEqual(t, cold, uint64(maxEvalAlloc), "%s on a new Evaluator, on %d-byte name", what, len(s.Name))
			require.LessOrEqual(t, warm, uint64(maxEvalAlloc), "%s, on %d-byte name", what, len(s.Name))
			t.Logf("%-28s %6d bytes %7d B cold, %7d B warm, name %7d B, err %v", what, len(src), cold, warm, len(s.Name), err != nil)
		}
	}
}

// TestEvalQuotesLittle checks that run-time errors quote at most the start
// of a long string of the sample.
func TestEvalQuotesLittle(t *testing.T) {
	e := NewEvaluator()
	for _, c := range []struct{ src, msg string }{
		{`int(labels.job) > 0`, `invalid operation: int("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"...): 1048576 bytes is too long for a number`},
		{`float(name) > 0`, `invalid operation: float("nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"...): 1048576 bytes is too long for a number`},
		{`(value > 0 ? nil : {"a": 1})[labels.job] == 1`, `cannot fetch "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"... (1048576 bytes) from <nil>`},
		{`int(labels.code + "x") > 0`, `invalid operation: int(503x)`},
	} {
		r := compileRule(t, c.src)
		_, err := e.Eval(r, hugeSample())
		require.ErrorIs(t, err, ErrExpr)
		require.ErrorContains(t, err, c.msg)
		checkEvalError(t, r, err)
	}
	// Short strings and maps work as before.
	for src, want := range map[string]bool{
		`int(labels.code) == 503`:             true,
		`float(labels.code) > 502.5`:          true,
		`{"503": true}[labels.code]`:          true,
		`{"a": 1}[labels.job] == nil`:         true,
		`{"a": 1}[labels.job] == 1`:           false,
		`len({"a": 1}[labels.job] ?? "") > 0`: false,
	} {
		got, err := e.Eval(compileRule(t, src), hugeSample())
		require.NoError(t, err, src)
		require.Equal(t, want, got, src)
	}
	_, err := e.Eval(compileRule(t, `int(labels.job) > 0`), testSample())
	require.ErrorContains(t, err, "invalid operation: int(api)")
	require.False(t, errors.Is(err, errStringBudget))
}
