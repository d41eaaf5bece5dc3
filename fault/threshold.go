package fault

import (
	"github.com/faultline-go/faultline/stream"
)

// evaluate runs the rules that select the series on a sample newer than any
// before it, and moves their episodes: a condition that starts to hold opens
// a pending episode (or a firing one when the rule has no `for`); one that
// has held for `for` of sample time fires; one that stops holding resolves.
// A series that stops reporting leaves its episodes as they are: no data is
// not a recovery (absence reports the silence). An evaluation error leaves
// the episode unchanged and is counted.
func (e *Engine) evaluate(idx uint32, smp *stream.Sample) {
	s := &e.series[idx]
	h := e.historyOf(s, smp)
	for j, ri := range e.ruleIdx[s.rulesOff : s.rulesOff+uint32(s.rulesN)] {
		r := e.rules[ri]
		if r.Cohort != nil {
			e.cohortSample(idx, s.rulesOff+uint32(j), smp) // cohort.go
			continue
		}
		holds, err := e.eval.EvalHistory(r, smp, h)
		if err != nil {
			e.stats.local.EvalErrors++
			if !e.warned[int(ri)] {
				e.warned[int(ri)] = true
				e.log.Warn("rule evaluation failed", "rule", r.Alert, "file", r.File, "line", r.Line, "err", err)
			}
			continue
		}
		if !holds && s.alerts == 0 {
			continue
		}
		key := alertKey{series: idx, rule: ri}
		st, open := e.alerts[key]
		switch {
		case holds && !open:
			st = alertState{since: smp.Time, state: StatePending}
			if r.For <= 0 {
				st.state = StateFiring
			}
			e.alerts[key] = st
			s.alerts++
			e.emitSeries(idx, KindThreshold, r.Alert, st.state, e.now, st.since, smp.Value, r, "")
		case holds && st.state == StatePending && smp.Time-st.since >= int64(r.For):
			st.state = StateFiring
			e.alerts[key] = st
			e.emitSeries(idx, KindThreshold, r.Alert, st.state, e.now, st.since, smp.Value, r, "")
		case !holds && open:
			delete(e.alerts, key)
			s.alerts--
			e.emitSeries(idx, KindThreshold, r.Alert, StateResolved, e.now, st.since, smp.Value, r, "")
		}
	}
}
