package pipeline_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/clock"
	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/pipeline"
	"github.com/faultline-go/faultline/stream"
)

// suspendingClock is a fake clock on which the process is suspended for
// d when the runtime's ticker stops: between the end of Run's loop and its
// last checkpoint.
type suspendingClock struct {
	*clock.Fake
	d time.Duration
}

func (c suspendingClock) NewTicker(d time.Duration) clock.Ticker {
	return suspendingTicker{c.Fake.NewTicker(d), c}
}

type suspendingTicker struct {
	clock.Ticker
	c suspendingClock
}

func (t suspendingTicker) Stop() {
	t.Ticker.Stop()
	t.c.Advance(t.c.d)
}

// A stall noticed once the runtime refuses input (by the last checkpoint,
// or by a write that races the shutdown) is still the runtime's own
// downtime: the engines skip it and one collector_down reports it; the
// hosts that reported up to the stall are not absent in it.
func TestStallNoticedAtShutdownIsSkipped(t *testing.T) {
	fc := clock.NewFake(t0)
	rec := &recorder{}
	rt, err := pipeline.New(pipeline.Config{Rules: src(t, beat), Shards: 2, Clock: suspendingClock{fc, 40 * time.Second},
		Sinks: []pipeline.Sink{rec}})
	require.NoError(t, err)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	reportEverySecond(t, rt, fc, 15)
	stop()
	require.NoError(t, <-done)
	var kinds []string
	for _, ev := range rec.all() {
		kinds = append(kinds, string(ev.Kind)+"/"+ev.State.String())
	}
	require.Equal(t, []string{"collector_down/resolved"}, kinds, "the stall, and no absence in it")
	require.Equal(t, 1.0, metric(rt, "faultline_runtime_stalls_total"))
}

// A Sync that comes while the runtime shuts down returns (nil, or
// ErrStopped), and so does Run: a pause queued once some shards had gone
// waited for their answer for ever, while the shards that took it waited
// for it to end, and Run for them. The race is one of goroutines, not of
// time: the loop hits it in nearly every round (the bound of 5 s only
// turns the hang into a failure).
func TestSyncDuringShutdownReturns(t *testing.T) {
	for range 20 {
		rt, err := pipeline.New(pipeline.Config{Shards: 4, Clock: clock.NewFake(t0)})
		require.NoError(t, err)
		ctx, stop := context.WithCancel(context.Background())
		ran := make(chan error, 1)
		go func() { ran <- rt.Run(ctx) }()
		synced := make(chan error, 1)
		go func() {
			for {
				if err := rt.Sync(context.Background()); err != nil {
					synced <- err
					return
				}
			}
		}()
		require.NoError(t, rt.Sync(context.Background()))
		stop()
		select {
		case err := <-ran:
			require.NoError(t, err)
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return within 5 s of its context's end: a Sync holds the shards")
		}
		select {
		case err := <-synced:
			require.ErrorIs(t, err, pipeline.ErrStopped)
		case <-time.After(5 * time.Second):
			t.Fatal("Sync did not return within 5 s of Run")
		}
	}
}

// gatedStore is a Store whose Save says it is saving, then waits until
// release is closed.
type gatedStore struct{ saving, release chan struct{} }

func (gatedStore) Load(context.Context) ([]byte, error) { return nil, nil }

func (s gatedStore) Save(context.Context, []byte) error {
	select {
	case s.saving <- struct{}{}:
	default:
	}
	<-s.release
	return nil
}

// A periodic checkpoint whose write takes longer than StallAfter is no
// stall: the runtime was writing, not suspended. Hosts that fell silent
// meanwhile are absent at their deadlines, not skipped as downtime.
func TestSlowCheckpointIsNoStall(t *testing.T) {
	fc := clock.NewFake(t0)
	store := gatedStore{saving: make(chan struct{}, 1), release: make(chan struct{})}
	r := start(t, pipeline.Config{Rules: src(t, beat), Shards: 2, Store: store, CheckpointEvery: 5 * time.Second}, fc)
	var once sync.Once
	release := func() { once.Do(func() { close(store.release) }) }
	t.Cleanup(release) // before the runtime's shutdown, whose checkpoint writes too
	// a and b report every second until the first checkpoint starts to
	// write, and then no more.
	deadline := time.After(10 * time.Second)
	for saving := false; !saving; {
		require.NoError(t, r.rt.Ingest(context.Background(), []stream.Sample{sample("a", fc.Now()), sample("b", fc.Now())}))
		fc.Advance(time.Second)
		select {
		case <-store.saving:
			saving = true
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatal("no checkpoint")
		}
	}
	fc.Advance(40 * time.Second) // the write takes 40 s; nothing comes in
	require.NoError(t, r.rt.Sync(context.Background()), "a Sync while it writes notices no stall either")
	release()
	require.Eventually(t, func() bool { return metric(r.rt, "faultline_runtime_checkpoints_total") >= 1 }, 5*time.Second, time.Millisecond)
	r.step(t, time.Second)
	require.Zero(t, metric(r.rt, "faultline_runtime_stalls_total"))
	var kinds []string
	for _, ev := range r.rec.all() {
		kinds = append(kinds, string(ev.Kind)+"/"+ev.State.String())
	}
	require.Equal(t, []string{"absence/firing", "absence/firing"}, kinds)
}

// The time between New, which restores a checkpoint, and Run is downtime
// too: nothing runs in between. One collector_down reports the span from
// the checkpoint to Run's start, and the hosts that report after Run are
// not absent in it.
func TestRestartDowntimeLastsUntilRun(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	clk := clock.NewFake(t0)
	cfg := pipeline.Config{Rules: src(t, beat), Shards: 2, State: state}
	r := start(t, cfg, clk)
	for range 20 {
		r.step(t, time.Second, sample("a", clk.Now()), sample("b", clk.Now()))
	}
	r.shutdown(t)
	stopped := clk.Now()

	clk.Advance(5 * time.Second)
	rec := &recorder{}
	cfg.Clock, cfg.Sinks = clk, []pipeline.Sink{rec}
	rt, err := pipeline.New(cfg)
	require.NoError(t, err)
	clk.Advance(40 * time.Second) // New long before Run, as an embedder may
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	require.NoError(t, rt.Sync(context.Background())) // Run has started
	reportEverySecond(t, rt, clk, 15)
	stop()
	require.NoError(t, <-done)
	got := rec.all()
	require.Len(t, got, 1, "only the downtime: %v", got)
	require.Equal(t, fault.KindCollectorDown, got[0].Kind)
	require.Equal(t, stopped.UnixNano(), got[0].Since)
	require.Equal(t, stopped.Add(45*time.Second).UnixNano(), got[0].At, "until Run started")
	require.InDelta(t, 45, got[0].Value, 0.001)
}

// reportEverySecond has hosts a and b report to rt n times, a second apart
// on clk, and waits after each report until rt has judged up to then.
func reportEverySecond(t *testing.T, rt *pipeline.Runtime, clk *clock.Fake, n int) {
	t.Helper()
	for range n {
		now := clk.Now()
		require.NoError(t, rt.Ingest(context.Background(), []stream.Sample{sample("a", now), sample("b", now)}))
		clk.Advance(time.Second)
		require.NoError(t, rt.Sync(context.Background()))
	}
}
