package report

import (
	"cmp"
	"fmt"
	"html/template"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/faultline-go/faultline/fault"
)

// page is what the template draws: everything copied out of the Builder
// under its lock, so that drawing does not hold it.
type page struct {
	Title    string
	Live     bool
	Refresh  int // ms between the live page's polls
	Version  uint64
	Span     string
	Headline string
	NoGap    string // said when no fleet gap fired
	Gaps     []gapView
	Timeline timelineView
	Delivery deliveryView
	Series   seriesView
	Notes    []string // what the bounds cut
	Events   string   // events by kind
}

type gapView struct {
	Anchor   string
	N        int
	Open     bool
	Episode  string
	FiringID string
	Period   string
	PeriodS  string // for data attributes, in seconds
	StartS   string
	EndS     string
	Window   string
	Series   int
	Verdict  string
	InWindow string
	Outside  string
	Since    string
	Fired    string
	End      string
	Duration string
	Hist     histView
	Heat     heatView
	HeatCut  string
}

type histView struct {
	H, PlotH   float64
	Path       string
	Windows    []rectView
	XTicks     []tick
	YTicks     []tick
	PeakPhaseS string
	Points     int
	PointS     string
}

type rectView struct{ X, W float64 }

type heatView struct {
	H, PlotH     float64
	Image        template.URL
	Cols, Rows   int
	ColS, RowS   string // seconds a column, a row spans
	From, To     string // ns, the span drawn
	WindowY      []float64
	EpisodeX     []markView
	XTicks       []tick
	YTicks       []tick
	LegendMissed []string
	LegendSilent []string
	LegendNone   string
	cells        []uint8 // encoded into Image once the Builder's lock is released
}

type markView struct {
	X     float64
	Label string
	Kind  string
}

type timelineView struct {
	From, To string
	Rows     []rowView
	More     string
}

type rowView struct {
	ID       string
	Kind     string
	Class    string // css class of the kind badge
	What     string
	Detail   string
	Link     string // #gap-n
	LinkText string
	When     string
	Open     bool
	Bar      barView
	Group    bool
	Members  []memberView
	Unlisted int
}

type barView struct {
	Left, Width float64 // percent of the timeline's span
	Pending     float64 // percent where it fired, from Left; −1: none
}

type memberView struct {
	What  string
	When  string
	Open  bool
	Paged bool
	Bar   barView
}

type deliveryView struct {
	Minutes   int
	PerPoint  string
	Counts    lineChart
	Slots     lineChart
	Lag       lineChart
	NoSources bool
}

type lineChart struct {
	H, PlotH float64
	Lines    []lineView
	XTicks   []tick
	YTicks   []tick
	Bands    []rectView // fleet gaps
}

type lineView struct {
	Name   string
	Class  string
	Colour string
	Path   string
	Dashed bool
}

type seriesView struct {
	Rows []seriesRowView
	More string
}

type seriesRowView struct {
	Series    string
	What      string
	First     string
	Last      string
	State     string
	Explained string
	Link      string
}

// kindClass is the css class of each kind's badge.
func kindClass(k fault.Kind) string { return "k-" + strings.ReplaceAll(string(k), "_", "-") }

// kindLabel is how each kind is named on the page.
var kindLabel = map[fault.Kind]string{
	fault.KindThreshold:            "threshold",
	fault.KindAbsence:              "absence",
	fault.KindPeriodicGap:          "fleet gap",
	fault.KindSeriesPeriodicGap:    "series gap",
	fault.KindFeedbackLoop:         "feedback loop",
	fault.KindDuplicateStorm:       "duplicate storm",
	fault.KindIngestLag:            "ingest lag",
	fault.KindBadInput:             "bad input",
	fault.KindFlapping:             "flapping",
	fault.KindCohort:               "cohort",
	fault.KindCollectorDown:        "collector down",
	fault.KindPeriodicDeliveryLoss: "delivery loss",
}

func label(k fault.Kind) string {
	if s, ok := kindLabel[k]; ok {
		return s
	}
	return string(k)
}

// Headline returns the page's first line: the fleet periodic gaps found,
// or that there is none.
func (b *Builder) Headline() string { return b.view(false).Headline }

// view copies what is to be drawn; live orders the timeline open first.
func (b *Builder) view(live bool) *page {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := &page{Title: b.opts.Title, Live: live, Version: b.version}
	from, to := b.first, b.last
	b.at = false
	if !b.spanned {
		p.Span = "nothing seen yet"
		p.NoGap = "No data yet."
	} else {
		t0, t1 := time.Unix(0, from).UTC(), time.Unix(0, to).UTC()
		end := clock(to)
		if t1.YearDay() != t0.YearDay() || t1.Year() != t0.Year() {
			end = t1.Format("2006-01-02 ") + end
			b.at = true
		}
		p.Span = fmt.Sprintf("%s %s – %s UTC (%s of engine time)", t0.Format("2006-01-02"), clock(from), end, dur(to-from))
	}

	figs := make([]*figure, len(b.gaps.list))
	for i, g := range b.gaps.list {
		figs[i] = b.gaps.figure(&b.bins, g, b.last)
	}
	for i, g := range b.gaps.list {
		p.Gaps = append(p.Gaps, b.gapView(g, figs[i]))
	}
	switch n := b.gaps.fired; {
	case !b.spanned:
	case n == 0:
		p.Headline = "No fleet periodic gap."
		p.NoGap = "No fleet periodic gap was found: the misses show no phase that repeats every period, so no window is drawn."
	case n == 1:
		g := p.Gaps[0]
		p.Headline = fmt.Sprintf("One fleet periodic gap: every %s, %s into each period, ~%d series; %s.", g.Period, g.Window, g.Series, g.Verdict)
	default:
		p.Headline = fmt.Sprintf("%d fleet periodic gaps.", n)
	}
	p.Timeline = b.timelineView(live, from, to)
	p.Delivery = b.deliveryView()
	p.Series = b.seriesView()
	p.Notes = b.notes()
	p.Events = b.eventCounts()
	return p
}

func (b *Builder) gapView(g *gapEpisode, f *figure) gapView {
	gp := g.gap
	v := gapView{
		Anchor:   "gap-" + strconv.Itoa(g.n),
		N:        g.n,
		Open:     g.end == 0,
		Episode:  g.episode,
		FiringID: g.firingID,
		Period:   time.Duration(gp.Period).String(),
		PeriodS:  fnum(gp.Period.Seconds()),
		StartS:   fnum(gp.PhaseStart.Seconds()),
		EndS:     fnum(gp.PhaseEnd.Seconds()),
		Window:   secs(int64(gp.PhaseStart)) + "–" + secs(int64(gp.PhaseEnd)) + " s",
		Series:   gp.Series,
		Verdict:  verdict(gp.LateFraction),
		InWindow: percent(f.inWindow.rate()),
		Outside:  percent(f.outside.rate()),
		Since:    b.at.clockMs(g.since),
		Fired:    b.at.clockMs(g.firedAt),
	}
	end := g.end
	if g.end != 0 {
		v.End = b.at.clockMs(g.end)
	} else {
		end = b.last
	}
	v.Duration = dur(end - g.since)
	if f.cut {
		v.HeatCut = fmt.Sprintf("Bins before %s were no longer held (Options.History): the figures start there.", b.at.clock(f.from))
	}
	v.Hist = histChart(f, gp)
	v.Heat = heatChart(f, g, b.at)
	return v
}

// fnum formats seconds for a data attribute: as short as exact.
func fnum(s float64) string { return strconv.FormatFloat(s, 'f', -1, 64) }

// verdict says in words what a gap's late fraction means.
func verdict(late float64) string {
	switch {
	case math.IsNaN(late):
		return "whether the lost samples arrive later is not known yet"
	case late >= 0.9:
		return fmt.Sprintf("%s of the missed samples arrived later: a delivery gap", percent(late))
	case late <= 0.1:
		return "the missed samples never arrived: data loss"
	}
	return fmt.Sprintf("%s of the missed samples arrived later: part delivery gap, part data loss", percent(late))
}

// histChart draws the miss rate by phase over the episode, the window
// marked.
func histChart(f *figure, gp fault.Gap) histView {
	const plotH = 150
	h := histView{H: plotY + plotH + 34, PlotH: plotH, Points: len(f.points), PointS: secs(f.pointW)}
	p := float64(f.period)
	xOf := func(phase float64) float64 { return plotX + plotW*phase/p }
	top, peak := 0.0, -1
	for i, c := range f.points {
		if r := c.rate(); r > top {
			top, peak = r, i
		}
	}
	ymax := niceMax(top)
	y0 := float64(plotY + plotH)
	var d path
	for i, c := range f.points {
		r := c.rate()
		if r < 0 {
			d.lift()
			continue
		}
		x0 := xOf(float64(int64(i) * f.pointW))
		x1 := xOf(math.Min(float64(int64(i+1)*f.pointW), p))
		d.step(x0, x1, y0-plotH*r/ymax)
	}
	h.Path = d.String()
	if peak >= 0 {
		h.PeakPhaseS = fnum((float64(int64(peak)*f.pointW) + float64(f.pointW)/2) / 1e9)
	}
	s, e := float64(gp.PhaseStart), float64(gp.PhaseEnd)
	if e > p {
		h.Windows = append(h.Windows, rectView{xOf(s), plotX + plotW - xOf(s)}, rectView{plotX, xOf(e-p) - plotX})
	} else {
		h.Windows = append(h.Windows, rectView{xOf(s), xOf(e) - xOf(s)})
	}
	h.XTicks = durTicks(0, f.period, 12, func(t int64) float64 { return xOf(float64(t)) }, func(t int64) string { return fnum(float64(t) / 1e9) })
	h.YTicks = valueTicks(ymax, y0, plotH, func(v float64) string { return percent(v) })
	return h
}

// heatChart draws the phase × time heatmap: a column per period (or per
// few), a row per bin (or per few), the window and the episode marked,
// the marks' times said as at says them (dated across a midnight, as the
// timeline's).
func heatChart(f *figure, g *gapEpisode, at stamper) heatView {
	const plotH = 220
	h := heatView{H: plotY + plotH + 34, PlotH: plotH, Cols: f.cols, Rows: f.rows,
		ColS: secs(f.colP * f.period), RowS: secs(f.rowW), From: strconv.FormatInt(f.from, 10), To: strconv.FormatInt(f.to, 10)}
	h.cells = f.cells
	p := float64(f.period)
	yOf := func(phase float64) float64 { return plotY + plotH*phase/(float64(f.rows)*float64(f.rowW)) }
	t0 := float64(f.p0) * p
	spanT := float64(int64(f.cols)*f.colP) * p
	xOf := func(t int64) float64 { return plotX + plotW*(float64(t)-t0)/spanT }
	s, e := float64(g.gap.PhaseStart), float64(g.gap.PhaseEnd)
	if e > p {
		e -= p
	}
	h.WindowY = []float64{yOf(s), yOf(e)}
	h.EpisodeX = append(h.EpisodeX, markView{xOf(g.since), "began " + at.clock(g.since), "since"})
	if g.firedAt != 0 {
		h.EpisodeX = append(h.EpisodeX, markView{xOf(g.firedAt), "fired " + at.clock(g.firedAt), "fired"})
	}
	if g.end != 0 {
		h.EpisodeX = append(h.EpisodeX, markView{xOf(g.end), "resolved " + at.clock(g.end), "end"})
	}
	h.EpisodeX = slices.DeleteFunc(h.EpisodeX, func(m markView) bool { return m.X < plotX || m.X > plotX+plotW })
	h.XTicks = durTicks(int64(t0), int64(t0+spanT), 8, xOf, hhmm)
	h.YTicks = durTicks(0, f.period, 8, func(t int64) float64 { return yOf(float64(t)) }, func(t int64) string { return fnum(float64(t) / 1e9) })
	for i := range 5 {
		h.LegendMissed = append(h.LegendMissed, cssColor(uint8(shadeMissed+i*(shadeSteps-1)/4)))
		h.LegendSilent = append(h.LegendSilent, cssColor(uint8(shadeSilent+i*(shadeSteps-1)/4)))
	}
	h.LegendNone = cssColor(shadeNone)
	return h
}

// timelineView draws the rows on the span [from, to].
func (b *Builder) timelineView(live bool, from, to int64) timelineView {
	t := &b.timeline
	v := timelineView{}
	if !b.spanned {
		return v
	}
	v.From, v.To = b.at.clock(from), b.at.clock(to)
	span := float64(max(to-from, 1))
	bar := func(since, firing, end int64) barView {
		if end == 0 {
			end = to
		}
		l := 100 * float64(since-from) / span
		w := math.Max(100*float64(end-since)/span, 0.3)
		bv := barView{Left: round1(l), Width: round1(w), Pending: -1}
		if firing > since && firing < end {
			bv.Pending = round1(100 * float64(firing-since) / float64(end-since))
		}
		return bv
	}
	rows := slices.Clone(t.rows)
	// A row's id is its place in t.rows, which only grows: the live page
	// keeps a row open by id across refreshes, whatever the order drawn.
	ids := make(map[*row]string, len(rows))
	for i, r := range rows {
		ids[r] = "row-" + strconv.Itoa(i)
	}
	open := func(r *row) bool { return (r.group && r.open > 0) || (!r.group && r.end == 0) }
	slices.SortStableFunc(rows, func(x, y *row) int {
		if live && open(x) != open(y) {
			if open(x) {
				return -1
			}
			return 1
		}
		if live {
			return cmp.Compare(y.since, x.since)
		}
		return cmp.Compare(x.since, y.since)
	})
	for _, r := range rows {
		rv := rowView{ID: ids[r], Kind: label(r.kind), Class: kindClass(r.kind), Open: open(r)}
		if r.group {
			rv = b.groupRow(r, rv, bar)
		} else {
			rv = b.singleRow(r, rv, bar)
		}
		v.Rows = append(v.Rows, rv)
	}
	var more []string
	if t.noRow > 0 {
		more = append(more, fmt.Sprintf("%s events of episodes beyond the first %d rows are not drawn", count(t.noRow), b.opts.MaxRows))
	}
	if t.untracked > 0 {
		more = append(more, fmt.Sprintf("%s events of episodes beyond %d open at once are not drawn", count(t.untracked), b.opts.MaxEpisodes))
	}
	v.More = strings.Join(more, "; ")
	return v
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }

// when formats an episode's times.
func (b *Builder) when(since, firing, end int64) string {
	s := b.at.clock(since)
	if firing != 0 && firing != since {
		s += " (fired " + b.at.clock(firing) + ")"
	}
	if end == 0 {
		return s + " → open"
	}
	return s + " → " + b.at.clock(end) + " (" + dur(end-since) + ")"
}

func (b *Builder) singleRow(r *row, v rowView, bar func(int64, int64, int64) barView) rowView {
	v.Bar = bar(r.since, r.firingAt, r.end)
	v.When = b.when(r.since, r.firingAt, r.end)
	switch r.kind {
	case fault.KindPeriodicGap:
		switch {
		case r.gapInfo != nil:
			g := r.gapInfo
			v.What = fmt.Sprintf("periodic gap every %s, %s–%s s into each period, ~%d series", time.Duration(g.Period), secs(int64(g.PhaseStart)), secs(int64(g.PhaseEnd)), g.Series)
			v.Detail = verdict(g.LateFraction)
		case r.firingAt == 0 && r.end != 0:
			v.What = "loss burst across the fleet, not repeated: never confirmed"
		default:
			v.What = "loss burst across the fleet: suspected, waiting for the next period"
		}
		if r.gap != nil && !r.gap.evicted {
			v.Link, v.LinkText = "#gap-"+strconv.Itoa(r.gap.n), "figures"
		}
	case fault.KindPeriodicDeliveryLoss:
		v.What = "redundant copies lost across the fleet at the same phase every period"
		if g := r.gapInfo; g != nil {
			v.What = fmt.Sprintf("redundant copies lost every %s, %s–%s s into each period", time.Duration(g.Period), secs(int64(g.PhaseStart)), secs(int64(g.PhaseEnd)))
		}
		v.Detail = "every sample still arrived: deliveries are failing, not data"
	case fault.KindDuplicateStorm:
		v.What = "duplicate storm " + orAll(r.subject)
		if !math.IsNaN(r.value) {
			v.Detail = fmt.Sprintf("redeliveries %.1f× the fresh samples in the deciding minute", r.value)
		}
	case fault.KindIngestLag:
		v.What = "ingest lag " + orAll(r.subject)
		if !math.IsNaN(r.value) {
			v.Detail = fmt.Sprintf("median lag %s in the deciding minute", dur(int64(r.value*1e9)))
		}
	default:
		v.What = r.rule
		if r.subject != "" {
			v.What += " " + r.subject
		}
		if r.kind == fault.KindCollectorDown || r.kind == fault.KindBadInput || r.kind == fault.KindFeedbackLoop {
			v.What = strings.TrimSpace(label(r.kind) + " " + r.subject)
		}
		if !math.IsNaN(r.value) && r.kind != fault.KindCollectorDown && r.kind != fault.KindBadInput {
			v.Detail = "value " + strconv.FormatFloat(r.value, 'g', 6, 64)
		}
	}
	if r.summary != "" {
		v.Detail = strings.TrimPrefix(v.Detail+"; "+r.summary, "; ")
	}
	if r.inhibitedBy != "" {
		v.Detail = strings.TrimPrefix(v.Detail+"; explained by event "+r.inhibitedBy, "; ")
	}
	return v
}

func orAll(subject string) string {
	if subject == "" {
		return "(all input)"
	}
	return subject
}

func (b *Builder) groupRow(r *row, v rowView, bar func(int64, int64, int64) barView) rowView {
	v.Group = true
	end := r.end
	if r.open > 0 {
		end = 0
	}
	v.Bar = bar(r.since, 0, end)
	v.When = b.when(r.since, 0, end)
	noun := "series"
	v.What = fmt.Sprintf("%s — %d %s", r.rule, r.count, noun)
	if r.kind == fault.KindAbsence || r.kind == fault.KindSeriesPeriodicGap {
		v.What = fmt.Sprintf("%d %s", r.count, pluralKind(r.kind, r.count))
	}
	switch {
	case r.explainer != nil:
		v.What += fmt.Sprintf(", explained by fleet gap %d (not paged)", r.explainer.n)
		if !r.explainer.evicted {
			v.Link, v.LinkText = "#gap-"+strconv.Itoa(r.explainer.n), "figures"
		}
	case r.explainerID != "":
		v.What += ", explained by event " + r.explainerID + " (not paged)"
	}
	var det []string
	if r.open > 0 {
		det = append(det, fmt.Sprintf("%d open", r.open))
	}
	if r.paged > 0 {
		det = append(det, fmt.Sprintf("%d still silent when the fleet gap resolved: paged then", r.paged))
	}
	v.Detail = strings.Join(det, "; ")
	for _, m := range r.members {
		mv := memberView{What: m.labels, When: b.when(m.since, m.firingAt, m.end), Open: m.end == 0, Paged: m.paged, Bar: bar(m.since, m.firingAt, m.end)}
		if m.gap != nil {
			mv.What += fmt.Sprintf(" — every %s, %s–%s s", time.Duration(m.gap.Period), secs(int64(m.gap.PhaseStart)), secs(int64(m.gap.PhaseEnd)))
		}
		if m.paged {
			mv.What += " — paged after the fleet gap resolved"
		}
		v.Members = append(v.Members, mv)
	}
	v.Unlisted = r.count - len(r.members)
	return v
}

func pluralKind(k fault.Kind, n int) string {
	s := map[fault.Kind]string{fault.KindAbsence: "absence", fault.KindSeriesPeriodicGap: "per-series periodic gap"}[k]
	if n != 1 {
		s += "s"
	}
	return s
}

// maxPoints bounds the points of a delivery chart.
const maxPoints = 720

// deliveryView draws the minutes held: deliveries, slot judgments and
// ingest lag per source.
func (b *Builder) deliveryView() deliveryView {
	r := &b.minutes
	var v deliveryView
	if r.newest == 0 {
		return v
	}
	// The minutes held: from the oldest one the ring holds.
	first := r.newest
	for i := r.newest; i > r.newest-int64(len(r.slots)); i-- {
		if s, _ := r.at(i); s != nil {
			first = i
		}
	}
	n := int(r.newest - first + 1)
	v.Minutes = n
	per := (n + maxPoints - 1) / maxPoints
	points := (n + per - 1) / per
	v.PerPoint = dur(int64(per) * minuteNs)
	type point struct {
		fresh, redelivered uint64
		slots              counts
		lag                []float64
		others             float64
		any                bool
	}
	nsrc := len(b.sources.names)
	pts := make([]point, points)
	for i := range pts {
		pts[i].lag = make([]float64, nsrc)
		for j := range pts[i].lag {
			pts[i].lag[j] = -1
		}
		pts[i].others = -1
	}
	for idx := first; idx <= r.newest; idx++ {
		s, ri := r.at(idx)
		if s == nil {
			continue
		}
		pt := &pts[int(idx-first)/per]
		pt.any = true
		pt.fresh += s.fresh
		pt.redelivered += s.redelivered
		pt.slots.add(s.slots)
		for j := 0; j < nsrc; j++ {
			pt.lag[j] = math.Max(pt.lag[j], r.lag(ri, j))
		}
		if s.othersLag >= 0 {
			pt.others = math.Max(pt.others, float64(s.othersLag))
		}
	}
	t0 := first * minuteNs
	spanT := float64(int64(points*per) * minuteNs)
	xOf := func(t int64) float64 { return plotX + plotW*float64(t-t0)/spanT }
	xPt := func(i int) float64 { return plotX + plotW*(float64(i)+0.5)/float64(points) }
	xticks := durTicks(t0, t0+int64(spanT), 10, xOf, hhmm)
	var bands []rectView
	for _, g := range b.gaps.list {
		end := g.end
		if end == 0 {
			end = b.last
		}
		x0, x1 := math.Max(xOf(g.since), plotX), math.Min(xOf(end), plotX+plotW)
		if x1 > x0 {
			bands = append(bands, rectView{x0, x1 - x0})
		}
	}
	chart := func(names []string, classes []string, values func(i, line int) float64, format func(float64) string) lineChart {
		const plotH = 120
		c := lineChart{H: plotY + plotH + 34, PlotH: plotH, XTicks: xticks, Bands: bands}
		top := 0.0
		for i := range pts {
			for l := range names {
				top = math.Max(top, values(i, l))
			}
		}
		ymax := niceMax(top)
		y0 := float64(plotY + plotH)
		for l, name := range names {
			var d path
			for i := range pts {
				val := values(i, l)
				if val < 0 || !pts[i].any {
					d.lift()
					continue
				}
				d.line(xPt(i), y0-plotH*val/ymax)
			}
			c.Lines = append(c.Lines, lineView{Name: name, Class: classes[l], Path: d.String()})
		}
		c.YTicks = valueTicks(ymax, y0, plotH, format)
		return c
	}
	v.Counts = chart([]string{"fresh samples", "duplicates (redeliveries)"}, []string{"l-fresh", "l-dup"}, func(i, l int) float64 {
		if l == 0 {
			return float64(pts[i].fresh)
		}
		return float64(pts[i].redelivered)
	}, compact)
	v.Slots = chart([]string{"missed on time", "filled late", "lost"}, []string{"l-missed", "l-late", "l-lost"}, func(i, l int) float64 {
		switch l {
		case 0:
			return float64(pts[i].slots.m)
		case 1:
			return float64(pts[i].slots.late)
		}
		return float64(pts[i].slots.lost)
	}, compact)
	names := slices.Clone(b.sources.names)
	classes := make([]string, len(names))
	for i := range classes {
		classes[i] = "l-src" + strconv.Itoa(i%8)
	}
	if len(b.sources.others) > 0 {
		names = append(names, fmt.Sprintf("the %d other sources (largest)", len(b.sources.others)))
		classes = append(classes, "l-others")
	}
	v.NoSources = len(names) == 0
	v.Lag = chart(names, classes, func(i, l int) float64 {
		if l == nsrc {
			if pts[i].others < 0 {
				return -1
			}
			return pts[i].others / 1e9
		}
		if pts[i].lag[l] < 0 {
			return -1
		}
		return pts[i].lag[l] / 1e9
	}, lagAxis)
	if len(b.sources.others) > 0 {
		v.Lag.Lines[len(v.Lag.Lines)-1].Dashed = true
	}
	return v
}

// seriesView lists the affected series, first affected first.
func (b *Builder) seriesView() seriesView {
	t := &b.series
	rows := slices.Clone(t.order)
	slices.SortStableFunc(rows, func(x, y *seriesRow) int { return cmp.Compare(x.first, y.first) })
	var v seriesView
	for _, r := range rows {
		var what []string
		for _, k := range r.kinds {
			switch k {
			case fault.KindSeriesPeriodicGap:
				if r.gap != nil {
					what = append(what, fmt.Sprintf("periodic gap every %s, %s–%s s", time.Duration(r.gap.Period), secs(int64(r.gap.PhaseStart)), secs(int64(r.gap.PhaseEnd))))
					continue
				}
			case fault.KindThreshold, fault.KindFlapping:
				what = append(what, label(k)+" "+strings.Join(r.rules, ", "))
				continue
			}
			what = append(what, label(k))
		}
		sv := seriesRowView{Series: r.labels, What: strings.Join(slices.Compact(what), "; "), First: b.at.clock(r.first), Last: b.at.clock(r.last)}
		switch r.state {
		case fault.StateResolved:
			sv.State = "resolved"
		default:
			sv.State = "open"
		}
		switch {
		case r.explainer != nil:
			sv.Explained = "fleet gap " + strconv.Itoa(r.explainer.n)
			if !r.explainer.evicted {
				sv.Link = "#gap-" + strconv.Itoa(r.explainer.n)
			}
		case r.explainerID != "":
			sv.Explained = "event " + r.explainerID
		}
		if r.paged {
			sv.Explained += " (paged after it resolved)"
		}
		v.Rows = append(v.Rows, sv)
	}
	if t.moreEvents > 0 {
		n := strconv.Itoa(len(t.more))
		if len(t.more) >= t.maxMore {
			n = "at least " + n
		}
		v.More = fmt.Sprintf("and %s more series (%s events) not listed: the table keeps the first %d", n, count(t.moreEvents), t.max)
	}
	return v
}

// notes says what the bounds cut.
func (b *Builder) notes() []string {
	var ns []string
	if b.bins.dropped > 0 {
		ns = append(ns, fmt.Sprintf("%s phase bins arrived older than the %s of bins held (Options.History) and were left out.", count(b.bins.dropped), dur(int64(b.opts.History))))
	}
	if b.minutes.dropped > 0 {
		ns = append(ns, fmt.Sprintf("%s observations arrived older than the %s of delivery minutes held (Options.DeliveryHistory) and were left out.", count(b.minutes.dropped), dur(int64(b.opts.DeliveryHistory))))
	}
	if b.last-b.first > int64(b.opts.DeliveryHistory) {
		ns = append(ns, fmt.Sprintf("Delivery is drawn for the last %s only (Options.DeliveryHistory).", dur(int64(b.opts.DeliveryHistory))))
	}
	if b.gaps.dropped > 0 {
		ns = append(ns, fmt.Sprintf("%d fleet gaps are not drawn (Options.MaxGaps = %d): they are in the timeline.", b.gaps.dropped, b.opts.MaxGaps))
	}
	if n := len(b.sources.others); n > 0 {
		ns = append(ns, fmt.Sprintf("The ingest lag of %d sources beyond the first %d (Options.MaxSources) is drawn as one line, their largest.", n, b.opts.MaxSources))
	}
	return ns
}

// eventCounts lists the events by kind.
func (b *Builder) eventCounts() string {
	if b.events == 0 {
		return "no events"
	}
	kinds := make([]string, 0, len(b.byKind))
	for k := range b.byKind {
		kinds = append(kinds, string(k))
	}
	slices.Sort(kinds)
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = fmt.Sprintf("%s %s", k, count(b.byKind[fault.Kind(k)]))
	}
	noun := "events"
	if b.events == 1 {
		noun = "event"
	}
	return fmt.Sprintf("%s %s: %s", count(b.events), noun, strings.Join(parts, ", "))
}
