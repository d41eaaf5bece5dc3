package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/bench/scenario"
	"github.com/faultline-go/faultline/clock"
	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/internal/frame"
	"github.com/faultline-go/faultline/pipeline"
	"github.com/faultline-go/faultline/rules"
	"github.com/faultline-go/faultline/sink"
	"github.com/faultline-go/faultline/stream"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// recorder is a Sink that keeps every event.
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
func (r *recorder) Start() error                    { return nil }
func (r *recorder) Close(ctx context.Context) error { return nil }

func (r *recorder) all() []fault.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]fault.Event(nil), r.events...)
}

func (r *recorder) of(kind fault.Kind, state fault.State) []fault.Event {
	var out []fault.Event
	for _, ev := range r.all() {
		if ev.Kind == kind && ev.State == state {
			out = append(out, ev)
		}
	}
	return out
}

// running is a runtime running in virtual time.
type running struct {
	rt    *pipeline.Runtime
	clk   *clock.Fake
	rec   *recorder
	stop  context.CancelFunc
	done  chan error
	ended bool
	// give is how step gives the runtime samples; Ingest if nil.
	give func(rt *pipeline.Runtime, ctx context.Context, batch []stream.Sample) error
}

func start(t *testing.T, cfg pipeline.Config, clk *clock.Fake) *running {
	t.Helper()
	rec := &recorder{}
	cfg.Clock = clk
	cfg.Sinks = append(cfg.Sinks, rec)
	rt, err := pipeline.New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{rt: rt, clk: clk, rec: rec, stop: cancel, done: make(chan error, 1)}
	go func() { r.done <- rt.Run(ctx) }()
	t.Cleanup(func() { r.shutdown(t) })
	// Run runs once a Sync returns (or it has stopped): a restart's
	// downtime lasts until Run starts, so the clock must not move before.
	_ = rt.Sync(context.Background())
	return r
}

// shutdown stops the runtime and waits for Run to return, which must
// return no error.
func (r *running) shutdown(t *testing.T) {
	t.Helper()
	require.NoError(t, r.end())
}

// end stops the runtime and returns Run's error.
func (r *running) end() error {
	if r.ended {
		return nil
	}
	r.ended = true
	r.stop()
	return <-r.done
}

// step ingests the samples, each stamped now, moves the clock on by d,
// and waits until the runtime has judged up to then.
func (r *running) step(t *testing.T, d time.Duration, batch ...stream.Sample) {
	t.Helper()
	now := r.clk.Now().UnixNano()
	for i := range batch {
		batch[i].Arrival = now
	}
	give := r.give
	if give == nil {
		give = (*pipeline.Runtime).Ingest
	}
	require.NoError(t, give(r.rt, context.Background(), batch))
	r.clk.Advance(d)
	require.NoError(t, r.rt.Sync(context.Background()))
}

func sample(host string, ts time.Time) stream.Sample {
	return stream.NewSample("up", stream.NewLabels("host", host), ts.UnixNano(), 1, ts.UnixNano())
}

func src(t *testing.T, text string) []rules.Source {
	t.Helper()
	s := []rules.Source{{Name: "rules.yaml", Data: []byte(text)}}
	_, err := rules.ParseSources(s...)
	require.NoError(t, err)
	return s
}

const beat = `
series:
  - {match: up, cadence: 1s, absent_after: 10s}
`

// An absence fires absent_after after the host's last delivery, within
// one cadence and the on-time budget, in virtual time, whatever the
// number of shards, and whether the samples are copied (Ingest) or handed
// over (Hand).
func TestAbsenceFiresAbsentAfterTheLastDelivery(t *testing.T) {
	for i := range 4 {
		shards, how := []int{1, 4}[i%2], ingests[i/2]
		clk := clock.NewFake(t0)
		r := start(t, pipeline.Config{Rules: src(t, beat), Shards: shards}, clk)
		r.give = how.f
		var last time.Time
		for s := range 60 {
			now := clk.Now()
			batch := []stream.Sample{sample("a", now), sample("b", now)}
			if s < 30 {
				batch = append(batch, sample("c", now))
				last = now
			}
			r.step(t, time.Second, batch...)
		}
		abs := r.rec.of(fault.KindAbsence, fault.StateFiring)
		require.Len(t, abs, 1, "%s, shards %d: %v", how.name, shards, r.rec.all())
		require.Equal(t, "c", abs[0].Labels.Get("host"))
		after := time.Duration(abs[0].At - last.UnixNano())
		require.GreaterOrEqual(t, after, 10*time.Second)
		require.LessOrEqual(t, after, 10*time.Second+time.Second+fault.DefaultOnTimeBudget, "within a cadence and τ: %v", after)
		r.shutdown(t)
	}
}

// A fleet periodic gap that every shard sees is one fault: one firing
// event and one resolved, however many shards, and the absences it
// explains link to that event.
func TestFleetGapIsOneFaultAcrossShards(t *testing.T) {
	spec := scenario.MustNamed("B01").WithN(2000)
	spec = spec.WithIncident(10*time.Minute, 10*time.Minute).WithHorizon(30 * time.Minute)
	ds, err := scenario.Generate(spec, 3)
	require.NoError(t, err)
	for _, shards := range []int{1, 4} {
		clk := clock.NewFake(time.Unix(0, ds.At(0).Arrival()))
		r := start(t, pipeline.Config{Shards: shards}, clk)
		ctx := context.Background()
		batch := make([]stream.Sample, 0, 4096)
		for i, d := range ds.Deliveries() {
			if at := time.Unix(0, d.Arrival()); at.After(clk.Now()) {
				require.NoError(t, r.rt.Ingest(ctx, batch))
				batch = batch[:0]
				clk.Set(at)
				if i%2048 == 0 {
					require.NoError(t, r.rt.Sync(ctx))
				}
			}
			batch = append(batch, ds.Sample(i))
		}
		require.NoError(t, r.rt.Ingest(ctx, batch))
		clk.Advance(5 * time.Minute)
		require.NoError(t, r.rt.Sync(ctx))
		r.shutdown(t)

		fire := r.rec.of(fault.KindPeriodicGap, fault.StateFiring)
		require.Len(t, fire, 1, "shards %d", shards)
		res := r.rec.of(fault.KindPeriodicGap, fault.StateResolved)
		require.Len(t, res, 1, "shards %d", shards)
		require.Equal(t, fire[0].Episode, res[0].Episode, "shards %d: the fault resolves, not a suspicion", shards)
		require.Equal(t, fault.StateID(fire[0].Episode, fault.StateResolved), res[0].ID, "shards %d", shards)
		require.Equal(t, time.Minute, fire[0].Gap.Period)
		require.InDelta(t, 12, fire[0].Gap.PhaseStart.Seconds(), 1)
		for _, ev := range r.rec.of(fault.KindAbsence, fault.StateFiring) {
			if ev.InhibitedBy != "" {
				require.Equal(t, fire[0].ID, ev.InhibitedBy, "explained absences link to the one fault")
			}
		}
		if shards > 1 {
			require.Positive(t, metric(r.rt, "faultline_runtime_events_merged_total"), "several shards found it")
		}
	}
}

// A full queue pushes back: Ingest (or Hand) waits, then refuses what it
// could not queue, says so (ErrBusy) and counts it.
func TestFullQueuePushesBack(t *testing.T) {
	for _, how := range ingests {
		rt, err := pipeline.New(pipeline.Config{Shards: 1, QueueLen: 2, Clock: clock.NewFake(t0)})
		require.NoError(t, err)
		ctx := context.Background()
		for i := range 2 { // not running: nothing drains the queue
			require.NoError(t, how.f(rt, ctx, []stream.Sample{sample("a", t0.Add(time.Duration(i)*time.Second))}))
		}
		short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
		err = how.f(rt, short, []stream.Sample{sample("a", t0), sample("b", t0)})
		cancel()
		require.ErrorIs(t, err, pipeline.ErrBusy, how.name)
		require.Equal(t, 2.0, metric(rt, "faultline_runtime_refused_total"), how.name)
		require.Equal(t, 2.0, metric(rt, "faultline_runtime_samples_total"), how.name)
		require.Equal(t, 2.0, metric(rt, "faultline_runtime_queue", "shard", "0"), how.name)
	}
}

// ingests are the two ways to give a runtime samples: Ingest, which
// copies them, and Hand, which takes the batch over.
var ingests = []struct {
	name string
	f    func(rt *pipeline.Runtime, ctx context.Context, batch []stream.Sample) error
}{
	{"Ingest", (*pipeline.Runtime).Ingest},
	{"Hand", func(rt *pipeline.Runtime, ctx context.Context, batch []stream.Sample) error {
		return rt.Hand(ctx, append(rt.Batch(len(batch)), batch...))
	}},
}

func metric(rt *pipeline.Runtime, name string, labels ...string) float64 {
	for _, m := range rt.AppendMetrics(nil) {
		if m.Name != name {
			continue
		}
		match := true
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, l := range m.Labels {
				found = found || l.Name == labels[i] && l.Value == labels[i+1]
			}
			match = match && found
		}
		if match {
			return m.Value
		}
	}
	return -1
}

// A restart: hosts report, the runtime stops (checkpoint), 25 s pass, it
// restarts on the same state with the rule file it started with, though
// the rules were reloaded before it stopped. The hosts that kept reporting
// raise no absence, one event says the collector was down, from when to
// when, and nothing of the first run is emitted again. With a queue of one
// batch too: the restore once queued two items a shard before Run, and New
// waited for room forever.
func TestRestartReportsItsDowntimeOnce(t *testing.T) {
	for _, queue := range []int{0, 1} { // the default, and the shortest queue
		t.Run(fmt.Sprintf("queue=%d", queue), func(t *testing.T) { testRestart(t, queue) })
	}
}

func testRestart(t *testing.T, queue int) {
	state := filepath.Join(t.TempDir(), "state")
	clk := clock.NewFake(t0)
	cfg := pipeline.Config{Rules: src(t, beat), Shards: 2, State: state, QueueLen: queue}
	r := start(t, cfg, clk)
	for range 20 {
		now := clk.Now()
		r.step(t, time.Second, sample("a", now), sample("b", now))
	}
	reloaded := src(t, beat+`
groups:
  - name: g
    rules:
      - {alert: Down, match: up, expr: 'value < 1'}
`)
	require.NoError(t, r.rt.Reload(context.Background(), reloaded))
	r.step(t, time.Second, sample("a", clk.Now()), sample("b", clk.Now()))
	r.shutdown(t)
	stopped := clk.Now()
	first := r.rec.all()

	clk.Advance(25 * time.Second)
	r2 := start(t, cfg, clk)
	for range 30 {
		now := clk.Now()
		r2.step(t, time.Second, sample("a", now), sample("b", now))
	}
	r2.shutdown(t)

	got := r2.rec.all()
	require.Len(t, got, 1, "only the downtime: %v", got)
	down := got[0]
	require.Equal(t, fault.KindCollectorDown, down.Kind)
	require.Equal(t, stopped.UnixNano(), down.Since)
	require.Equal(t, stopped.Add(25*time.Second).UnixNano(), down.At)
	require.InDelta(t, 25, down.Value, 0.001)
	for _, ev := range first {
		require.NotEqual(t, ev.ID, down.ID)
	}
	require.Empty(t, first, "nothing happened in the first run")
}

// A checkpoint that cannot be read is an error, not a fresh start.
func TestUnreadableCheckpointIsAnError(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	require.NoError(t, writeFile(state, []byte("not a checkpoint")))
	_, err := pipeline.New(pipeline.Config{State: state, Clock: clock.NewFake(t0)})
	require.Error(t, err)
	require.Contains(t, err.Error(), "remove it to start afresh")
}

// A checkpoint of an older format (version 1, whose merger state had no
// gap start times) is refused with a clear error, not misread.
func TestOldCheckpointIsRefused(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	w := frame.Begin(nil, "FLTRUNT\x00", 1)
	w.I64(t0.UnixNano())
	w.Uv(0) // rule files
	w.Uv(1) // shards
	w.Bytes([]byte("snapshot"))
	w.Uv(0) // the merger's groups
	w.Uv(0) // its links
	require.NoError(t, writeFile(state, w.Finish()))
	_, err := pipeline.New(pipeline.Config{State: state, Clock: clock.NewFake(t0)})
	require.ErrorContains(t, err, "version 1, this build reads version 2")
	require.ErrorContains(t, err, "remove it to start afresh")
}

// A reload with invalid rules is refused with its positions; the old rules
// stay and the refusal is counted.
func TestInvalidReloadKeepsTheOldRules(t *testing.T) {
	rt, err := pipeline.New(pipeline.Config{Rules: src(t, beat), Shards: 1, Clock: clock.NewFake(t0)})
	require.NoError(t, err)
	err = rt.Reload(context.Background(), []rules.Source{{Name: "bad.yaml", Data: []byte("groups: [{name: g, rules: [{alert: X, expr: 'value >'}]}]")}})
	var errs rules.Errors
	require.True(t, errors.As(err, &errs), "%v", err)
	require.Contains(t, err.Error(), "bad.yaml:1:")
	require.Equal(t, 1.0, metric(rt, "faultline_runtime_reload_errors_total"))
	require.Equal(t, 0.0, metric(rt, "faultline_runtime_reloads_total"))
}

func writeFile(path string, data []byte) error { return os.WriteFile(path, data, 0o644) }

// A sink that is down never holds up detection, and what it cannot
// deliver is counted: every event the runtime handed it is sent, dropped
// (its queue was full, or it was still down at shutdown) or queued.
func TestDownSinkLosesNothingUncounted(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	url := dead.URL
	dead.Close() // nothing listens there any more
	clk := clock.NewFake(t0)
	hook := sink.NewWebhook(url, &sink.Options{Name: "hook", QueueSize: 4, Clock: clk})
	cfg := pipeline.Config{Rules: src(t, beat), Shards: 2, Sinks: []pipeline.Sink{hook}, Drain: 50 * time.Millisecond}
	r := start(t, cfg, clk)
	for s := range 40 {
		now := clk.Now()
		var batch []stream.Sample
		for h := range 10 {
			if s < 10+h { // host h stops after 10+h s: ten absences
				batch = append(batch, sample(strconv.Itoa(h), now))
			}
		}
		r.step(t, time.Second, batch...)
	}
	require.ErrorIs(t, r.end(), sink.ErrUndelivered, "Run reports what the sink could not deliver")
	require.Len(t, r.rec.of(fault.KindAbsence, fault.StateFiring), 10, "detection went on")
	var events, sent, dropped, queued float64
	for _, m := range hook.AppendMetrics(nil) {
		switch m.Name {
		case "faultline_sink_events_total":
			events += m.Value
		case "faultline_sink_sent_total":
			sent += m.Value
		case "faultline_sink_dropped_total":
			dropped += m.Value
		case "faultline_sink_queued":
			queued += m.Value
		}
	}
	require.Equal(t, float64(len(r.rec.all())), events, "the sink got every event")
	require.Zero(t, sent)
	require.Equal(t, events, sent+dropped+queued, "nothing lost uncounted")
	require.Positive(t, dropped)
}

// A flood of bad records is counted in full, however full the queues are:
// they wait, coalesced per input, until their shard takes them.
func TestBadInputFloodIsCountedInFull(t *testing.T) {
	clk := clock.NewFake(t0)
	r := start(t, pipeline.Config{Shards: 2, QueueLen: 1}, clk)
	for i := range 10000 {
		r.rt.BadInput("feed"+strconv.Itoa(i%3), errors.New("bad record"))
	}
	require.NoError(t, r.rt.Sync(context.Background()))
	var total float64
	for _, shard := range []string{"0", "1"} {
		total += metric(r.rt, "faultline_bad_input_total", "shard", shard)
	}
	require.Equal(t, 10000.0, total)
}

// A feedback loop that every shard sees, each first through another of the
// looped series, is one fault.
func TestFeedbackLoopIsOneFaultAcrossShards(t *testing.T) {
	clk := clock.NewFake(t0)
	r := start(t, pipeline.Config{Shards: 4}, clk)
	for s := range 5 {
		now := clk.Now()
		var batch []stream.Sample
		for i := range 40 {
			smp := stream.NewSample("echo_"+strconv.Itoa(i), stream.NewLabels(fault.OriginLabel, "elsewhere"), now.UnixNano(), float64(s), now.UnixNano())
			batch = append(batch, smp)
		}
		r.step(t, time.Second, batch...)
	}
	require.Len(t, r.rec.of(fault.KindFeedbackLoop, fault.StateFiring), 1, "%v", r.rec.all())
	require.Positive(t, metric(r.rt, "faultline_runtime_events_merged_total"), "several shards saw it")
}

// loopFor has 40 looped series (faultline's own output coming back) arrive
// every second for n seconds.
func loopFor(t *testing.T, r *running, n int) {
	t.Helper()
	for s := range n {
		now := r.clk.Now()
		var batch []stream.Sample
		for i := range 40 {
			batch = append(batch, stream.NewSample("echo_"+strconv.Itoa(i), stream.NewLabels(fault.OriginLabel, "elsewhere"), now.UnixNano(), float64(s), now.UnixNano()))
		}
		r.step(t, time.Second, batch...)
	}
}

// A restart while a fault that several shards found is open: the merger's
// groups are in the checkpoint, so after the restart the fault resolves
// once, as the one fault it fired as, though every shard resolves it.
func TestRestartKeepsTheMergersGroups(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	clk := clock.NewFake(t0)
	cfg := pipeline.Config{Shards: 4, State: state, Tick: time.Second, StallAfter: 2 * time.Hour}
	r := start(t, cfg, clk)
	loopFor(t, r, 5)
	r.shutdown(t)
	fired := r.rec.of(fault.KindFeedbackLoop, fault.StateFiring)
	require.Len(t, fired, 1, "%v", r.rec.all())

	clk.Advance(time.Second)
	r2 := start(t, cfg, clk)
	r2.step(t, 61*time.Minute) // the loop resolves after an hour's quiet
	r2.shutdown(t)
	require.Empty(t, r2.rec.of(fault.KindFeedbackLoop, fault.StateFiring))
	resolved := r2.rec.of(fault.KindFeedbackLoop, fault.StateResolved)
	require.Len(t, resolved, 1, "%v", r2.rec.all())
	require.Equal(t, fired[0].Episode, resolved[0].Episode)
	require.Equal(t, 3.0, metric(r2.rt, "faultline_runtime_events_merged_total"), "the other shards' resolutions")
}

// Series are spread over a number of shards that is not a power of 2 too:
// every shard takes some, and every sample is taken once.
func TestThreeShardsTakeEverySeries(t *testing.T) {
	clk := clock.NewFake(t0)
	r := start(t, pipeline.Config{Shards: 3}, clk)
	for round := range 2 {
		now := clk.Now().UnixNano()
		var batch []stream.Sample
		for i := range 300 {
			batch = append(batch, stream.NewSample("cpu", stream.NewLabels("host", "h"+strconv.Itoa(i)), now, float64(round), now))
		}
		r.step(t, 10*time.Second, batch...)
	}
	var total float64
	for _, shard := range []string{"0", "1", "2"} {
		n := metric(r.rt, "faultline_fresh_total", "shard", shard)
		require.Positive(t, n, "shard %s", shard)
		total += n
	}
	require.Equal(t, 600.0, total)
}
