package fault

import (
	"slices"
	"strings"

	"github.com/faultline-go/faultline/rules"
	"github.com/faultline-go/faultline/stream"
)

// emitSeries emits an event about one series. Its labels are the series'
// labels with __name__, overridden by the rule's labels when there is a rule.
func (e *Engine) emitSeries(idx uint32, s *series, kind Kind, rule string, state State, at, since int64, value float64, r *rules.Rule) {
	name, labels := e.keys.get(s.key)
	labels = append(labels, stream.Label{Name: "__name__", Value: name})
	var annotations stream.Labels
	if r != nil {
		labels = mergeLabels(labels, r.Labels)
		var err error
		if annotations, err = r.ExpandAnnotations(labels, value); err != nil {
			e.stats.local.EvalErrors++
		}
	}
	slices.SortFunc(labels, func(a, b stream.Label) int { return strings.Compare(a.Name, b.Name) })
	ev := Event{
		Kind:        kind,
		Rule:        rule,
		State:       state,
		At:          at,
		Since:       since,
		Series:      s.id,
		Labels:      labels,
		Annotations: annotations,
		Value:       value,
	}
	ev.ID, ev.Episode = eventIDs(kind, rule, uint64(s.id), since, state)
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
