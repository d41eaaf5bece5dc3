package sink

import (
	"context"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/metrics"
)

// Measurement is the line-protocol measurement of the LineProtocol sink.
const Measurement = "faultline_event"

// LineProtocol writes events to an io.Writer as Influx line protocol, for
// Telegraf and Influx pipelines: one line per event, measurement
// faultline_event, timestamp the event's At in nanoseconds.
//
// Tags: the event's labels, which include fault.OriginLabel
// (faultline_origin), with __name__ renamed faultline_metric, and
// faultline_kind, faultline_rule and faultline_state. Labels with an empty
// value are left out. Fields: id and episode (strings), value (a float,
// left out when NaN), since (Unix nanoseconds, an integer), inhibited_by
// (when set) and for periodic gaps period_s, phase_start_s, phase_end_s,
// series and late_fraction (when known), as in Event.AppendJSON.
//
// An event that line protocol cannot carry (a label with a control
// character or a trailing backslash) is dropped and counted (reason
// "unencodable"). Writes behave as JSONLines'.
//
// If the lines come back into a faultline input, the origin tag marks
// them as faultline's own output and the loop guard rejects them.
type LineProtocol struct {
	q *queue
}

var (
	_ fault.Sink     = (*LineProtocol)(nil)
	_ metrics.Source = (*LineProtocol)(nil)
)

// NewLineProtocol returns a sink writing to w. Only its goroutine writes to
// w.
func NewLineProtocol(w io.Writer, opts *Options) *LineProtocol {
	o := opts.withDefaults("lineprotocol", 100)
	q := newQueue(o)
	var (
		line []byte
		tags []tag
	)
	q.encode = func(dst []byte, evs []fault.Event, bad func(int, error)) []byte {
		for i := range evs {
			// A fresh encoder per line: after an error, the encoder's
			// state would fault the next line too.
			var enc lineprotocol.Encoder
			enc.SetBuffer(line[:0])
			tags = appendLineProtocol(&enc, &evs[i], tags[:0])
			line = enc.Bytes()
			if err := enc.Err(); err != nil {
				bad(i, err)
				continue
			}
			dst = append(dst, line...)
		}
		return dst
	}
	q.send = writeTo(w)
	q.sendBlocks = true
	return &LineProtocol{q}
}

type tag struct{ k, v string }

// appendLineProtocol encodes ev as one line; tags is scratch space.
func appendLineProtocol(enc *lineprotocol.Encoder, ev *fault.Event, tags []tag) []tag {
	for _, l := range ev.Labels {
		if l.Value == "" {
			continue
		}
		k := l.Name
		if k == "__name__" {
			k = "faultline_metric"
		}
		tags = append(tags, tag{k, l.Value})
	}
	tags = append(tags,
		tag{"faultline_kind", string(ev.Kind)},
		tag{"faultline_rule", ev.Rule},
		tag{"faultline_state", ev.State.String()})
	slices.SortStableFunc(tags, func(a, b tag) int { return strings.Compare(a.k, b.k) })
	enc.StartLine(Measurement)
	for i, t := range tags {
		if t.v == "" || i > 0 && t.k == tags[i-1].k {
			continue // the engine's own tags come last among equals and lose
		}
		enc.AddTag(t.k, t.v)
	}
	str := func(k, v string) {
		if x, ok := lineprotocol.StringValue(v); ok {
			enc.AddField(k, x)
		} else {
			enc.AddField(k, lineprotocol.MustNewValue(strings.ToValidUTF8(v, "\uFFFD")))
		}
	}
	float := func(k string, v float64) {
		if x, ok := lineprotocol.FloatValue(v); ok {
			enc.AddField(k, x)
		}
	}
	str("id", ev.ID)
	str("episode", ev.Episode)
	if !math.IsNaN(ev.Value) {
		float("value", ev.Value)
	}
	if ev.Since != 0 {
		enc.AddField("since", lineprotocol.IntValue(ev.Since))
	}
	if ev.InhibitedBy != "" {
		str("inhibited_by", ev.InhibitedBy)
	}
	if g := ev.Gap; g != nil {
		float("period_s", g.Period.Seconds())
		float("phase_start_s", g.PhaseStart.Seconds())
		float("phase_end_s", g.PhaseEnd.Seconds())
		enc.AddField("series", lineprotocol.IntValue(int64(g.Series)))
		if !math.IsNaN(g.LateFraction) {
			float("late_fraction", g.LateFraction)
		}
	}
	enc.EndLine(time.Unix(0, ev.At))
	return tags
}

// Emit queues ev. It never blocks; see the package doc for when it
// returns ErrQueueFull or ErrClosed. ctx is not used.
func (s *LineProtocol) Emit(_ context.Context, ev fault.Event) error { return s.q.emit(ev) }

// Start starts delivery.
func (s *LineProtocol) Start() error { return s.q.start() }

// Close delivers what is queued until ctx ends, then stops; see the package
// doc.
func (s *LineProtocol) Close(ctx context.Context) error { return s.q.close(ctx) }

// Stats returns the sink's counters.
func (s *LineProtocol) Stats() Stats { return s.q.stats() }

// AppendMetrics appends the sink's self-metrics.
func (s *LineProtocol) AppendMetrics(dst []metrics.Metric) []metrics.Metric {
	return s.q.appendMetrics(dst)
}
