// Package faultlineprocessor is the faultline processor of the
// OpenTelemetry Collector: in a metrics pipeline it passes the metrics on
// unchanged and evaluates them with faultline's live runtime, whose
// events go to the sinks of its configuration (Alertmanager, webhooks).
// The mapping of metrics to samples, the configuration, state and
// self-metrics are described in package faultlineotel.
package faultlineprocessor

import (
	"context"

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
	return processor.NewFactory(Type,
		func() component.Config { return faultlineotel.NewDefaultConfig() },
		processor.WithMetrics(func(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Metrics) (processor.Metrics, error) {
			r := faultlineotel.NewRunner(faultlineotel.Settings{
				ID: set.ID, Kind: component.KindProcessor, Telemetry: set.TelemetrySettings,
				Config: cfg.(*Config), Clock: o.clk, Sinks: o.sinks,
			})
			if o.created != nil {
				o.created(r)
			}
			return processorhelper.NewMetrics(ctx, set, cfg, next,
				func(ctx context.Context, md pmetric.Metrics) (pmetric.Metrics, error) {
					return md, r.ConsumeMetrics(ctx, md)
				},
				processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
				processorhelper.WithStart(r.Start),
				processorhelper.WithShutdown(r.Shutdown),
			)
		}, Stability))
}
