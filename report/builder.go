package report

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/faultline-go/faultline/fault"
)

// Options configures a Builder. The zero value is valid: every field says
// what it defaults to. The package doc explains the bounds.
type Options struct {
	// Title heads the page. By default "faultline report".
	Title string
	// History is how much engine time of phase bins is kept. By default
	// 6h; at least 10m.
	History time.Duration
	// DeliveryHistory is how much engine time of delivery minutes is kept.
	// By default 24h; at least 10m.
	DeliveryHistory time.Duration
	// MaxSources bounds the sources whose ingest lag is drawn one by one.
	// By default 8.
	MaxSources int
	// MaxGaps bounds the fleet gaps drawn. By default 16.
	MaxGaps int
	// MaxRows bounds the timeline's rows. By default 500.
	MaxRows int
	// MaxListed bounds the episodes listed in a collapsed row. By default
	// 100.
	MaxListed int
	// MaxEpisodes bounds the episodes followed. By default 65,536.
	MaxEpisodes int
	// MaxSeries bounds the rows of the affected series table. By default
	// 1,000.
	MaxSeries int
}

// Defaults of Options.
const (
	DefaultHistory         = 6 * time.Hour
	DefaultDeliveryHistory = 24 * time.Hour
	DefaultMaxSources      = 8
	DefaultMaxGaps         = 16
	DefaultMaxRows         = 500
	DefaultMaxListed       = 100
	DefaultMaxEpisodes     = 1 << 16
	DefaultMaxSeries       = 1000
)

func (o Options) withDefaults() (Options, error) {
	if o.History < 0 || o.DeliveryHistory < 0 || o.MaxSources < 0 || o.MaxGaps < 0 || o.MaxRows < 0 || o.MaxListed < 0 || o.MaxEpisodes < 0 || o.MaxSeries < 0 {
		return o, errors.New("report: negative durations and limits are not allowed")
	}
	if o.Title == "" {
		o.Title = "faultline report"
	}
	o.History = max(orDefault(o.History, DefaultHistory), 10*time.Minute)
	o.DeliveryHistory = max(orDefault(o.DeliveryHistory, DefaultDeliveryHistory), 10*time.Minute)
	o.MaxSources = orDefault(o.MaxSources, DefaultMaxSources)
	o.MaxGaps = orDefault(o.MaxGaps, DefaultMaxGaps)
	o.MaxRows = orDefault(o.MaxRows, DefaultMaxRows)
	o.MaxListed = orDefault(o.MaxListed, DefaultMaxListed)
	o.MaxEpisodes = orDefault(o.MaxEpisodes, DefaultMaxEpisodes)
	o.MaxSeries = orDefault(o.MaxSeries, DefaultMaxSeries)
	return o, nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Builder gathers what the engine saw and draws it. It is a fault.Observer
// and a sink of events; see the package doc for what it keeps.
type Builder struct {
	opts Options

	mu       sync.Mutex
	version  uint64 // changes whenever what would be drawn changes
	bins     binRing
	minutes  minuteRing
	sources  sourceTable
	gaps     gapTable
	timeline timeline
	series   seriesTable
	spanned  bool    // some engine time was seen: first and last hold
	first    int64   // earliest engine time seen, if spanned
	last     int64   // latest engine time seen, if spanned
	at       stamper // how view says times of day: dated when its span crosses a midnight
	events   uint64
	byKind   map[fault.Kind]uint64
}

var (
	_ fault.Observer = (*Builder)(nil)
	_ fault.Sink     = (*Builder)(nil)
)

// New returns a Builder, or why the options are invalid.
func New(opts Options) (*Builder, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	b := &Builder{opts: o, byKind: map[fault.Kind]uint64{}}
	b.bins.init(int(o.History / fault.PhaseBinWidth))
	b.minutes.init(int(o.DeliveryHistory/time.Minute), o.MaxSources)
	b.sources.init(o.MaxSources)
	b.gaps.init(o.MaxGaps)
	b.timeline.init(o.MaxRows, o.MaxListed, o.MaxEpisodes)
	b.series.init(o.MaxSeries, o.MaxEpisodes)
	return b, nil
}

// PhaseBin adds one settled bin of expected arrivals (fault.Observer).
func (b *Builder) PhaseBin(p fault.PhaseBin) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seen(p.Start, p.Start+int64(fault.PhaseBinWidth))
	b.bins.add(p)
	b.minutes.addBin(p)
	b.gaps.settled(&b.bins, b.bins.newest)
	b.version++
}

// SourceMinute adds one source's judged minute (fault.Observer).
func (b *Builder) SourceMinute(m fault.SourceMinute) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seen(m.Start, m.Start+int64(time.Minute))
	src := b.sources.index(m)
	b.minutes.addSource(m, src)
	b.version++
}

// Emit adds one event: to the timeline, to the fleet gaps it describes or
// the affected series it concerns. It never fails.
func (b *Builder) Emit(_ context.Context, ev fault.Event) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if ev.Since != 0 { // 0: the event has none (fault.Event)
		b.seen(ev.Since, ev.Since)
	}
	b.seen(ev.At, ev.At)
	b.events++
	b.byKind[ev.Kind]++
	var g *gapEpisode
	if ev.Kind == fault.KindPeriodicGap {
		g = b.gaps.event(&ev)
	}
	explainer := b.gaps.byEventID(ev.InhibitedBy)
	b.timeline.event(&ev, g, explainer)
	if ev.Series != 0 {
		b.series.event(&ev, explainer)
	}
	b.version++
	return nil
}

// Start does nothing: it makes a Builder a pipeline.Sink.
func (b *Builder) Start() error { return nil }

// Close does nothing: it makes a Builder a pipeline.Sink. The Builder can
// still draw after it.
func (b *Builder) Close(context.Context) error { return nil }

// seen widens the span of engine time the page covers. Any time counts,
// the Unix epoch and times before it too (a capture may start at 0).
func (b *Builder) seen(from, to int64) {
	if !b.spanned {
		b.spanned, b.first, b.last = true, from, to
		return
	}
	b.first = min(b.first, from)
	b.last = max(b.last, to)
}
