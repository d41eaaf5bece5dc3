// Package faultlineconnector is the faultline connector of the
// OpenTelemetry Collector, from metrics to logs: it evaluates the metrics
// of the pipelines it exports for with faultline's live runtime, and
// emits each event as a log record into the logs pipelines it receives
// for (and to the sinks of its configuration, if any). The mapping of
// metrics to samples, of events to log records, the configuration, state
// and self-metrics are described in package faultlineotel.
package faultlineconnector

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/faultline-go/faultline/clock"
	"github.com/faultline-go/faultline/contrib/otelcol/faultlineotel"
)

// Type is the connector's type in a collector configuration.
var Type = component.MustNewType("faultline")

// Stability is the connector's stability level.
const Stability = component.StabilityLevelAlpha

// Config is the connector's configuration, the same as the processor's.
type Config = faultlineotel.Config

// NewFactory returns the connector's factory, for an OpenTelemetry
// Collector Builder manifest or otelcol.Factories.
func NewFactory() connector.Factory { return newFactory(nil) }

// newFactory returns a factory whose connectors read time from clk (nil:
// the system clock).
func newFactory(clk clock.Clock) connector.Factory {
	return connector.NewFactory(Type,
		func() component.Config { return faultlineotel.NewDefaultConfig() },
		connector.WithMetricsToLogs(func(_ context.Context, set connector.Settings, cfg component.Config, next consumer.Logs) (connector.Metrics, error) {
			return newConnector(set, cfg.(*Config), next, clk), nil
		}, Stability))
}

// logsConnector is the connector: a Runner whose events also go to a
// LogsSink feeding the logs pipelines.
type logsConnector struct {
	*faultlineotel.Runner
	logs *faultlineotel.LogsSink
}

var _ connector.Metrics = (*logsConnector)(nil)

func newConnector(set connector.Settings, cfg *Config, next consumer.Logs, clk clock.Clock) *logsConnector {
	r := faultlineotel.NewRunner(faultlineotel.Settings{
		ID: set.ID, Kind: component.KindConnector, Telemetry: set.TelemetrySettings, Config: cfg, Clock: clk,
	})
	logs := faultlineotel.NewLogsSink(next, "logs", r.Instance(), r.Clock(), r.Logger(), 0)
	r.AddSink(logs)
	return &logsConnector{Runner: r, logs: logs}
}

// Capabilities says the connector does not change the metrics.
func (c *logsConnector) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

// ConsumeMetrics evaluates md; see faultlineotel.Runner.ConsumeMetrics.
func (c *logsConnector) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	return c.Runner.ConsumeMetrics(ctx, md)
}
