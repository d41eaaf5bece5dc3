// Package fault is faultline's engine: it admits samples through dedup,
// keeps per-series state, evaluates rules, tracks every series' expected
// arrivals, and emits events on state transitions to a Sink.
//
// # Time
//
// The engine never reads the wall clock. Its clock follows the arrival times
// of the samples it is given (each sample carries its own) and Advance;
// it never goes backwards. Rules and dedup work in sample time; arrival
// judgments (on time, late, lost) work in arrival time.
//
// # Concurrency
//
// An Engine owns a set of series and is used by one goroutine at a time, like
// a shard: hosts that need parallelism run one Engine per partition of their
// input, keyed by series. Stats may be called from any goroutine. The engine
// starts no goroutines.
//
// # Crash-safe state
//
// Snapshot writes the engine's whole state, and Restore builds an engine
// from it that continues exactly where the first stopped: same events, same
// IDs, same Stats. The rules come from the Config, not the snapshot; see
// Restore for what must match and ErrBadSnapshot for the format's
// guarantees.
package fault

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/faultline-go/faultline/dedup"
	"github.com/faultline-go/faultline/internal/fleetgap"
	"github.com/faultline-go/faultline/internal/persource"
	"github.com/faultline-go/faultline/internal/seriesgap"
	"github.com/faultline-go/faultline/rules"
	"github.com/faultline-go/faultline/stream"
)

// Config configures an Engine. The zero value is valid: every field says
// what it defaults to.
type Config struct {
	// Rules are the user's rules. By default none: only the built-in
	// detectors run. Engine.Update replaces them.
	Rules *rules.Ruleset
	// Sink receives events. By default they are discarded (and counted).
	Sink Sink
	// Dedup configures the deduper the engine builds. By default dedup's
	// own defaults.
	Dedup dedup.Config
	// Deduper, if set, is used instead of building one from Dedup; a host
	// restores one with dedup.Load after a restart. Restore rebuilds the
	// deduper from its snapshot with Dedup instead, and needs this nil.
	Deduper *dedup.Deduper
	// DisableDedup turns dedup off, for hosts whose input is already
	// deduplicated. Redelivered samples still collapse onto their slot,
	// and rules evaluate only a series' newest sample time; but a
	// redelivery with another value is not recognised as a conflict.
	DisableDedup bool
	// OnTimeBudget (τ) is how long after its expected arrival a sample
	// still counts as on time. By default 1s; set it near the p99.9 of
	// delivery delay.
	OnTimeBudget time.Duration
	// Lateness (L) is how long a slot may stay empty before it is judged
	// lost; a sample filling it within L makes it late instead. It is
	// capped at 48 slots of a series' cadence. By default 60s.
	Lateness time.Duration
	// DefaultCadence is the cadence assumed for a series until its own is
	// learned (from its first four distinct sample times) or declared in
	// the rule file. By default 60s.
	DefaultCadence time.Duration
	// AbsentAfter is how many of its expected deliveries, in time, a series
	// may miss before its absence fires, unless the rule file declares
	// otherwise for it. By default five of its slots, and at least 2m. Each
	// missed slot is judged lost only the lateness allowance after it was
	// expected, so the absence fires about AbsentAfter + Lateness after the
	// last delivery (exactly AbsentAfter while the cadence is still being
	// learned, timed from the last arrival). At most 65,535 slots.
	AbsentAfter time.Duration
	// MaxSeries bounds the number of series tracked. A further new series
	// takes the place of one past SeriesTTL if one is found; otherwise its
	// samples are rejected, counted in Stats.SeriesOverflow and reported
	// by Process as an OverloadError. By default 4,194,304; at most 2³¹−1.
	MaxSeries int
	// SeriesTTL is how long, in engine time, a series may go without a
	// fresh sample before it is forgotten (evicted) and its slot reused,
	// so that series that come and go do not fill MaxSeries. Its open
	// episodes are resolved with the annotation reason="evicted"; if it
	// comes back it is a new series, which learns its cadence again. See
	// evict.go. Keep it well above the longest absence threshold: a series
	// evicted before its absence fires never raises it. An incremental
	// sweep evicts a series between SeriesTTL and 9/8 SeriesTTL after its
	// last sample; when MaxSeries is reached, a new series takes the place
	// of one past its TTL at once. Nothing is evicted while closing. By
	// default 24h; negative: never.
	SeriesTTL time.Duration
	// MaxAlerts bounds the alert states kept, over all rules and series:
	// an alert is kept from its first pending or firing transition until
	// it is idle again (resolved, and out of any flap history). An alert
	// that would open past the bound is not opened and emits nothing
	// (counted in Stats.AlertOverflow, and reported by Process as an
	// OverloadError); open alerts are unaffected. Each costs about 128
	// bytes (56 of key and state, the rest the map's). By default
	// 1,048,576.
	MaxAlerts int
	// MaxFutureSkew rejects samples whose sample time is further ahead of
	// their arrival time than this (counted in Stats.Future), so that one
	// bad clock cannot move dedup's watermark. By default 10m.
	MaxFutureSkew time.Duration
	// MaxArrivalLag rejects, before it moves the engine clock, a sample
	// whose arrival time is further ahead than this of both its own sample
	// time and the engine clock (counted in Stats.BadArrival): one bogus
	// arrival must not make every series look absent and every later
	// sample late. Before the clock has started, the sample time alone
	// decides. A gap in the input is no such thing: its samples arrive
	// soon after their sample time. The engine trusts arrival times
	// otherwise. By default 1h.
	MaxArrivalLag time.Duration
	// SourceLabel is the label that names a sample's source (a host, an
	// agent, a collector id), for the per-source detectors duplicate_storm
	// and ingest_lag (see source.go). A series' source is read once, when
	// the series is first seen; samples without the label are the source
	// "". By default none: the whole input is one source.
	SourceLabel string
	// MaxSources bounds the number of sources tracked. The series of
	// further sources are counted together under one overflow source,
	// whose events carry SourceOverflowLabel, and their samples in
	// Stats.SourceOverflow. By default 4,096; at most 1,048,576.
	MaxSources int
	// MaxHistory bounds the points of history kept per series for the
	// windowed functions of its rules (rate(5m) ...) and for cohort rules:
	// a series keeps the points within the longest window of its rules,
	// in a ring that grows to this many points; past it, the oldest point
	// is evicted although still inside the window (counted in
	// Stats.HistoryEvicted), so the functions see a shorter window. Only
	// series selected by rules that read history keep one. By default
	// 1,024 points (16 bytes each).
	MaxHistory int
	// MaxHistoryPoints bounds the points of history kept in all: past it,
	// rings stop growing and evict instead, as past MaxHistory. Each
	// series with a history always has room for 4 points. By default
	// 4,194,304 points (64 MiB).
	MaxHistoryPoints int
	// MaxCohorts bounds the cohorts of each cohort rule. The series of
	// further cohorts count towards the others and the fleet but have no
	// cohort of their own (counted in Stats.CohortOverflow). By default
	// 1,024.
	MaxCohorts int
	// Explain selects the series whose evaluations are explained to
	// Explainer, one Explanation per sample the rules evaluate; nil (the
	// zero Selector) selects every series. Explaining evaluates every
	// condition of every rule and allocates: it is for understanding a
	// few series, not for production traffic. Without Explainer, nothing
	// is explained and nothing is spent.
	Explain *rules.Selector
	// Explainer receives the explanations of the series Explain selects.
	Explainer func(Explanation)
	// Instance names this engine in the provenance label (OriginLabel) that
	// every event it emits carries. By default "faultline".
	Instance string
	// Logger receives rare diagnostics (rule evaluation errors, at most
	// once per rule). By default nothing is logged.
	Logger *slog.Logger
}

// Defaults for Config fields.
const (
	DefaultOnTimeBudget   = time.Second
	DefaultLateness       = 60 * time.Second
	DefaultCadence        = 60 * time.Second
	DefaultAbsentSlots    = 5
	DefaultMinAbsentAfter = 2 * time.Minute
	DefaultMaxSeries      = 1 << 22
	DefaultMaxAlerts      = 1 << 20
	DefaultMaxFutureSkew  = 10 * time.Minute
	DefaultMaxArrivalLag  = time.Hour
)

// maxSeriesLimit is the most series an engine can index: the timing wheel
// marks bucket heads with the top bit of a series index.
const maxSeriesLimit = headBit - 1

// ErrClosed is returned by methods called after Close.
var ErrClosed = errors.New("fault: engine closed")

// wheelRes is the timing wheel's tick: judgments are made at most this long
// after their deadline (event times carry the deadline itself).
const wheelRes = int64(250 * time.Millisecond)

// Engine raises faults from a stream of samples. See the package doc for its
// clock and concurrency contract.
type Engine struct {
	cfg  Config
	tau  int64 // OnTimeBudget, ns
	late int64 // Lateness, ns

	now     int64 // engine time, ns
	started bool
	closed  bool
	horizon int64 // while closing: slots expected after it are not judged

	dd     deduper
	st     store    // series, their arrival tracking and the timing wheel
	al     alerting // rules: alert states, histories, cohorts
	fleet  *fleetgap.Detector
	census fleetgap.Census // e.missingIn, for the fleet detector
	gaps   seriesgap.Detector
	src    persource.Detector // duplicate storm, ingest lag
	bad    badInputs          // bad records, coalesced per input
	loop   loopGuard
	xp     explaining // the explanation of the sample in evaluation
	out    outbox     // events for the sink
	stats  statsCounters
	log    *slog.Logger
}

// New returns an engine configured by cfg.
func New(cfg Config) (*Engine, error) {
	if cfg.OnTimeBudget < 0 || cfg.Lateness < 0 || cfg.DefaultCadence < 0 || cfg.AbsentAfter < 0 || cfg.MaxSeries < 0 || cfg.MaxFutureSkew < 0 || cfg.MaxArrivalLag < 0 || cfg.MaxSources < 0 || cfg.MaxHistory < 0 || cfg.MaxHistoryPoints < 0 || cfg.MaxCohorts < 0 || cfg.MaxAlerts < 0 {
		return nil, errors.New("fault: negative durations and limits are not allowed")
	}
	cfg.OnTimeBudget = orDefault(cfg.OnTimeBudget, DefaultOnTimeBudget)
	cfg.Lateness = orDefault(cfg.Lateness, DefaultLateness)
	cfg.DefaultCadence = orDefault(cfg.DefaultCadence, DefaultCadence)
	cfg.MaxFutureSkew = orDefault(cfg.MaxFutureSkew, DefaultMaxFutureSkew)
	cfg.MaxArrivalLag = orDefault(cfg.MaxArrivalLag, DefaultMaxArrivalLag)
	cfg.SeriesTTL = orDefault(cfg.SeriesTTL, DefaultSeriesTTL)
	cfg.MaxSeries = orDefault(cfg.MaxSeries, DefaultMaxSeries)
	cfg.MaxSources = orDefault(cfg.MaxSources, DefaultMaxSources)
	cfg.MaxAlerts = orDefault(cfg.MaxAlerts, DefaultMaxAlerts)
	cfg.MaxHistory = max(orDefault(cfg.MaxHistory, DefaultMaxHistory), minHistory)
	cfg.MaxHistoryPoints = orDefault(cfg.MaxHistoryPoints, DefaultMaxHistoryPoints)
	cfg.MaxCohorts = orDefault(cfg.MaxCohorts, DefaultMaxCohorts)
	if cfg.Instance == "" {
		cfg.Instance = "faultline"
	}
	if cfg.MaxSources > persource.MaxSourcesLimit {
		return nil, fmt.Errorf("fault: MaxSources %d is above the limit of %d", cfg.MaxSources, persource.MaxSourcesLimit)
	}
	if cfg.MaxSeries > maxSeriesLimit {
		return nil, fmt.Errorf("fault: MaxSeries %d is above the limit of %d", cfg.MaxSeries, maxSeriesLimit)
	}
	if cfg.Lateness < cfg.OnTimeBudget {
		return nil, fmt.Errorf("fault: lateness allowance %v is shorter than the on-time budget %v", cfg.Lateness, cfg.OnTimeBudget)
	}
	e := &Engine{
		cfg:   cfg,
		tau:   int64(cfg.OnTimeBudget),
		late:  int64(cfg.Lateness),
		dd:    noDedup{},
		st:    newStore(),
		al:    newAlerting(cfg.Rules),
		fleet: fleetgap.New(int64(cfg.OnTimeBudget), int64(cfg.Lateness), lateSlack),
		gaps:  seriesgap.New(int64(cfg.OnTimeBudget)),
		src:   persource.New(cfg.MaxSources),
		bad:   newBadInputs(),
		out:   outbox{sink: cfg.Sink},
		log:   cfg.Logger,
	}
	e.st.wheel = newWheel(14, &e.st.trackers)
	e.census = e.missingIn
	e.initCohorts()
	if !cfg.DisableDedup {
		dd, err := dedup.New(cfg.Dedup)
		if err != nil {
			return nil, fmt.Errorf("fault: %w", err)
		}
		e.dd = dd
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	return e, nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Now returns the engine time in Unix nanoseconds.
func (e *Engine) Now() int64 { return e.now }

// Process admits a batch of samples in order. Each sample's arrival time
// first advances the engine clock (judging whatever fell due before it);
// then the sample goes through dedup, and a fresh one updates its series'
// arrival tracking and is evaluated by the rules that select its series.
// Samples are not retained after Process returns.
//
// Process returns ErrClosed after Close and ctx's error if ctx is done
// before the batch is processed; then nothing was processed. Otherwise
// every sample was processed, and the error, if any, reports what went
// wrong on the way: an *OverloadError (matching ErrOverloaded) when a bound
// refused samples or alerts, and the first error a Sink returned; when both
// happened, the error joins them, the overload first, and errors.Is and
// errors.As find each. Neither stops processing.
func (e *Engine) Process(ctx context.Context, batch []stream.Sample) error {
	if e.closed {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	for i := range batch {
		e.sample(ctx, &batch[i])
		e.settled(ctx)
	}
	return e.end(ctx)
}

// Advance moves the engine clock to now (Unix ns), judging every deadline
// that falls before it. A time earlier than the engine's is ignored. Its
// errors are those of Process: a judgment may open alerts (a rule's
// no-data outcome), which Config.MaxAlerts bounds.
func (e *Engine) Advance(ctx context.Context, now int64) error {
	if e.closed {
		return ErrClosed
	}
	e.advance(ctx, now)
	return e.end(ctx)
}

// Close ends the input. It settles every judgment about slots expected up to
// the engine's current time, waiting out the lateness allowance for them,
// and emits what follows; slots expected later are not judged, because the
// end of input is not an outage. Close is idempotent.
func (e *Engine) Close(ctx context.Context) error {
	if e.closed {
		return nil
	}
	e.horizon = e.now
	e.closed = true
	e.advance(ctx, e.now+e.late+lateSlack+e.fleet.Lag()+2*wheelRes)
	return e.end(ctx)
}

// end ends a call: the queued events go to the sink, the call's counters
// are published, and what went wrong is returned.
func (e *Engine) end(ctx context.Context) error {
	e.flush(ctx)
	over := e.overloaded()
	e.stats.flush(e.dd)
	sinkErr := e.out.err
	e.out.err = nil
	if sinkErr == nil {
		return over
	}
	sinkErr = fmt.Errorf("fault: sink: %w", sinkErr)
	if over == nil {
		return sinkErr
	}
	return errors.Join(over, sinkErr)
}

// advance moves the clock to now, tick by tick: at each tick the fleet
// detector first completes the bins judged by then, then the wheel delivers
// the judgments due, so that a judgment sees every fleet conclusion reached
// before its deadline.
func (e *Engine) advance(ctx context.Context, now int64) {
	if !e.started {
		e.started = true
		e.st.wheel.start(now)
		e.fleet.Start(now)
		e.src.Start(now)
		e.now = now
		e.badInputStart(now)
		e.st.evict.next = math.MaxInt64
		if now <= math.MaxInt64-sweepEvery {
			e.st.evict.next = now + sweepEvery
		}
		return
	}
	if now <= e.now {
		return
	}
	for e.st.wheel.next*wheelRes < now {
		if e.st.wheel.n == 0 {
			e.st.wheel.next = e.st.wheel.tickOf(now)
			break
		}
		t := e.st.wheel.next * wheelRes
		e.periodicDue(t, false)
		e.advanceFleet(t)
		e.st.wheel.deliver(e.wake)
		e.settled(ctx)
	}
	e.advanceFleet(now)
	if now >= e.al.coh.next {
		e.cohortsDue(now)
	}
	e.now = now
	e.loopQuiet(now)
	// advance runs for every sample: the call only when something is due.
	if now >= min(e.src.Next(), e.bad.next, e.st.evict.next) || e.closed {
		e.periodicDue(now, true)
	}
}

// periodicDue runs, up to time t, the work done per interval of engine
// time rather than per slot: the per-source minutes, the bad input
// episodes (at the end of an advance while closing, all of them) and the
// eviction sweep.
func (e *Engine) periodicDue(t int64, end bool) {
	if t >= e.src.Next() {
		e.sourceMinutes(t)
	}
	if t >= e.bad.next || end && e.closed {
		e.badInputDue(t)
	}
	if t >= e.st.evict.next {
		e.sweepDue(t)
	}
}

func (e *Engine) sample(ctx context.Context, smp *stream.Sample) {
	e.stats.local.Samples++
	// Before the clock has started there is nothing else to compare with:
	// a first sample arriving long after its own sample time is rejected.
	if lag := int64(e.cfg.MaxArrivalLag); smp.Arrival > smp.Time+lag && (!e.started || smp.Arrival > e.now+lag) {
		e.stats.local.BadArrival++
		return
	}
	e.advance(ctx, smp.Arrival)
	if smp.Time > smp.Arrival+int64(e.cfg.MaxFutureSkew) {
		e.stats.local.Future++
		return
	}
	if smp.Series == 0 {
		smp.Series = stream.Hash(smp.Name, smp.Labels)
	}
	idx, ok := e.lookup(smp)
	if !ok {
		return
	}
	switch e.dd.Admit(smp.Series, smp.Time, smp.Value) {
	case dedup.Duplicate:
		e.stats.local.Duplicates++
		e.redelivered(idx)
		return
	case dedup.Conflict:
		e.stats.local.Conflicts++
		e.redelivered(idx)
		return
	case dedup.TooLate:
		e.stats.local.TooLate++
		e.sourceOverflow(e.st.series[idx].src)
		return
	}
	s := &e.st.series[idx]
	if smp.Time == s.lastTs {
		// A copy of the series' newest sample that the deduper did not
		// recognise (dedup is off, or forgot the key): its slot was
		// filled by the first copy, so it is a duplicate.
		e.stats.local.Duplicates++
		e.redelivered(idx)
		return
	}
	e.stats.local.Fresh++
	e.arrive(idx, smp)
	e.freshAt(s.src, smp.Time)
	if smp.Time <= s.lastTs {
		e.stats.local.OutOfOrder++
		return
	}
	s.seen = seenAt(e.now)
	last := s.lastTs
	s.lastTs = smp.Time
	if t := &e.st.trackers[idx]; !t.lattice() && !t.declared() && t.flags&flagFast == 0 {
		e.learnCadence(idx, smp, last)
	}
	if s.hist != 0 {
		e.push(&e.al.hists[s.hist-1], rules.Point{T: smp.Time, V: smp.Value})
	}
	if s.rulesN > 0 {
		e.evaluate(idx, smp)
	}
}

// lookup finds or creates the state of the sample's series. A new series
// carrying the engine's provenance label is faultline's own output coming
// back: it is rejected (see loop.go), and never gets state, so known series
// pay nothing for the check.
func (e *Engine) lookup(smp *stream.Sample) (uint32, bool) {
	if idx, ok := e.st.index.get(smp.Series); ok {
		return idx, true
	}
	if origin := smp.Labels.Get(OriginLabel); origin != "" {
		e.looped(smp, origin)
		return 0, false
	}
	if e.live() >= e.cfg.MaxSeries && !e.evictOne() {
		e.stats.local.SeriesOverflow++
		return 0, false
	}
	idx, reused := e.newSlot()
	e.st.index.put(smp.Series, idx)
	s := series{
		id:     smp.Series,
		key:    e.st.keys.put(smp.Name, smp.Labels),
		lastTs: math.MinInt64,
		src:    e.sourceOf(smp.Labels),
		seen:   seenAt(e.now),
	}
	var t tracker
	if spec, ok := e.bindRules(&s, idx, smp.Name, smp.Labels); ok && spec.Cadence > 0 {
		t.setCadence(min(int64(spec.Cadence), maxCadence))
		t.flags |= flagDeclared
	}
	if reused {
		e.st.series[idx] = s
		e.st.trackers[idx] = t
	} else {
		e.st.series = append(e.st.series, s)
		e.st.trackers = append(e.st.trackers, t)
		e.st.misses = append(e.st.misses, seriesgap.Misses{})
	}
	e.attachRules(idx, smp.Labels)
	e.stats.local.Series++
	return idx, true
}

// bindRules points series s (at index idx) at the rules that select it,
// appended to e.al.ruleIdx, and records the absence threshold its series entry
// declares, which it returns. New series (lookup), reloads (rebind) and
// Restore bind a series this one way.
func (e *Engine) bindRules(s *series, idx uint32, name string, labels stream.Labels) (rules.SeriesSpec, bool) {
	e.al.selectBuf = e.cfg.Rules.Select(name, labels, e.al.selectBuf[:0])
	s.rulesOff, s.rulesN = 0, 0
	if len(e.al.selectBuf) > 0 {
		s.rulesOff = uint32(len(e.al.ruleIdx))
		s.rulesN = uint16(min(len(e.al.selectBuf), math.MaxUint16))
		for _, r := range e.al.selectBuf[:s.rulesN] {
			e.al.ruleIdx = append(e.al.ruleIdx, uint32(r))
		}
	}
	spec, ok := e.cfg.Rules.Series(name, labels)
	if ok && spec.AbsentAfter > 0 {
		e.st.declared[idx] = int64(spec.AbsentAfter)
	}
	return spec, ok
}
