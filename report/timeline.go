package report

import (
	"math"
	"strings"
	"unicode/utf8"

	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/stream"
)

// row is one row of the timeline: one fleet-wide or per-source episode, or
// a group of per-series episodes of one kind and rule, explained by the
// same fleet gap or by none.
type row struct {
	kind    fault.Kind
	rule    string
	subject string // whom it is about: its labels, without the engine's
	episode string // "" for a group

	since, end          int64 // end 0: open
	pendingAt, firingAt int64
	state               fault.State
	value               float64
	gapInfo             *fault.Gap  // the latest a periodic gap event said
	gap                 *gapEpisode // the fleet gap drawn, if this is one
	summary             string      // the summary or reason annotation
	inhibitedBy         string

	// A group of per-series episodes.
	group       bool
	explainer   *gapEpisode // the fleet gap that explains them, if drawn
	explainerID string      // the ID of the event that explains them
	count       int         // episodes in the group
	open        int         // of those, open
	paged       int         // explained, then fired uninhibited (still silent when the gap resolved)
	members     []*member   // the first MaxListed
}

// member is one per-series episode of a group.
type member struct {
	series   stream.SeriesID
	labels   string // "" when not listed
	since    int64
	firingAt int64
	end      int64 // 0: open
	state    fault.State
	paged    bool
	gap      *fault.Gap // a series periodic gap's
	value    float64
}

// epRef is where a followed episode is drawn: its row, and its member if
// it is a per-series episode.
type epRef struct {
	row *row
	m   *member
}

type groupKey struct {
	kind     fault.Kind
	rule     string
	explains string // InhibitedBy of the group's episodes
}

// maxListedTotal bounds the members listed over all rows, in multiples of
// MaxListed.
const maxListedTotal = 40

// timeline keeps the rows, up to maxRows, and follows the open episodes,
// up to maxEpisodes.
type timeline struct {
	maxRows, maxListed, maxEpisodes int
	rows                            []*row
	groups                          map[groupKey]*row
	eps                             map[string]epRef
	listed                          int    // members listed over all rows, at most maxListedTotal
	noRow                           uint64 // events of episodes given no row: the rows were full
	untracked                       uint64 // events of episodes not followed: too many open
}

func (t *timeline) init(rows, listed, episodes int) {
	t.maxRows, t.maxListed, t.maxEpisodes = rows, listed, episodes
	t.groups = map[groupKey]*row{}
	t.eps = map[string]epRef{}
}

// event adds an event; g is the fleet gap it is about (periodic_gap) and
// explainer the one that explains it, if drawn.
func (t *timeline) event(ev *fault.Event, g, explainer *gapEpisode) {
	ref, ok := t.eps[ev.Episode]
	if !ok {
		if len(t.eps) >= t.maxEpisodes {
			t.untracked++
			return
		}
		if ev.Series != 0 {
			ref = t.join(ev, explainer)
		} else {
			ref = t.single(ev)
		}
		if ref.row == nil {
			t.noRow++
			return
		}
		if ev.State != fault.StateResolved {
			t.eps[ev.Episode] = ref
		}
	} else if ev.Series != 0 && ev.InhibitedBy != "" && ref.row.explainerID == "" {
		// A per-series gap suspected alone, then confirmed by a fleet gap.
		ref = t.move(ev, ref, explainer)
	}
	if ev.State == fault.StateResolved {
		delete(t.eps, ev.Episode)
	}
	if ref.m != nil {
		t.update(ev, ref)
		return
	}
	r := ref.row
	r.state = ev.State
	switch ev.State {
	case fault.StatePending:
		r.pendingAt = ev.At
	case fault.StateFiring:
		if r.firingAt == 0 {
			r.firingAt = ev.At
		}
	case fault.StateResolved:
		r.end = max(ev.At, r.since+1)
	}
	if !math.IsNaN(ev.Value) {
		r.value = ev.Value
	}
	if ev.Gap != nil {
		gp := *ev.Gap
		r.gapInfo = &gp
	}
	if g != nil {
		r.gap = g
	}
	if s := summary(ev); s != "" {
		r.summary = s
	}
}

// single opens the row of a fleet-wide or per-source episode.
func (t *timeline) single(ev *fault.Event) epRef {
	if len(t.rows) >= t.maxRows {
		return epRef{}
	}
	r := &row{kind: ev.Kind, rule: ev.Rule, subject: subject(ev.Labels), episode: ev.Episode,
		since: ev.Since, value: math.NaN(), inhibitedBy: ev.InhibitedBy}
	if r.since == 0 { // none (fault.Event); a time before 1970 is one
		r.since = ev.At
	}
	t.rows = append(t.rows, r)
	return epRef{row: r}
}

// join adds a per-series episode to its group.
func (t *timeline) join(ev *fault.Event, explainer *gapEpisode) epRef {
	k := groupKey{ev.Kind, ev.Rule, ev.InhibitedBy}
	r := t.groups[k]
	if r == nil {
		if len(t.rows) >= t.maxRows {
			return epRef{}
		}
		r = &row{kind: ev.Kind, rule: ev.Rule, group: true, explainer: explainer, explainerID: ev.InhibitedBy, value: math.NaN()}
		t.rows = append(t.rows, r)
		t.groups[k] = r
	}
	m := &member{series: ev.Series, since: ev.Since, value: math.NaN()}
	if m.since == 0 { // none (fault.Event)
		m.since = ev.At
	}
	t.add(r, m)
	if len(r.members) < t.maxListed && t.listed < maxListedTotal*t.maxListed {
		m.labels = seriesName(ev.Labels)
		r.members = append(r.members, m)
		t.listed++
	}
	return epRef{row: r, m: m}
}

// add counts m in r.
func (t *timeline) add(r *row, m *member) {
	r.count++
	if m.end == 0 {
		r.open++
	}
	if r.count == 1 || m.since < r.since { // its first member: since may be 0 or before
		r.since = m.since
	}
	if m.paged {
		r.paged++
	}
}

// move moves a per-series episode to the group of the fleet gap that now
// explains it.
func (t *timeline) move(ev *fault.Event, ref epRef, explainer *gapEpisode) epRef {
	old := ref.row
	old.count--
	if ref.m.end == 0 {
		old.open--
	}
	for i, x := range old.members {
		if x == ref.m {
			old.members = append(old.members[:i], old.members[i+1:]...)
			t.listed--
			break
		}
	}
	n := t.join(ev, explainer)
	if n.row == nil {
		t.add(old, ref.m) // no room for the new group: it stays where it was
		return ref
	}
	n.m.firingAt, n.m.state, n.m.gap, n.m.value = ref.m.firingAt, ref.m.state, ref.m.gap, ref.m.value
	t.eps[ev.Episode] = n
	return n
}

// update applies a per-series event to its member and group.
func (t *timeline) update(ev *fault.Event, ref epRef) {
	m, r := ref.m, ref.row
	m.state = ev.State
	switch ev.State {
	case fault.StateFiring:
		if m.firingAt == 0 {
			m.firingAt = ev.At
		}
		if ev.InhibitedBy == "" && r.explainerID != "" && !m.paged {
			m.paged = true
			r.paged++
		}
	case fault.StateResolved:
		if m.end == 0 {
			r.open--
		}
		m.end = max(ev.At, m.since+1)
		r.end = max(r.end, m.end)
	}
	if !math.IsNaN(ev.Value) {
		m.value = ev.Value
	}
	if ev.Gap != nil {
		gp := *ev.Gap
		m.gap = &gp
	}
}

// maxText bounds, in bytes, what the Builder keeps of a label set, a
// summary or a source's name: a line of line protocol may hold a megabyte.
const maxText = 256

// clip returns s cut to at most maxText bytes, at a character's start,
// with "…" when cut.
func clip(s string) string {
	if len(s) <= maxText {
		return s
	}
	i := maxText - len("…")
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

// subject formats an event's labels without the engine's origin label.
func subject(ls stream.Labels) string {
	var b strings.Builder
	for _, l := range ls {
		if l.Name == fault.OriginLabel {
			continue
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString(l.Name)
		b.WriteString(`="`)
		b.WriteString(l.Value)
		b.WriteByte('"')
	}
	return clip(b.String())
}

// seriesName formats a series' labels as name{labels}, without the
// engine's origin label.
func seriesName(ls stream.Labels) string {
	name := ls.Get("__name__")
	var rest stream.Labels
	for _, l := range ls {
		if l.Name != "__name__" && l.Name != fault.OriginLabel {
			rest = append(rest, l)
		}
	}
	return clip(name + rest.String())
}

// summary is what an event's annotations say in a line: its summary, or
// its close reason.
func summary(ev *fault.Event) string {
	if s := ev.Annotations.Get("summary"); s != "" {
		return clip(s)
	}
	if s := ev.Annotations.Get("reason"); s != "" {
		return clip("closed: " + s)
	}
	if s := ev.Annotations.Get("bad_records"); s != "" {
		line, _, _ := strings.Cut(ev.Annotations.Get("examples"), "\n")
		return clip(s + " bad records so far; first: " + line)
	}
	return ""
}
