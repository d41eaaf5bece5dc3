package fault

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"

	"github.com/faultline-go/faultline/dedup"
	"github.com/faultline-go/faultline/internal/fleetgap"
	"github.com/faultline-go/faultline/internal/persource"
	"github.com/faultline-go/faultline/internal/seriesgap"
	"github.com/faultline-go/faultline/rules"
	"github.com/faultline-go/faultline/stream"
)

// ErrClosed is returned by methods called after Close.
var ErrClosed = errors.New("fault: engine closed")

// wheelRes is the timing wheel's tick: judgments are made at most this long
// after their deadline (event times carry the deadline itself). It is the
// fleet detector's bin.
const wheelRes = fleetgap.BinRes

// Engine raises faults from a stream of samples. See the package doc for its
// clock and concurrency contract.
type Engine struct {
	cfg Config

	now     int64 // engine time, ns
	due     int64 // before it, advance has nothing to do but move now (see advance)
	started bool
	closed  bool
	horizon int64 // while closing: slots expected after it are not judged

	dd     *dedup.Deduper // nil with Config.DisableDedup
	st     store          // series, their arrival tracking and the timing wheel
	al     alerting       // rules: alert states, histories, cohorts
	fleet  *fleetgap.Detector
	census fleetgap.Census // e.missingIn, for the fleet detector
	gaps   seriesgap.Detector
	src    persource.Detector // duplicate storm, ingest lag
	bad    badInputs          // bad records, coalesced per input
	loop   loopGuard
	xp     explaining // the explanation of the sample in evaluation
	obs    observing  // Config.Observer
	out    outbox     // events for the sink
	stats  statsCounters
	log    *slog.Logger
}

// New returns an engine configured by cfg.
func New(cfg Config) (*Engine, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	e := &Engine{
		cfg:   cfg,
		due:   math.MinInt64,
		st:    newStore(),
		al:    newAlerting(cfg.Rules),
		fleet: fleetgap.New(int64(cfg.OnTimeBudget), int64(cfg.Lateness), lateSlack),
		gaps:  seriesgap.New(int64(cfg.OnTimeBudget)),
		src:   persource.New(cfg.MaxSources),
		bad:   newBadInputs(),
		out:   outbox{sink: cfg.Sink},
		obs:   observing{Observer: cfg.Observer},
		log:   cfg.Logger,
	}
	e.st.wheel = newWheel(14, &e.st.trackers)
	e.census = e.missingIn
	e.initCohorts()
	e.src.Report(cfg.Observer != nil)
	if !cfg.DisableDedup {
		dd, err := dedup.New(cfg.Dedup)
		if err != nil {
			return nil, fmt.Errorf("fault: %w", err)
		}
		e.dd = dd
	}
	return e, nil
}

// tau returns the on-time budget τ, ns.
func (e *Engine) tau() int64 { return int64(e.cfg.OnTimeBudget) }

// late returns the lateness allowance L, ns.
func (e *Engine) late() int64 { return int64(e.cfg.Lateness) }

// moreThan reports whether time a is more than d after time b (a > b+d),
// for d ≥ 0, without computing b+d, which wraps past math.MaxInt64: a
// bound near the end of time, or set to the largest duration, would give
// the wrong verdict. a−b, for a > b, fits a uint64.
func moreThan(a, b, d int64) bool { return a > b && uint64(a)-uint64(b) > uint64(d) }

// atLeast reports whether time a is at least d after time b (a ≥ b+d), for
// d ≥ 0, without overflow, as moreThan.
func atLeast(a, b, d int64) bool { return a >= b && uint64(a)-uint64(b) >= uint64(d) }

// later returns time t plus d, saturated at the ends of the int64 range:
// a deadline past the end of time is math.MaxInt64, which never falls due
// (the timing wheel delivers nothing after its last tick, wheelEnd), where
// the sum wrapped to a time long past and fell due at once.
func later(t, d int64) int64 {
	s := t + d
	if (s^t)&(s^d) < 0 { // t and d of one sign, s of the other: wrapped
		if d > 0 {
			return math.MaxInt64
		}
		return math.MinInt64
	}
	return s
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
	for len(batch) > 0 {
		chunk := batch[:min(len(batch), warmChunk)]
		batch = batch[len(chunk):]
		e.warm(chunk)
		for i := range chunk {
			e.sample(ctx, &chunk[i])
			e.settled(ctx)
		}
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
//
// An engine whose clock never started (no sample and no Advance came, as
// when every record of a replay was bad) still reports the bad records it
// was told: their bad_input episodes fire at the end of input, dated at
// the engine's own time (zero, the Unix epoch, for a new engine), since
// no record carried another.
func (e *Engine) Close(ctx context.Context) error {
	if e.closed {
		return nil
	}
	e.horizon = e.now
	e.closed = true
	e.disarm() // while closing, every advance runs the periodic work
	if !e.started {
		// Starting the clock below dates nothing and judges nothing.
		e.badInputStart(e.now)
		e.badInputDue(e.now)
	}
	e.advance(ctx, later(e.now, e.late()+lateSlack+e.fleet.Lag()+2*wheelRes))
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
//
// advance runs for every sample, and before e.due there is nothing to do but
// move the clock: e.due is the earliest of the deadlines advance checks,
// taken when it last ran (rearm). Whatever brings one of them earlier
// between two advances, or starts work that runs at every advance, must
// call e.disarm.
func (e *Engine) advance(ctx context.Context, now int64) {
	if now < e.due {
		e.now = max(e.now, now)
		return
	}
	e.advanceDue(ctx, now)
}

// rearm sets e.due to the earliest time at which advance has more to do
// than move the clock: the start of the wheel's next tick (its loop runs
// once now passes it), the fleet detector's next bin, the cohort windows,
// the per-source minute, the bad input episodes and the eviction sweep.
// While closing, while a feedback loop is open or with an Observer,
// advance always has work.
func (e *Engine) rearm() {
	if e.closed || e.loop.open || e.obs.Observer != nil || !e.started {
		e.due = math.MinInt64
		return
	}
	w := e.st.wheel.startOf(e.st.wheel.next) // as advanceDue computes it
	if w < math.MaxInt64 {
		w++ // the wheel's loop runs for now > w
	}
	e.due = min(w, e.fleet.Due(), e.al.coh.next, e.src.Next(), e.bad.next, e.st.evict.next)
}

// disarm makes the next advance do its whole work, and take e.due again.
func (e *Engine) disarm() { e.due = math.MinInt64 }

// advanceDue is advance past e.due. It takes e.due again when it is done.
func (e *Engine) advanceDue(ctx context.Context, now int64) {
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
		e.rearm()
		return
	}
	if now <= e.now {
		return
	}
	for e.st.wheel.startOf(e.st.wheel.next) < now {
		if e.st.wheel.n == 0 {
			e.st.wheel.next = e.st.wheel.tickOf(now)
			break
		}
		t := e.st.wheel.startOf(e.st.wheel.next)
		e.periodicDue(t, false)
		if t >= e.fleet.Due() {
			e.advanceFleet(t)
		}
		e.st.wheel.deliver(e.wake)
		e.settled(ctx)
	}
	if now >= e.fleet.Due() {
		e.advanceFleet(now) // only when a bin completes
	}
	if e.obs.Observer != nil {
		e.observeBins(now)
	}
	if now >= e.al.coh.next {
		e.cohortsDue(now)
	}
	e.now = now
	if e.loop.open {
		e.loopQuiet(now)
	}
	if now >= min(e.src.Next(), e.bad.next, e.st.evict.next) || e.closed {
		e.periodicDue(now, true)
	}
	e.rearm()
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
	if lag := int64(e.cfg.MaxArrivalLag); moreThan(smp.Arrival, smp.Time, lag) && (!e.started || moreThan(smp.Arrival, e.now, lag)) {
		e.stats.local.BadArrival++
		return
	}
	e.advance(ctx, smp.Arrival)
	if moreThan(smp.Time, smp.Arrival, int64(e.cfg.MaxFutureSkew)) {
		e.stats.local.Future++
		return
	}
	if smp.Series == 0 {
		smp.Series = stream.Hash(smp.Name, smp.Labels)
	}
	idx, ok := e.st.index.get(smp.Series)
	if !ok {
		if idx, ok = e.create(smp); !ok {
			return
		}
	}
	// Any delivery keeps the series from eviction, a copy or a sample too
	// old to judge included: its source still sends it (see evict.go).
	e.st.series[idx].seen = seenAt(e.now)
	if e.dd != nil { // nil with Config.DisableDedup
		switch e.dd.Admit(smp.Series, smp.Time, smp.Value) {
		case dedup.Duplicate:
			e.stats.local.Duplicates++
			e.redelivered(idx)
			e.copyDelivered(idx, smp.Time, smp.Arrival)
			return
		case dedup.Conflict:
			e.stats.local.Conflicts++
			e.redelivered(idx)
			e.copyDelivered(idx, smp.Time, smp.Arrival)
			return
		case dedup.TooLate:
			e.stats.local.TooLate++
			e.sourceOverflow(e.st.series[idx].src)
			return
		}
	}
	s := &e.st.series[idx]
	if smp.Time == s.lastTs {
		// A copy of the series' newest sample that the deduper did not
		// recognise (dedup is off, or forgot the key): its slot was
		// filled by the first copy, so it is a duplicate.
		e.stats.local.Duplicates++
		e.redelivered(idx)
		e.copyDelivered(idx, smp.Time, smp.Arrival)
		return
	}
	e.stats.local.Fresh++
	e.arrive(idx, smp)
	e.freshAt(s.src, smp.Time)
	if smp.Time <= s.lastTs {
		e.stats.local.OutOfOrder++
		return
	}
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

// create makes the state of a series not in the index: sample looks the
// index up inline and calls create only for a new series. A new series
// carrying the engine's provenance label is faultline's own output coming
// back: it is rejected (see loop.go), and never gets state, so known series
// pay nothing for the check.
func (e *Engine) create(smp *stream.Sample) (uint32, bool) {
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
		e.st.add(s, t)
	}
	e.attachRules(idx, smp.Labels, false)
	e.stats.local.Series++
	return idx, true
}

// bindRules points series s (at index idx) at the rules that select it,
// appended to e.al.ruleIdx, and records the absence threshold its series entry
// declares, which it returns. New series (create), reloads (rebind) and
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
