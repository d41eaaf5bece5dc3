package kafka

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/pipeline"
	"github.com/faultline-go/faultline/rules"
)

// errCrashed is what Run returns when a test crashed the worker.
var errCrashed = errors.New("kafka: worker crashed")

// Worker is one member of the consumer group: see the package doc. New
// builds it and starts nothing; Run runs it until its context ends.
// AppendMetrics may be called from any goroutine.
type Worker struct {
	cfg  Config
	rs   *rules.Ruleset
	conn []kgo.Opt // seeds, SASL, TLS and Config.Options: every client's
	opts []kgo.Opt // the group client's

	cl  *kgo.Client
	clv atomic.Pointer[kgo.Client] // cl, for AppendMetrics
	adm *kadm.Client               // on a client of its own, outside the group

	mu      sync.Mutex // guards what the loop and the group's callbacks share
	parts   map[tp]*partition
	view    atomic.Pointer[[]*partition] // parts, for AppendMetrics
	nextCkp int64
	stateN  int32 // partitions of the state topic

	life    context.Context // the engines': ends once Run is done
	endLife context.CancelFunc
	sending context.Context // the producer's: ends drain after Run's context, or once Run is done
	drain   time.Duration   // how long Run may take to stop once its context ends
	ending  context.Context // ends with Run's context, or when the worker crashes
	endRun  atomic.Pointer[context.CancelFunc]

	tickDue    atomic.Bool
	pollCancel atomic.Pointer[context.CancelFunc]

	failMu sync.Mutex
	failed []*kgo.Record // produced and refused: sent again

	running atomic.Bool
	crashed atomic.Bool
	hooks   hooks

	// The heads of the snapshots this build writes, to tell a state a
	// newer build wrote.
	engineHead, fleetHead frameHead

	ctr counters
}

// tp names a topic's partition.
type tp struct {
	topic     string
	partition int32
}

// hooks are what tests inject: a crash at a point of a checkpoint.
type hooks struct {
	// checkpoint is called at each stage of a checkpoint ("flushed":
	// every event acknowledged; "state": the state written; "committed").
	checkpoint func(w *Worker, stage string)
}

// New returns a worker configured by cfg. It checks the configuration and
// parses the rules; it connects to nothing.
func New(cfg Config) (*Worker, error) {
	cfg, err := cfg.settle()
	if err != nil {
		return nil, err
	}
	rs, err := rules.ParseSources(cfg.Rules...)
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	probe := cfg.Engine
	probe.Rules, probe.Sink = rs, nil
	eng, err := fault.New(probe) // the partitions' engines are built alike, later
	if err != nil {
		return nil, fmt.Errorf("kafka: engine: %w", err)
	}
	snap, err := eng.AppendSnapshot(nil)
	if dd := eng.Deduper(); dd != nil {
		dd.Reset()
	}
	if err != nil {
		return nil, fmt.Errorf("kafka: engine: %w", err)
	}
	conn, err := cfg.connOpts()
	if err != nil {
		return nil, err
	}
	w := &Worker{cfg: cfg, rs: rs, parts: map[tp]*partition{}, drain: drainTimeout,
		engineHead: headOf(snap), fleetHead: headOf(pipeline.NewMerger().AppendState(nil))}
	w.conn = append(conn, cfg.Options...)
	stateMax := int32(cfg.MaxSnapshot + stateOverhead)
	w.opts = append(slices.Clone(conn),
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(cfg.Topic, cfg.FleetTopic),
		kgo.Balancers(boundedBalancer{GroupBalancer: kgo.CooperativeStickyBalancer(), w: w}),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(w.assigned),
		kgo.OnPartitionsRevoked(w.revoked),
		kgo.OnPartitionsLost(w.lost),
		kgo.AdjustFetchOffsetsFn(w.adjustOffsets),
		kgo.FetchMaxBytes(int32(cfg.MaxFetchBytes)),
		kgo.FetchMaxPartitionBytes(int32(cfg.MaxFetchBytes)),
		kgo.BrokerMaxReadBytes(int32(cfg.MaxFetchBytes)+1<<20),
		kgo.MaxBufferedRecords(cfg.MaxPendingEvents),
		kgo.RecordPartitioner(partitioner{state: cfg.StateTopic, def: kgo.StickyKeyPartitioner(nil)}),
		kgo.ProducerBatchMaxBytesFn(func(topic string) int32 {
			if topic == cfg.StateTopic {
				return stateMax
			}
			return 1_000_012 // Kafka's default max.message.bytes
		}),
	)
	w.opts = append(w.opts, cfg.Options...)
	return w, nil
}

// partitioner sends state records to the partition they name, and
// everything else by the hash of its key, as Kafka's Java producer does.
type partitioner struct {
	state string
	def   kgo.Partitioner
}

func (p partitioner) ForTopic(topic string) kgo.TopicPartitioner {
	if topic == p.state {
		return kgo.ManualPartitioner().ForTopic(topic)
	}
	return p.def.ForTopic(topic)
}

// drainTimeout bounds how long Run takes to stop once its context ends.
const drainTimeout = 30 * time.Second

// Run joins the group and processes what it is assigned until ctx ends;
// then it checkpoints every partition it holds (its events acknowledged,
// its state written, its offsets committed) and leaves the group. It
// returns what went wrong in that sequence, nil if nothing did. Run may
// be called once.
//
// Once ctx ends, Run stops within 30 s whatever the brokers do: producing
// that waits for room (Config.MaxPendingEvents records not acknowledged),
// a revoke's checkpoint and the last checkpoint give up then. A checkpoint that gives up writes
// no state and commits no offset, so the partitions' next owners
// re-process their input since their last states.
func (w *Worker) Run(ctx context.Context) error {
	if !w.running.CompareAndSwap(false, true) {
		return errors.New("kafka: Run may be called once")
	}
	w.life, w.endLife = context.WithCancel(context.Background())
	defer w.endLife()
	var stopSending context.CancelFunc
	w.sending, stopSending = context.WithCancel(context.Background())
	defer stopSending()
	defer context.AfterFunc(ctx, func() { time.AfterFunc(w.drain, stopSending) })()
	var endRun context.CancelFunc
	w.ending, endRun = context.WithCancel(ctx)
	defer endRun()
	w.endRun.Store(&endRun)
	admCl, err := kgo.NewClient(w.conn...)
	if err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	defer admCl.Close()
	w.adm = kadm.NewClient(admCl)
	n, err := w.partitionsOf(ctx, w.cfg.StateTopic)
	if err != nil {
		return err
	}
	if m, err := w.partitionsOf(ctx, w.cfg.FleetTopic); err != nil {
		return err
	} else if m != 1 {
		w.cfg.Logger.Warn("the fleet topic should have one partition: each of its partitions merges apart", "topic", w.cfg.FleetTopic, "partitions", m)
	}
	w.stateN = n
	w.nextCkp = w.cfg.Clock.Now().Add(w.cfg.CheckpointEvery).UnixNano()
	if w.cl, err = kgo.NewClient(w.opts...); err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	w.clv.Store(w.cl)
	defer w.clv.Store(nil)
	tickDone := make(chan struct{})
	var ticker sync.WaitGroup
	ticker.Go(func() { w.tickLoop(tickDone) })

	for ctx.Err() == nil && !w.crashed.Load() {
		if w.tickDue.Swap(false) {
			w.tick(ctx)
		}
		pollCtx, cancel := context.WithCancel(ctx)
		w.pollCancel.Store(&cancel)
		if w.tickDue.Load() || w.crashed.Load() {
			cancel()
		}
		fs := w.cl.PollRecords(pollCtx, w.cfg.MaxPollRecords)
		w.pollCancel.Store(nil)
		cancel()
		if fs.IsClientClosed() {
			break
		}
		if !w.crashed.Load() {
			w.handle(fs)
		}
		w.cl.AllowRebalance()
	}
	close(tickDone)
	ticker.Wait()
	if w.crashed.Load() {
		// Gone without a word: no checkpoint, no commit, no leave.
		done, cancel := context.WithCancel(context.Background())
		cancel()
		_ = w.cl.LeaveGroupContext(done)
		w.cl.Close()
		w.releaseAll()
		return errCrashed
	}
	drain, cancel := context.WithTimeout(w.sending, w.drain)
	defer cancel()
	w.mu.Lock()
	now := w.cfg.Clock.Now().UnixNano()
	err = w.checkpoint(drain, w.sortedParts(nil), now)
	w.releaseLocked(nil)
	w.mu.Unlock()
	w.cl.CloseAllowingRebalance()
	return err
}

// partitionsOf returns how many partitions a topic has.
func (w *Worker) partitionsOf(ctx context.Context, topic string) (int32, error) {
	tds, err := w.adm.ListTopics(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("kafka: listing topic %q: %w", topic, err)
	}
	td, ok := tds[topic]
	if !ok || td.Err != nil || len(td.Partitions) == 0 {
		return 0, fmt.Errorf("kafka: topic %q does not exist: create it first (see the package doc)", topic)
	}
	return int32(len(td.Partitions)), nil
}

// tickLoop marks a tick due every Config.Tick and wakes the poll.
func (w *Worker) tickLoop(done <-chan struct{}) {
	t := w.cfg.Clock.NewTicker(w.cfg.Tick)
	defer t.Stop()
	for {
		select {
		case <-t.C():
			w.tickDue.Store(true)
			if c := w.pollCancel.Load(); c != nil {
				(*c)()
			}
		case <-done:
			return
		}
	}
}

// crash stops the worker at once, as a killed process would: nothing more
// is processed, produced, written or committed. Tests only.
func (w *Worker) crash() {
	w.crashed.Store(true)
	if c := w.pollCancel.Load(); c != nil {
		(*c)()
	}
	if c := w.endRun.Load(); c != nil {
		(*c)() // a wait for states ends
	}
}

// handle processes a poll's records: each partition's in order, the
// partitions in parallel, all stamped with one arrival time (the clock's
// when the worker takes them from the client).
func (w *Worker) handle(fs kgo.Fetches) {
	fs.EachError(func(topic string, p int32, err error) {
		if errors.Is(err, context.Canceled) || errors.Is(err, kgo.ErrClientClosed) {
			return
		}
		w.ctr.fetchErrors.Add(1)
		w.cfg.Logger.Warn("fetch failed", "topic", topic, "partition", p, "err", err)
	})
	if fs.NumRecords() == 0 {
		return
	}
	w.ctr.polls.Add(1)
	now := w.cfg.Clock.Now().UnixNano()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.noticeStall(now)
	recs := map[*partition][]*kgo.Record{}
	var lag int64
	fs.EachPartition(func(f kgo.FetchTopicPartition) {
		if len(f.Records) == 0 {
			return
		}
		p := w.parts[tp{f.Topic, f.Partition}]
		if p == nil {
			w.ctr.unowned.Add(uint64(len(f.Records)))
			return
		}
		recs[p] = append(recs[p], f.Records...)
		if l := now - f.Records[len(f.Records)-1].Timestamp.UnixNano(); l > lag {
			lag = l
		}
	})
	w.ctr.lagNs.Store(lag)
	parts := make([]*partition, 0, len(recs))
	for p := range recs {
		parts = append(parts, p)
	}
	sortParts(parts)
	events := make([][]fault.Event, len(parts))
	errs := make([]error, len(parts))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, p := range parts {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			events[i], errs[i] = p.process(w.life, recs[p], now)
		})
	}
	wg.Wait()
	for i, p := range parts {
		w.engineErr(p, errs[i])
		w.produce(p, events[i])
	}
}

// engineErr counts an engine call's error. An overload is counted, not
// logged: the engine's Stats say what its bound refused.
func (w *Worker) engineErr(p *partition, err error) {
	switch {
	case err == nil:
	case errors.Is(err, fault.ErrOverloaded):
		w.ctr.overloads.Add(1)
	default:
		w.ctr.engineErrors.Add(1)
		w.cfg.Logger.Warn("engine call failed", "topic", p.topic, "partition", p.id, "err", err)
	}
}

// produce sends a partition's events: an engine's fleet-wide events, and
// those a fleet gap explains, to the fleet stage; the others, and the
// fleet stage's, to the events topic keyed by episode.
func (w *Worker) produce(p *partition, evs []fault.Event) {
	for i := range evs {
		ev := &evs[i]
		rec := &kgo.Record{Value: ev.AppendJSON(nil), Headers: []kgo.RecordHeader{{Key: "faultline-worker", Value: []byte(w.cfg.Name)}}}
		if p.kind == stageEngine && toFleet(ev) {
			rec.Topic, rec.Key = w.cfg.FleetTopic, []byte(strconv.Itoa(int(p.id)))
			w.ctr.fleetEvents.Add(1)
		} else {
			rec.Topic, rec.Key = w.cfg.EventsTopic, []byte(ev.Episode)
			w.ctr.events.Add(1)
		}
		w.send(rec)
	}
}

// send produces a record; one refused is kept and sent again. Producing
// waits for room at most until the drain after Run's context ends.
func (w *Worker) send(rec *kgo.Record) {
	w.cl.Produce(w.sending, rec, func(r *kgo.Record, err error) {
		if err == nil {
			w.ctr.acked.Add(1)
			return
		}
		w.ctr.produceErrors.Add(1)
		if w.sending.Err() == nil { // not each of the records given up at the drain's end
			w.cfg.Logger.Warn("produce failed; the record is sent again", "topic", r.Topic, "err", err)
		}
		w.failMu.Lock()
		w.failed = append(w.failed, r)
		w.failMu.Unlock()
	})
}

// resend produces again the records that were refused.
func (w *Worker) resend() int {
	w.failMu.Lock()
	failed := w.failed
	w.failed = nil
	w.failMu.Unlock()
	for _, r := range failed {
		w.send(&kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value, Headers: r.Headers, Partition: r.Partition})
	}
	return len(failed)
}

// flush waits until everything produced is acknowledged, sending again
// what was refused, three times at most.
func (w *Worker) flush(ctx context.Context) error {
	for round := 0; ; round++ {
		if err := w.cl.Flush(ctx); err != nil {
			return err
		}
		w.failMu.Lock()
		n := len(w.failed)
		w.failMu.Unlock()
		if n == 0 {
			return nil
		}
		if round == 3 {
			return fmt.Errorf("%d records refused by the brokers", n)
		}
		w.resend()
	}
}

// tick advances every engine to the clock and checkpoints when one is due.
func (w *Worker) tick(ctx context.Context) {
	now := w.cfg.Clock.Now().UnixNano()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ctr.ticks.Add(1)
	w.noticeStall(now)
	for _, p := range w.sortedParts(nil) {
		evs, err := p.advance(w.life, now)
		w.engineErr(p, err)
		w.produce(p, evs)
	}
	w.resend()
	if now >= w.nextCkp {
		if err := w.checkpoint(ctx, w.sortedParts(nil), now); err != nil {
			w.cfg.Logger.Error("checkpoint failed", "err", err)
		}
		w.nextCkp = now + int64(w.cfg.CheckpointEvery)
	}
}

// stallAfter is how long the worker may go without polling before the
// span is taken for its own downtime (see noticeStall): pipeline's default.
const stallAfter = pipeline.DefaultStallAfter

// noticeStall takes a span longer than stallAfter in which the worker did
// not poll (a checkpoint waiting for the brokers, an assignment waiting
// for its states, a starved process) for the worker's own downtime: the
// input of its partitions waited in the brokers, and arrives now, late
// only by the worker's fault. Each engine skips the span (as a handover
// is skipped), before anything advances it across the span and judges the
// series that delivered to the brokers in it lost. It is called, w.mu
// held, whenever the worker polls or advances its engines; a partition
// counts from its assignment. As it runs at every poll, it sorts only
// the partitions that stalled, to skip their spans in order.
func (w *Worker) noticeStall(now int64) {
	var stalled []*partition
	for _, p := range w.parts {
		if p.kind == stageEngine && now-p.seen > int64(stallAfter) {
			stalled = append(stalled, p) // its seen is moved on below
			continue
		}
		p.seen = max(p.seen, now)
	}
	sortParts(stalled)
	var longest int64
	for _, p := range stalled {
		from := p.seen
		p.seen = now
		longest = max(longest, now-from)
		w.engineErr(p, p.eng.Skip(w.life, from, now))
		w.produce(p, p.take())
	}
	if longest > 0 {
		w.ctr.stalls.Add(1)
		w.ctr.stallNs.Add(longest)
		w.cfg.Logger.Warn("the worker did not poll for a while: its engines skip the span, as a handover", "stalled", timeDuration(longest))
	}
}

// checkpoint makes the partitions' progress durable, in the order that
// keeps every promise downstream: first every event they emitted is
// acknowledged; then their states, which cover the input up to their next
// offsets, are written; then those offsets are committed. A crash between
// any two steps re-processes input and re-emits events with the same IDs;
// it never loses one. w.mu is held.
func (w *Worker) checkpoint(ctx context.Context, parts []*partition, now int64) error {
	if len(parts) == 0 || w.crashed.Load() {
		return nil
	}
	w.noticeStall(now)
	for _, p := range parts {
		evs, err := p.advance(w.life, now)
		w.engineErr(p, err)
		w.produce(p, evs)
	}
	fail := func(err error) error {
		w.ctr.checkpointErrors.Add(1)
		return fmt.Errorf("kafka: checkpoint: %w", err)
	}
	if err := w.flush(ctx); err != nil {
		return fail(err)
	}
	if w.hook("flushed") {
		return errCrashed
	}
	var recs []*kgo.Record
	var written []*partition
	for _, p := range parts {
		raw, err := p.snapshot(now)
		if err != nil {
			w.cfg.Logger.Error("snapshot failed", "topic", p.topic, "partition", p.id, "err", err)
			w.ctr.checkpointErrors.Add(1)
			continue
		}
		if len(raw) > w.cfg.MaxSnapshot {
			w.ctr.stateTooLarge.Add(1)
			w.cfg.Logger.Error("state larger than MaxSnapshot: not written, offsets not committed",
				"topic", p.topic, "partition", p.id, "bytes", len(raw), "max", w.cfg.MaxSnapshot)
			continue
		}
		w.ctr.stateBytes.Store(int64(len(raw)))
		recs = append(recs, &kgo.Record{Topic: w.cfg.StateTopic, Partition: statePartition(p.id, w.stateN),
			Key: []byte(stateKey(w.cfg.Group, p.topic, p.id)), Value: raw,
			Headers: []kgo.RecordHeader{{Key: "faultline-worker", Value: []byte(w.cfg.Name)}}})
		written = append(written, p)
	}
	var errs []error
	res := w.cl.ProduceSync(ctx, recs...)
	offsets := map[string]map[int32]kgo.EpochOffset{}
	for i, r := range res {
		if r.Err != nil {
			errs = append(errs, fmt.Errorf("writing the state of %s/%d: %w", written[i].topic, written[i].id, r.Err))
			continue
		}
		w.ctr.statesWritten.Add(1)
		if p := written[i]; p.next >= 0 {
			if offsets[p.topic] == nil {
				offsets[p.topic] = map[int32]kgo.EpochOffset{}
			}
			offsets[p.topic][p.id] = kgo.EpochOffset{Epoch: p.epoch, Offset: p.next}
		}
	}
	if w.hook("state") {
		return errCrashed
	}
	if len(offsets) > 0 {
		w.cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			if err != nil {
				if w.refused(err, "") {
					return
				}
				errs = append(errs, fmt.Errorf("committing: %w", err))
				return
			}
			for _, t := range resp.Topics {
				for _, p := range t.Partitions {
					if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
						if !w.refused(err, t.Topic+"/"+strconv.Itoa(int(p.Partition))) {
							errs = append(errs, fmt.Errorf("committing %s/%d: %w", t.Topic, p.Partition, err))
						}
						continue
					}
					w.ctr.commits.Add(1)
				}
			}
		})
	}
	w.hook("committed")
	if len(errs) > 0 {
		return fail(errors.Join(errs...))
	}
	w.ctr.checkpoints.Add(1)
	return nil
}

// refused reports whether a commit failed because the group has moved on
// (a rebalance began, or this member's generation or membership ended, as
// when a slow member misses its session timeout): not a failure of the
// checkpoint. The states are written, so whoever owns the partitions next
// resumes from them, at their offsets; the commit is counted as refused
// and logged.
func (w *Worker) refused(err error, partition string) bool {
	for _, moved := range []error{kerr.RebalanceInProgress, kerr.IllegalGeneration, kerr.UnknownMemberID, kerr.FencedInstanceID} {
		if errors.Is(err, moved) {
			w.ctr.commitsRefused.Add(1)
			w.cfg.Logger.Info("offset commit refused: the group has moved on; the state is written and the partition's next owner resumes from it",
				"partition", partition, "err", err)
			return true
		}
	}
	return false
}

// hook runs the test hook of a checkpoint stage and reports whether the
// worker crashed in it.
func (w *Worker) hook(stage string) bool {
	if w.hooks.checkpoint != nil {
		w.hooks.checkpoint(w, stage)
	}
	return w.crashed.Load()
}

// assigned builds the stage of every partition the group assigned, from
// its state record when there is one (see "State that moves with the
// partition" in the package doc). It returns once their states are read,
// however long that takes, or without taking them if Run ends first.
func (w *Worker) assigned(ctx context.Context, _ *kgo.Client, m map[string][]int32) {
	if w.crashed.Load() {
		return
	}
	want := map[string]int32{}
	var tps []tp
	for topic, ps := range m {
		if topic != w.cfg.Topic && topic != w.cfg.FleetTopic {
			continue
		}
		for _, p := range ps {
			tps = append(tps, tp{topic, p})
			want[stateKey(w.cfg.Group, topic, p)] = statePartition(p, w.stateN)
		}
	}
	if len(tps) == 0 {
		return
	}
	slices.SortFunc(tps, func(a, b tp) int { return cmp.Or(cmp.Compare(a.topic, b.topic), cmp.Compare(a.partition, b.partition)) })
	got, err := w.loadAssigned(ctx, want)
	if err != nil {
		// Run is ending before the states could be read. The partitions
		// are not taken: nothing is processed, written or committed for
		// them, and their states stay as they are for their next owner.
		w.cfg.Logger.Warn("the worker stops before the assigned partitions' states could be read: they are left as they are", "err", err)
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.cfg.Clock.Now().UnixNano()
	for _, t := range tps {
		p := w.open(t, got[stateKey(w.cfg.Group, t.topic, t.partition)].raw, now)
		w.parts[t] = p
		w.published()
		w.produce(p, p.take())
		w.ctr.assigned.Add(1)
		w.cfg.Logger.Info("partition assigned", "topic", t.topic, "partition", t.partition, "next", p.next)
	}
}

// The wait between two attempts to read the assigned partitions' states
// doubles from loadBackoffMin up to loadBackoffMax.
const (
	loadBackoffMin = 250 * time.Millisecond
	loadBackoffMax = 10 * time.Second
)

// loadAssigned reads the states of the partitions just assigned (want
// maps state key → state partition), retrying with backoff on
// Config.Clock for as long as it takes: a state that could not be read,
// or that a newer build wrote (ErrNewerState), must not be replaced by a
// fresh one. It fails only when Run is ending
// (its context ended, the client is closing, or the worker crashed). It
// runs in the group's assignment callback, so meanwhile the worker polls
// nothing.
func (w *Worker) loadAssigned(ctx context.Context, want map[string]int32) (map[string]loaded, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(w.ending, cancel)()
	wait := loadBackoffMin
	for attempt := 1; ; attempt++ {
		got, err := loadStates(ctx, w.conn, w.adm, w.cfg.StateTopic, want)
		if err == nil {
			err = w.newerStates(got)
		}
		if err == nil {
			if attempt > 1 {
				w.cfg.Logger.Info("the assigned partitions' states are read", "attempts", attempt)
			}
			return got, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		if errors.Is(err, ErrNewerState) {
			w.ctr.stateNewer.Add(1)
			w.cfg.Logger.Error("a newer build wrote an assigned partition's state, which this build cannot read (a rollback?): the state is kept, the assigned partitions wait, and the worker processes nothing meanwhile; run a build that reads it, or delete the state record to start the partition afresh",
				"attempt", attempt, "retry_in", wait, "err", err)
		} else {
			w.ctr.stateLoadErrors.Add(1)
			w.cfg.Logger.Error("reading the state topic failed: the assigned partitions wait for their states, and the worker processes nothing meanwhile",
				"attempt", attempt, "retry_in", wait, "err", err)
		}
		t := w.cfg.Clock.NewTimer(wait)
		select {
		case <-t.C():
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
		wait = min(2*wait, loadBackoffMax)
	}
}

// newerStates returns an error wrapping ErrNewerState, naming the
// partitions, if a newer build wrote any of the states read.
func (w *Worker) newerStates(got map[string]loaded) error {
	var errs []error
	for key, st := range got {
		if st.raw == nil {
			continue
		}
		if err := w.newerState(st.raw); err != nil {
			errs = append(errs, fmt.Errorf("the state %s: %w", key, err))
		}
	}
	slices.SortFunc(errs, func(a, b error) int { return cmp.Compare(a.Error(), b.Error()) })
	return errors.Join(errs...)
}

// open builds a partition's stage: restored from its state record raw, or
// afresh without one (or when it cannot be read or restored).
func (w *Worker) open(t tp, raw []byte, now int64) *partition {
	p := &partition{topic: t.topic, id: t.partition, kind: stageEngine, next: -1, epoch: -1,
		input: t.topic + "/" + strconv.Itoa(int(t.partition)), seen: now, log: w.cfg.Logger}
	if t.topic == w.cfg.FleetTopic {
		p.kind = stageFleet
	}
	p.newDecoder(int64(w.cfg.Precision))
	if raw != nil {
		err := w.restore(p, raw, now)
		if err == nil {
			w.ctr.restored.Add(1)
			return p
		}
		w.ctr.stateBad.Add(1)
		w.cfg.Logger.Error("the partition's state cannot be restored: it starts afresh", "topic", t.topic, "partition", t.partition, "err", err)
		p.release()
		p.eng, p.fleet, p.next, p.epoch = nil, nil, -1, -1
	}
	if p.kind == stageFleet {
		p.fleet = pipeline.NewMerger()
		return p
	}
	eng, err := fault.New(w.engineConfig(w.rs, p))
	if err != nil {
		panic(err) // New built an engine of this configuration
	}
	p.eng, p.srcs = eng, w.cfg.Rules
	return p
}

// restore restores a partition's stage from its state record: under the
// rules it was taken under, then the current ones; the span since it was
// taken is the partition's handover, which its engine skips (as a restart
// of package pipeline skips the collector's downtime).
func (w *Worker) restore(p *partition, raw []byte, now int64) error {
	st, err := decodeState(raw)
	if err != nil {
		return err
	}
	if st.kind != p.kind {
		return fmt.Errorf("%w: the state of another stage", ErrBadState)
	}
	if p.kind == stageFleet {
		f, err := pipeline.RestoreMerger(st.snapshot)
		if err != nil {
			return fmt.Errorf("%w: the fleet stage's: %v", ErrBadState, err)
		}
		p.fleet, p.next, p.epoch = f, st.next, st.epoch
		return nil
	}
	old, err := w.stateRules(st.sources)
	if err != nil {
		return fmt.Errorf("the rules of the state: %w", err)
	}
	eng, err := fault.Restore(w.engineConfig(old, p), bytes.NewReader(st.snapshot))
	if err != nil {
		return err
	}
	p.eng, p.srcs, p.next, p.epoch = eng, st.sources, st.next, st.epoch
	ctx := w.life
	if !w.rs.Equal(old) {
		w.engineErr(p, eng.Update(ctx, w.rs))
		p.srcs = w.cfg.Rules
	}
	if now > st.taken {
		w.ctr.handoverNs.Add(now - st.taken)
		w.engineErr(p, eng.Skip(ctx, st.taken, now))
	}
	return nil
}

// stateRules returns the rules a state was taken under, parsed: the
// worker's own, parsed once in New, when they are the same sources (as
// they are but across a change of rules), so that each state loaded is not
// parsed again, by newerState and then by restore, at every assignment.
func (w *Worker) stateRules(srcs []rules.Source) (*rules.Ruleset, error) {
	same := slices.EqualFunc(srcs, w.cfg.Rules, func(a, b rules.Source) bool {
		return a.Name == b.Name && bytes.Equal(a.Data, b.Data)
	})
	if same {
		return w.rs, nil
	}
	return rules.ParseSources(srcs...)
}

// engineConfig is a partition's engine configuration under rs.
func (w *Worker) engineConfig(rs *rules.Ruleset, p *partition) fault.Config {
	c := w.cfg.Engine
	c.Rules, c.Sink = rs, p
	if c.Logger == nil {
		c.Logger = w.cfg.Logger
	}
	return c
}

// adjustOffsets starts each partition restored from a state record at the
// offset its state covers, whatever the group committed.
func (w *Worker) adjustOffsets(_ context.Context, offsets map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for topic, ps := range offsets {
		for id := range ps {
			if p := w.parts[tp{topic, id}]; p != nil && p.next >= 0 {
				ps[id] = kgo.NewOffset().At(p.next)
			}
		}
	}
	return offsets, nil
}

// revoked checkpoints the partitions the group takes away, then drops
// them. The checkpoint gives up with the producer, drain after Run's
// context ends: the client's context ends only once Run is done.
func (w *Worker) revoked(ctx context.Context, _ *kgo.Client, m map[string][]int32) {
	if w.crashed.Load() {
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(w.sending, cancel)()
	w.mu.Lock()
	defer w.mu.Unlock()
	parts := w.sortedParts(m)
	if len(parts) == 0 {
		return
	}
	if err := w.checkpoint(ctx, parts, w.cfg.Clock.Now().UnixNano()); err != nil {
		w.cfg.Logger.Error("checkpoint at revoke failed", "err", err)
	}
	w.ctr.revoked.Add(uint64(len(parts)))
	w.releaseLocked(m)
}

// lost drops the partitions the group took away without a revoke: another
// member may own them already, so nothing is written or committed.
func (w *Worker) lost(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ctr.lost.Add(uint64(len(w.sortedParts(m))))
	w.releaseLocked(m)
}

// sortedParts returns the partitions of m that the worker holds (all of
// them for a nil m), in topic and partition order.
func (w *Worker) sortedParts(m map[string][]int32) []*partition {
	var out []*partition
	for t, p := range w.parts {
		if m == nil || slices.Contains(m[t.topic], t.partition) {
			out = append(out, p)
		}
	}
	sortParts(out)
	return out
}

func sortParts(ps []*partition) {
	slices.SortFunc(ps, func(a, b *partition) int { return cmp.Or(cmp.Compare(a.topic, b.topic), cmp.Compare(a.id, b.id)) })
}

// releaseLocked drops the partitions of m (all for nil). w.mu is held.
func (w *Worker) releaseLocked(m map[string][]int32) {
	for _, p := range w.sortedParts(m) {
		p.release()
		delete(w.parts, tp{p.topic, p.id})
	}
	w.published()
}

// published publishes the partitions held to AppendMetrics. w.mu is held.
func (w *Worker) published() {
	ps := w.sortedParts(nil)
	w.view.Store(&ps)
}

func (w *Worker) releaseAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.releaseLocked(nil)
}

// timeDuration converts nanoseconds to a time.Duration.
func timeDuration(ns int64) time.Duration { return time.Duration(ns) }
