package fault

import (
	"math"

	"github.com/faultline-go/faultline/alert"
	"github.com/faultline-go/faultline/rules"
	"github.com/faultline-go/faultline/stream"
)

// evaluate runs the rules that select the series on a sample newer than any
// before it, and steps their alerts (package alert): for each rule, the
// highest severity level whose condition holds and, only when a firing
// alert is above it, its level's resolve condition. A rule whose condition
// does not hold on a series without alert state costs one evaluation and
// nothing more. An evaluation error leaves the alert unchanged and is
// counted. A series that stops reporting is not evaluated: its absence is
// the rule's no-data outcome (noData).
func (e *Engine) evaluate(idx uint32, smp *stream.Sample) {
	s := &e.series[idx]
	h := e.historyOf(s, smp)
	explained := e.cfg.Explainer != nil && e.explainStart(idx, smp, h)
	for j, ri := range e.ruleIdx[s.rulesOff : s.rulesOff+uint32(s.rulesN)] {
		r := e.rules[ri]
		if explained {
			e.xp.rule = j
		}
		if r.Cohort != nil {
			e.cohortSample(idx, s.rulesOff+uint32(j), smp) // cohort.go
			continue
		}
		level, err := e.eval.LevelHistory(r, smp, h)
		if err != nil {
			e.evalFailed(ri, r, err)
			continue
		}
		if level == 0 && s.alerts == 0 {
			continue
		}
		key := alertKey{series: idx, rule: ri}
		st, open := e.alerts[key]
		if level == 0 && !open {
			continue
		}
		o := alert.Outcome{Level: level, Reset: true}
		if cur := st.Level(); st.Phase() == alert.Firing && level < cur && r.HasResolve(cur) {
			if o.Reset, err = e.eval.ResolvesHistory(r, cur, smp, h); err != nil {
				e.evalFailed(ri, r, err)
				continue
			}
		}
		e.step(idx, ri, st, open, smp.Time, o, e.now, smp.Value, "")
	}
	if explained {
		e.explainEnd(idx)
	}
}

func (e *Engine) evalFailed(ri uint32, r *rules.Rule, err error) {
	e.stats.local.EvalErrors++
	if !e.warned[int(ri)] {
		e.warned[int(ri)] = true
		e.log.Warn("rule evaluation failed", "rule", r.Alert, "file", r.File, "line", r.Line, "err", err)
	}
}

// noData gives the rules of a series that went absent their no-data
// outcome: since is when the data stopped, at the deadline that decided it,
// by the ID of the event that explains the absence, if any (the rules'
// events carry it too). Rules that keep their state are skipped.
func (e *Engine) noData(idx uint32, since, at int64, by string) {
	s := &e.series[idx]
	for _, ri := range e.ruleIdx[s.rulesOff : s.rulesOff+uint32(s.rulesN)] {
		policy := e.alertCfg[ri].NoData
		if policy == alert.NoDataKeep {
			continue
		}
		key := alertKey{series: idx, rule: ri}
		st, open := e.alerts[key]
		if !open && policy == alert.NoDataResolve {
			continue
		}
		e.step(idx, ri, st, open, since, alert.Outcome{NoData: true}, at, math.NaN(), by)
	}
}

// step moves one alert, keeps its state while it is not idle, and emits
// its transitions at engine time at.
func (e *Engine) step(idx, ri uint32, st alert.State, open bool, t int64, o alert.Outcome, at int64, value float64, by string) {
	before := st
	e.steps = st.Step(t, o, &e.alertCfg[ri], e.steps[:0])
	key := alertKey{series: idx, rule: ri}
	switch idle := st.Idle(); {
	case idle && open:
		delete(e.alerts, key)
		e.series[idx].alerts--
		e.stats.local.Alerts--
	case !idle && !open:
		if len(e.alerts) >= e.cfg.MaxAlerts {
			e.stats.local.AlertOverflow++ // not opened: nothing to emit
			return
		}
		e.alerts[key] = st
		e.series[idx].alerts++
		e.stats.local.Alerts++
	case !idle && st != before:
		e.alerts[key] = st
	}
	r := e.rules[ri]
	for _, tr := range e.steps {
		e.emitAlert(idx, r, tr, t, at, value, by)
	}
}

// emitAlert emits one transition of a rule's alert on a series, made by
// the evaluation at sample time t, at engine time at.
func (e *Engine) emitAlert(idx uint32, r *rules.Rule, tr alert.Transition, t, at int64, value float64, by string) {
	kind, state := KindThreshold, StateFiring
	switch tr.Kind {
	case alert.KindPending:
		state = StatePending
	case alert.KindResolved:
		state = StateResolved
	case alert.KindFlappingStart:
		kind = KindFlapping
	case alert.KindFlappingEnd:
		kind, state = KindFlapping, StateResolved
	}
	labels, err := r.ApplyLabels(e.seriesLabels(idx), value)
	if err != nil {
		e.stats.local.EvalErrors++
	}
	severity := ""
	if tr.Level >= 1 && tr.Level <= len(r.Levels) {
		severity = r.Levels[tr.Level-1].Severity
	}
	if severity != "" {
		labels = mergeLabels(labels, stream.Labels{{Name: SeverityLabel, Value: severity}})
	}
	labels.Sort()
	annotations, err := r.ExpandAnnotations(labels, value)
	if err != nil {
		e.stats.local.EvalErrors++
	}
	ev := Event{
		Kind:        kind,
		Rule:        r.Alert,
		State:       state,
		At:          at,
		Since:       tr.Since,
		Series:      e.series[idx].id,
		Labels:      labels,
		Annotations: annotations,
		Value:       value,
		InhibitedBy: by,
	}
	level := 0
	if severity != "" && kind == KindThreshold && state == StateFiring {
		level = tr.Level
	}
	ev.ID, ev.Episode = eventIDsAt(kind, r.Alert, uint64(ev.Series), tr.Since, state, by != "", level, t)
	e.emit(&ev)
}

// SeverityLabel is the label that names the severity level of a rule's
// alert, for rules with levels.
const SeverityLabel = "severity"
