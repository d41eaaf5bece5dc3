package fault

import (
	"cmp"
	"context"
	"math"
	"slices"

	"github.com/faultline-go/faultline/alert"
	"github.com/faultline-go/faultline/rules"
	"github.com/faultline-go/faultline/stream"
)

// Hot reload.
//
// Update swaps the engine's rules between two calls. It pairs each new rule
// with an equal old one (rules.Rule.Equal: everything but the rule's
// position), the first unpaired equal one in file order, so that equal
// duplicates pair one-to-one in order; a paired rule is the same rule and
// keeps its state under its new index. Then, in one pass over the series in
// index order, it rebuilds everything derived from the rules exactly as
// create and Restore build it for a series: the rules each series selects
// (and their place in Engine.ruleIdx), its history ring, its cohort
// memberships and the absence threshold declared for it. That a restored
// engine builds the same structures from the new rules is what lets a
// snapshot taken after Update restore under them.

// RuleRemovedReason is the value of the annotation "reason" on the
// resolved events Update emits for the open alerts and cohort episodes of
// the rules it removes: they resolve because their rule is gone, not
// because their condition stopped holding.
const RuleRemovedReason = "rule_removed"

// Update replaces the engine's rules with rs (nil removes them all) between
// two calls, as a host does on SIGHUP: it is atomic, since no sample is
// evaluated while it runs, and every sample after it is evaluated by rs
// alone. Update receives a parsed Ruleset: a rule file that fails to parse
// never reaches it, so the host keeps running the old rules by not calling
// it (see the example).
//
// What carries over:
//
//   - A rule of rs equal to an old one (rules.Rule.Equal: the same group,
//     alert, expressions, levels, lifecycle fields, cohort, selector,
//     labels and annotations, wherever it sits in its file) is the same
//     rule: its alerts keep their whole state (a pending for timer,
//     firing, keep_firing_for, level, flap history) and its cohorts theirs.
//     Equal duplicates pair with each other one-to-one, in file order.
//   - A rule that changed in any of those ways is removed and a new one
//     added: its alerts resolve and the new rule starts afresh.
//   - A removed rule's open alerts resolve now: each pending or firing
//     alert emits a resolved event at the engine's time (Event.At = Now,
//     Value NaN, the episode's own ID), and a flapping one a flapping
//     resolved event first; a removed cohort rule's open cohort episodes
//     resolve likewise, and its cohorts go (Stats.Cohorts goes down).
//     These events carry the annotation reason="rule_removed"
//     (RuleRemovedReason). Alerts that show nothing open (idle, or only a
//     flap history) go silently.
//   - A new rule applies to every series it selects, existing ones
//     included, from their next sample on. A series that needs a history
//     for a new windowed or cohort rule gets an empty one then: its
//     windowed functions see the samples from the update on. A series whose
//     rules no longer read history drops its ring (Stats.HistorySeries and
//     HistoryPoints go down); one whose longest window changed keeps its
//     ring, which follows the new window from its next sample.
//   - The series entries of rs apply to new series as they arrive. For
//     series already tracked, a changed absent_after applies from their
//     next judgment; a changed cadence does not: they keep the cadence
//     they have (declared or learned).
//
// After Update the engine's rules are rs everywhere: Snapshot records
// rs's fingerprint, and Restore needs rs.
// Update is deterministic: the same input and the same updates at the same
// points give the same events and IDs.
//
// Like every method but Stats, Update must not run at the same time as
// another call of the engine: call it from the goroutine that calls
// Process. It costs one pass over the series, selecting the rules of each
// (O(series × rules selected)); the engine time does not move. It returns
// ErrClosed after Close, ctx's error if ctx is done before it starts, and
// otherwise the first error the Sink returned for its events (the update
// is made regardless).
func (e *Engine) Update(ctx context.Context, rs *rules.Ruleset) error {
	if e.closed {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	e.update(rs)
	e.disarm() // the rules' cohort windows may be due earlier
	return e.end(ctx)
}

func (e *Engine) update(rs *rules.Ruleset) {
	next := rs.Rules()
	from, to := pairRules(e.al.rules, next)
	e.retire(to)

	alerts := make(map[alertKey]alert.State, len(e.al.alerts))
	for k, st := range e.al.alerts {
		alerts[alertKey{series: k.series, rule: uint32(to[k.rule])}] = st
	}
	e.al.alerts = alerts
	warned := make(map[int]bool, len(e.al.warned))
	for ri := range e.al.warned {
		if to[ri] >= 0 {
			warned[int(to[ri])] = true
		}
	}
	e.al.warned = warned

	e.cfg.Rules = rs
	e.al.rules = next
	e.al.alertCfg = make([]alert.Rule, len(next))
	for i, r := range next {
		e.al.alertCfg[i] = r.AlertRule()
	}
	old := e.al.coh
	e.recohort(from, &old)
	e.rebind(from, &old)
}

// pairRules pairs the rules of next with equal rules of prev: from[i] is
// the index in prev of next[i]'s pair, to[j] the index in next of prev[j]'s,
// −1 for none. Each rule of next takes the first unpaired equal rule of
// prev.
func pairRules(prev, next []*rules.Rule) (from, to []int32) {
	byName := make(map[[2]string][]int32, len(prev))
	for j, r := range prev {
		k := [2]string{r.Group, r.Alert}
		byName[k] = append(byName[k], int32(j))
	}
	to = make([]int32, len(prev))
	for j := range to {
		to[j] = -1
	}
	from = make([]int32, len(next))
	for i, r := range next {
		from[i] = -1
		for _, j := range byName[[2]string{r.Group, r.Alert}] {
			if to[j] < 0 && prev[j].Equal(r) {
				from[i], to[j] = j, int32(i)
				break
			}
		}
	}
	return from, to
}

// retire resolves the open alerts and cohort episodes of the old rules
// that have no pair in the new rules (to[ri] < 0), rule by rule in file
// order, series by series, cohort by cohort, and drops their state.
func (e *Engine) retire(to []int32) {
	var gone []alertKey
	for k := range e.al.alerts {
		if to[k.rule] < 0 {
			gone = append(gone, k)
		}
	}
	slices.SortFunc(gone, func(a, b alertKey) int {
		return cmp.Or(cmp.Compare(a.rule, b.rule), cmp.Compare(a.series, b.series))
	})
	for ri, r := range e.al.rules {
		if to[ri] >= 0 {
			continue
		}
		if r.Cohort != nil {
			cr := &e.al.coh.rules[e.al.coh.byRule[uint32(ri)]]
			for i := range cr.cohorts {
				c := &cr.cohorts[i]
				if !c.dead() {
					e.stats.local.Cohorts-- // wraps: the sum published is right
				}
				if c.state == 0 {
					continue
				}
				e.emitCohort(r, c, StateResolved, e.now, math.NaN(), RuleRemovedReason)
				c.state = 0
			}
			continue
		}
		for len(gone) > 0 && gone[0].rule == uint32(ri) {
			k := gone[0]
			gone = gone[1:]
			st := e.al.alerts[k]
			e.al.steps = st.Forget(e.al.steps[:0])
			delete(e.al.alerts, k)
			e.st.series[k.series].alerts--
			e.stats.local.Alerts-- // wraps: the sum published is right
			for _, tr := range e.al.steps {
				e.emitAlert(k.series, r, tr, e.now, e.now, math.NaN(), "", RuleRemovedReason)
			}
		}
	}
}

// recohort sets up the cohort rules of the new rules: a paired one takes
// its old state (old, the cohort state before the update), a new one starts
// as initCohorts starts it. The memberships are rebuilt by rebind. The
// earliest judgment due stays as it was: the paired rules' are not
// earlier, and new rules have none before their first sample.
func (e *Engine) recohort(from []int32, old *cohorts) {
	e.al.coh.rules, e.al.coh.byRule, e.al.coh.members, e.al.coh.aux = nil, nil, nil, nil
	for i, r := range e.al.rules {
		if r.Cohort == nil {
			continue
		}
		if e.al.coh.byRule == nil {
			e.al.coh.byRule = make(map[uint32]uint32)
		}
		e.al.coh.byRule[uint32(i)] = uint32(len(e.al.coh.rules))
		var cr cohortRule
		if j := from[i]; j >= 0 {
			cr = old.rules[old.byRule[uint32(j)]]
		} else {
			cr = e.newCohortRule(uint32(i), r)
		}
		cr.ri = uint32(i)
		e.al.coh.rules = append(e.al.coh.rules, cr)
	}
}

// rebind gives every series, in index order, what lookup and attachRules
// give a new series under the new rules: the rules it selects, its history
// if they read one, its cohort in each cohort rule, its declared absence
// threshold. What it had for a paired rule it keeps (from[i] is the old
// index of new rule i, old the cohort state before the update).
func (e *Engine) rebind(from []int32, old *cohorts) {
	prevIdx, prevHists := e.al.ruleIdx, e.al.hists
	e.al.ruleIdx = make([]uint32, 0, len(prevIdx))
	e.al.hists = make([]history, 0, len(prevHists))
	clear(e.st.declared)
	for idx := range e.st.series {
		if e.free(uint32(idx)) {
			continue // an evicted series' slot: nothing to bind (evict.go)
		}
		s := &e.st.series[idx]
		name, labels := e.st.keys.get(s.key)
		prevOff, prevSel := s.rulesOff, prevIdx[s.rulesOff:s.rulesOff+uint32(s.rulesN)]
		e.bindRules(s, uint32(idx), name, labels)
		keep, need := int64(0), false
		for _, ri := range e.al.ruleIdx[s.rulesOff : s.rulesOff+uint32(s.rulesN)] {
			r := e.al.rules[ri]
			member := uint32(0)
			if r.Cohort != nil {
				need = true
				member = e.rejoin(e.al.coh.byRule[uint32(ri)], from[ri], prevOff, prevSel, old, labels)
			} else if r.UsesHistory() {
				need = true
				keep = max(keep, int64(r.Window))
			}
			if len(e.al.coh.rules) > 0 {
				e.al.coh.aux = append(e.al.coh.aux, member)
			}
		}
		switch {
		case need && s.hist != 0:
			h := prevHists[s.hist-1]
			h.keep = keep
			e.al.hists = append(e.al.hists, h)
			s.hist = uint32(len(e.al.hists))
		case need:
			e.al.hists = append(e.al.hists, e.newHistory(keep))
			s.hist = uint32(len(e.al.hists))
		case s.hist != 0:
			c := len(prevHists[s.hist-1].pts)
			e.al.histPoints -= c
			e.stats.local.HistoryPoints -= uint64(c) // wraps: the sum published is right
			e.stats.local.HistorySeries--
			s.hist = 0
		}
	}
}

// rejoin returns the member index + 1 of a series in cohort rule c: its
// old membership if the rule is paired with old rule j and the series was
// a member (prevSel, at prevOff, are the rules it selected before the
// update), else a new one.
func (e *Engine) rejoin(c uint32, j int32, prevOff uint32, prevSel []uint32, old *cohorts, labels stream.Labels) uint32 {
	if j >= 0 && len(old.aux) > 0 {
		for p, ri := range prevSel {
			if ri != uint32(j) {
				continue
			}
			if mi := old.aux[prevOff+uint32(p)]; mi != 0 {
				m := old.members[mi-1]
				m.rule = c
				e.al.coh.members = append(e.al.coh.members, m)
				return uint32(len(e.al.coh.members))
			}
		}
	}
	return e.joinCohort(c, labels, false)
}
