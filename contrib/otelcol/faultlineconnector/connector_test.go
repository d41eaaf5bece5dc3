package faultlineconnector

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/goleak"

	"github.com/faultline-go/faultline/clock"
	"github.com/faultline-go/faultline/contrib/otelcol/faultlineotel"
	"github.com/faultline-go/faultline/contrib/otelcol/internal/fixture"
	"github.com/faultline-go/faultline/contrib/otelcol/internal/memstorage"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// host is a component.Host with the given extensions.
type host map[component.ID]component.Component

func (h host) GetExtensions() map[component.ID]component.Component { return h }

var storageID = component.MustNewID("memory_storage")

// running is a connector running in virtual time.
type running struct {
	c    *logsConnector
	logs *consumertest.LogsSink
	clk  *clock.Fake
	done bool
}

func start(t *testing.T, cfg *Config, clk *clock.Fake, logs *consumertest.LogsSink, h component.Host, set func(*componentSettings)) *running {
	t.Helper()
	settings := connectortest.NewNopSettings(Type)
	settings.ID = component.NewID(Type) // the same component across restarts
	if set != nil {
		set(&componentSettings{&settings.TelemetrySettings})
	}
	c, err := newFactory(clk).CreateMetricsToLogs(context.Background(), settings, cfg, logs)
	require.NoError(t, err)
	r := &running{c: c.(*logsConnector), logs: logs, clk: clk}
	require.NoError(t, c.Start(context.Background(), h))
	t.Cleanup(func() { r.stop(t) })
	// The runtime runs once its first Sync returns: a restart's downtime
	// lasts until then, so the clock must not move before.
	_ = r.c.Sync(context.Background())
	return r
}

type componentSettings struct{ tel *component.TelemetrySettings }

func (r *running) stop(t *testing.T) {
	t.Helper()
	if !r.done {
		r.done = true
		require.NoError(t, r.c.Shutdown(context.Background()))
	}
}

// step hands md to the connector now, moves the clock on by d and waits
// until the runtime has judged up to then and the logs sink delivered.
func (r *running) step(t *testing.T, d time.Duration, md pmetric.Metrics) {
	t.Helper()
	require.NoError(t, r.c.ConsumeMetrics(context.Background(), md))
	r.clk.Advance(d)
	r.sync(t)
}

func (r *running) sync(t *testing.T) {
	t.Helper()
	require.NoError(t, r.c.Sync(context.Background()))
	// The events are in the logs sink's queue: wait until it has handed
	// every one on.
	require.Eventually(t, func() bool { return settled(r.c.logs) }, 5*time.Second, time.Millisecond)
}

// settled reports whether a logs sink has sent or dropped every event it
// was given.
func settled(s *faultlineotel.LogsSink) bool {
	var events, done float64
	for _, m := range s.AppendMetrics(nil) {
		switch m.Name {
		case "faultline_sink_events_total":
			events = m.Value
		case "faultline_sink_sent_total", "faultline_sink_dropped_total":
			done += m.Value
		}
	}
	return events == done
}

// record is a log record's attributes, body and severity.
type record struct {
	attrs    map[string]any
	body     string
	severity plog.SeverityNumber
	ts       int64
	resource map[string]any
}

func records(sink *consumertest.LogsSink) []record {
	var out []record
	for _, ld := range sink.AllLogs() {
		for i := range ld.ResourceLogs().Len() {
			rl := ld.ResourceLogs().At(i)
			for j := range rl.ScopeLogs().Len() {
				lrs := rl.ScopeLogs().At(j).LogRecords()
				for k := range lrs.Len() {
					lr := lrs.At(k)
					out = append(out, record{lr.Attributes().AsRaw(), lr.Body().Str(), lr.SeverityNumber(), int64(lr.Timestamp()), rl.Resource().Attributes().AsRaw()})
				}
			}
		}
	}
	return out
}

func of(recs []record, kind, state string) []record {
	var out []record
	for _, r := range recs {
		if r.attrs["kind"] == kind && r.attrs["state"] == state {
			out = append(out, r)
		}
	}
	return out
}

func writeRules(t *testing.T, path, text string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
}

const beat = `
series:
  - {match: up, cadence: 1s, absent_after: 5s}
`

func config(t *testing.T, rules string) *Config {
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	path := filepath.Join(t.TempDir(), "rules.yaml")
	writeRules(t, path, rules)
	cfg.Rules = []string{path}
	cfg.Runtime.Shards = 2
	return cfg
}

// A host that stops reporting becomes one log record: its absence.
func TestAbsenceBecomesALogRecord(t *testing.T) {
	clk := clock.NewFake(t0)
	r := start(t, config(t, beat), clk, new(consumertest.LogsSink), componenttest.NewNopHost(), nil)
	require.False(t, r.c.Capabilities().MutatesData)
	var last time.Time
	for i := range 20 {
		hosts := []string{"a", "b"}
		if i < 5 {
			hosts = append(hosts, "c")
			last = clk.Now()
		}
		r.step(t, time.Second, fixture.Up(clk.Now(), hosts...))
	}
	recs := records(r.logs)
	require.Len(t, recs, 1, "%v", recs)
	rec := recs[0]
	require.Equal(t, "absence", rec.attrs["kind"])
	require.Equal(t, "firing", rec.attrs["state"])
	require.Equal(t, map[string]any{"__name__": "up", "host_name": "c", "service_name": "node", "faultline_origin": "faultline"}, rec.attrs["labels"])
	require.Equal(t, `up{host_name="c", service_name="node"} stopped reporting`, rec.body)
	require.Equal(t, plog.SeverityNumberError, rec.severity)
	require.Equal(t, map[string]any{"faultline_origin": "faultline"}, rec.resource)
	require.GreaterOrEqual(t, rec.ts, last.Add(5*time.Second).UnixNano())
	require.Equal(t, rec.attrs["at"], time.Unix(0, rec.ts).UTC().Format("2006-01-02T15:04:05.000000000Z07:00"))
}

// A restart on the same storage: the open absence is kept (it resolves
// when its host returns, in the same episode), the downtime is one
// collector_down record, the hosts that kept reporting raise no absence,
// and nothing of the first run is emitted again.
func TestRestartKeepsOpenAlertsAndCausesNoAbsenceStorm(t *testing.T) {
	store := memstorage.New()
	h := host{storageID: store}
	cfg := config(t, beat)
	cfg.Storage = &storageID
	clk := clock.NewFake(t0)
	hosts := []string{"a", "b", "d", "e", "f", "g", "h", "i", "j"}

	first := new(consumertest.LogsSink)
	r := start(t, cfg, clk, first, h, nil)
	for i := range 20 {
		up := hosts
		if i < 5 {
			up = append(up, "c")
		}
		r.step(t, time.Second, fixture.Up(clk.Now(), up...))
	}
	r.stop(t)
	require.Zero(t, store.OpenClients(), "the storage client is closed at shutdown")
	before := records(first)
	abs := of(before, "absence", "firing")
	require.Len(t, abs, 1)
	require.Len(t, before, 1)

	clk.Advance(40 * time.Second) // the collector is down: 8 × absent_after
	second := new(consumertest.LogsSink)
	r = start(t, cfg, clk, second, h, nil)
	for range 30 {
		r.step(t, time.Second, fixture.Up(clk.Now(), hosts...))
	}
	after := records(second)
	require.Len(t, after, 1, "only the downtime: %v", after)
	down := after[0]
	require.Equal(t, "collector_down", down.attrs["kind"])
	require.InDelta(t, 40, down.attrs["value"], 0.5)
	require.Equal(t, plog.SeverityNumberWarn, down.severity)
	require.NotEqual(t, abs[0].attrs["id"], down.attrs["id"])

	r.step(t, time.Second, fixture.Up(clk.Now(), append(hosts, "c")...)) // c returns
	res := of(records(second), "absence", "resolved")
	require.Len(t, res, 1, "the absence of the first run was kept open")
	require.Equal(t, abs[0].attrs["episode"], res[0].attrs["episode"])
}

// A rule file that changes is reloaded while the connector runs: state
// carries over for the unchanged rule (no new firing), the new rule
// applies, and an invalid file is refused with the old rules kept.
func TestRuleReloadKeepsState(t *testing.T) {
	const high = `
groups:
  - name: g
    rules:
      - {alert: High, match: up, expr: 'value > 0'}
`
	cfg := config(t, high)
	cfg.ReloadInterval = 5 * time.Second
	clk := clock.NewFake(t0)
	r := start(t, cfg, clk, new(consumertest.LogsSink), componenttest.NewNopHost(), nil)
	for range 5 {
		r.step(t, time.Second, fixture.Up(clk.Now(), "a"))
	}
	require.Len(t, of(records(r.logs), "threshold", "firing"), 1)

	writeRules(t, cfg.Rules[0], high+`      - {alert: Up, match: up, expr: 'value == 1'}
`)
	r.stepUntil(t, "faultline_runtime_reloads_total", 1)
	for range 3 {
		r.step(t, time.Second, fixture.Up(clk.Now(), "a"))
	}
	var rules []any
	for _, rec := range of(records(r.logs), "threshold", "firing") {
		rules = append(rules, rec.attrs["rule"])
	}
	require.Equal(t, []any{"High", "Up"}, rules, "High kept its state; Up is new")

	writeRules(t, cfg.Rules[0], "groups: [{name: g, rules: [{alert: X, expr: 'value >'}]}]")
	r.stepUntil(t, "faultline_runtime_reload_errors_total", 1)
	for range 12 { // more than two reload intervals
		r.step(t, time.Second, fixture.Up(clk.Now(), "a"))
	}
	require.Equal(t, 1.0, runtimeMetric(r, "faultline_runtime_reload_errors_total"), "refused once, not every interval")
	require.Equal(t, 1.0, runtimeMetric(r, "faultline_runtime_reloads_total"))
	require.Empty(t, of(records(r.logs), "threshold", "resolved"), "the old rules stay")
}

// stepUntil steps a second at a time, host a reporting, until the
// runtime's metric reaches want: the rule watcher runs on its own
// goroutine, woken by the virtual clock.
func (r *running) stepUntil(t *testing.T, name string, want float64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for runtimeMetric(r, name) < want {
		require.True(t, time.Now().Before(deadline), "%s never reached %v", name, want)
		r.step(t, time.Second, fixture.Up(r.clk.Now(), "a"))
		time.Sleep(time.Millisecond) // let the watcher run
	}
}

func runtimeMetric(r *running, name string) float64 {
	for _, m := range r.c.Runtime().AppendMetrics(nil) {
		if m.Name == name && len(m.Labels) == 0 {
			return m.Value
		}
	}
	return -1
}

// faultline's own log records, turned back into metrics that keep their
// faultline_origin (on the resource, or as an attribute), are recognised:
// one feedback_loop record, however many come back, from however many
// origins.
func TestOwnEventsComingBackRaiseOneFeedbackLoop(t *testing.T) {
	cfg := config(t, beat)
	cfg.Runtime.Shards = faultlineotel.DefaultShards
	clk := clock.NewFake(t0)
	r := start(t, cfg, clk, new(consumertest.LogsSink), componenttest.NewNopHost(), nil)
	for i := range 30 {
		md := fixture.Up(clk.Now(), "a", "b")
		if i >= 10 {
			// As a logs → metrics connector would make them: one metric per
			// record, the resource's attributes kept.
			back := fixture.Up(clk.Now(), "echo1", "echo2", "echo3")
			for j := range back.ResourceMetrics().Len() {
				back.ResourceMetrics().At(j).Resource().Attributes().PutStr("faultline_origin", "faultline")
			}
			back.ResourceMetrics().MoveAndAppendTo(md.ResourceMetrics())
			attr := fixture.Counter(clk.Now(), "x", "log.records", float64(i))
			attr.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Sum().DataPoints().At(0).Attributes().PutStr("faultline_origin", "other")
			attr.ResourceMetrics().MoveAndAppendTo(md.ResourceMetrics())
		}
		r.step(t, time.Second, md)
	}
	recs := records(r.logs)
	loops := of(recs, "feedback_loop", "firing")
	require.Len(t, loops, 1, "%v", recs)
	require.Empty(t, of(recs, "absence", "firing"))
	var looped float64
	for _, m := range r.c.Runtime().AppendMetrics(nil) {
		if m.Name == "faultline_looped_total" {
			looped += m.Value
		}
	}
	require.Equal(t, 80.0, looped, "every looped sample rejected and counted")
}

// Self-metrics go through the collector's MeterProvider, named as the
// runtime's.
func TestSelfMetricsThroughTheMeterProvider(t *testing.T) {
	tel := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tel.Shutdown(context.Background())) }()
	clk := clock.NewFake(t0)
	r := start(t, config(t, beat), clk, new(consumertest.LogsSink), componenttest.NewNopHost(), func(s *componentSettings) {
		*s.tel = tel.NewTelemetrySettings()
	})
	for range 10 {
		r.step(t, time.Second, fixture.Up(clk.Now(), "a", "b"))
	}
	for name, want := range map[string]float64{
		"faultline_runtime_samples_total": 20,
		"faultline_otelcol_points_total":  20,
		"faultline_otelcol_samples_total": 20,
	} {
		m, err := tel.GetMetric(name)
		require.NoError(t, err, name)
		require.Equal(t, want, sumOf(t, m.Data), name)
	}
	m, err := tel.GetMetric("faultline_runtime_queue_capacity")
	require.NoError(t, err)
	require.Equal(t, 2*64.0, sumOf(t, m.Data), "a gauge per shard")
	_, err = tel.GetMetric("faultline_sink_events_total")
	require.NoError(t, err, "the logs sink's metrics too")
	m, err = tel.GetMetric("faultline_runtime_samples_total")
	require.NoError(t, err)
	who, ok := m.Data.(metricdata.Sum[float64]).DataPoints[0].Attributes.Value("connector")
	require.True(t, ok, "the component is named")
	require.Equal(t, "faultline", who.AsString())
}

func sumOf(t *testing.T, data metricdata.Aggregation) float64 {
	t.Helper()
	total := 0.0
	switch d := data.(type) {
	case metricdata.Sum[float64]:
		for _, p := range d.DataPoints {
			total += p.Value
		}
	case metricdata.Gauge[float64]:
		for _, p := range d.DataPoints {
			total += p.Value
		}
	default:
		t.Fatalf("unexpected aggregation %T", data)
	}
	return total
}

// A storage that is not there, or not a storage extension, fails Start
// with what is wrong; nothing is left running.
func TestStartRefusesAMissingStorage(t *testing.T) {
	cfg := config(t, beat)
	cfg.Storage = &storageID
	c, err := newFactory(clock.NewFake(t0)).CreateMetricsToLogs(context.Background(), connectortest.NewNopSettings(Type), cfg, new(consumertest.LogsSink))
	require.NoError(t, err)
	require.ErrorContains(t, c.Start(context.Background(), componenttest.NewNopHost()), `storage "memory_storage": no such extension`)
	require.NoError(t, c.Shutdown(context.Background()))

	c, err = newFactory(clock.NewFake(t0)).CreateMetricsToLogs(context.Background(), connectortest.NewNopSettings(Type), cfg, new(consumertest.LogsSink))
	require.NoError(t, err)
	require.ErrorContains(t, c.Start(context.Background(), host{storageID: notStorage{}}), "is not a storage extension")
	require.NoError(t, c.Shutdown(context.Background()))
}

type notStorage struct {
	component.StartFunc
	component.ShutdownFunc
}
