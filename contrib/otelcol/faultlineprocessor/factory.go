// Package faultlineprocessor is the faultline processor of the
// OpenTelemetry Collector: in a metrics pipeline it passes the metrics on
// unchanged and evaluates them with faultline's live runtime, whose
// events go to the sinks of its configuration (Alertmanager, webhooks).
// The mapping of metrics to samples, the configuration, state and
// self-metrics are described in package faultlineotel.
//
// A processor listed in several pipelines is one component, with one
// runtime that evaluates the metrics of all of them (one checkpoint, one
// instance, one set of sinks). A point that reaches it through two
// pipelines (a receiver listed in both) is a redelivery: deduplicated and
// counted as a duplicate.
package faultlineprocessor

import (
	"context"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"

	"github.com/faultline-go/faultline/clock"
	"github.com/faultline-go/faultline/contrib/otelcol/faultlineotel"
	"github.com/faultline-go/faultline/pipeline"
)

// Type is the processor's type in a collector configuration.
var Type = component.MustNewType("faultline")

// Stability is the processor's stability level.
const Stability = component.StabilityLevelAlpha

// Config is the processor's configuration, the same as the connector's.
type Config = faultlineotel.Config

// NewFactory returns the processor's factory, for an OpenTelemetry
// Collector Builder manifest or otelcol.Factories.
func NewFactory() processor.Factory { return newFactory(options{}) }

// options are the tests' hooks into the processors a factory makes.
type options struct {
	clk     clock.Clock                 // nil: the system clock
	sinks   []pipeline.Sink             // besides the configured ones
	created func(*faultlineotel.Runner) // called with each processor's runner
}

func newFactory(o options) processor.Factory {
	var (
		mu     sync.Mutex // guards byConf and the refs of its entries
		byConf = map[*Config]*shared{}
	)
	return processor.NewFactory(Type,
		func() component.Config { return faultlineotel.NewDefaultConfig() },
		processor.WithMetrics(func(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Metrics) (processor.Metrics, error) {
			c := cfg.(*Config)
			mu.Lock()
			sh := byConf[c]
			if sh == nil {
				r := faultlineotel.NewRunner(faultlineotel.Settings{
					ID: set.ID, Kind: component.KindProcessor, Telemetry: set.TelemetrySettings,
					Config: c, Clock: o.clk, Sinks: o.sinks,
				})
				if o.created != nil {
					o.created(r)
				}
				sh = &shared{r: r}
				sh.release = func() bool {
					mu.Lock()
					defer mu.Unlock()
					sh.refs--
					if sh.refs > 0 {
						return false
					}
					delete(byConf, c)
					return true
				}
				byConf[c] = sh
			}
			sh.refs++
			mu.Unlock()
			var once sync.Once
			return processorhelper.NewMetrics(ctx, set, cfg, next,
				// processorhelper hands md to next only if this succeeds, and
				// returns next's error to the sender as it is: a retriable
				// one makes the sender redeliver samples already ingested,
				// which dedup absorbs (counted as duplicates).
				func(ctx context.Context, md pmetric.Metrics) (pmetric.Metrics, error) {
					return md, sh.r.ConsumeMetrics(ctx, md)
				},
				processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
				processorhelper.WithStart(sh.start),
				processorhelper.WithShutdown(func(ctx context.Context) error {
					var err error
					once.Do(func() { err = sh.shutdown(ctx) })
					return err
				}),
			)
		}, Stability))
}

// shared is the runner of the processors of one component: the collector
// makes a processor for each pipeline that lists the component, all with
// its Config, and they must share one runtime, as they share its
// checkpoint, its instance name and its sinks. The first Start starts it;
// the last Shutdown of the processors made stops it, so that the
// components before it in every pipeline can still hand it their last
// metrics.
type shared struct {
	r       *faultlineotel.Runner
	refs    int         // processors made and not shut down; guarded by the factory
	release func() bool // counts a processor shut down; true for the last

	startOnce sync.Once
	startErr  error
}

func (s *shared) start(ctx context.Context, host component.Host) error {
	s.startOnce.Do(func() { s.startErr = s.r.Start(ctx, host) })
	return s.startErr
}

func (s *shared) shutdown(ctx context.Context) error {
	if !s.release() {
		return nil
	}
	return s.r.Shutdown(ctx)
}
