package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/faultline-go/faultline/clock"
	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/internal/frame"
	"github.com/faultline-go/faultline/metrics"
	"github.com/faultline-go/faultline/rules"
	"github.com/faultline-go/faultline/stream"
)

// Errors of the runtime, for errors.Is.
var (
	// ErrBusy means the shards' queues were full until the caller's
	// context ended: the samples not queued were refused and counted.
	// Inputs answer with back-pressure (HTTP 503 and Retry-After).
	ErrBusy = errors.New("pipeline: busy")
	// ErrStopped means the runtime has stopped and takes no more input.
	ErrStopped = errors.New("pipeline: stopped")
)

// Runtime runs faultline live: see the package doc. New builds it and
// starts nothing; Run runs it until its context ends. Ingest, BadInput,
// Reload, Now and AppendMetrics may be called from any goroutine, before
// and during Run.
type Runtime struct {
	cfg    Config
	shards []*shard
	merge  *merger
	outCh  chan shardOut
	flush  chan chan struct{}
	pause  chan struct{} // held (a token in it) by one pause or reload at a time
	done   chan struct{} // closed once Run's shards are gone
	lock   *frame.Lock   // Config.State's, from New until Run returns
	gen    uint64        // reloads made; guarded by pause

	lastSeen atomic.Int64    // UnixNano of the latest clock reading (noticeStall); 0 unless Run runs
	writing  atomic.Bool     // a checkpoint is being written: time passing is no stall
	runStart atomic.Int64    // when Run started: where a restart's skip ends
	stallMu  sync.Mutex      // held while a stall noticed is queued (noticeStall)
	runCtx   context.Context // Run's, for the skips of a stall an input notices; set before lastSeen

	pool    sync.Pool    // of batches
	stop    sync.RWMutex // held for reading while a batch is queued; for writing to stop
	stopped bool         // guarded by stop
	bad     badQueue     // bad records waiting for their shard
	mu      sync.Mutex   // guards what follows
	sources []rules.Source

	extra []metrics.Source
	ctr   counters
}

// counters are the runtime's own counts.
type counters struct {
	samples, refused, ticks, stalls, checkpoints, checkpointErrs atomic.Uint64
	reloads, reloadErrs, events, sinkErrs, badInput              atomic.Uint64
	downtimeNs                                                   atomic.Int64
}

// New returns a runtime configured by cfg. With cfg.State, it locks it
// until Run returns (see Config.State) and restores the checkpoint found
// there, if any (see Restarts in the package doc); a
// checkpoint it cannot read is an error, not a fresh start: remove the
// file to start afresh.
func New(cfg Config) (*Runtime, error) {
	lock := cfg.Store == nil && cfg.State != "" // a Store is the host's to keep to one writer
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	var held *frame.Lock
	if lock {
		if held, err = lockState(cfg.State, cfg.Logger); err != nil {
			return nil, err
		}
	}
	rt, err := newRuntime(cfg)
	if err != nil {
		held.Unlock()
		return nil, err
	}
	rt.lock = held
	return rt, nil
}

// newRuntime is New once cfg has its defaults and its State is locked.
func newRuntime(cfg Config) (*Runtime, error) {
	rs, err := rules.ParseSources(cfg.Rules...)
	if err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	rt := &Runtime{cfg: cfg, sources: cfg.Rules, flush: make(chan chan struct{}),
		pause: make(chan struct{}, 1), done: make(chan struct{})}
	ck, err := readCheckpoint(cfg.Store)
	if err != nil {
		return nil, err
	}
	n := cfg.Shards
	switch {
	case ck != nil && n != 0 && n != len(ck.snapshots):
		return nil, fmt.Errorf("pipeline: the checkpoint (%v) holds %d shards, the configuration asks for %d: series are assigned to shards by their hash, so the count cannot change under a checkpoint; remove it to start afresh",
			cfg.Store, len(ck.snapshots), n)
	case ck != nil:
		n = len(ck.snapshots)
	case n == 0:
		n = defaultShards()
	}
	rt.outCh = make(chan shardOut, 4*n)
	rt.merge = newMerger(n, rt.deliver)
	if ck == nil {
		for i := range n {
			s := rt.newShard(i)
			if s.eng, err = fault.New(rt.engineConfig(rs, s)); err != nil {
				rt.release()
				return nil, err
			}
			rt.shards = append(rt.shards, s)
		}
		return rt, nil
	}
	if err := rt.restore(ck, rs); err != nil {
		rt.release()
		return nil, err
	}
	return rt, nil
}

// newShard returns shard i, without its engine.
func (rt *Runtime) newShard(i int) *shard {
	return &shard{id: i, queue: make(chan work, rt.cfg.QueueLen), tick: make(chan int64, 1),
		out: rt.outCh, pool: &rt.pool, log: rt.cfg.Logger}
}

// engineConfig is shard s's engine configuration under rs.
func (rt *Runtime) engineConfig(rs *rules.Ruleset, s *shard) fault.Config {
	c := rt.cfg.Engine
	c.Rules, c.Sink = rs, s
	if c.Logger == nil {
		c.Logger = rt.cfg.Logger
	}
	return c
}

// restore builds the shards from a checkpoint: each engine under the rules
// the checkpoint was taken under, then the current rules applied as a
// reload would; the downtime from the checkpoint to Run's start is
// skipped and reported when Run starts.
func (rt *Runtime) restore(ck *checkpoint, current *rules.Ruleset) error {
	old, err := rules.ParseSources(ck.sources...)
	if err != nil {
		return fmt.Errorf("pipeline: the rules of checkpoint (%v): %w", rt.cfg.Store, err)
	}
	ctx := context.Background()
	reload := !current.Equal(old)
	for i, snap := range ck.snapshots {
		s := rt.newShard(i)
		eng, err := fault.Restore(rt.engineConfig(old, s), bytes.NewReader(snap))
		if err != nil {
			return fmt.Errorf("pipeline: restoring shard %d from %v: %w", i, rt.cfg.Store, err)
		}
		s.eng = eng
		rt.shards = append(rt.shards, s)
		if reload {
			if err := eng.Update(ctx, current); err != nil {
				return fmt.Errorf("pipeline: applying the current rules to shard %d: %w", i, err)
			}
		}
	}
	grouping, err := RestoreMerger(ck.merger)
	if err != nil {
		return fmt.Errorf("pipeline: restoring the merger from %v: %w", rt.cfg.Store, err)
	}
	rt.merge.group = grouping
	// One work item a shard, which a queue of any length holds: the skip
	// of the downtime, from the checkpoint to when Run starts (the time
	// between New and Run is downtime too: nothing ran), or without one a
	// flush; either hands the merger first what the reload emitted. Shard
	// 0 reports the downtime after them, in order with what it emits.
	for i, s := range rt.shards {
		w := work{kind: workSkip, from: ck.taken, runStart: &rt.runStart}
		if i == 0 {
			w.report = func(from, to int64) *fault.Event {
				rt.ctr.downtimeNs.Add(to - from)
				return downtimeEvent(rt.cfg.Engine.Instance, from, to, "restart")
			}
		}
		s.queue <- w
	}
	return nil
}

// release gives back the engines' memory held off the Go heap.
func (rt *Runtime) release() {
	for _, s := range rt.shards {
		if dd := s.eng.Deduper(); dd != nil {
			dd.Reset()
		}
	}
}

// Now returns the wall clock's time: inputs stamp arrivals with it.
func (rt *Runtime) Now() time.Time { return rt.cfg.Clock.Now() }

// Shards returns the number of shards.
func (rt *Runtime) Shards() int { return len(rt.shards) }

// Ingest queues samples, each stamped with its arrival time, on their
// shards, and returns once all are queued. When a shard's queue is full it
// waits for room until ctx ends; the samples not queued by then are
// refused, counted, and reported by an error matching ErrBusy. Once the
// runtime has stopped, the samples not queued are refused and counted
// likewise, and the error matches ErrStopped. The caller may reuse batch
// when Ingest returns.
func (rt *Runtime) Ingest(ctx context.Context, batch []stream.Sample) error {
	return rt.ingest(ctx, batch, false)
}

// Hand is Ingest for a batch the caller gives away, taken from Batch: the
// runtime may queue batch itself rather than a copy (with one shard it
// does), so the caller must not touch it once Hand is called, whatever it
// returns. An input that decodes into a batch it then hands saves a copy
// of every sample.
func (rt *Runtime) Hand(ctx context.Context, batch []stream.Sample) error {
	return rt.ingest(ctx, batch, true)
}

// Batch returns an empty batch with room for n samples, to fill and give
// to Hand.
func (rt *Runtime) Batch(n int) []stream.Sample { return rt.getBatch(n) }

// ingest is Ingest, or Hand if owned.
func (rt *Runtime) ingest(ctx context.Context, batch []stream.Sample, owned bool) error {
	if len(batch) == 0 {
		return nil
	}
	rt.noticeStall(rt.cfg.Clock.Now())
	parts := rt.split(batch, owned)
	if owned && len(parts) > 1 {
		putBatch(&rt.pool, batch) // copied into the parts
	}
	refused := 0
	why := ErrBusy
	for i, part := range parts {
		if len(part) == 0 {
			continue
		}
		if refused > 0 {
			refused += len(part)
			putBatch(&rt.pool, part)
			continue
		}
		if err := rt.enqueue(ctx, i, work{kind: workBatch, batch: part}); err != nil {
			refused += len(part)
			putBatch(&rt.pool, part)
			if errors.Is(err, ErrStopped) {
				why = ErrStopped
			}
		}
	}
	rt.ctr.samples.Add(uint64(len(batch) - refused))
	if refused > 0 {
		rt.ctr.refused.Add(uint64(refused))
		return fmt.Errorf("%w: %d of %d samples refused", why, refused, len(batch))
	}
	return nil
}

// split copies a batch into one part per shard, each taken from the pool
// with room for its expected share. With one shard the part is a copy of
// the batch, made at once, or the batch itself if it is owned (Hand).
func (rt *Runtime) split(batch []stream.Sample, owned bool) [][]stream.Sample {
	parts := make([][]stream.Sample, len(rt.shards))
	n := uint64(len(rt.shards))
	label := rt.cfg.Engine.SourceLabel
	for i := range batch {
		if batch[i].Series == 0 {
			batch[i].Series = stream.Hash(batch[i].Name, batch[i].Labels)
		}
	}
	switch {
	case n == 1 && owned:
		parts[0] = batch
		return parts
	case n == 1:
		parts[0] = append(rt.getBatch(len(batch)), batch...)
		return parts
	}
	share := len(batch)/int(n) + len(batch)/(4*int(n)) + 16 // a fair share, and some
	mask, pow2 := n-1, n&(n-1) == 0                         // h & mask is h % n for a power of 2
	for i := range batch {
		smp := &batch[i]
		h := uint64(smp.Series)
		if label != "" {
			h = xxhash.Sum64String(smp.Labels.Get(label))
		}
		s := h & mask
		if !pow2 {
			s = h % n
		}
		if parts[s] == nil {
			parts[s] = rt.getBatch(share)
		}
		parts[s] = append(parts[s], *smp)
	}
	return parts
}

// enqueue puts w on shard i's queue, waiting for room until ctx ends. The
// runtime does not stop while a batch is being queued, so that what was
// queued before it stopped is processed.
func (rt *Runtime) enqueue(ctx context.Context, i int, w work) error {
	rt.stop.RLock()
	defer rt.stop.RUnlock()
	if rt.stopped {
		return ErrStopped
	}
	select {
	case rt.shards[i].queue <- w:
		return nil
	default:
	}
	select {
	case rt.shards[i].queue <- w:
		return nil
	case <-ctx.Done():
		return ErrBusy
	}
}

// BadInput reports a record of the named input that could not be decoded
// (see fault.Engine.BadInput). An input's bad records all go to one shard,
// so that they are coalesced into one episode per runtime. It never
// blocks: records are counted per input (with their first errors) until
// their shard takes them, so a flood costs a counter, and none is lost.
func (rt *Runtime) BadInput(input string, err error) {
	rt.ctr.badInput.Add(1)
	if rt.bad.add(input, err) {
		rt.queueBad(input)
	}
}

// queueBad tries to queue the bad records of input on their shard; if the
// queue is full, the next record or tick tries again.
func (rt *Runtime) queueBad(input string) {
	i := xxhash.Sum64String(input) % uint64(len(rt.shards))
	select {
	case rt.shards[i].queue <- work{kind: workBadInput, input: input, bad: &rt.bad}:
	default:
		rt.bad.requeue(input)
	}
}

// Reload parses srcs and, if they are valid, makes them the rules of
// every shard, as fault.Engine.Update does (state carries over for
// unchanged rules). Invalid rules are refused with every problem and its
// position, counted, and the old rules stay; so is a reload that cannot
// be applied (the runtime stopped, ctx ended). Reload does not wait for
// room in the shards' queues: a shard whose queue is full applies the
// reload before its next work, so that every shard, and every checkpoint,
// has the same rules. It waits (until ctx ends) for a checkpoint in
// progress.
func (rt *Runtime) Reload(ctx context.Context, srcs []rules.Source) error {
	rs, err := rules.ParseSources(srcs...)
	if err != nil {
		rt.ctr.reloadErrs.Add(1)
		var errs rules.Errors
		if errors.As(err, &errs) {
			for _, e := range errs {
				rt.cfg.Logger.Error("reload refused: the old rules stay", "err", e)
			}
		}
		return fmt.Errorf("pipeline: reload refused, the old rules stay: %w", err)
	}
	rt.stop.RLock()
	stopped := rt.stopped
	rt.stop.RUnlock()
	if stopped {
		rt.ctr.reloadErrs.Add(1)
		rt.cfg.Logger.Error("reload not applied: the old rules stay", "err", ErrStopped)
		return fmt.Errorf("pipeline: reload: %w", ErrStopped)
	}
	if err := rt.lockPause(ctx); err != nil {
		rt.ctr.reloadErrs.Add(1)
		rt.cfg.Logger.Error("reload not applied: the old rules stay", "err", err)
		return fmt.Errorf("pipeline: reload: %w", err)
	}
	defer rt.unlockPause()
	rt.gen++
	req := &reloadReq{gen: rt.gen, rules: rs}
	rt.mu.Lock()
	rt.sources = srcs
	rt.mu.Unlock()
	for _, s := range rt.shards {
		select {
		case s.queue <- work{kind: workReload, reload: req}:
		default:
			s.pending.Store(req) // applied before the shard's next work
		}
	}
	rt.ctr.reloads.Add(1)
	return nil
}

// lockPause takes the pause token, waiting until ctx ends or the runtime
// has stopped (ErrStopped: Run keeps the token once it shuts down).
func (rt *Runtime) lockPause(ctx context.Context) error {
	select {
	case rt.pause <- struct{}{}:
		return nil
	default:
	}
	select {
	case rt.pause <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-rt.done:
		return ErrStopped
	}
}

func (rt *Runtime) unlockPause() { <-rt.pause }

// deliver hands a merged event to every sink. It runs on the merger's
// goroutine; sinks never block.
func (rt *Runtime) deliver(ev fault.Event) {
	rt.ctr.events.Add(1)
	for _, s := range rt.cfg.Sinks {
		if err := s.Emit(context.Background(), ev); err != nil {
			rt.ctr.sinkErrs.Add(1)
		}
	}
}

// Run runs the runtime until ctx ends, then shuts it down: inputs are
// refused (ErrStopped), the queued samples are processed, the engines are
// advanced to the wall clock, a last checkpoint is taken, and the sinks
// deliver what they hold (for at most Config.Drain); then the lock of
// Config.State is released. It returns what went wrong in that sequence,
// nil if nothing did. Run may be called once.
func (rt *Runtime) Run(ctx context.Context) error {
	for i, s := range rt.cfg.Sinks {
		if err := s.Start(); err != nil {
			_ = closeSinks(rt.cfg.Sinks[:i], rt.cfg.Drain)
			// Stopped, as after a shutdown: Ingest and Sync say so instead
			// of waiting for shards that will never run.
			rt.refuseInput()
			close(rt.done)
			rt.release()
			rt.lock.Unlock()
			return fmt.Errorf("pipeline: starting a sink: %w", err)
		}
	}
	inner, cancel := context.WithCancel(context.Background())
	defer cancel()
	mergeDone := make(chan struct{})
	go func() {
		rt.merge.run(rt.outCh, rt.flush)
		close(mergeDone)
	}()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	// The ticker and the clock reading that stalls are measured from are
	// set before the shards run: once they run, a Sync returns and inputs
	// move the engines on, and a stall before the loop's first tick must
	// not pass unnoticed (runCtx, which stalled uses, is set before).
	start := rt.cfg.Clock.Now()
	tick := rt.cfg.Clock.NewTicker(rt.cfg.Tick)
	rt.runCtx = inner
	rt.runStart.Store(start.UnixNano()) // before the shards run a restart's skip
	rt.lastSeen.Store(start.UnixNano())
	for _, s := range rt.shards {
		wg.Go(func() { s.run(inner, stop) })
	}

	err := rt.loop(ctx, tick, start)

	// Shutdown: refuse input, drain, advance, checkpoint, close the sinks.
	rt.refuseInput()
	if cerr := rt.checkpoint(inner, rt.cfg.Drain); cerr != nil {
		err = errors.Join(err, cerr)
	}
	// The pause token is kept from now on: a pause queued once a shard has
	// gone would wait for its answer for ever, and the shards that took it
	// would wait for it to end. Syncs and reloads that wait for the token
	// get ErrStopped once the shards are gone.
	_ = rt.lockPause(inner)
	rt.lastSeen.Store(0) // no tick any more: time passing is no stall
	close(stop)
	wg.Wait()
	close(rt.done)
	close(rt.outCh)
	<-mergeDone
	rt.release()
	if cerr := closeSinks(rt.cfg.Sinks, rt.cfg.Drain); cerr != nil {
		err = errors.Join(err, cerr)
	}
	rt.lock.Unlock()
	return err
}

// refuseInput marks the runtime stopped: Ingest refuses samples
// (ErrStopped) from then on.
func (rt *Runtime) refuseInput() {
	rt.stop.Lock()
	rt.stopped = true
	rt.stop.Unlock()
}

// closeSinks closes sinks, letting them deliver what they hold for at
// most drain, and joins their errors.
func closeSinks(sinks []Sink, drain time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	var err error
	for _, s := range sinks {
		if cerr := s.Close(ctx); cerr != nil {
			err = errors.Join(err, fmt.Errorf("pipeline: closing a sink: %w", cerr))
		}
	}
	return err
}

// loop ticks the engines and takes the periodic checkpoints until ctx
// ends. A tick much later than due means the runtime itself stalled: the
// span is skipped and reported as downtime.
func (rt *Runtime) loop(ctx context.Context, tick clock.Ticker, start time.Time) error {
	defer tick.Stop()
	nextCkp := start.Add(rt.cfg.CheckpointEvery)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C():
		}
		now := rt.cfg.Clock.Now()
		rt.ctr.ticks.Add(1)
		for _, input := range rt.bad.unqueued() {
			rt.queueBad(input)
		}
		rt.noticeStall(now)
		// One tick behind the clock: data stamped just before the tick may
		// still be on its way to a queue, and must not arrive behind the
		// engine's clock.
		at := now.Add(-rt.cfg.Tick).UnixNano()
		for _, s := range rt.shards {
			s.ticked(at)
		}
		if rt.cfg.Store != nil && !now.Before(nextCkp) {
			if err := rt.checkpoint(ctx, 0); err != nil {
				rt.cfg.Logger.Error("checkpoint failed", "err", err)
			}
			nextCkp = now.Add(rt.cfg.CheckpointEvery)
		}
	}
}

// noticeStall takes the span since the runtime last read its clock for
// the runtime's own downtime (a stall: the process was suspended, or
// starved) when it is longer than Config.StallAfter. The ticker reads the
// clock at each tick, and so do Ingest and Sync before they hand anything
// to the shards: whichever reads it first after a stall notices it, before
// any engine can judge the span, and queues the skips, holding stallMu;
// the others find it taken care of. A runtime whose ticker falls behind
// while writes come in is not stalled: the writes move its engines on;
// nor is one whose ticker is writing a checkpoint, however long it takes.
func (rt *Runtime) noticeStall(now time.Time) {
	n := now.UnixNano()
	last := rt.lastSeen.Load()
	if last == 0 {
		return // Run does not run
	}
	if n-last <= int64(rt.cfg.StallAfter) || rt.writing.Load() {
		storeMax(&rt.lastSeen, n)
		return
	}
	rt.stallMu.Lock()
	defer rt.stallMu.Unlock()
	last = rt.lastSeen.Load()
	if last == 0 || n-last <= int64(rt.cfg.StallAfter) { // stopped, or taken care of
		return
	}
	rt.stalled(time.Unix(0, last), now)
	rt.lastSeen.CompareAndSwap(last, n) // after the skips are queued; not over Run's 0
}

// storeMax stores n in a unless a holds more already, or 0: once Run has
// stored 0 (it stopped), no reading of the clock makes it a stall again.
func storeMax(a *atomic.Int64, n int64) {
	for last := a.Load(); last != 0 && n > last && !a.CompareAndSwap(last, n); last = a.Load() {
	}
}

// stalled reports a stall of the runtime from from to to: every engine
// skips it, and one collector_down event says so. The skips are queued
// even once the runtime refuses input: a stall noticed by the last
// checkpoint, or by a write that races the shutdown, must be skipped
// before the last checkpoint advances the engines across it (the shards
// run until their queues are empty, and a skip queued after they are
// gone waits until Run returns).
func (rt *Runtime) stalled(from, to time.Time) {
	rt.ctr.stalls.Add(1)
	rt.ctr.downtimeNs.Add(int64(to.Sub(from)))
	rt.cfg.Logger.Warn("the runtime stalled: the span is skipped as downtime", "from", from, "to", to)
	ev := downtimeEvent(rt.cfg.Engine.Instance, from.UnixNano(), to.UnixNano(), "stall")
	for i, s := range rt.shards {
		select {
		case s.queue <- skipWork(i, from.UnixNano(), to.UnixNano(), ev):
		case <-rt.runCtx.Done():
		}
	}
}

// skipWork is shard i's work item for a downtime from from to to, reported
// by ev: shard 0 hands ev on after its skip, in order with what it emits.
func skipWork(i int, from, to int64, ev *fault.Event) work {
	w := work{kind: workSkip, from: from, to: to}
	if i == 0 {
		w.report = func(int64, int64) *fault.Event { return ev }
	}
	return w
}

// downtimeEvent is the one event that reports a downtime of the host.
func downtimeEvent(instance string, from, to int64, why string) *fault.Event {
	if instance == "" {
		instance = "faultline"
	}
	ev := fault.Event{
		Kind:   fault.KindCollectorDown,
		Rule:   string(fault.KindCollectorDown),
		State:  fault.StateResolved,
		At:     to,
		Since:  from,
		Labels: stream.NewLabels(fault.OriginLabel, instance),
		Annotations: stream.NewLabels(
			"reason", why,
			"summary", fmt.Sprintf("faultline was down for %v (%s): the slots expected meanwhile were not judged",
				time.Duration(to-from).Round(time.Millisecond), why),
		),
		Value: time.Duration(to - from).Seconds(),
	}
	ev.ID, ev.Episode = fault.EventIDs(ev.Kind, ev.Rule, 0, from, ev.State)
	return &ev
}

// AddMetrics adds a source of metrics (an input's, a decoder's) to what
// AppendMetrics reports.
func (rt *Runtime) AddMetrics(src metrics.Source) {
	rt.mu.Lock()
	rt.extra = append(rt.extra, src)
	rt.mu.Unlock()
}

// AppendMetrics appends the runtime's self-metrics: its own counters, each
// shard's queue and engine (labelled shard), the sinks' that report any,
// and the sources added with AddMetrics.
func (rt *Runtime) AppendMetrics(dst []metrics.Metric) []metrics.Metric {
	c := &rt.ctr
	ms := rt.merge.group.Stats()
	dst = append(dst,
		metrics.C("faultline_runtime_samples_total", "Samples queued for the shards.", c.samples.Load()),
		metrics.C("faultline_runtime_refused_total", "Samples refused because the shards' queues stayed full (back-pressure) or the runtime had stopped.", c.refused.Load()),
		metrics.C("faultline_runtime_bad_input_total", "Records reported undecodable by the inputs.", c.badInput.Load()),
		metrics.C("faultline_runtime_ticks_total", "Ticks that advanced the engines to the wall clock.", c.ticks.Load()),
		metrics.C("faultline_runtime_stalls_total", "Stalls of the runtime reported as downtime.", c.stalls.Load()),
		metrics.G("faultline_runtime_downtime_seconds", "Downtime of the collector (restarts and stalls) reported since it started.", time.Duration(c.downtimeNs.Load()).Seconds()),
		metrics.C("faultline_runtime_checkpoints_total", "Checkpoints written.", c.checkpoints.Load()),
		metrics.C("faultline_runtime_checkpoint_errors_total", "Checkpoints that failed.", c.checkpointErrs.Load()),
		metrics.C("faultline_runtime_reloads_total", "Rule reloads applied.", c.reloads.Load()),
		metrics.C("faultline_runtime_reload_errors_total", "Rule reloads refused (invalid rules) or not applied.", c.reloadErrs.Load()),
		metrics.C("faultline_runtime_events_total", "Events delivered to the sinks, after merging.", c.events.Load()),
		metrics.C("faultline_runtime_events_merged_total", "Shard events folded into the event of a fault another shard found too.", ms.Merged),
		metrics.C("faultline_runtime_events_duplicate_total", "Shard events of a fault's episode in a state it had reached already (re-emitted), dropped.", ms.Duplicates),
		metrics.C("faultline_runtime_merge_overflow_total", "Shard events passed on unmerged because the merger held its most groups or members.", ms.Overflow),
		metrics.C("faultline_runtime_sink_errors_total", "Events a sink refused at once (its queue was full or it was closed).", c.sinkErrs.Load()),
	)
	for _, s := range rt.shards {
		id := strconv.Itoa(s.id)
		dst = append(dst,
			metrics.G("faultline_runtime_queue", "Batches waiting in a shard's queue.", float64(len(s.queue))).With("shard", id),
			metrics.G("faultline_runtime_queue_capacity", "Batches a shard's queue holds.", float64(cap(s.queue))).With("shard", id),
			metrics.C("faultline_runtime_batches_total", "Batches a shard processed.", s.batches.Load()).With("shard", id),
			metrics.C("faultline_runtime_overloaded_total", "Engine calls in which a bound refused something (see the engine's counters).", s.overload.Load()).With("shard", id),
			metrics.C("faultline_runtime_engine_errors_total", "Engine calls that failed otherwise.", s.failures.Load()).With("shard", id),
		)
		st := s.eng.Stats()
		from := len(dst)
		dst = st.AppendMetrics(dst)
		if ds := s.dedup.Load(); ds != nil {
			dst = ds.AppendMetrics(dst)
		}
		for i := from; i < len(dst); i++ {
			dst[i] = dst[i].With("shard", id)
		}
	}
	for _, s := range rt.cfg.Sinks {
		if src, ok := s.(metrics.Source); ok {
			dst = src.AppendMetrics(dst)
		}
	}
	rt.mu.Lock()
	extra := rt.extra
	rt.mu.Unlock()
	return metrics.Sources(extra).AppendMetrics(dst)
}

// getBatch returns an empty batch with room for n samples, from the pool
// if the one it holds is large enough.
func (rt *Runtime) getBatch(n int) []stream.Sample {
	if b, ok := rt.pool.Get().(*[]stream.Sample); ok && cap(*b) >= n {
		return (*b)[:0]
	}
	return make([]stream.Sample, 0, max(n, 256))
}

// putBatch gives a batch back to the pool, unless it grew large. It is
// not cleared, which cost as much as copying it: the names and labels of
// its samples stay reachable until it is filled again or the collector
// empties the pool, at its second collection at the latest.
func putBatch(pool *sync.Pool, b []stream.Sample) {
	if cap(b) <= 1<<16 {
		b = b[:0]
		pool.Put(&b)
	}
}

// badQueue holds the bad records of each input until its shard takes
// them: a count and the first errors.
type badQueue struct {
	mu      sync.Mutex
	pending map[string]*badRecords
}

type badRecords struct {
	n      uint64
	errs   []error
	queued bool // a work item for it is on its shard's queue
}

// add counts a record and reports whether a work item must be queued.
func (q *badQueue) add(input string, err error) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.pending == nil {
		q.pending = make(map[string]*badRecords)
	}
	r := q.pending[input]
	if r == nil {
		r = &badRecords{}
		q.pending[input] = r
	}
	r.n++
	if len(r.errs) < 3 {
		r.errs = append(r.errs, err)
	}
	if r.queued {
		return false
	}
	r.queued = true
	return true
}

// requeue notes that no work item could be queued for input.
func (q *badQueue) requeue(input string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if r := q.pending[input]; r != nil {
		r.queued = false
	}
}

// take returns and forgets what input has waiting.
func (q *badQueue) take(input string) (n uint64, errs []error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	r := q.pending[input]
	if r == nil {
		return 0, nil
	}
	delete(q.pending, input)
	return r.n, r.errs
}

// unqueued returns the inputs whose records wait with no work item queued,
// marking them queued.
func (q *badQueue) unqueued() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []string
	for input, r := range q.pending {
		if !r.queued {
			r.queued = true
			out = append(out, input)
		}
	}
	slices.Sort(out)
	return out
}
