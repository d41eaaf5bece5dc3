package fault

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/faultline-go/faultline/alert"
	"github.com/faultline-go/faultline/internal/frame"
	"github.com/faultline-go/faultline/rules"
	"github.com/faultline-go/faultline/stream"
)

// alerting is the state of the rules: their alert state machines per
// series, the series' histories for windowed functions, the cohort rules,
// and which rules select each series (ruleIdx, by series.rulesOff and
// rulesN).
type alerting struct {
	eval     *rules.Evaluator
	rules    []*rules.Rule
	alertCfg []alert.Rule             // parallel to rules
	alerts   map[alertKey]alert.State // per rule and series, while not idle
	ruleIdx  []uint32
	warned   map[int]bool // rules whose evaluation failed, logged once

	hists      []history // by series.hist − 1
	histPoints int       // capacity of hists, in points
	coh        cohorts

	// Scratch.
	steps     []alert.Transition
	selectBuf []int
	histView  rules.History
	histOne   [1]rules.Point
}

type alertKey struct {
	series uint32
	rule   uint32
}

func newAlerting(rs *rules.Ruleset) alerting {
	al := alerting{
		eval:   rules.NewEvaluator(),
		rules:  rs.Rules(),
		alerts: make(map[alertKey]alert.State),
		warned: make(map[int]bool),
		steps:  make([]alert.Transition, 0, 4),
	}
	for _, r := range al.rules {
		al.alertCfg = append(al.alertCfg, r.AlertRule())
	}
	return al
}

// evaluate runs the rules that select the series on a sample newer than any
// before it, and steps their alerts (package alert): for each rule, the
// highest severity level whose condition holds and, only when a firing
// alert is above it, its level's resolve condition. A rule whose condition
// does not hold on a series without alert state costs one evaluation and
// nothing more. An evaluation error leaves the alert unchanged and is
// counted. A series that stops reporting is not evaluated: its absence is
// the rule's no-data outcome (noData).
func (e *Engine) evaluate(idx uint32, smp *stream.Sample) {
	s := &e.st.series[idx]
	h := e.historyOf(s, smp)
	explained := e.cfg.Explainer != nil && e.explainStart(idx, smp, h)
	for j, ri := range e.al.ruleIdx[s.rulesOff : s.rulesOff+uint32(s.rulesN)] {
		r := e.al.rules[ri]
		if explained {
			e.xp.rule = j
		}
		if r.Cohort != nil {
			e.cohortSample(idx, s.rulesOff+uint32(j), smp) // cohort.go
			continue
		}
		level, err := e.al.eval.LevelHistory(r, smp, h)
		if err != nil {
			e.evalFailed(ri, r, err)
			continue
		}
		if level == 0 && s.alerts == 0 {
			continue
		}
		key := alertKey{series: idx, rule: ri}
		st, open := e.al.alerts[key]
		if level == 0 && !open {
			continue
		}
		o := alert.Outcome{Level: level, Reset: true}
		if cur := st.Level(); st.Phase() == alert.Firing && level < cur && r.HasResolve(cur) {
			if o.Reset, err = e.al.eval.ResolvesHistory(r, cur, smp, h); err != nil {
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
	if !e.al.warned[int(ri)] {
		e.al.warned[int(ri)] = true
		e.log.Warn("rule evaluation failed", "rule", r.Alert, "file", r.File, "line", r.Line, "err", err)
	}
}

// noData gives the rules of a series that went absent their no-data
// outcome: since is when the data stopped, at the deadline that decided it,
// by the ID of the event that explains the absence, if any (the rules'
// events carry it too). Rules that keep their state are skipped.
func (e *Engine) noData(idx uint32, since, at int64, by string) {
	s := &e.st.series[idx]
	for _, ri := range e.al.ruleIdx[s.rulesOff : s.rulesOff+uint32(s.rulesN)] {
		policy := e.al.alertCfg[ri].NoData
		if policy == alert.NoDataKeep {
			continue
		}
		key := alertKey{series: idx, rule: ri}
		st, open := e.al.alerts[key]
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
	e.al.steps = st.Step(t, o, &e.al.alertCfg[ri], e.al.steps[:0])
	key := alertKey{series: idx, rule: ri}
	switch idle := st.Idle(); {
	case idle && open:
		delete(e.al.alerts, key)
		e.st.series[idx].alerts--
		e.stats.local.Alerts--
	case !idle && !open:
		if len(e.al.alerts) >= e.cfg.MaxAlerts {
			e.stats.local.AlertOverflow++ // not opened: nothing to emit
			return
		}
		e.al.alerts[key] = st
		e.st.series[idx].alerts++
		e.stats.local.Alerts++
	case !idle && st != before:
		e.al.alerts[key] = st
	}
	r := e.al.rules[ri]
	for _, tr := range e.al.steps {
		e.emitAlert(idx, r, tr, t, at, value, by, "")
	}
}

// emitAlert emits one transition of a rule's alert on a series, made by
// the evaluation at sample time t, at engine time at, for reason if it is
// closed for one.
func (e *Engine) emitAlert(idx uint32, r *rules.Rule, tr alert.Transition, t, at int64, value float64, by, reason string) {
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
		Series:      e.st.series[idx].id,
		Labels:      labels,
		Annotations: annotations,
		Value:       value,
		InhibitedBy: by,
	}
	level := 0
	if severity != "" && kind == KindThreshold && state == StateFiring {
		level = tr.Level
	}
	e.emit(ev, uint64(ev.Series), level, t, reason)
}

// SeverityLabel is the label that names the severity level of a rule's
// alert, for rules with levels.
const SeverityLabel = "severity"

// appendAlerts appends the rule alert states, in (series, rule) order,
// each as alert.State.AppendBinary encodes it. It is the only part of the
// format that knows the alert state machine.
func appendAlerts(w *frame.Writer, alerts map[alertKey]alert.State) {
	keys := slices.SortedFunc(maps.Keys(alerts), func(a, b alertKey) int {
		return cmp.Or(cmp.Compare(a.series, b.series), cmp.Compare(a.rule, b.rule))
	})
	w.Uv(uint64(len(keys)))
	for _, k := range keys {
		st := alerts[k]
		w.U32(k.series)
		w.U32(k.rule)
		w.Append(st.AppendBinary)
	}
}

// readAlerts reads what appendAlerts wrote, for an engine of n series whose
// series select the rules rulesOf returns.
func readAlerts(r *frame.Reader, n int, rulesOf func(uint32) []uint32) map[alertKey]alert.State {
	alerts := make(map[alertKey]alert.State)
	for range r.Count(4 + 4 + 7) {
		k := alertKey{series: r.U32(), rule: r.U32()}
		if r.Err() != nil {
			break
		}
		var st alert.State
		r.Decode(func(b []byte) (rest []byte, err error) {
			if st, rest, err = alert.DecodeState(b); err != nil {
				return nil, fmt.Errorf("alert of series %d, rule %d: %w", k.series, k.rule, err)
			}
			return rest, nil
		})
		if r.Err() != nil {
			break
		}
		if int(k.series) >= n || !slices.Contains(rulesOf(k.series), k.rule) {
			r.Fail("bad alert of series %d, rule %d", k.series, k.rule)
			break
		}
		if _, dup := alerts[k]; dup {
			r.Fail("alert of series %d, rule %d twice", k.series, k.rule)
			break
		}
		alerts[k] = st
	}
	return alerts
}

// seriesRules returns the rules that select series idx.
func (e *Engine) seriesRules(idx uint32) []uint32 {
	s := &e.st.series[idx]
	return e.al.ruleIdx[s.rulesOff : s.rulesOff+uint32(s.rulesN)]
}

// checkAlerts checks that the alert states agree with the series' counts
// of them.
func (e *Engine) checkAlerts() error {
	open := make(map[uint32]uint16)
	for k := range e.al.alerts {
		open[k.series]++
	}
	for i := range e.st.series {
		if e.st.series[i].alerts != open[uint32(i)] {
			return fmt.Errorf("series %d: %d alerts open, %d recorded", i, open[uint32(i)], e.st.series[i].alerts)
		}
	}
	return nil
}

// appendWarned appends the rules whose evaluation failure was logged.
func (e *Engine) appendWarned(w *frame.Writer) {
	w.Uv(uint64(len(e.al.warned)))
	for _, ri := range slices.Sorted(maps.Keys(e.al.warned)) {
		w.Uv(uint64(ri))
	}
}

func (e *Engine) readWarned(r *frame.Reader) {
	for range r.Count(1) {
		e.al.warned[r.Index(len(e.al.rules))] = true
	}
}
