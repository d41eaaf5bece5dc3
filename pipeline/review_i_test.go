package pipeline_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/clock"
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
	for range 15 {
		now := fc.Now()
		require.NoError(t, rt.Ingest(context.Background(), []stream.Sample{sample("a", now), sample("b", now)}))
		fc.Advance(time.Second)
		require.NoError(t, rt.Sync(context.Background()))
	}
	stop()
	require.NoError(t, <-done)
	var kinds []string
	for _, ev := range rec.all() {
		kinds = append(kinds, string(ev.Kind)+"/"+ev.State.String())
	}
	require.Equal(t, []string{"collector_down/resolved"}, kinds, "the stall, and no absence in it")
	require.Equal(t, 1.0, metric(rt, "faultline_runtime_stalls_total"))
}
