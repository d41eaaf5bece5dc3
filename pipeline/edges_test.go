package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/clock"
	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/pipeline"
	"github.com/faultline-go/faultline/stream"
)

// Sync's context bounds its wait, before Run too; after Run returned, Sync
// says the runtime stopped instead of waiting for shards that are gone.
func TestSyncIsBoundedByItsContextAndTheRuntimesEnd(t *testing.T) {
	t.Run("before Run", func(t *testing.T) {
		rt, err := pipeline.New(pipeline.Config{Shards: 2, Clock: clock.NewFake(t0)})
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		within(t, func() error { return rt.Sync(ctx) }, func(err error) {
			require.ErrorIs(t, err, context.DeadlineExceeded, "not running: Sync waits until its context ends")
		})
	})
	t.Run("before Run, a queue full", func(t *testing.T) {
		rt, err := pipeline.New(pipeline.Config{Shards: 2, QueueLen: 1, Clock: clock.NewFake(t0)})
		require.NoError(t, err)
		require.NoError(t, rt.Ingest(context.Background(), []stream.Sample{sample(hostOfShard1(t), t0)}))
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		within(t, func() error { return rt.Sync(ctx) }, func(err error) {
			require.ErrorIs(t, err, context.DeadlineExceeded)
		})
	})
	t.Run("after Run", func(t *testing.T) {
		r := start(t, pipeline.Config{Shards: 2}, clock.NewFake(t0))
		r.shutdown(t)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		within(t, func() error { return r.rt.Sync(ctx) }, func(err error) {
			require.ErrorIs(t, err, pipeline.ErrStopped)
		})
	})
}

// within runs f, and check on its error, failing if f takes 5 s.
func within(t *testing.T, f func() error, check func(error)) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		check(err)
	case <-time.After(5 * time.Second):
		t.Fatal("still waiting after 5s")
	}
}

// Bad records are not lost when a Sync's context ends while it queues them.
func TestBadInputSurvivesASyncThatGaveUp(t *testing.T) {
	rt, err := pipeline.New(pipeline.Config{Shards: 1, QueueLen: 1, Clock: clock.NewFake(t0)})
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, rt.Ingest(ctx, []stream.Sample{sample("a", t0)})) // not running: the queue is full
	rt.BadInput("feed1", errors.New("bad record"))
	rt.BadInput("feed2", errors.New("bad record"))
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	require.ErrorIs(t, rt.Sync(cancelled), context.Canceled)

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- rt.Run(runCtx) }()
	require.NoError(t, rt.Sync(ctx))
	rt.BadInput("feed2", errors.New("bad record"))
	require.NoError(t, rt.Sync(ctx))
	require.Equal(t, 3.0, metric(rt, "faultline_bad_input_total", "shard", "0"), "every bad record reported")
	stop()
	require.NoError(t, <-done)
}

// A reload that finds a shard's queue full must not leave the shards on
// different rules, nor a checkpoint that names rules some snapshots were
// not taken under: the runtime restarts from its checkpoint.
func TestBusyReloadLeavesARestorableCheckpoint(t *testing.T) {
	host := hostOfShard1(t)
	state := filepath.Join(t.TempDir(), "state")
	cfg := pipeline.Config{Rules: src(t, beat), Shards: 2, QueueLen: 1, State: state, Clock: clock.NewFake(t0)}
	rt, err := pipeline.New(cfg)
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, rt.Ingest(ctx, []stream.Sample{sample(host, t0)})) // shard 1's queue is full
	busy, cancel := context.WithCancel(ctx)
	cancel()
	reloaded := src(t, beat+`
groups:
  - name: g
    rules:
      - {alert: Down, match: up, expr: 'value < 1'}
`)
	// Shard 0 has room, shard 1 has none: the reload does not wait for it.
	require.NoError(t, rt.Reload(busy, reloaded))

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- rt.Run(runCtx) }()
	require.NoError(t, rt.Sync(ctx))
	stop()
	require.NoError(t, <-done) // the last checkpoint is written

	again, err := pipeline.New(cfg)
	require.NoError(t, err, "the runtime restarts from its own checkpoint")
	require.Equal(t, 2, again.Shards())
}

// lifecycle is a sink that records whether it was started and closed.
type lifecycle struct {
	recorder
	fail            bool
	started, closed bool
}

func (l *lifecycle) Start() error {
	if l.fail {
		return errors.New("cannot start")
	}
	l.started = true
	return nil
}

func (l *lifecycle) Close(context.Context) error {
	l.closed = true
	return nil
}

// A Run that cannot start a sink closes the sinks it started.
func TestRunThatCannotStartASinkClosesTheOthers(t *testing.T) {
	first, second := &lifecycle{}, &lifecycle{fail: true}
	rt, err := pipeline.New(pipeline.Config{Shards: 1, Clock: clock.NewFake(t0), Sinks: []pipeline.Sink{first, second}})
	require.NoError(t, err)
	require.ErrorContains(t, rt.Run(context.Background()), "cannot start")
	require.True(t, first.started)
	require.True(t, first.closed, "the sink started before the failure is closed (its goroutine stopped)")
	// The runtime is stopped: its callers are told so, not kept waiting.
	within(t, func() error { return rt.Ingest(context.Background(), []stream.Sample{sample("a", t0)}) }, func(err error) {
		require.ErrorIs(t, err, pipeline.ErrStopped)
	})
	within(t, func() error { return rt.Sync(context.Background()) }, func(err error) {
		require.ErrorIs(t, err, pipeline.ErrStopped)
	})
}

// The downtime event of a stall is delivered in time order with what the
// shards emit: not before the events, dated before the stall, of the work
// a shard had in hand when the stall was noticed.
func TestStallReportIsDeliveredInOrder(t *testing.T) {
	clk := clock.NewFake(t0)
	got := &channelSink{c: make(chan fault.Event, 100)}
	r := start(t, pipeline.Config{Rules: src(t, beat+`
groups:
  - name: g
    rules:
      - {alert: Down, match: up, expr: 'value < 1'}
`), Shards: 1, Sinks: []pipeline.Sink{got}}, clk)
	for range 5 {
		r.step(t, time.Second, sample("a", clk.Now()))
	}
	now := clk.Now()
	batch := make([]stream.Sample, 0, 300_001)
	for i := range 300_000 { // work that takes the shard a while
		ts := now.Add(time.Duration(i-300_000) * time.Microsecond).UnixNano()
		batch = append(batch, stream.NewSample("load", stream.NewLabels("host", "l"), ts, 1, now.UnixNano()))
	}
	batch = append(batch, stream.NewSample("up", stream.NewLabels("host", "a"), now.UnixNano(), 0, now.UnixNano()))
	require.NoError(t, r.rt.Ingest(context.Background(), batch))
	clk.Advance(40 * time.Second) // past StallAfter: the runtime stalled
	var kinds []string
	var ats []int64
	deadline := time.After(10 * time.Second)
	for seen := 0; seen < 2; { // the threshold the batch fires, and the downtime
		select {
		case ev := <-got.c:
			kinds = append(kinds, string(ev.Kind)+"@"+time.Unix(0, ev.At).UTC().Format(time.TimeOnly))
			ats = append(ats, ev.At)
			if ev.Kind == fault.KindThreshold || ev.Kind == fault.KindCollectorDown {
				seen++
			}
		case <-time.After(20 * time.Millisecond):
			// The merger holds an event until the clocks are past it by
			// markSlack: the ticker moves them on.
			clk.Advance(250 * time.Millisecond)
		case <-deadline:
			t.Fatalf("waited 10s for the threshold and the downtime: %v", kinds)
		}
	}
	require.True(t, slices.IsSorted(ats), "delivered out of time order: %v", kinds)
}

// channelSink hands every event to c.
type channelSink struct{ c chan fault.Event }

func (s *channelSink) Emit(_ context.Context, ev fault.Event) error {
	select {
	case s.c <- ev:
	default:
	}
	return nil
}
func (s *channelSink) Start() error                { return nil }
func (s *channelSink) Close(context.Context) error { return nil }

// A restart under changed rules: the alerts of the removed rule resolve at
// the checkpoint's time, and are delivered before the downtime event, which
// is dated at the restart.
func TestRestartUnderChangedRulesDeliversInOrder(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	clk := clock.NewFake(t0)
	cfg := pipeline.Config{Rules: src(t, beat+`
groups:
  - name: g
    rules:
      - {alert: Down, match: up, expr: 'value < 1'}
`), Shards: 1, State: state}
	r := start(t, cfg, clk)
	for range 3 {
		now := clk.Now().UnixNano()
		r.step(t, time.Second, stream.NewSample("up", stream.NewLabels("host", "a"), now, 0, now))
	}
	r.shutdown(t)
	require.Len(t, r.rec.of(fault.KindThreshold, fault.StateFiring), 1)

	clk.Advance(25 * time.Second)
	cfg.Rules = src(t, beat) // Down is gone
	r2 := start(t, cfg, clk)
	require.NoError(t, r2.rt.Sync(context.Background()))
	r2.shutdown(t)
	var kinds []string
	var ats []int64
	for _, ev := range r2.rec.all() {
		kinds = append(kinds, string(ev.Kind)+"/"+ev.State.String()+"@"+time.Unix(0, ev.At).UTC().Format(time.TimeOnly))
		ats = append(ats, ev.At)
	}
	require.Len(t, kinds, 2, "%v", kinds)
	require.True(t, slices.IsSorted(ats), "delivered out of time order: %v", kinds)
}

// hostOfShard1 returns a host whose samples go to shard 1 of 2.
func hostOfShard1(t *testing.T) string {
	t.Helper()
	probe, err := pipeline.New(pipeline.Config{Shards: 2, Clock: clock.NewFake(t0)})
	require.NoError(t, err)
	for i := 0; ; i++ {
		h := "h" + strconv.Itoa(i)
		require.NoError(t, probe.Ingest(context.Background(), []stream.Sample{sample(h, t0)}))
		if metric(probe, "faultline_runtime_queue", "shard", "1") == 1 {
			return h
		}
	}
}

// Samples handed to a runtime that has stopped are refused and counted,
// with an error that says it stopped.
func TestIngestAfterStopCountsTheRefusal(t *testing.T) {
	for _, shards := range []int{1, 2} {
		for _, how := range ingests {
			name := fmt.Sprintf("%s, %d shards", how.name, shards)
			r := start(t, pipeline.Config{Shards: shards}, clock.NewFake(t0))
			r.shutdown(t)
			batch := func() []stream.Sample { return []stream.Sample{sample("a", t0), sample("b", t0), sample("c", t0)} }
			err := how.f(r.rt, context.Background(), batch())
			require.ErrorIs(t, err, pipeline.ErrStopped, name)
			require.NotErrorIs(t, err, pipeline.ErrBusy, name)
			require.Equal(t, 3.0, metric(r.rt, "faultline_runtime_refused_total"), name)
			require.Zero(t, metric(r.rt, "faultline_runtime_samples_total"), name)
			r.clk.Advance(time.Hour) // a stopped runtime does not tick: no stall
			require.ErrorIs(t, how.f(r.rt, context.Background(), batch()), pipeline.ErrStopped, name)
			require.Zero(t, metric(r.rt, "faultline_runtime_stalls_total"), name)
		}
	}
}

// A stall that an input notices before the ticker does (the process was
// suspended, and a write came in first) is still the runtime's own
// downtime: the engines skip it before they take the write, and the hosts
// that report before and after it are not absent.
func TestStallNoticedByAnInput(t *testing.T) {
	for range 20 { // the ticker and the input race: either may notice it
		clk := clock.NewFake(t0)
		r := start(t, pipeline.Config{Rules: src(t, beat), Shards: 2}, clk)
		for range 15 {
			now := clk.Now()
			r.step(t, time.Second, sample("a", now), sample("b", now))
		}
		clk.Advance(40 * time.Second) // suspended: past StallAfter
		for range 5 {
			now := clk.Now()
			r.step(t, time.Second, sample("a", now), sample("b", now))
		}
		r.shutdown(t)
		var kinds []string
		for _, ev := range r.rec.all() {
			kinds = append(kinds, string(ev.Kind)+"/"+ev.State.String())
		}
		require.Equal(t, []string{"collector_down/resolved"}, kinds, "the stall, and no absence in it")
	}
}

// hangingStore is a Store whose Save waits until its context ends.
type hangingStore struct{ saves chan struct{} }

func (hangingStore) Load(context.Context) ([]byte, error) { return nil, nil }

func (s hangingStore) Save(ctx context.Context, _ []byte) error {
	s.saves <- struct{}{}
	<-ctx.Done()
	return ctx.Err()
}

// A Store that hangs at shutdown does not keep Run from returning: the
// last checkpoint's write is bounded by Config.Drain, fails, and is
// counted.
func TestShutdownIsBoundedByAHangingStore(t *testing.T) {
	store := hangingStore{saves: make(chan struct{}, 1)}
	r := start(t, pipeline.Config{Shards: 2, Store: store, Drain: 50 * time.Millisecond}, clock.NewFake(t0))
	within(t, r.end, func(err error) {
		require.ErrorIs(t, err, context.DeadlineExceeded)
	})
	require.Len(t, store.saves, 1)
	require.Equal(t, 1.0, metric(r.rt, "faultline_runtime_checkpoint_errors_total"))
}

// A reload that cannot be applied (the runtime stopped) is counted and
// logged, as an invalid one is: a SIGHUP has no one else to tell.
func TestUnappliedReloadIsLogged(t *testing.T) {
	var log bytes.Buffer
	r := start(t, pipeline.Config{Rules: src(t, beat), Shards: 2, Logger: slog.New(slog.NewTextHandler(&log, nil))}, clock.NewFake(t0))
	r.shutdown(t)
	require.ErrorIs(t, r.rt.Reload(context.Background(), src(t, beat)), pipeline.ErrStopped)
	require.Equal(t, 1.0, metric(r.rt, "faultline_runtime_reload_errors_total"))
	require.Contains(t, log.String(), "reload not applied: the old rules stay")
}
