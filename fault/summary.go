package fault

import (
	"cmp"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/faultline-go/faultline/stream"
)

// Summary describes the event in one line for people: its rule's summary
// annotation if it has one, or else a line saying what happened to what,
// such as `up{job="api"} stopped reporting` or `fleet periodic gap: every
// 1m0s, 14.20–15.80 s into each period, ~380 series`. Sinks use it as an
// alert's summary or a log record's body.
func (e *Event) Summary() string {
	if s := e.Annotations.Get("summary"); s != "" {
		return s
	}
	subject := Subject(e.Labels)
	g := e.Gap
	switch {
	case e.Kind == KindAbsence:
		return subject + " stopped reporting"
	case e.Kind == KindPeriodicGap && g != nil:
		return fmt.Sprintf("fleet periodic gap: every %v, %.2f–%.2f s into each period, ~%d series",
			g.Period, g.PhaseStart.Seconds(), g.PhaseEnd.Seconds(), g.Series)
	case e.Kind == KindPeriodicDeliveryLoss && g != nil:
		return fmt.Sprintf("fleet periodic delivery loss: redundant copies lost every %v, %.2f–%.2f s into each period; every sample still arrives",
			g.Period, g.PhaseStart.Seconds(), g.PhaseEnd.Seconds())
	case e.Kind == KindSeriesPeriodicGap && g != nil:
		return fmt.Sprintf("%s loses samples every %v, %.2f–%.2f s into each period",
			subject, g.Period, g.PhaseStart.Seconds(), g.PhaseEnd.Seconds())
	case e.Kind == KindFeedbackLoop:
		return fmt.Sprintf("faultline's own output comes back as input (origin %q, e.g. %s)",
			e.Labels.Get("looped_origin"), e.Labels.Get("looped_name"))
	}
	s := cmp.Or(e.Rule, string(e.Kind))
	if s != string(e.Kind) && e.Kind != KindThreshold && e.Kind != KindCohort {
		s = string(e.Kind) + " " + s
	}
	if subject != "{}" {
		s += " on " + subject
	}
	if !math.IsNaN(e.Value) && !math.IsInf(e.Value, 0) {
		s += " (value " + strconv.FormatFloat(e.Value, 'g', 6, 64) + ")"
	}
	return s
}

// Subject formats labels as people read a series, name{a="1", b="2"},
// leaving out the origin label that every event carries.
func Subject(ls stream.Labels) string {
	var b strings.Builder
	b.WriteString(ls.Get("__name__"))
	b.WriteByte('{')
	n := 0
	for _, l := range ls {
		if l.Name == "__name__" || l.Name == OriginLabel {
			continue
		}
		if n > 0 {
			b.WriteString(", ")
		}
		n++
		b.WriteString(l.Name)
		b.WriteString(`="`)
		b.WriteString(l.Value)
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}
