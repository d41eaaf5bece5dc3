package fault

import (
	"math"
	"time"

	"github.com/faultline-go/faultline/stream"
)

// OriginLabel is the provenance label every event carries, naming the engine
// that emitted it (Config.Instance). A sample that carries it is faultline's
// own output fed back in, as when events are turned into metrics and
// published on the bus the collector consumes (the Kotori incident of
// 2018): such samples are rejected before dedup or any state, counted in
// Stats.Looped, and raise one feedback_loop event, not one per sample.
const OriginLabel = "faultline_origin"

const ruleFeedbackLoop = "feedback_loop"

// loopQuietFor is how long no looped sample may arrive before the
// feedback_loop episode resolves: an hour, since events, and so their echo,
// can be far apart. The end of input does not resolve it.
const loopQuietFor = int64(time.Hour)

// loopGuard is the state of the feedback loop episode.
type loopGuard struct {
	open   bool
	since  int64 // arrival of the first looped sample
	last   int64 // arrival of the latest
	count  uint64
	origin string // OriginLabel of the first looped sample
	name   string // its name, as an example
}

// looped rejects a sample carrying OriginLabel and opens the feedback loop
// episode if none is open.
func (e *Engine) looped(smp *stream.Sample, origin string) {
	e.stats.local.Looped++
	g := &e.loop
	g.count++
	g.last = max(g.last, smp.Arrival, e.now)
	if g.open {
		return
	}
	*g = loopGuard{open: true, since: g.last, last: g.last, count: 1, origin: origin, name: smp.Name}
	e.emitLoop(StateFiring, g.since)
}

// loopQuiet resolves the feedback loop episode once no looped sample has
// arrived for loopQuietFor.
func (e *Engine) loopQuiet(now int64) {
	if g := &e.loop; g.open && now >= g.last+loopQuietFor {
		g.open = false
		e.emitLoop(StateResolved, g.last+loopQuietFor)
	}
}

func (e *Engine) emitLoop(state State, at int64) {
	g := &e.loop
	ev := Event{
		Kind:  KindFeedbackLoop,
		Rule:  ruleFeedbackLoop,
		State: state,
		At:    at,
		Since: g.since,
		Labels: e.withOrigin(stream.Labels{
			{Name: "looped_name", Value: g.name},
			{Name: "looped_origin", Value: g.origin},
		}),
		Value: math.NaN(),
	}
	if state == StateResolved {
		ev.Value = float64(g.count) // samples rejected over the episode
	}
	ev.ID, ev.Episode = eventIDs(ev.Kind, ev.Rule, 0, g.since, state, false)
	e.emit(&ev)
}

// withOrigin returns labels with OriginLabel added and sorted.
func (e *Engine) withOrigin(labels stream.Labels) stream.Labels {
	labels = append(labels, stream.Label{Name: OriginLabel, Value: e.cfg.Instance})
	labels.Sort()
	return labels
}
