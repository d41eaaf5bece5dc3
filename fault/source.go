package fault

import (
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/faultline-go/faultline/internal/episode"
	"github.com/faultline-go/faultline/internal/persource"
	"github.com/faultline-go/faultline/stream"
)

// The per-source detectors, duplicate_storm and ingest_lag, are package
// persource; the engine attributes each new series to its source and
// counts each delivery there.

// SourceOverflowLabel is the label that per-source events about the
// overflow source carry, with the value "true", instead of
// Config.SourceLabel: the source of the series that came after
// Config.MaxSources sources were tracked.
const SourceOverflowLabel = "faultline_source_overflow"

// DefaultMaxSources is the MaxSources of a zero Config.
const DefaultMaxSources = persource.DefaultMaxSources

// sourceOf returns the source of a new series: the value of its
// SourceLabel, tracked if it is new and there is room, otherwise the
// overflow source.
func (e *Engine) sourceOf(labels stream.Labels) uint32 {
	var name string
	if e.cfg.SourceLabel != "" {
		name = labels.Get(e.cfg.SourceLabel)
	}
	i, added := e.src.Of(name)
	if added {
		e.stats.local.Sources++
	}
	return i
}

// The source of a delivery is read from its series' state only once the
// delivery's fate is known, next to the other reads of that state, so that
// it costs no cache miss of its own.

// redelivered counts a duplicate or conflicting delivery of series idx.
func (e *Engine) redelivered(idx uint32) {
	src := e.st.series[idx].src
	e.sourceOverflow(src)
	e.src.Redelivered(src)
}

// freshAt counts a fresh sample of sample time ts of a source, which
// arrives now.
func (e *Engine) freshAt(src uint32, ts int64) {
	e.sourceOverflow(src)
	e.src.Fresh(src, e.now-ts)
}

// sourceOverflow counts a sample of the overflow source.
func (e *Engine) sourceOverflow(src uint32) {
	if e.src.Overflow(src) {
		e.stats.local.SourceOverflow++
	}
}

// sourceMinutes judges every minute that ended by now.
func (e *Engine) sourceMinutes(now int64) {
	for _, tr := range e.src.Minutes(now, e.closed, e.horizon) {
		e.emitSource(tr)
	}
	if e.obs.Observer != nil {
		for _, m := range e.src.Stats() {
			name, overflow := e.src.Name(m.Source)
			e.obs.SourceMinute(SourceMinute{Source: name, Overflow: overflow, Start: m.Start,
				Fresh: m.Fresh, Redelivered: m.Redelivered, Lag: time.Duration(m.Lag)})
		}
	}
}

// emitSource emits a transition of a per-source episode. Its labels name
// the source by Config.SourceLabel (left out when empty, as for samples
// without the label), or SourceOverflowLabel for the overflow source; its
// subject is a hash of the source's name.
func (e *Engine) emitSource(tr episode.Transition) {
	var labels stream.Labels
	var subject uint64
	switch name, overflow := e.src.Name(tr.Subject); {
	case overflow:
		labels = stream.Labels{{Name: SourceOverflowLabel, Value: "true"}}
		subject = xxhash.Sum64String("\xff" + SourceOverflowLabel)
	default:
		if name != "" {
			labels = stream.Labels{{Name: e.cfg.SourceLabel, Value: name}}
		}
		subject = xxhash.Sum64String(name)
	}
	if tr.State == episode.Firing {
		if tr.Kind == episode.DuplicateStorm {
			e.stats.local.DuplicateStorms++
		} else {
			e.stats.local.IngestLags++
		}
	}
	e.emitTransition(tr, e.withOrigin(labels), subject, "", "")
}
