package faultlineotel

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configopaque"

	"github.com/faultline-go/faultline/clock"
	"github.com/faultline-go/faultline/dedup"
	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/pipeline"
	"github.com/faultline-go/faultline/rules"
	"github.com/faultline-go/faultline/sink"
)

// Config configures the faultline processor and connector; both take the
// same settings. NewDefaultConfig gives the defaults; a zero numeric or
// duration field means the engine's or the runtime's own default, which
// each field names. The package doc has a full example.
type Config struct {
	// Rules are the paths of the rule files. By default none: only the
	// built-in detectors run (absence, gaps, loop guard, storms).
	Rules []string `mapstructure:"rules"`
	// ReloadInterval is how often the rule files are read again; when
	// their text changed, the rules are reloaded as a SIGHUP would, and
	// state carries over for unchanged rules. Invalid new rules are
	// refused (logged with their positions, counted), the old ones stay.
	// By default 30s; 0 turns reloading off.
	ReloadInterval time.Duration `mapstructure:"reload_interval"`
	// Instance names this engine in the faultline_origin label of its
	// events. By default the component's ID (faultline, faultline/edge).
	Instance string `mapstructure:"instance"`
	// SourceLabel names the label (after the naming rule: host_name for
	// host.name) that says where a sample came from, for the per-source
	// detectors (duplicate storms, ingest lag). By default none.
	SourceLabel string `mapstructure:"source_label"`
	// ResourceAttributes are the resource attributes that become labels
	// of every sample of their resource. By default service.name,
	// service.namespace, service.instance.id and host.name.
	ResourceAttributes []string `mapstructure:"resource_attributes"`
	// Storage is the ID of a storage extension (file_storage, say) that
	// keeps the checkpoints. By default none: nothing survives a restart
	// or a configuration reload.
	Storage *component.ID `mapstructure:"storage"`
	// MaxLabels bounds the labels of one sample; a data point with more is
	// refused, counted and reported as bad input. By default 64.
	MaxLabels int `mapstructure:"max_labels"`
	// MaxLabelBytes bounds the bytes of one sample's label names and
	// values together, with the same policy. By default 16384.
	MaxLabelBytes int `mapstructure:"max_label_bytes"`

	// Dedup configures the deduplication of redeliveries.
	Dedup DedupConfig `mapstructure:"dedup"`
	// Engine holds the detectors' settings and the engine's bounds.
	Engine EngineConfig `mapstructure:"engine"`
	// Runtime holds the live runtime's settings.
	Runtime RuntimeConfig `mapstructure:"runtime"`

	// Alertmanager sends events to these Alertmanagers.
	Alertmanager []AlertmanagerConfig `mapstructure:"alertmanager"`
	// Webhook posts events, as JSON Lines, to these URLs.
	Webhook []WebhookConfig `mapstructure:"webhook"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// DedupConfig configures deduplication (package dedup).
type DedupConfig struct {
	// Window is how far behind the newest sample time a redelivery is
	// still recognised. By default 15m.
	Window time.Duration `mapstructure:"window"`
	// MaxBytes bounds the memory of the keys held, per shard. By default
	// 64 MiB.
	MaxBytes int `mapstructure:"max_bytes"`
	// Disabled turns deduplication off, for input deduplicated upstream.
	Disabled bool `mapstructure:"disabled"`
}

// EngineConfig holds the engine's settings (fault.Config); a zero field
// takes the engine's default, named beside it.
type EngineConfig struct {
	// OnTimeBudget: how long after its expected arrival a sample is still
	// on time. By default 1s.
	OnTimeBudget time.Duration `mapstructure:"on_time_budget"`
	// Lateness: how long a slot may stay empty before it is lost. By
	// default 60s.
	Lateness time.Duration `mapstructure:"lateness"`
	// DefaultCadence: a series' cadence until it is learned or declared.
	// By default 60s.
	DefaultCadence time.Duration `mapstructure:"default_cadence"`
	// AbsentAfter: how long a series may miss its deliveries before its
	// absence fires, unless its series entry says otherwise. By default
	// five slots, at least 2m.
	AbsentAfter time.Duration `mapstructure:"absent_after"`
	// MaxSeries bounds the series tracked per shard. By default 4,194,304.
	MaxSeries int `mapstructure:"max_series"`
	// SeriesTTL: how long a series may go without a fresh sample before
	// it is evicted. By default 24h; negative: never.
	SeriesTTL time.Duration `mapstructure:"series_ttl"`
	// MaxAlerts bounds the alert states per shard. By default 1,048,576.
	MaxAlerts int `mapstructure:"max_alerts"`
	// MaxFutureSkew: samples further ahead of their arrival are refused.
	// By default 10m.
	MaxFutureSkew time.Duration `mapstructure:"max_future_skew"`
	// MaxArrivalLag: samples arriving further ahead of their time and of
	// the engine clock are refused. By default 1h.
	MaxArrivalLag time.Duration `mapstructure:"max_arrival_lag"`
	// MaxSources bounds the sources told apart. By default 4,096.
	MaxSources int `mapstructure:"max_sources"`
	// MaxHistory bounds the points kept per series for windowed
	// functions. By default 1,024.
	MaxHistory int `mapstructure:"max_history"`
	// MaxHistoryPoints bounds the points kept in all. By default
	// 4,194,304.
	MaxHistoryPoints int `mapstructure:"max_history_points"`
	// MaxCohorts bounds the cohorts of each cohort rule. By default 1,024.
	MaxCohorts int `mapstructure:"max_cohorts"`
}

// RuntimeConfig holds the live runtime's settings (pipeline.Config).
type RuntimeConfig struct {
	// Shards is the number of engines. By default 1: one engine sees
	// every series, so the fleet, cohort, per-source and loop detectors
	// see all of the input (with several shards, each sees its share; see
	// package pipeline). 0 means the number of CPUs, or the checkpoint's
	// when one is restored. A checkpoint can only be restored with the
	// shard count it was taken with. At most 1024.
	Shards int `mapstructure:"shards"`
	// QueueLen bounds each shard's queue, in batches. By default 64.
	QueueLen int `mapstructure:"queue_len"`
	// Tick is how often the engines are advanced without data. By default
	// 250ms.
	Tick time.Duration `mapstructure:"tick"`
	// StallAfter is how late a tick may be before the span counts as the
	// collector's own downtime. By default 30s.
	StallAfter time.Duration `mapstructure:"stall_after"`
	// CheckpointEvery is how often a checkpoint is written to Storage. By
	// default 1m.
	CheckpointEvery time.Duration `mapstructure:"checkpoint_every"`
	// Drain is how long the sinks may take at shutdown to deliver what
	// they hold. By default 10s.
	Drain time.Duration `mapstructure:"drain"`
}

// SinkConfig is what every HTTP sink takes.
type SinkConfig struct {
	// URL is where events go: an Alertmanager's base URL
	// (http://host:9093), or the webhook's URL. Required.
	URL string `mapstructure:"url"`
	// Headers are added to every request (Authorization, say); their
	// values are kept out of logs.
	Headers map[string]configopaque.String `mapstructure:"headers"`
	// Timeout bounds one request. By default 10s.
	Timeout time.Duration `mapstructure:"timeout"`
	// QueueSize bounds the events waiting for delivery. By default 10000.
	QueueSize int `mapstructure:"queue_size"`
}

// AlertmanagerConfig configures one Alertmanager sink
// (sink.NewAlertmanager).
type AlertmanagerConfig struct {
	SinkConfig `mapstructure:",squash"`
	// ResendInterval: how often held alerts are sent again. By default 1m.
	ResendInterval time.Duration `mapstructure:"resend_interval"`
	// ResolvedRetention: how long a resolved alert is still re-sent. By
	// default 15m.
	ResolvedRetention time.Duration `mapstructure:"resolved_retention"`
	// MaxAlerts bounds the alerts held. By default 10000.
	MaxAlerts int `mapstructure:"max_alerts"`
	// GeneratorURL is sent as every alert's generatorURL.
	GeneratorURL string `mapstructure:"generator_url"`
	// SendInhibited sends the episodes another fault explains too.
	SendInhibited bool `mapstructure:"send_inhibited"`
}

// WebhookConfig configures one webhook sink (sink.NewWebhook).
type WebhookConfig struct {
	SinkConfig `mapstructure:",squash"`
	// MaxBatch bounds the events of one request. By default 100; with 1,
	// each request carries one JSON object.
	MaxBatch int `mapstructure:"max_batch"`
}

// Defaults of Config that are the adapter's own.
const (
	DefaultReloadInterval = 30 * time.Second
	DefaultMaxLabels      = 64
	DefaultMaxLabelBytes  = 16 << 10
	DefaultShards         = 1
)

// DefaultResourceAttributes are the resource attributes that become
// labels by default.
var DefaultResourceAttributes = []string{"service.name", "service.namespace", "service.instance.id", "host.name"}

// NewDefaultConfig returns the configuration the processor and the
// connector start from.
func NewDefaultConfig() *Config {
	return &Config{
		ReloadInterval:     DefaultReloadInterval,
		Runtime:            RuntimeConfig{Shards: DefaultShards},
		ResourceAttributes: append([]string(nil), DefaultResourceAttributes...),
		MaxLabels:          DefaultMaxLabels,
		MaxLabelBytes:      DefaultMaxLabelBytes,
	}
}

// Validate checks the configuration: the rule files are read and parsed,
// and every problem they have is reported with its file:line:col; every
// other setting is checked for its range.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Rules) > 0 {
		srcs, err := rules.ReadSources(c.Rules...)
		if err == nil {
			_, err = rules.ParseSources(srcs...)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("rules:\n%w", err))
		}
	}
	neg := func(name string, d time.Duration) {
		if d < 0 {
			errs = append(errs, fmt.Errorf("%s: %v is negative", name, d))
		}
	}
	negInt := func(name string, n int) {
		if n < 0 {
			errs = append(errs, fmt.Errorf("%s: %d is negative", name, n))
		}
	}
	neg("reload_interval", c.ReloadInterval)
	negInt("max_labels", c.MaxLabels)
	negInt("max_label_bytes", c.MaxLabelBytes)
	if c.SourceLabel != "" && !isLabelName(c.SourceLabel) {
		errs = append(errs, fmt.Errorf("source_label: %q is not a label name ([a-zA-Z_][a-zA-Z0-9_]*); dotted attribute keys become labels with _ for each other character (host.name is host_name)", c.SourceLabel))
	}
	for i, a := range c.ResourceAttributes {
		if a == "" {
			errs = append(errs, fmt.Errorf("resource_attributes[%d]: empty", i))
		}
	}
	engineErrs := len(errs)
	neg("dedup::window", c.Dedup.Window)
	negInt("dedup::max_bytes", c.Dedup.MaxBytes)
	e := &c.Engine
	neg("engine::on_time_budget", e.OnTimeBudget)
	neg("engine::lateness", e.Lateness)
	neg("engine::default_cadence", e.DefaultCadence)
	neg("engine::absent_after", e.AbsentAfter)
	neg("engine::max_future_skew", e.MaxFutureSkew)
	neg("engine::max_arrival_lag", e.MaxArrivalLag)
	for name, n := range map[string]int{"max_series": e.MaxSeries, "max_alerts": e.MaxAlerts, "max_sources": e.MaxSources,
		"max_history": e.MaxHistory, "max_history_points": e.MaxHistoryPoints, "max_cohorts": e.MaxCohorts} {
		negInt("engine::"+name, n)
	}
	budget, late := cmpOr(e.OnTimeBudget, fault.DefaultOnTimeBudget), cmpOr(e.Lateness, fault.DefaultLateness)
	if late < budget {
		errs = append(errs, fmt.Errorf("engine::lateness %v is shorter than engine::on_time_budget %v", late, budget))
	}
	if len(errs) == engineErrs {
		// The engine's own bounds (max_series, max_sources,
		// dedup::max_bytes), which Start would meet. It allocates little:
		// its tables grow as series come.
		if _, err := fault.New(c.engineConfig("")); err != nil {
			errs = append(errs, fmt.Errorf("engine: %w", err))
		}
	}
	r := &c.Runtime
	negInt("runtime::shards", r.Shards)
	if r.Shards > pipeline.MaxShards {
		errs = append(errs, fmt.Errorf("runtime::shards: %d is more than %d", r.Shards, pipeline.MaxShards))
	}
	negInt("runtime::queue_len", r.QueueLen)
	neg("runtime::tick", r.Tick)
	neg("runtime::stall_after", r.StallAfter)
	neg("runtime::checkpoint_every", r.CheckpointEvery)
	neg("runtime::drain", r.Drain)
	for i, a := range c.Alertmanager {
		errs = append(errs, a.validate(fmt.Sprintf("alertmanager[%d]", i))...)
		neg(fmt.Sprintf("alertmanager[%d]::resend_interval", i), a.ResendInterval)
		neg(fmt.Sprintf("alertmanager[%d]::resolved_retention", i), a.ResolvedRetention)
		negInt(fmt.Sprintf("alertmanager[%d]::max_alerts", i), a.MaxAlerts)
	}
	for i, w := range c.Webhook {
		errs = append(errs, w.validate(fmt.Sprintf("webhook[%d]", i))...)
		negInt(fmt.Sprintf("webhook[%d]::max_batch", i), w.MaxBatch)
	}
	return errors.Join(errs...)
}

func (s *SinkConfig) validate(where string) []error {
	var errs []error
	u, err := url.Parse(s.URL)
	switch {
	case s.URL == "":
		errs = append(errs, fmt.Errorf("%s::url: required", where))
	case err != nil:
		errs = append(errs, fmt.Errorf("%s::url: %w", where, err))
	case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
		errs = append(errs, fmt.Errorf("%s::url: %q is not an http or https URL", where, s.URL))
	}
	if s.Timeout < 0 {
		errs = append(errs, fmt.Errorf("%s::timeout: %v is negative", where, s.Timeout))
	}
	if s.QueueSize < 0 {
		errs = append(errs, fmt.Errorf("%s::queue_size: %d is negative", where, s.QueueSize))
	}
	return errs
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// engineConfig is the engine template of the runtime.
func (c *Config) engineConfig(instance string) fault.Config {
	e := &c.Engine
	return fault.Config{
		Dedup:            dedup.Config{Window: c.Dedup.Window, MaxBytes: c.Dedup.MaxBytes},
		DisableDedup:     c.Dedup.Disabled,
		OnTimeBudget:     e.OnTimeBudget,
		Lateness:         e.Lateness,
		DefaultCadence:   e.DefaultCadence,
		AbsentAfter:      e.AbsentAfter,
		SourceLabel:      c.SourceLabel,
		Instance:         instance,
		MaxSeries:        e.MaxSeries,
		SeriesTTL:        e.SeriesTTL,
		MaxAlerts:        e.MaxAlerts,
		MaxFutureSkew:    e.MaxFutureSkew,
		MaxArrivalLag:    e.MaxArrivalLag,
		MaxSources:       e.MaxSources,
		MaxHistory:       e.MaxHistory,
		MaxHistoryPoints: e.MaxHistoryPoints,
		MaxCohorts:       e.MaxCohorts,
	}
}

// sinks builds the configured HTTP sinks.
func (c *Config) sinks(name string, clk clock.Clock, opts sink.Options) []pipeline.Sink {
	var out []pipeline.Sink
	base := func(s SinkConfig, kind string, i int) sink.Options {
		o := opts
		o.Name = fmt.Sprintf("%s/%s[%d]", name, kind, i)
		o.Clock = clk
		o.Timeout = s.Timeout
		o.QueueSize = s.QueueSize
		if len(s.Headers) > 0 {
			o.Header = http.Header{}
			for k, v := range s.Headers {
				o.Header.Set(k, string(v))
			}
		}
		return o
	}
	for i, a := range c.Alertmanager {
		out = append(out, sink.NewAlertmanager(a.URL, &sink.AlertmanagerOptions{
			Options:           base(a.SinkConfig, "alertmanager", i),
			ResendInterval:    a.ResendInterval,
			EvalInterval:      c.Runtime.Tick,
			ResolvedRetention: a.ResolvedRetention,
			MaxAlerts:         a.MaxAlerts,
			GeneratorURL:      a.GeneratorURL,
			SendInhibited:     a.SendInhibited,
		}))
	}
	for i, w := range c.Webhook {
		o := base(w.SinkConfig, "webhook", i)
		o.MaxBatch = w.MaxBatch
		out = append(out, sink.NewWebhook(w.URL, &o))
	}
	return out
}
