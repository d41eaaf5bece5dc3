package fault

import (
	"context"
	"math"
	"slices"
	"time"

	"github.com/faultline-go/faultline/internal/episode"
	"github.com/faultline-go/faultline/internal/frame"
	"github.com/faultline-go/faultline/stream"
)

// The one emitter. Every detector's transition and every rule alert's
// becomes an Event here: emit derives its IDs, adds the close reason, counts
// it, records it in an explanation, and queues it. The queue goes to the
// sink after the state changes that caused it have settled: at the end of
// the call, or, in a call that emits more than flushEvents events, between
// two samples or two ticks of the clock.

// flushEvents is how many events a call queues before it hands them to
// the sink at the next point where the state has settled.
const flushEvents = 4096

// outbox holds the events queued for the sink. While flush hands them
// out, events[:sent] have been given to the sink; a Snapshot the sink takes
// then keeps the rest (appendTo), since the state it holds already
// reports them.
type outbox struct {
	sink   Sink
	events []Event
	sent   int
	err    error // the first error the sink returned in this call
}

// kinds maps the detectors' kinds to the public ones.
var kinds = [...]Kind{
	episode.Absence:           KindAbsence,
	episode.PeriodicGap:       KindPeriodicGap,
	episode.SeriesPeriodicGap: KindSeriesPeriodicGap,
	episode.FeedbackLoop:      KindFeedbackLoop,
	episode.DuplicateStorm:    KindDuplicateStorm,
	episode.IngestLag:         KindIngestLag,
	episode.BadInput:          KindBadInput,

	episode.PeriodicDeliveryLoss: KindPeriodicDeliveryLoss,
}

// emit completes ev and queues it: its IDs, from what identifies its
// episode (kind, rule, subject, since) and the event (state, and for the
// level changes of a rule with levels the level and the sample time t of
// the change); the close reason, if any, as the annotation "reason". It
// returns the event's ID.
func (e *Engine) emit(ev Event, subject uint64, level int, t int64, reason string) string {
	return e.emitID(ev, subject, level, t, false, reason)
}

// emitID is emit, with refired marking the firing event that repeats one
// of the same episode (see eventIDs).
func (e *Engine) emitID(ev Event, subject uint64, level int, t int64, refired bool, reason string) string {
	ev.ID, ev.Episode = eventIDsAt(ev.Kind, ev.Rule, subject, ev.Since, ev.State, refired, level, t)
	if reason != "" {
		ev.Annotations = withReason(ev.Annotations, reason)
	}
	e.stats.local.Events++
	if e.xp.x != nil {
		e.explainEvent(&ev)
	}
	e.out.events = append(e.out.events, ev)
	return ev.ID
}

// emitTransition emits a built-in detector's transition about subject,
// with the given labels, inhibited by the event by (or "").
func (e *Engine) emitTransition(tr episode.Transition, labels stream.Labels, subject uint64, by, reason string) string {
	return e.emit(transitionEvent(tr, labels, by), subject, 0, 0, reason)
}

// flush hands the queued events to the sink, in order.
func (e *Engine) flush(ctx context.Context) {
	o := &e.out
	if o.sink != nil {
		for o.sent < len(o.events) {
			o.sent++
			if err := o.sink.Emit(ctx, o.events[o.sent-1]); err != nil {
				e.stats.local.SinkErrors++
				if o.err == nil {
					o.err = err
				}
			}
		}
	}
	clear(o.events)
	o.events, o.sent = o.events[:0], 0
}

// appendTo appends the events queued and not yet given to the sink:
// none unless the sink takes the snapshot. It appends nothing when there
// are none, so a snapshot taken between two calls is unchanged by it.
func (o *outbox) appendTo(w *frame.Writer) {
	queued := o.events[o.sent:]
	if len(queued) == 0 {
		return
	}
	w.Uv(uint64(len(queued)))
	for i := range queued {
		ev := &queued[i]
		w.Str(ev.ID)
		w.Str(ev.Episode)
		w.Str(string(ev.Kind))
		w.Str(ev.Rule)
		w.U8(uint8(ev.State))
		w.I64(ev.At)
		w.I64(ev.Since)
		w.U64(uint64(ev.Series))
		putLabels(w, ev.Labels)
		putLabels(w, ev.Annotations)
		w.F64(ev.Value)
		w.Str(ev.InhibitedBy)
		w.Bool(ev.Gap != nil)
		if g := ev.Gap; g != nil {
			w.I64(int64(g.Period))
			w.I64(int64(g.PhaseStart))
			w.I64(int64(g.PhaseEnd))
			w.Uv(uint64(g.Series))
			w.F64(g.LateFraction)
		}
	}
}

// readFrom reads what appendTo wrote, if anything is left in r: the
// restored engine gives these events to its sink first, at the end of its
// next call.
func (o *outbox) readFrom(r *frame.Reader) {
	if r.Err() != nil || r.Len() == 0 {
		return
	}
	n := r.Count(4*1 + 1 + 3*8 + 2 + 8 + 1 + 1)
	if n == 0 && r.Err() == nil {
		r.Fail("an empty event queue")
		return
	}
	for range n {
		ev := Event{ID: r.Str(), Episode: r.Str(), Kind: Kind(r.Str()), Rule: r.Str(), State: State(r.U8()),
			At: r.I64(), Since: r.I64(), Series: stream.SeriesID(r.U64())}
		ev.Labels, ev.Annotations = readLabels(r), readLabels(r)
		ev.Value, ev.InhibitedBy = r.F64(), r.Str()
		if r.Bool() {
			ev.Gap = &Gap{Period: time.Duration(r.I64()), PhaseStart: time.Duration(r.I64()), PhaseEnd: time.Duration(r.I64()),
				Series: int(min(r.Uv(), math.MaxInt32)), LateFraction: r.F64()}
		}
		if r.Err() != nil {
			return
		}
		if ev.State < StatePending || ev.State > StateResolved {
			r.Fail("queued event %s in state %d", ev.ID, ev.State)
			return
		}
		o.events = append(o.events, ev)
	}
}

// settled flushes the queue if it is long: called where the state has
// settled within a call.
func (e *Engine) settled(ctx context.Context) {
	if len(e.out.events) >= flushEvents {
		e.flush(ctx)
	}
}

// seriesLabels returns the series' labels with __name__ and OriginLabel,
// sorted.
func (e *Engine) seriesLabels(idx uint32) stream.Labels {
	name, labels := e.st.keys.get(e.st.series[idx].key)
	labels = append(labels, stream.Label{Name: "__name__", Value: name})
	return e.withOrigin(labels)
}

// emitSeries emits a detector's transition about series idx, labelled
// with its labels, __name__ and OriginLabel.
func (e *Engine) emitSeries(idx uint32, tr episode.Transition, by, reason string) string {
	ev := transitionEvent(tr, e.seriesLabels(idx), by)
	ev.Series = e.st.series[idx].id
	return e.emit(ev, uint64(ev.Series), 0, 0, reason)
}

// emitRefire emits the firing transition of series idx's absence again,
// uninhibited, after the fleet gap that explained it resolved.
func (e *Engine) emitRefire(idx uint32, tr episode.Transition) {
	ev := transitionEvent(tr, e.seriesLabels(idx), "")
	ev.Series = e.st.series[idx].id
	e.emitID(ev, uint64(ev.Series), 0, 0, true, "")
}

// transitionEvent is the Event of a detector's transition, without IDs.
func transitionEvent(tr episode.Transition, labels stream.Labels, by string) Event {
	kind := kinds[tr.Kind]
	ev := Event{Kind: kind, Rule: string(kind), State: State(tr.State), At: tr.At, Since: tr.Since, Labels: labels, Value: tr.Value, InhibitedBy: by}
	if g := tr.Gap; g != nil {
		ev.Gap = &Gap{Period: time.Duration(g.Period), PhaseStart: time.Duration(g.PhaseStart), PhaseEnd: time.Duration(g.PhaseEnd), Series: g.Series, LateFraction: g.LateFraction}
	}
	return ev
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

// withReason returns annotations with reason added, as a copy: the rule's
// own annotations may be shared.
func withReason(annotations stream.Labels, reason string) stream.Labels {
	out := make(stream.Labels, 0, len(annotations)+1)
	out = append(out, annotations...)
	out = mergeLabels(out, stream.Labels{{Name: "reason", Value: reason}})
	out.Sort()
	return out
}

// withOrigin returns labels with OriginLabel added and sorted.
func (e *Engine) withOrigin(labels stream.Labels) stream.Labels {
	labels = append(labels, stream.Label{Name: OriginLabel, Value: e.cfg.Instance})
	labels.Sort()
	return labels
}
