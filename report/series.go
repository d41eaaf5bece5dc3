package report

import (
	"slices"

	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/stream"
)

// seriesRow is one row of the affected series table: a series some
// per-series event was about.
type seriesRow struct {
	labels      string
	first, last int64 // its first episode's start, its last event
	kinds       []fault.Kind
	rules       []string // of its threshold and flapping episodes, up to maxRules
	state       fault.State
	explainer   *gapEpisode // the fleet gap that explained one of its episodes
	explainerID string
	paged       bool       // an episode fired uninhibited
	gap         *fault.Gap // its own periodic gap, the latest said
	events      int
}

const maxRules = 4

// seriesTable keeps the first max series; the others are counted, up to
// maxMore distinct ones.
type seriesTable struct {
	max, maxMore int
	rows         map[stream.SeriesID]*seriesRow
	order        []*seriesRow
	more         map[stream.SeriesID]struct{}
	moreEvents   uint64
}

func (t *seriesTable) init(n, more int) {
	t.max, t.maxMore = n, more
	t.rows = map[stream.SeriesID]*seriesRow{}
	t.more = map[stream.SeriesID]struct{}{}
}

// event adds a per-series event; explainer is the fleet gap that explains
// it, if drawn.
func (t *seriesTable) event(ev *fault.Event, explainer *gapEpisode) {
	r := t.rows[ev.Series]
	if r == nil {
		if len(t.order) >= t.max {
			t.moreEvents++
			if _, ok := t.more[ev.Series]; !ok && len(t.more) < t.maxMore {
				t.more[ev.Series] = struct{}{}
			}
			return
		}
		r = &seriesRow{labels: seriesName(ev.Labels), first: ev.Since}
		if r.first == 0 { // none (fault.Event); a time before 1970 is one
			r.first = ev.At
		}
		t.rows[ev.Series] = r
		t.order = append(t.order, r)
	}
	r.events++
	r.last = max(r.last, ev.At)
	if ev.Since != 0 {
		r.first = min(r.first, ev.Since)
	}
	r.state = ev.State
	if !slices.Contains(r.kinds, ev.Kind) {
		r.kinds = append(r.kinds, ev.Kind)
	}
	if (ev.Kind == fault.KindThreshold || ev.Kind == fault.KindFlapping) && len(r.rules) < maxRules && !slices.Contains(r.rules, ev.Rule) {
		r.rules = append(r.rules, ev.Rule)
	}
	switch {
	case ev.InhibitedBy != "":
		r.explainerID = ev.InhibitedBy
		if explainer != nil {
			r.explainer = explainer
		}
	case ev.State == fault.StateFiring && r.explainerID != "" && ev.Kind == fault.KindAbsence:
		r.paged = true
	}
	if ev.Gap != nil {
		gp := *ev.Gap
		r.gap = &gp
	}
}
