package fault

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"strconv"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/faultline-go/faultline/internal/align"
	"github.com/faultline-go/faultline/stream"
)

// Kind says which detector raised an event.
type Kind string

// The kinds of event the engine raises.
const (
	KindThreshold            Kind = "threshold"              // a rule's expression held (for its `for` duration)
	KindAbsence              Kind = "absence"                // a series stopped reporting
	KindPeriodicGap          Kind = "periodic_gap"           // the fleet loses samples at the same phase every period
	KindSeriesPeriodicGap    Kind = "series_periodic_gap"    // one series loses the same slot every period
	KindFeedbackLoop         Kind = "feedback_loop"          // faultline's own events are coming back as input
	KindDuplicateStorm       Kind = "duplicate_storm"        // a source redelivers the same keys at many times its normal rate
	KindIngestLag            Kind = "ingest_lag"             // a source's samples arrive later and later: a backlog builds up
	KindBadInput             Kind = "bad_input"              // an input sends records that cannot be decoded (see Engine.BadInput)
	KindFlapping             Kind = "flapping"               // a rule's alert on a series changes state too often: its transitions are held back
	KindCohort               Kind = "cohort"                 // a cohort rule's expression held for a cohort of series
	KindCollectorDown        Kind = "collector_down"         // the host running the engines was down: the span it saw nothing was not judged (package pipeline)
	KindPeriodicDeliveryLoss Kind = "periodic_delivery_loss" // the fleet loses redundant copies in the same window every period while every sample still arrives: deliveries, not data
)

// Kinds returns every kind of event the engine raises, in the order of
// their declaration.
func Kinds() []Kind {
	return []Kind{KindThreshold, KindAbsence, KindPeriodicGap, KindSeriesPeriodicGap, KindFeedbackLoop,
		KindDuplicateStorm, KindIngestLag, KindBadInput, KindFlapping, KindCohort, KindCollectorDown,
		KindPeriodicDeliveryLoss}
}

// State is the state an event reports.
type State uint8

// The states of an episode. An episode goes pending → firing → resolved, or
// straight to firing when it has no `for` duration. A pending episode whose
// condition stops holding before `for` elapses is resolved without firing.
// A threshold episode of a rule with severity levels fires once more each
// time it changes level (label severity). A flapping episode is firing
// while the alert flaps.
const (
	StatePending State = iota + 1
	StateFiring
	StateResolved
)

// String returns "pending", "firing" or "resolved".
func (s State) String() string {
	switch s {
	case StatePending:
		return "pending"
	case StateFiring:
		return "firing"
	case StateResolved:
		return "resolved"
	}
	return "state(" + strconv.Itoa(int(s)) + ")"
}

// Event is one state transition of one episode.
//
// Events are values: the engine does not keep or reuse them after Emit
// returns, except that Labels and Annotations may be shared read-only between
// the events of one episode.
type Event struct {
	// ID identifies this event: a hash of kind, rule, subject, episode start
	// and state. Replaying the same input yields the same IDs.
	ID string
	// Episode identifies the episode the event belongs to: the same hash
	// without the state, shared by its pending, firing and resolved events.
	Episode string
	Kind    Kind
	// Rule is the alert name of a threshold rule, or the detector's name.
	Rule  string
	State State
	// At is the engine time of the transition, in Unix nanoseconds. For
	// judgments made by deadline (absence, gaps, the per-source detectors'
	// minutes) it is the deadline itself, not the moment the engine
	// happened to notice it, so batching does not change it.
	At int64
	// Since dates the episode, in Unix nanoseconds, from the data wherever
	// the data can say, so that replicas and replays whose arrivals differ
	// agree on it and on the IDs derived from it: the sample time at which a
	// threshold condition began to hold, the sample time of the series'
	// last sample before it fell silent (absence), the start of the period
	// (from the Unix epoch) in which the series first lost its slot
	// (series_periodic_gap), or the start of the first minute of a
	// per-source episode (duplicate_storm, ingest_lag).
	Since int64
	// Series is the subject series, or 0 for a fleet or per-source event.
	Series stream.SeriesID
	// Labels are the series' labels with __name__, then the rule's labels
	// expanded (rule labels win), then for a rule with severity levels
	// "severity" naming the level, and OriginLabel naming the engine, sorted
	// by name.
	// Fleet events carry the rule labels and OriginLabel; per-source events
	// carry Config.SourceLabel naming the source (or SourceOverflowLabel)
	// and OriginLabel.
	Labels stream.Labels
	// Annotations are the rule's annotations, expanded for this series.
	Annotations stream.Labels
	// Value is the sample value that caused the transition (threshold and
	// flapping events; NaN when the series going absent caused it), the redelivery ratio of the deciding minute
	// (duplicate_storm) or its median lag in seconds (ingest_lag); NaN
	// when there is none.
	Value float64
	// InhibitedBy is the ID of the event that explains this one, if any. An
	// inhibited event is still emitted, so that state stays consistent
	// downstream, but it should not page anyone.
	InhibitedBy string
	// Gap describes a periodic gap (kinds periodic_gap and
	// series_periodic_gap) or a periodic delivery loss
	// (periodic_delivery_loss: LateFraction is NaN, no sample was lost);
	// nil otherwise.
	Gap *Gap
}

// Gap describes a periodic gap.
type Gap struct {
	Period     time.Duration // the fundamental period
	PhaseStart time.Duration // start of the lossy window, into the period (phase = arrival time modulo Period from the Unix epoch)
	PhaseEnd   time.Duration // end of the lossy window, into the period; past Period when the window wraps
	Series     int           // how many series are affected
	// LateFraction is the fraction of the lost samples that arrived later,
	// within the lateness allowance: 1 means a delivery gap, 0 data loss.
	// NaN when not known yet.
	LateFraction float64
}

// Sink receives events. Emit is called synchronously from the engine method
// that caused the transition (Process, Advance or Close), in the order the
// transitions happened; it must be fast and must not call back into the
// engine. An error is counted and returned by that method; the engine does
// not retry, so sinks that need durability buffer internally.
type Sink interface {
	Emit(ctx context.Context, ev Event) error
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(ctx context.Context, ev Event) error

// Emit calls f(ctx, ev).
func (f SinkFunc) Emit(ctx context.Context, ev Event) error { return f(ctx, ev) }

var _ Sink = SinkFunc(nil)

// EventIDs returns the ID and the episode ID of an event: a hash of its
// kind, its rule, its subject (a series' identity, a hash of a source's or
// a cohort's name; 0 for the fleet), the start of its episode and its
// state. These are what the engine derives its events' IDs from, so a
// replay of the same input gives the same IDs; hosts that emit events of
// their own derive theirs the same way.
func EventIDs(kind Kind, rule string, subject uint64, since int64, state State) (id, episode string) {
	return eventIDs(kind, rule, subject, since, state, false)
}

// eventIDs derives the episode and event IDs from what identifies them.
// The firing event of an absence that a fleet gap explained, fired again
// uninhibited when the gap resolves, is marked refired: it follows a firing
// event of the same episode. Whether the first firing event was inhibited
// does not change its ID: one replica may confirm the fleet gap an
// occurrence later than another and fire the same absence uninhibited.
func eventIDs(kind Kind, rule string, subject uint64, since int64, state State, refired bool) (id, episode string) {
	return eventIDsAt(kind, rule, subject, since, state, refired, 0, 0)
}

// eventIDsAt is eventIDs for the firing events of a rule with severity
// levels: one episode may fire at several levels, and at one level more
// than once (warning, critical, warning again), so the level (from 1) and
// the sample time t of the change are part of the event ID. Level 0 gives
// eventIDs' IDs.
func eventIDsAt(kind Kind, rule string, subject uint64, since int64, state State, refired bool, level int, t int64) (id, episode string) {
	if kind == KindPeriodicGap || kind == KindPeriodicDeliveryLoss {
		since = align.NearestMinute(since)
	}
	var d xxhash.Digest
	d.Reset()
	_, _ = d.WriteString(string(kind))
	_, _ = d.WriteString("\xff")
	_, _ = d.WriteString(rule)
	_, _ = d.WriteString("\xff")
	var b [16]byte
	putUint64(b[:], subject)
	putUint64(b[8:], uint64(since))
	_, _ = d.Write(b[:])
	ep := d.Sum64()
	return stateID(ep, state, refired, level, t), hex64(ep)
}

// stateID derives an event's ID from its episode's: the episode, the state
// (with refired in its top bit) and, for a level change, the level and the
// sample time of the change.
func stateID(ep uint64, state State, refired bool, level int, t int64) string {
	var b [18]byte
	putUint64(b[:], ep)
	b[8] = byte(state)
	if refired {
		b[8] |= 0x80
	}
	n := 9
	if level > 0 {
		b[9] = byte(level)
		putUint64(b[10:], uint64(t))
		n = 18
	}
	return hex64(xxhash.Sum64(b[:n]))
}

// StateID returns the ID of the event in state of the episode whose ID is
// episode (neither a re-fired absence nor a level change): the ID the
// engine gives it. A host that merges several engines' events into one
// episode (package pipeline's Merger) gives the merged events these IDs,
// so they do not depend on which engine moved the episode.
func StateID(episode string, state State) string {
	var ep uint64
	if b, err := hex.DecodeString(episode); err == nil && len(b) == 8 {
		ep = binary.BigEndian.Uint64(b)
	} else {
		ep = xxhash.Sum64String(episode)
	}
	return stateID(ep, state, false, 0, 0)
}

func putUint64(b []byte, v uint64) {
	for i := 0; i < 8; i++ {
		b[i] = byte(v >> (56 - 8*i))
	}
}

func hex64(v uint64) string {
	var b [8]byte
	putUint64(b[:], v)
	return hex.EncodeToString(b[:])
}

// timeLayout is RFC 3339 with exactly nine fractional digits, so that event
// times sort as strings and never change width.
const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// FormatTime formats Unix nanoseconds as RFC 3339 in UTC with nine
// fractional digits, the form events use.
func FormatTime(ns int64) string { return time.Unix(0, ns).UTC().Format(timeLayout) }

// AppendJSON appends the event as one JSON object, the replay command's
// output format: id, episode, kind, rule, state, at, since, labels,
// annotations, value, inhibited_by, then for gaps period_s, phase_start_s,
// phase_end_s, series and late_fraction. Empty optional fields are left out.
// Keys appear in this fixed order, so equal events encode to equal bytes.
func (e *Event) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"id":`...)
	dst = appendString(dst, e.ID)
	dst = append(dst, `,"episode":`...)
	dst = appendString(dst, e.Episode)
	dst = append(dst, `,"kind":`...)
	dst = appendString(dst, string(e.Kind))
	dst = append(dst, `,"rule":`...)
	dst = appendString(dst, e.Rule)
	dst = append(dst, `,"state":`...)
	dst = appendString(dst, e.State.String())
	dst = append(dst, `,"at":`...)
	dst = appendString(dst, FormatTime(e.At))
	if e.Since != 0 {
		dst = append(dst, `,"since":`...)
		dst = appendString(dst, FormatTime(e.Since))
	}
	dst = append(dst, `,"labels":`...)
	dst = appendLabels(dst, e.Labels)
	if len(e.Annotations) > 0 {
		dst = append(dst, `,"annotations":`...)
		dst = appendLabels(dst, e.Annotations)
	}
	if !math.IsNaN(e.Value) && !math.IsInf(e.Value, 0) {
		dst = append(dst, `,"value":`...)
		dst = strconv.AppendFloat(dst, e.Value, 'g', -1, 64)
	}
	if e.InhibitedBy != "" {
		dst = append(dst, `,"inhibited_by":`...)
		dst = appendString(dst, e.InhibitedBy)
	}
	if g := e.Gap; g != nil {
		dst = append(dst, `,"period_s":`...)
		dst = strconv.AppendFloat(dst, g.Period.Seconds(), 'f', -1, 64)
		dst = append(dst, `,"phase_start_s":`...)
		dst = strconv.AppendFloat(dst, g.PhaseStart.Seconds(), 'f', -1, 64)
		dst = append(dst, `,"phase_end_s":`...)
		dst = strconv.AppendFloat(dst, g.PhaseEnd.Seconds(), 'f', -1, 64)
		dst = append(dst, `,"series":`...)
		dst = strconv.AppendInt(dst, int64(g.Series), 10)
		if !math.IsNaN(g.LateFraction) {
			dst = append(dst, `,"late_fraction":`...)
			dst = strconv.AppendFloat(dst, g.LateFraction, 'f', 4, 64)
		}
	}
	return append(dst, '}')
}

// MarshalJSON encodes the event as AppendJSON does.
func (e Event) MarshalJSON() ([]byte, error) { return e.AppendJSON(nil), nil }

func appendLabels(dst []byte, ls stream.Labels) []byte {
	dst = append(dst, '{')
	for i, l := range ls {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, l.Name)
		dst = append(dst, ':')
		dst = appendString(dst, l.Value)
	}
	return append(dst, '}')
}

func appendString(dst []byte, s string) []byte {
	b, _ := json.Marshal(s) // never fails for a string; escapes as encoding/json does
	return append(dst, b...)
}
