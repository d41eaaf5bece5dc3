package faultlineotel

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap/exp/zapslog"

	"github.com/faultline-go/faultline/clock"
	"github.com/faultline-go/faultline/metrics"
	"github.com/faultline-go/faultline/pipeline"
	"github.com/faultline-go/faultline/rules"
	"github.com/faultline-go/faultline/sink"
)

// Settings are what a Runner is made from.
type Settings struct {
	// ID and Kind are the component's: they name its storage client, its
	// default Instance and its bad-input reports.
	ID   component.ID
	Kind component.Kind
	// Telemetry is the component's: its Logger and MeterProvider are
	// used.
	Telemetry component.TelemetrySettings
	Config    *Config
	// Sinks receive the events besides the sinks Config configures (the
	// connector's LogsSink). The runtime starts and closes them.
	Sinks []pipeline.Sink
	// Clock is the wall clock. By default the system's.
	Clock clock.Clock
}

// Runner hosts one live runtime (package pipeline) in a collector
// component: Start builds it (restoring its checkpoint from the storage
// extension) and runs it, ConsumeMetrics maps and ingests, Shutdown runs
// the runtime's shutdown sequence (a last checkpoint, the sinks drained
// and closed). Meanwhile it reloads the rule files when they change.
type Runner struct {
	set      Settings
	cfg      *Config
	clk      clock.Clock
	log      *slog.Logger
	mapper   *Mapper
	instance string
	input    string

	rt atomic.Pointer[pipeline.Runtime]

	mu      sync.Mutex // guards what follows
	called  bool       // Start was called
	started bool
	cancel  context.CancelFunc
	done    chan struct{}
	runErr  error
	reg     metric.Registration

	refusedBatches, ruleReadErrs atomic.Uint64
}

// NewRunner returns a Runner; it starts nothing.
func NewRunner(set Settings) *Runner {
	r := &Runner{set: set, cfg: set.Config, clk: set.Clock, mapper: NewMapper(set.Config)}
	if r.clk == nil {
		r.clk = clock.Real()
	}
	r.log = slog.New(slog.DiscardHandler)
	if l := set.Telemetry.Logger; l != nil {
		r.log = slog.New(zapslog.NewHandler(l.Core()))
	}
	r.instance = r.cfg.Instance
	if r.instance == "" {
		r.instance = set.ID.String()
	}
	r.input = strings.ToLower(set.Kind.String()) + "/" + set.ID.String()
	return r
}

// Instance is the name in the faultline_origin label of the events.
func (r *Runner) Instance() string { return r.instance }

// Logger is the component's logger, as slog.
func (r *Runner) Logger() *slog.Logger { return r.log }

// Clock is the runner's wall clock.
func (r *Runner) Clock() clock.Clock { return r.clk }

// Runtime returns the runtime, nil before Start.
func (r *Runner) Runtime() *pipeline.Runtime { return r.rt.Load() }

// AddSink adds a sink that receives the events besides those of
// Settings; call it before Start.
func (r *Runner) AddSink(s pipeline.Sink) { r.set.Sinks = append(r.set.Sinks, s) }

// Start reads the rule files, opens the checkpoint's storage client,
// builds the runtime (restoring the checkpoint, if any) and runs it. ctx
// bounds Start only. It may be called once: a second call, or one after
// Shutdown, is refused: its runtime would run beside the first one, and
// Shutdown would stop only the last.
func (r *Runner) Start(ctx context.Context, host component.Host) error {
	r.mu.Lock()
	called := r.called
	r.called = true
	r.mu.Unlock()
	if called {
		return errors.New("faultline: Start called again: a component runs once")
	}
	srcs, err := rules.ReadSources(r.cfg.Rules...)
	if err != nil {
		return fmt.Errorf("faultline: %w", err)
	}
	var (
		store  pipeline.Store
		client storage.Client
	)
	if id := r.cfg.Storage; id != nil {
		ext, ok := host.GetExtensions()[*id]
		if !ok {
			return fmt.Errorf("faultline: storage %q: no such extension in the service's extensions", id)
		}
		se, ok := ext.(storage.Extension)
		if !ok {
			return fmt.Errorf("faultline: storage %q is not a storage extension", id)
		}
		if client, err = se.GetClient(ctx, r.set.Kind, r.set.ID, ""); err != nil {
			return fmt.Errorf("faultline: storage %q: %w", id, err)
		}
		store = Store{Client: client, Name: id.String()}
	}
	sinks := r.cfg.sinks(r.set.ID.String(), r.clk, sink.Options{Logger: r.log})
	sinks = append(sinks, r.set.Sinks...)
	rc := &r.cfg.Runtime
	rt, err := pipeline.New(pipeline.Config{
		Engine:          r.cfg.engineConfig(r.instance),
		Rules:           srcs,
		Sinks:           sinks,
		Shards:          rc.Shards,
		QueueLen:        rc.QueueLen,
		Tick:            rc.Tick,
		StallAfter:      rc.StallAfter,
		Store:           store,
		CheckpointEvery: rc.CheckpointEvery,
		Drain:           rc.Drain,
		Clock:           r.clk,
		Logger:          r.log,
	})
	if err != nil {
		if client != nil {
			err = errors.Join(err, client.Close(ctx))
		}
		return fmt.Errorf("faultline: %w", err)
	}
	rt.AddMetrics(r.mapper)
	rt.AddMetrics(metrics.SourceFunc(r.appendMetrics))
	reg, err := RegisterMetrics(r.set.Telemetry.MeterProvider, rt, attribute.String(strings.ToLower(r.set.Kind.String()), r.set.ID.String()))
	if err != nil {
		r.log.Warn("self-metrics are not exported", "err", err)
	}

	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	r.mu.Lock()
	r.started, r.cancel, r.done, r.reg = true, cancel, done, reg
	r.mu.Unlock()
	r.rt.Store(rt)
	var wg sync.WaitGroup
	if r.cfg.ReloadInterval > 0 && len(r.cfg.Rules) > 0 {
		wg.Go(func() { r.watch(runCtx, rt, srcs) })
	}
	go func() {
		err := rt.Run(runCtx)
		wg.Wait()
		if client != nil {
			err = errors.Join(err, client.Close(context.Background()))
		}
		if err != nil {
			r.log.Error("faultline stopped with an error", "err", err)
		}
		r.mu.Lock()
		r.runErr = err
		r.mu.Unlock()
		close(done)
	}()
	return nil
}

// ConsumeMetrics maps md to samples, each stamped with the wall clock's
// time now as its arrival, into a batch of the runtime's, and hands it
// over (pipeline.Runtime.Hand: with one shard the batch is queued, not
// copied). Points refused by the
// mapping are reported to the runtime as bad input (coalesced into one
// bad_input event a minute) and counted; they do not fail the call. When
// the shards' queues stay full until ctx ends, the samples not queued are
// refused and the error (matching pipeline.ErrBusy) is returned, so the
// collector pushes back on its sender.
func (r *Runner) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	rt := r.rt.Load()
	if rt == nil {
		return pipeline.ErrStopped
	}
	// The batch is the runtime's, given to it (Hand) rather than copied:
	// it is never touched again, whatever Hand returns (the collector
	// sends md again, not the batch).
	batch := r.mapper.Append(rt.Batch(md.DataPointCount()), md, rt.Now().UnixNano(), func(pe *PointError) { rt.BadInput(r.input, pe) })
	if err := rt.Hand(ctx, batch); err != nil {
		r.refusedBatches.Add(1)
		return err
	}
	return nil
}

// Sync waits until everything ingested before it was processed and the
// events handed to the sinks (see pipeline.Runtime.Sync).
func (r *Runner) Sync(ctx context.Context) error {
	rt := r.rt.Load()
	if rt == nil {
		return pipeline.ErrStopped
	}
	return rt.Sync(ctx)
}

// Shutdown stops the runtime: input is refused, what was queued is
// processed, a last checkpoint is written, the sinks deliver what they
// hold (for at most runtime::drain) and close; then the storage client
// is closed. It waits for that until ctx ends. It is safe without Start,
// and idempotent.
func (r *Runner) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	started, cancel, done, reg := r.started, r.cancel, r.done, r.reg
	r.reg = nil
	r.mu.Unlock()
	if !started {
		return nil
	}
	if reg != nil {
		_ = reg.Unregister()
	}
	cancel()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("faultline: shutdown: %w (the runtime finishes its shutdown in the background)", ctx.Err())
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.runErr
}

// watch reads the rule files every ReloadInterval and reloads them when
// their text changed.
func (r *Runner) watch(ctx context.Context, rt *pipeline.Runtime, last []rules.Source) {
	t := r.clk.NewTicker(r.cfg.ReloadInterval)
	defer t.Stop()
	var lastErr string
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		srcs, err := rules.ReadSources(r.cfg.Rules...)
		if err != nil {
			if err.Error() != lastErr {
				r.ruleReadErrs.Add(1)
				r.log.Error("rule files not reloaded: cannot read them", "err", err)
			}
			lastErr = err.Error()
			continue
		}
		lastErr = ""
		if sameSources(srcs, last) {
			continue
		}
		last = srcs // a refused text is not tried again until it changes
		if err := rt.Reload(ctx, srcs); err != nil {
			r.log.Error("rule files changed but not reloaded: the old rules stay", "err", err)
			continue
		}
		r.log.Info("rule files reloaded", "files", len(srcs))
	}
}

func sameSources(a, b []rules.Source) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || !bytes.Equal(a[i].Data, b[i].Data) {
			return false
		}
	}
	return true
}

func (r *Runner) appendMetrics(dst []metrics.Metric) []metrics.Metric {
	return append(dst,
		metrics.C("faultline_otelcol_refused_batches_total", "Batches of metrics refused (the shards' queues stayed full): the collector pushed back.", r.refusedBatches.Load()),
		metrics.C("faultline_otelcol_rule_read_errors_total", "Times the rule files could not be read for a reload.", r.ruleReadErrs.Load()),
	)
}
