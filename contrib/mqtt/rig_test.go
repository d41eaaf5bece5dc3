package mqtt_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/clock"
	"github.com/faultline-go/faultline/contrib/mqtt"
	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/pipeline"
	"github.com/faultline-go/faultline/rules"
	"github.com/faultline-go/faultline/sink"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// recorder is a pipeline.Sink that keeps every event the runtime emits.
type recorder struct {
	mu     sync.Mutex
	events []fault.Event
}

func (r *recorder) Emit(_ context.Context, ev fault.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
	return nil
}
func (r *recorder) Start() error                { return nil }
func (r *recorder) Close(context.Context) error { return nil }

func (r *recorder) all() []fault.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]fault.Event(nil), r.events...)
}

func (r *recorder) of(kind fault.Kind, state fault.State) []fault.Event {
	var out []fault.Event
	for _, ev := range r.all() {
		if ev.Kind == kind && (state == 0 || ev.State == state) {
			out = append(out, ev)
		}
	}
	return out
}

// rig is a collector: a runtime in virtual time fed by an MQTT client,
// publishing its events through the client's Publisher.
type rig struct {
	t   *testing.T
	clk *clock.Fake
	rt  *pipeline.Runtime
	rec *recorder
	c   *mqtt.Client

	ctx    context.Context
	cancel context.CancelFunc
	rtDone chan error
	cDone  chan error
	ran    bool // the runtime runs (see rigConfig.held)
	ended  bool
}

type rigConfig struct {
	broker   *broker
	clientID string
	subs     []mqtt.Subscription
	rules    string
	shards   int    // by default 2
	state    string // checkpoint file
	clk      *clock.Fake
	publish  mqtt.Publish
	logger   *slog.Logger // by default none
	queueLen int          // the runtime's; by default its own
	held     bool         // the runtime runs only from r.run, the client at once
}

func newRig(t *testing.T, rc rigConfig) *rig {
	t.Helper()
	clk := rc.clk
	if clk == nil {
		clk = clock.NewFake(t0)
	}
	if rc.shards == 0 {
		rc.shards = 2
	}
	if rc.clientID == "" {
		rc.clientID = "faultline"
	}
	c, err := mqtt.New(mqtt.Config{
		Broker:        rc.broker.url(),
		ClientID:      rc.clientID,
		Subscriptions: rc.subs,
		Publish:       rc.publish,
		Backoff:       backoff,
		Drain:         5 * time.Second,
		Logger:        rc.logger,
	})
	require.NoError(t, err)
	var srcs []rules.Source
	if rc.rules != "" {
		srcs = []rules.Source{{Name: "rules.yaml", Data: []byte(rc.rules)}}
	}
	rec := &recorder{}
	rt, err := pipeline.New(pipeline.Config{
		Rules: srcs, Shards: rc.shards, State: rc.state, Clock: clk,
		Sinks: []pipeline.Sink{c.Publisher(), rec}, Drain: 5 * time.Second, QueueLen: rc.queueLen,
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	r := &rig{t: t, clk: clk, rt: rt, rec: rec, c: c, ctx: ctx, cancel: cancel, rtDone: make(chan error, 1), cDone: make(chan error, 1)}
	if !rc.held {
		r.run()
	}
	go func() { r.cDone <- c.Run(ctx, rt) }()
	t.Cleanup(r.shutdown)
	if len(rc.subs) > 0 {
		waitFor(t, 10*time.Second, func() bool { return c.Stats().Subscribed > 0 }, "the client subscribes")
	} else {
		waitFor(t, 10*time.Second, func() bool { return c.Stats().Connected }, "the client connects")
	}
	return r
}

// run runs the runtime of a rig made with rigConfig.held.
func (r *rig) run() {
	r.ran = true
	go func() { r.rtDone <- r.rt.Run(r.ctx) }()
}

// shutdown stops the runtime and the client; both must end without error.
func (r *rig) shutdown() {
	if r.ended {
		return
	}
	r.ended = true
	r.cancel()
	if r.ran {
		require.NoError(r.t, <-r.rtDone)
	}
	require.NoError(r.t, <-r.cDone)
}

// step moves virtual time on by d and waits until the runtime has seen
// the time (a tick) and judged up to then. Waiting for the tick keeps the
// runtime from taking a quick succession of steps for a stall of its own.
func (r *rig) step(d time.Duration) {
	r.t.Helper()
	ticks := r.metric("faultline_runtime_ticks_total")
	r.clk.Advance(d)
	waitFor(r.t, 10*time.Second, func() bool { return r.metric("faultline_runtime_ticks_total") > ticks }, "the runtime ticks")
	require.NoError(r.t, r.rt.Sync(context.Background()))
}

// metric sums the runtime's metric name over its labels.
func (r *rig) metric(name string) float64 {
	v := 0.0
	for _, m := range r.rt.AppendMetrics(nil) {
		if m.Name == name {
			v += m.Value
		}
	}
	return v
}

// backoff makes the client reconnect quickly in tests.
var backoff = sink.Retry{Initial: 100 * time.Millisecond, Max: time.Second}

// busEvent is an event as read back from the bus.
type busEvent struct {
	Topic  string
	ID     string            `json:"id"`
	Kind   string            `json:"kind"`
	State  string            `json:"state"`
	Labels map[string]string `json:"labels"`
	Period float64           `json:"period_s"`
	Phase  float64           `json:"phase_start_s"`
	Series int               `json:"series"`
}

// events decodes what an observer received as events.
func events(t testing.TB, msgs []message) []busEvent {
	t.Helper()
	var out []busEvent
	for _, m := range msgs {
		var ev busEvent
		require.NoError(t, json.Unmarshal([]byte(m.payload), &ev), "%s: %s", m.topic, m.payload)
		ev.Topic = m.topic
		out = append(out, ev)
	}
	return out
}

// waitFresh waits until the engines have admitted n samples in all: the
// messages published so far have come through the broker and the client.
func (r *rig) waitFresh(n int) {
	r.t.Helper()
	waitFor(r.t, 60*time.Second, func() bool {
		require.NoError(r.t, r.rt.Sync(context.Background()))
		return r.metric("faultline_fresh_total") >= float64(n)
	}, "%v of %d samples admitted", r.metric("faultline_fresh_total"), n)
}
