package rules

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/faultline-go/faultline/stream"
)

// FuzzParse checks that Parse never panics, that it returns either a
// Ruleset or errors, and that every error has a position (line >= 1) and a
// cause. Rules that parse are evaluated once, to exercise the compiled
// programs and the fast path.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		src, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	for _, s := range []string{
		"",
		"groups: []",
		"groups:\n- name: g\n  rules:\n  - {alert: A, expr: 'value > 1', match: 'up{a=~\"x|y\"}'}\n",
		"groups:\n- name: g\n  rules:\n  - alert: A\n    expr: |\n      labels.job == \"x\"\n        && lables.y\n",
		"series:\n- {match: '{a=\"1\"}', cadence: 1m, absent_after: 2m}\n",
		"a: &a [*a]\ngroups: *a\n",
	} {
		f.Add([]byte(s))
	}
	sample := stream.NewSample("up", stream.NewLabels("a", "x", "job", "api"), 1e18, 1, 0)
	f.Fuzz(func(t *testing.T, src []byte) {
		rs, err := Parse("fuzz.yaml", src)
		if err != nil {
			if rs != nil {
				t.Fatal("both a Ruleset and an error")
			}
			var errs Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("error is not a non-empty Errors: %#v", err)
			}
			for _, e := range errs {
				if e.Line < 1 || e.Col < 0 || e.File != "fuzz.yaml" || e.Err == nil {
					t.Fatalf("error without a position: %#v", e)
				}
				_ = e.Error()
			}
			return
		}
		e := NewEvaluator()
		for _, r := range rs.Rules() {
			_, _ = e.Eval(r, &sample)
			_, _ = r.ExpandAnnotations(sample.Labels, sample.Value)
		}
		_ = rs.Select(sample.Name, sample.Labels, nil)
		_, _ = rs.Series(sample.Name, sample.Labels)
	})
}
