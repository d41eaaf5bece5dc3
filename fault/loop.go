package fault

import (
	"math"
	"time"

	"github.com/faultline-go/faultline/internal/episode"
	"github.com/faultline-go/faultline/internal/frame"
	"github.com/faultline-go/faultline/stream"
)

// OriginLabel is the provenance label every event carries, naming the engine
// that emitted it (Config.Instance). A sample that carries it is faultline's
// own output fed back in, as when events are turned into metrics and
// published on the bus the collector consumes (the Kotori incident of
// 2018): such samples are rejected before dedup or any state, counted in
// Stats.Looped, and raise one feedback_loop event, not one per sample.
const OriginLabel = "faultline_origin"

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
	e.disarm() // every advance checks whether the loop went quiet
	e.emitLoop(episode.Firing, g.since)
}

// loopQuiet resolves the feedback loop episode once no looped sample has
// arrived for loopQuietFor (never, if that is past the end of time).
func (e *Engine) loopQuiet(now int64) {
	if g := &e.loop; g.open && atLeast(now, g.last, loopQuietFor) {
		g.open = false
		e.emitLoop(episode.Resolved, g.last+loopQuietFor)
	}
}

func (e *Engine) emitLoop(state episode.State, at int64) {
	g := &e.loop
	tr := episode.Transition{Kind: episode.FeedbackLoop, State: state, Since: g.since, At: at, Value: math.NaN()}
	if state == episode.Resolved {
		tr.Value = float64(g.count) // samples rejected over the episode
	}
	e.emitTransition(tr, e.withOrigin(stream.Labels{
		{Name: "looped_name", Value: g.name},
		{Name: "looped_origin", Value: g.origin},
	}), 0, "", "")
}

func (g *loopGuard) appendTo(w *frame.Writer) {
	w.Bool(g.open)
	w.I64(g.since)
	w.I64(g.last)
	w.U64(g.count)
	w.Str(g.origin)
	w.Str(g.name)
}

func (g *loopGuard) readFrom(r *frame.Reader) {
	g.open, g.since, g.last, g.count, g.origin, g.name = r.Bool(), r.I64(), r.I64(), r.U64(), r.Str(), r.Str()
}
