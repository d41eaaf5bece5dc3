package faultlineotel_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.yaml.in/yaml/v3"

	"github.com/faultline-go/faultline/contrib/otelcol/faultlineotel"
	"github.com/faultline-go/faultline/rules"
)

func loadConfig(t *testing.T, key string) *faultlineotel.Config {
	t.Helper()
	cm, err := confmaptest.LoadConf("testdata/config.yaml")
	require.NoError(t, err)
	sub, err := cm.Sub(key)
	require.NoError(t, err)
	cfg := faultlineotel.NewDefaultConfig()
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg
}

// The full example decodes field by field and is valid.
func TestConfigDecodes(t *testing.T) {
	require.NoError(t, componenttest.CheckConfigStruct(faultlineotel.NewDefaultConfig()))
	cfg := loadConfig(t, "faultline")
	require.NoError(t, confmap.Validate(cfg))
	require.Equal(t, []string{"testdata/rules.yaml"}, cfg.Rules)
	require.Equal(t, 10*time.Second, cfg.ReloadInterval)
	require.Equal(t, "edge-1", cfg.Instance)
	require.Equal(t, "host_name", cfg.SourceLabel)
	require.Equal(t, []string{"service.name", "host.name", "k8s.pod.name"}, cfg.ResourceAttributes)
	require.Equal(t, component.MustNewIDWithName("file_storage", "faultline"), *cfg.Storage)
	require.Equal(t, 32, cfg.MaxLabels)
	require.Equal(t, faultlineotel.DedupConfig{Window: 10 * time.Minute, MaxBytes: 128 << 20}, cfg.Dedup)
	require.Equal(t, faultlineotel.EngineConfig{
		OnTimeBudget: 2 * time.Second, Lateness: 90 * time.Second, DefaultCadence: 30 * time.Second, AbsentAfter: 3 * time.Minute,
		MaxSeries: 1_000_000, SeriesTTL: 12 * time.Hour, MaxAlerts: 100_000, MaxFutureSkew: 5 * time.Minute, MaxArrivalLag: 30 * time.Minute,
		MaxSources: 2048, MaxHistory: 512, MaxHistoryPoints: 1_000_000, MaxCohorts: 256,
	}, cfg.Engine)
	require.Equal(t, faultlineotel.RuntimeConfig{Shards: 2, QueueLen: 128, Tick: 500 * time.Millisecond, StallAfter: time.Minute,
		CheckpointEvery: 30 * time.Second, Drain: 5 * time.Second}, cfg.Runtime)
	require.Len(t, cfg.Alertmanager, 1)
	am := cfg.Alertmanager[0]
	require.Equal(t, "http://127.0.0.1:9093", am.URL)
	require.Equal(t, 30*time.Second, am.ResendInterval)
	require.Equal(t, "secret", strings.TrimPrefix(string(am.Headers["Authorization"]), "Bearer "))
	require.Equal(t, "[REDACTED]", am.Headers["Authorization"].String(), "kept out of logs")
	require.Len(t, cfg.Webhook, 1)
	require.Equal(t, 1, cfg.Webhook[0].MaxBatch)
	require.Equal(t, 500, cfg.Webhook[0].QueueSize)
}

// The defaults are valid, and a zero Config is too.
func TestDefaultConfigIsValid(t *testing.T) {
	require.NoError(t, faultlineotel.NewDefaultConfig().Validate())
	require.NoError(t, (&faultlineotel.Config{}).Validate())
	require.Equal(t, faultlineotel.DefaultResourceAttributes, faultlineotel.NewDefaultConfig().ResourceAttributes)
}

// Validate reports every problem at once; rule errors carry their
// file:line:col.
func TestValidateReportsEveryProblemWithItsPosition(t *testing.T) {
	err := confmap.Validate(loadConfig(t, "faultline/bad"))
	require.Error(t, err)
	var rerrs rules.Errors
	require.True(t, errors.As(err, &rerrs), "the rule errors are rules.Errors: %v", err)
	msg := err.Error()
	for _, want := range []string{
		"testdata/missing.yaml: cannot read rule file",
		"source_label: \"host.name\" is not a label name",
		"engine::max_series: -1 is negative",
		"engine::lateness 1s is shorter than engine::on_time_budget 2s",
		"alertmanager[0]::url: \"localhost:9093\" is not an http or https URL",
		"webhook[0]::url: required",
	} {
		require.Contains(t, msg, want)
	}

	// The file's own errors, once it can be read.
	cfg := faultlineotel.NewDefaultConfig()
	cfg.Rules = []string{"testdata/bad.rules.yaml"}
	msg = cfg.Validate().Error()
	require.Contains(t, msg, "testdata/bad.rules.yaml:6:")
	require.Contains(t, msg, "testdata/bad.rules.yaml:7:14: group \"hosts\": rule \"HighLoad\": for: invalid duration")
}

// The full example of the package doc decodes, with every key known.
func TestPackageDocExampleDecodes(t *testing.T) {
	src, err := os.ReadFile("doc.go")
	require.NoError(t, err)
	var lines []string
	in := false
	for _, l := range strings.Split(string(src), "\n") {
		switch {
		case l == "//\tfaultline:":
			in = true
		case in && !strings.HasPrefix(l, "//\t"):
			in = false
		}
		if in {
			lines = append(lines, strings.TrimPrefix(l, "//\t"))
		}
	}
	require.Greater(t, len(lines), 40)
	var raw map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(strings.Join(lines, "\n")), &raw))
	cfg := faultlineotel.NewDefaultConfig()
	require.NoError(t, confmap.NewFromStringMap(raw["faultline"].(map[string]any)).Unmarshal(cfg))
	require.Equal(t, 16384, cfg.MaxLabelBytes)
	require.Equal(t, 100, cfg.Webhook[0].MaxBatch)
	require.Equal(t, 24*time.Hour, cfg.Engine.SeriesTTL)
	cfg.Rules = nil // not on this machine
	require.NoError(t, cfg.Validate())
}

// What Start would refuse, Validate refuses: the runtime's and the
// engine's own bounds, so that "otelcol validate" finds them and the
// collector does not fail at start on a configuration it accepted.
func TestValidateRefusesWhatStartRefuses(t *testing.T) {
	for want, set := range map[string]func(*faultlineotel.Config){
		"runtime::shards: 2000 is more than 1024": func(c *faultlineotel.Config) { c.Runtime.Shards = 2000 },
		"MaxSources 2097152 is above the limit":   func(c *faultlineotel.Config) { c.Engine.MaxSources = 2 << 20 },
		"MaxSeries 4294967296 is above the limit": func(c *faultlineotel.Config) { c.Engine.MaxSeries = 1 << 32 },
		"MaxBytes 2199023255552 is too large":     func(c *faultlineotel.Config) { c.Dedup.MaxBytes = 1 << 41 },
	} {
		cfg := faultlineotel.NewDefaultConfig()
		set(cfg)
		err := cfg.Validate()
		require.Error(t, err, want)
		require.Contains(t, err.Error(), want)
		r := faultlineotel.NewRunner(faultlineotel.Settings{ID: component.MustNewID("faultline"), Kind: component.KindProcessor,
			Telemetry: componenttest.NewNopTelemetrySettings(), Config: cfg})
		require.Error(t, r.Start(context.Background(), componenttest.NewNopHost()), "Start refuses it too")
	}
}
