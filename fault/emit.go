package fault

import (
	"math"
	"slices"
	"time"

	"github.com/faultline-go/faultline/rules"
	"github.com/faultline-go/faultline/stream"
)

// Rule names of the built-in detectors.
const (
	ruleAbsence           = "absence"
	rulePeriodicGap       = "periodic_gap"
	ruleSeriesPeriodicGap = "series_periodic_gap"
)

// seriesLabels returns the series' labels with __name__ and OriginLabel,
// sorted.
func (e *Engine) seriesLabels(idx uint32) stream.Labels {
	name, labels := e.keys.get(e.series[idx].key)
	labels = append(labels, stream.Label{Name: "__name__", Value: name})
	return e.withOrigin(labels)
}

// emitSeries emits an event about one series. Its labels are the series'
// labels with __name__, overridden by the rule's labels when there is a rule.
// inhibitedBy is the ID of the event that explains this one, or "".
func (e *Engine) emitSeries(idx uint32, kind Kind, rule string, state State, at, since int64, value float64, r *rules.Rule, inhibitedBy string) string {
	labels := e.seriesLabels(idx)
	var annotations stream.Labels
	if r != nil {
		labels = mergeLabels(labels, r.Labels)
		labels.Sort()
		var err error
		if annotations, err = r.ExpandAnnotations(labels, value); err != nil {
			e.stats.local.EvalErrors++
		}
	}
	ev := Event{
		Kind:        kind,
		Rule:        rule,
		State:       state,
		At:          at,
		Since:       since,
		Series:      e.series[idx].id,
		Labels:      labels,
		Annotations: annotations,
		Value:       value,
		InhibitedBy: inhibitedBy,
	}
	ev.ID, ev.Episode = eventIDs(kind, rule, uint64(ev.Series), since, state, inhibitedBy != "")
	e.emit(&ev)
	return ev.ID
}

// emitSeriesGap emits an event about a series' periodic gap and returns its
// ID.
func (e *Engine) emitSeriesGap(idx uint32, g *seriesGap, state State, at int64) string {
	labels := e.seriesLabels(idx)
	ev := Event{
		Kind:        KindSeriesPeriodicGap,
		Rule:        ruleSeriesPeriodicGap,
		State:       state,
		At:          at,
		Since:       g.since,
		Series:      e.series[idx].id,
		Labels:      labels,
		Value:       math.NaN(),
		InhibitedBy: g.linkedTo,
		Gap: &Gap{
			Period:       time.Duration(g.period),
			PhaseStart:   time.Duration(floorMod(g.phase-e.tau, g.period)),
			PhaseEnd:     time.Duration(floorMod(g.phase-e.tau, g.period) + 2*e.tau),
			Series:       1,
			LateFraction: math.NaN(),
		},
	}
	ev.ID, ev.Episode = eventIDs(ev.Kind, ev.Rule, uint64(ev.Series), g.since, state, g.linkedTo != "")
	e.emit(&ev)
	return ev.ID
}

// emitFleet emits an event about a fleet periodic gap episode.
func (e *Engine) emitFleet(ep *gapEpisode, state State, at int64) {
	ev := Event{
		Kind:   KindPeriodicGap,
		Rule:   rulePeriodicGap,
		State:  state,
		At:     at,
		Since:  ep.since,
		Labels: e.withOrigin(nil),
		Value:  math.NaN(),
	}
	if ep.period > 0 {
		ev.Gap = &Gap{
			Period:       time.Duration(ep.period),
			PhaseStart:   time.Duration(floorMod(ep.phaseStart, ep.period)),
			PhaseEnd:     time.Duration(floorMod(ep.phaseStart, ep.period) + ep.phaseEnd - ep.phaseStart),
			Series:       max(ep.seriesEst, ep.distinct),
			LateFraction: ep.lateFraction(),
		}
	}
	ev.ID, ev.Episode = eventIDs(ev.Kind, ev.Rule, 0, ep.since, state, false)
	if state == StateFiring {
		ep.firingID = ev.ID
		e.stats.local.FleetGaps++
	}
	e.emit(&ev)
}

// mergeLabels returns base with over's labels added, over winning on equal
// names. base is modified.
func mergeLabels(base, over stream.Labels) stream.Labels {
	for _, o := range over {
		i := slices.IndexFunc(base, func(l stream.Label) bool { return l.Name == o.Name })
		if i >= 0 {
			base[i].Value = o.Value
		} else {
			base = append(base, o)
		}
	}
	return base
}

// emit hands an event to the sink and counts it.
func (e *Engine) emit(ev *Event) {
	e.stats.local.Events++
	if e.closeReason != "" {
		ev.Annotations = withReason(ev.Annotations, e.closeReason)
	}
	if e.xp.x != nil {
		e.explainEvent(ev)
	}
	if e.sink == nil {
		return
	}
	if err := e.sink.Emit(e.ctx, *ev); err != nil {
		e.stats.local.SinkErrors++
		if e.sinkErr == nil {
			e.sinkErr = err
		}
	}
}
