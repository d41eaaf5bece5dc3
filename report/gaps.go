package report

import (
	"math"
	"slices"

	"github.com/faultline-go/faultline/fault"
)

// Figure resolutions.
const (
	maxHistPoints = 1200 // points of a miss-rate-by-phase chart
	maxGridCols   = 360  // columns (periods) of a heatmap
	maxGridRows   = 240  // rows (phases) of a heatmap
	minGridRows   = 24   // rows of a heatmap at least, however few its slots
	minCellSlots  = 16   // slots a heatmap's cell should usually expect
	maxMarginP    = 30   // periods drawn at most before and after an episode
	minMarginP    = 5    // periods drawn at least before and after it
)

// gapEpisode is a fleet periodic gap that fired: what its events said and,
// once its bins have all arrived, its figure.
type gapEpisode struct {
	n        int    // 1, 2, … in order of firing: the anchor gap-n
	episode  string // the episode ID
	firingID string // the ID of its firing event, which InhibitedBy names
	since    int64
	firedAt  int64
	end      int64 // resolved at; 0: open
	gap      fault.Gap
	fig      *figure // kept once the bins of its span have all arrived
	evicted  bool    // its figures gave way to a newer gap's: nothing links to them
}

// span is the engine time the gap's heatmap covers: the episode and a
// margin either side, the episode's end being now while it is open.
func (g *gapEpisode) span(now int64) (from, to int64) {
	p := int64(g.gap.Period)
	end := g.end
	if end == 0 {
		end = now
	}
	margin := min(max((end-g.since)/4, minMarginP*p), maxMarginP*p)
	to = end + margin
	if g.end == 0 {
		to = now
	}
	return g.since - margin, to
}

// gapTable keeps the fleet gaps that fired, up to max; a gap firing with
// the table full takes the place of the oldest resolved one.
type gapTable struct {
	max       int
	list      []*gapEpisode
	byEpisode map[string]*gapEpisode
	byID      map[string]*gapEpisode
	fired     int // gaps that fired, drawn or not
	dropped   int // gaps not drawn: the table was full
}

func (t *gapTable) init(n int) {
	t.max = n
	t.byEpisode = map[string]*gapEpisode{}
	t.byID = map[string]*gapEpisode{}
}

// event records a periodic_gap event and returns its gap, or nil if it is
// not one that fired (a burst still pending, one resolved unconfirmed) or
// one not drawn.
func (t *gapTable) event(ev *fault.Event) *gapEpisode {
	if ev.Gap != nil && ev.Gap.Period <= 0 {
		return nil // not the engine's: nothing to fold by
	}
	g := t.byEpisode[ev.Episode]
	if g == nil {
		if ev.Gap == nil || ev.State != fault.StateFiring {
			return nil
		}
		t.fired++
		if len(t.list) >= t.max && !t.evict() {
			t.dropped++
			return nil
		}
		g = &gapEpisode{n: t.fired, episode: ev.Episode, since: ev.Since}
		t.list = append(t.list, g)
		t.byEpisode[ev.Episode] = g
	}
	if ev.Gap != nil {
		g.gap = *ev.Gap
	}
	switch ev.State { // an episode's events come in order: pending, firing, resolved
	case fault.StateFiring:
		g.firedAt, g.firingID = ev.At, ev.ID
		t.byID[ev.ID] = g
	case fault.StateResolved:
		g.end = ev.At
	}
	return g
}

// evict drops the oldest resolved gap, if any.
func (t *gapTable) evict() bool {
	for i, g := range t.list {
		if g.end != 0 {
			t.list = append(t.list[:i], t.list[i+1:]...)
			delete(t.byEpisode, g.episode)
			delete(t.byID, g.firingID)
			g.evicted = true
			t.dropped++
			return true
		}
	}
	return false
}

// byEventID returns the gap whose firing event has this ID, or nil.
func (t *gapTable) byEventID(id string) *gapEpisode {
	if id == "" {
		return nil
	}
	return t.byID[id]
}

// settled keeps the figures of the resolved gaps whose span the bins up
// to newest (an index) now cover.
func (t *gapTable) settled(r *binRing, newest int64) {
	for _, g := range t.list {
		if g.end == 0 || g.fig != nil {
			continue
		}
		if _, to := g.span(0); (newest+1)*binWidth >= to {
			g.fig = fold(r, g, (newest+1)*binWidth)
		}
	}
}

// figure returns the gap's figure: the one kept, or one folded now.
func (t *gapTable) figure(r *binRing, g *gapEpisode, now int64) *figure {
	if g.fig != nil {
		return g.fig
	}
	return fold(r, g, now)
}

// figure is what is drawn of a fleet gap: its bins folded by its period,
// over the episode for the miss rate by phase, over the episode and its
// margins for the heatmap.
type figure struct {
	period int64 // ns

	// Miss rate by phase: point i covers phases [i·pointW, (i+1)·pointW).
	points []counts
	pointW int64
	// The span folded into points, clipped to the bins held.
	histFrom, histTo  int64
	inWindow, outside counts // the episode's slots in the window and elsewhere

	// Heatmap: column c covers periods p0 + c·colP …, row r phases
	// [r·rowW, (r+1)·rowW); cells[r*cols+c] is a palette index.
	cols, rows int
	p0, colP   int64
	rowW       int64
	cells      []uint8
	from, to   int64 // the span drawn, clipped to the bins held
	cut        bool  // part of the span was no longer held
}

// fold folds the bins the ring holds by the gap's period; now is the end
// of the span of an open gap.
func fold(r *binRing, g *gapEpisode, now int64) *figure {
	p := int64(g.gap.Period)
	f := &figure{period: p}
	nb := (p + binWidth - 1) / binWidth // bins per period, rounded up

	held := r.first() * binWidth
	heldTo := (r.newest + 1) * binWidth
	from, to := g.span(now)
	if from < held {
		f.cut = true
	}
	from, to = max(from, held), min(to, heldTo)
	if to <= from {
		to = from
	}
	f.from, f.to = from, to

	// Miss rate by phase, over the episode.
	k := (nb + maxHistPoints - 1) / maxHistPoints
	f.pointW = k * binWidth
	f.points = make([]counts, (nb+k-1)/k)
	end := g.end
	if end == 0 {
		end = now
	}
	f.histFrom, f.histTo = max(g.since, from), min(end, to)
	for idx := floorDiv(f.histFrom, binWidth); idx*binWidth < f.histTo; idx++ {
		c := r.at(idx)
		if c.e == 0 {
			continue
		}
		phase := floorMod(idx*binWidth, p)
		f.points[min(int(phase/f.pointW), len(f.points)-1)].add(c)
		if inWindow(phase, g.gap) {
			f.inWindow.add(c)
		} else {
			f.outside.add(c)
		}
	}

	// Heatmap, over the span.
	f.p0 = floorDiv(from, p)
	np := floorDiv(max(to-1, from), p) - f.p0 + 1
	f.colP = (np + maxGridCols - 1) / maxGridCols
	f.cols = int((np + f.colP - 1) / f.colP)
	// Rows of one bin, or of a few, so that a cell usually expects
	// minCellSlots or more, but at least minGridRows of them.
	var sumE, nBins int64
	for idx := floorDiv(from, binWidth); idx*binWidth < to; idx++ {
		sumE += int64(r.at(idx).e)
		nBins++
	}
	rowBins := (nb + maxGridRows - 1) / maxGridRows
	if sumE > 0 {
		perCell := float64(sumE) / float64(nBins) * float64(f.colP) // per bin and column
		rowBins = max(rowBins, min(int64(math.Ceil(minCellSlots/perCell)), nb/minGridRows))
	}
	rowBins = max(rowBins, 1)
	f.rowW = rowBins * binWidth
	f.rows = int((nb + rowBins - 1) / rowBins)
	// Each cell adds up its bins: slots expected, missed, and how many of
	// its bins the span covers (its edges may cut a column short).
	cells := make([][3]uint32, f.cols*f.rows)
	for idx := floorDiv(from, binWidth); idx*binWidth < to; idx++ {
		t := idx * binWidth
		col := int((floorDiv(t, p) - f.p0) / f.colP)
		row := min(int(floorMod(t, p)/f.rowW), f.rows-1)
		if col < 0 || col >= f.cols {
			continue
		}
		c := r.at(idx)
		cell := &cells[row*f.cols+col]
		cell[0] += uint32(c.e)
		cell[1] += uint32(c.m)
		cell[2]++
	}
	usual := f.usual(cells, g.since)
	f.cells = make([]uint8, len(cells))
	for i, c := range cells {
		f.cells[i] = shade(c[0], c[1], usual[i/f.cols]*float64(c[2]))
	}
	return f
}

// usual returns each heatmap row's usual expected slots per bin: the mean
// over the columns before the episode began, or, if the span holds fewer
// than three, the 90th percentile over its columns.
func (f *figure) usual(cells [][3]uint32, since int64) []float64 {
	u := make([]float64, f.rows)
	cols := min(int((floorDiv(since, f.period)-f.p0)/f.colP), f.cols) // whole columns before the episode
	if cols >= 3 {
		for row := range f.rows {
			var e, n uint64
			for col := range cols {
				c := cells[row*f.cols+col]
				e += uint64(c[0])
				n += uint64(c[2])
			}
			if n > 0 {
				u[row] = float64(e) / float64(n)
			}
		}
		return u
	}
	per := make([]float64, 0, f.cols)
	for row := range f.rows {
		per = per[:0]
		for col := range f.cols {
			if c := cells[row*f.cols+col]; c[2] > 0 {
				per = append(per, float64(c[0])/float64(c[2]))
			}
		}
		if len(per) > 0 {
			slices.Sort(per)
			u[row] = per[len(per)*9/10]
		}
	}
	return u
}

// inWindow reports whether phase (into the period) is in the gap's window.
func inWindow(phase int64, g fault.Gap) bool {
	s, e := int64(g.PhaseStart), int64(g.PhaseEnd)
	return (phase >= s && phase < e) || (e > int64(g.Period) && phase < e-int64(g.Period))
}

// The heatmap's palette: index 0 for a cell where nothing was expected,
// then a ramp for the share of slots missed on time, then one for the
// share of slots no longer expected.
const (
	shadeNone   = 0
	shadeMissed = 1   // … shadeMissed+shadeSteps−1
	shadeSilent = 128 // … shadeSilent+shadeSteps−1
	shadeSteps  = 127
)

// shade is the palette index of a cell that expected e slots and missed m
// on time, in a row that usually expects usual slots over the cell's
// periods. Slots not expected any more (a series that went absent is not
// expected again until it delivers) count as silent when the cell expects
// far fewer than usual: they are drawn in a second ramp, so the band
// of an outage that silenced its series still holds. Only a shortfall of
// more than three standard deviations (of a Poisson count) counts: fewer
// slots by chance do not. Both ramps go as the square root of the share,
// so that 1 % shows and 100 % is dark.
func shade(e, m uint32, usual float64) uint8 {
	silent := 0.0
	if float64(e) < usual-3*math.Sqrt(usual) {
		silent = usual - float64(e)
	}
	total := math.Max(float64(e), usual)
	if total == 0 {
		return shadeNone
	}
	share := math.Min((float64(m)+silent)/total, 1)
	step := uint8(math.Round((shadeSteps - 1) * math.Sqrt(share)))
	if silent > float64(m) {
		return shadeSilent + step
	}
	return shadeMissed + step
}
