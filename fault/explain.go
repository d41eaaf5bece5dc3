package fault

import (
	"fmt"
	"slices"
	"strings"

	"github.com/faultline-go/faultline/alert"
	"github.com/faultline-go/faultline/rules"
	"github.com/faultline-go/faultline/stream"
)

// Explanation says what the engine made of one sample of a series that
// Config.Explain selects: the rules that select the series, each
// condition's value (and the values of its windowed calls), the state of
// each rule's alert before and after, and the events the sample caused.
// Only samples the rules evaluate are explained: fresh ones newer than any
// before them.
type Explanation struct {
	// At is the engine time the sample was evaluated at.
	At int64
	// Series, Name and Labels identify the series.
	Series stream.SeriesID
	Name   string
	Labels stream.Labels
	// Time and Value are the sample's.
	Time  int64
	Value float64
	// Rules are the rules that select the series, in rule file order.
	Rules []RuleExplanation
}

// RuleExplanation is what one rule made of an explained sample.
type RuleExplanation struct {
	// Rule is the rule.
	Rule *rules.Rule
	// Conditions are the values of its conditions on the sample: each
	// level's expr, then its resolve condition (see rules.Evaluator.Explain).
	// A cohort rule has none: it is judged per window (see Cohort events).
	Conditions []rules.Condition
	// Before and After are the state of the rule's alert on the series
	// before and after the sample: "inactive", "pending", "firing", with
	// the severity of the level for rules with levels, and "flapping" while
	// it is.
	Before, After string
	// Events are the events the sample caused for this rule, as
	// "kind/state" (threshold/pending, flapping/firing ...).
	Events []string
}

// explaining is the explanation being built for the sample in evaluation,
// and the rule whose events it is collecting.
type explaining struct {
	x    *Explanation
	rule int // index in x.Rules, or -1
}

// explainStart begins the explanation of a sample of series idx, if
// Config.Explain selects it, and reports whether it did. Config.Explainer
// is set.
func (e *Engine) explainStart(idx uint32, smp *stream.Sample, h *rules.History) bool {
	if !e.cfg.Explain.Matches(smp.Name, smp.Labels) {
		return false
	}
	s := &e.st.series[idx]
	x := &Explanation{At: e.now, Series: s.id, Name: smp.Name, Labels: slices.Clone(smp.Labels), Time: smp.Time, Value: smp.Value}
	for _, ri := range e.al.ruleIdx[s.rulesOff : s.rulesOff+uint32(s.rulesN)] {
		r := e.al.rules[ri]
		x.Rules = append(x.Rules, RuleExplanation{
			Rule:       r,
			Conditions: e.al.eval.Explain(r, smp, h, nil),
			Before:     e.alertState(idx, ri, r),
		})
	}
	e.xp = explaining{x: x, rule: -1}
	return true
}

// explainEnd completes the explanation and hands it to Config.Explainer.
func (e *Engine) explainEnd(idx uint32) {
	x := e.xp.x
	e.xp = explaining{}
	s := &e.st.series[idx]
	for j, ri := range e.al.ruleIdx[s.rulesOff : s.rulesOff+uint32(s.rulesN)] {
		x.Rules[j].After = e.alertState(idx, ri, e.al.rules[ri])
	}
	e.cfg.Explainer(*x)
}

// explainEvent records an event in the explanation being built (e.xp.x is
// set), for the rule in evaluation, if any.
func (e *Engine) explainEvent(ev *Event) {
	if e.xp.rule >= 0 {
		r := &e.xp.x.Rules[e.xp.rule]
		r.Events = append(r.Events, string(ev.Kind)+"/"+ev.State.String())
	}
}

// alertState describes the state of rule ri's alert on series idx.
func (e *Engine) alertState(idx, ri uint32, r *rules.Rule) string {
	if r.Cohort != nil {
		return "per cohort"
	}
	st, ok := e.al.alerts[alertKey{series: idx, rule: ri}]
	if !ok {
		return alert.Inactive.String()
	}
	out := st.Phase().String()
	if l := st.Level(); st.Phase() != alert.Inactive && l >= 1 && l <= len(r.Levels) && r.Levels[l-1].Severity != "" {
		out += " " + r.Levels[l-1].Severity
	}
	if st.Flapping() {
		out += " (flapping)"
	}
	return out
}

// String formats the explanation as a few lines of text, as `faultline
// replay --explain` prints it:
//
//	2026-01-01T00:05:00Z disk_used_ratio{host="a"} = 0.95 at 2026-01-01T00:05:00Z
//	  DiskFull (rules.yaml:4:9): firing → firing
//	    value > 0.9 = true
func (x Explanation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s%s = %g at %s", FormatTime(x.At), x.Name, x.Labels, x.Value, FormatTime(x.Time))
	if len(x.Rules) == 0 {
		b.WriteString("\n  no rule selects this series")
	}
	for _, r := range x.Rules {
		fmt.Fprintf(&b, "\n  %s (%s:%d:%d): %s → %s", r.Rule.Alert, r.Rule.File, r.Rule.Line, r.Rule.Col, r.Before, r.After)
		if len(r.Events) > 0 {
			fmt.Fprintf(&b, ", emitted %s", strings.Join(r.Events, ", "))
		}
		for _, c := range r.Conditions {
			b.WriteString("\n    ")
			if c.Severity != "" {
				b.WriteString(c.Severity + " ")
			}
			if c.Resolve {
				b.WriteString("resolve ")
			}
			if c.Err != nil {
				fmt.Fprintf(&b, "%s: error: %v", c.Expr, c.Err)
			} else {
				fmt.Fprintf(&b, "%s = %t", c.Expr, c.Holds)
			}
			for _, v := range c.Calls {
				fmt.Fprintf(&b, "; %s = %g", v.Call, v.Value)
			}
		}
	}
	return b.String()
}
