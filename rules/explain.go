package rules

import (
	"time"

	"github.com/faultline-go/faultline/stream"
)

// Condition is the outcome of one condition of a rule on one sample, for
// explanations: see Evaluator.Explain.
type Condition struct {
	// Level is the level the condition belongs to, counted from 1 (a rule
	// without levels has one); Severity is its name, empty without levels.
	Level    int
	Severity string
	// Resolve is set for the level's resolve condition, clear for its expr.
	Resolve bool
	// Expr is the condition's source.
	Expr string
	// Holds is its value; Err the evaluation error, if it failed.
	Holds bool
	Err   error
	// Calls are the values of its windowed calls over the history, in the
	// order they appear.
	Calls []CallValue
}

// CallValue is the value of one windowed call, such as rate(5m), over a
// series' history.
type CallValue struct {
	Call  string // as rate(5m), previous()
	Value float64
}

// Explain evaluates every condition of rule r on sample s with history h
// (the series' points, as EvalHistory), without stopping at the first that
// holds as LevelHistory does, and appends them to dst: each level's expr
// then its resolve condition, if any, from the first level. It allocates;
// it is for explaining a few series, not for the hot path. A cohort rule
// has no conditions on a sample: nothing is appended.
func (e *Evaluator) Explain(r *Rule, s *stream.Sample, h *History, dst []Condition) []Condition {
	if r.Cohort != nil {
		return dst
	}
	for i := range r.Levels {
		l := &r.Levels[i]
		for _, c := range []struct {
			p       *pred
			src     string
			resolve bool
		}{{&l.cond, l.Expr, false}, {&l.reset, l.Resolve, true}} {
			if c.src == "" {
				continue
			}
			holds, err := e.run(r, c.p, s, h)
			cond := Condition{Level: i + 1, Severity: l.Severity, Resolve: c.resolve, Expr: c.src, Holds: holds, Err: err}
			for _, call := range c.p.windows {
				name := windowFuncs[call.fn] + "(" + FormatDuration(time.Duration(call.rng)) + ")"
				if call.fn == winPrevious {
					name = "previous()"
				}
				cond.Calls = append(cond.Calls, CallValue{Call: name, Value: call.eval(h)})
			}
			dst = append(dst, cond)
		}
	}
	return dst
}
