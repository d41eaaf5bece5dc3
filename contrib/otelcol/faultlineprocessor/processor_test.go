package faultlineprocessor

import (
	"bufio"
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.uber.org/goleak"

	"github.com/faultline-go/faultline/clock"
	"github.com/faultline-go/faultline/contrib/otelcol/faultlineotel"
	"github.com/faultline-go/faultline/contrib/otelcol/internal/fixture"
	"github.com/faultline-go/faultline/contrib/otelcol/internal/memstorage"
	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/pipeline"
	"github.com/faultline-go/faultline/stream"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// started is a processor running in virtual time.
type started struct {
	proc processor.Metrics
	next *consumertest.MetricsSink
	r    *faultlineotel.Runner
	rec  *fixture.Recorder
	clk  *clock.Fake
}

func start(t *testing.T, cfg *Config) *started {
	t.Helper()
	s := &started{next: new(consumertest.MetricsSink), rec: &fixture.Recorder{}, clk: clock.NewFake(t0)}
	f := newFactory(options{clk: s.clk, sinks: []pipeline.Sink{s.rec}, created: func(r *faultlineotel.Runner) { s.r = r }})
	var err error
	s.proc, err = f.CreateMetrics(context.Background(), processortest.NewNopSettings(Type), cfg, s.next)
	require.NoError(t, err)
	require.NoError(t, s.proc.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, s.proc.Shutdown(context.Background())) })
	return s
}

// step hands md to the processor now, moves the clock on by d and waits
// until the runtime has judged up to then.
func (s *started) step(t *testing.T, d time.Duration, md pmetric.Metrics) {
	t.Helper()
	require.NoError(t, s.proc.ConsumeMetrics(context.Background(), md))
	s.clk.Advance(d)
	require.NoError(t, s.r.Sync(context.Background()))
}

func writeRules(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rules.yaml")
	require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
	return path
}

const beat = `
series:
  - {match: up, cadence: 1s, absent_after: 5s}
`

// The metrics pass through as they came: the same pmetric.Metrics, not
// a copy, whatever they hold, bad data included.
func TestMetricsPassThroughUnchanged(t *testing.T) {
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	cfg.Runtime.Shards = 1
	s := start(t, cfg)
	require.False(t, s.proc.Capabilities().MutatesData)

	good := fixture.Up(t0, "a", "b")
	bad := fixture.Up(t0, "c")
	p := bad.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Gauge().DataPoints()
	p.At(0).SetDoubleValue(math.NaN())
	p.AppendEmpty().SetIntValue(1) // no timestamp
	var pb pmetric.ProtoMarshaler
	for _, md := range []pmetric.Metrics{good, bad, pmetric.NewMetrics()} {
		want, err := pb.MarshalMetrics(md)
		require.NoError(t, err)
		require.NoError(t, s.proc.ConsumeMetrics(context.Background(), md))
		got := s.next.AllMetrics()
		require.True(t, got[len(got)-1] == md, "the same Metrics, not a copy")
		after, err := pb.MarshalMetrics(md)
		require.NoError(t, err)
		require.Equal(t, want, after, "unchanged")
	}
}

// A host that stops reporting raises its absence, which goes to the
// processor's sinks: the configured webhook and, here, a recorder.
func TestAbsenceGoesToTheSinks(t *testing.T) {
	var (
		mu   sync.Mutex
		hook []map[string]any
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		sc := bufio.NewScanner(req.Body)
		for sc.Scan() {
			var ev map[string]any
			if json.Unmarshal(sc.Bytes(), &ev) == nil {
				mu.Lock()
				hook = append(hook, ev)
				mu.Unlock()
			}
		}
	}))
	defer srv.Close()
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	cfg.Rules = []string{writeRules(t, beat)}
	cfg.Runtime.Shards = 2
	cfg.Webhook = []faultlineotel.WebhookConfig{{SinkConfig: faultlineotel.SinkConfig{URL: srv.URL}}}
	s := start(t, cfg)
	for i := range 20 {
		hosts := []string{"a", "b"}
		if i < 5 {
			hosts = append(hosts, "c")
		}
		s.step(t, time.Second, fixture.Up(s.clk.Now(), hosts...))
	}
	abs := s.rec.Of(fault.KindAbsence, fault.StateFiring)
	require.Len(t, abs, 1, "%v", s.rec.All())
	require.Equal(t, "c", abs[0].Labels.Get("host_name"))
	require.Equal(t, "node", abs[0].Labels.Get("service_name"))
	require.Equal(t, "faultline", abs[0].Labels.Get(fault.OriginLabel), "the component's ID by default")
	require.NoError(t, s.proc.Shutdown(context.Background()), "drains the webhook")
	mu.Lock()
	defer mu.Unlock()
	var ids []any
	for _, ev := range hook {
		ids = append(ids, ev["id"])
	}
	require.Contains(t, ids, abs[0].ID)
}

// A monotonic cumulative sum is a counter that rate() understands: a
// counter reset (the source restarted) is not a drop in rate.
func TestCumulativeSumIsACounter(t *testing.T) {
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	cfg.Rules = []string{writeRules(t, `
groups:
  - name: g
    rules:
      - alert: Busy
        match: http_requests
        expr: rate(5s) > 5
`)}
	cfg.Runtime.Shards = 1
	s := start(t, cfg)
	v := 0.0
	for i := range 40 {
		switch {
		case i == 15:
			v = 3 // the source restarted: its counter starts again from 0
		case i < 30:
			v += 10
		default:
			v++ // slows to 1/s
		}
		s.step(t, time.Second, fixture.Counter(s.clk.Now(), "a", "http.requests", v))
	}
	fire := s.rec.Of(fault.KindThreshold, fault.StateFiring)
	require.Len(t, fire, 1, "%v", s.rec.All())
	res := s.rec.Of(fault.KindThreshold, fault.StateResolved)
	require.Len(t, res, 1)
	require.Equal(t, fire[0].Episode, res[0].Episode)
	require.Greater(t, res[0].At, t0.Add(30*time.Second).UnixNano(), "resolved when it slowed down, not at the reset")
}

// Bad data is counted and reported as one bad_input event, never a
// panic; the good points of the batch are evaluated.
func TestBadDataIsCountedAndReported(t *testing.T) {
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	cfg.Rules = []string{writeRules(t, beat)}
	cfg.Runtime.Shards = 1
	s := start(t, cfg)
	for range 90 {
		md := fixture.Up(s.clk.Now(), "a")
		dps := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Gauge().DataPoints()
		p := dps.AppendEmpty() // no timestamp
		p.SetIntValue(1)
		p = dps.AppendEmpty() // too many attributes
		p.SetTimestamp(pcommon.NewTimestampFromTime(s.clk.Now()))
		raw := map[string]any{}
		for i := range 1000 {
			raw[string(rune('a'+i%26))+string(rune('0'+i/26))] = i
		}
		require.NoError(t, p.Attributes().FromRaw(raw))
		s.step(t, time.Second, md)
	}
	require.Empty(t, s.rec.Of(fault.KindAbsence, fault.StateFiring), "the good points were evaluated")
	bad := s.rec.Of(fault.KindBadInput, fault.StateFiring)
	require.NotEmpty(t, bad)
	require.Equal(t, "processor/faultline", bad[0].Labels.Get("faultline_input"))
	require.Contains(t, bad[0].Annotations.Get("examples"), `metric 0 "up", point 1: no timestamp`)
	require.Equal(t, 180.0, metric(s.r, "faultline_runtime_bad_input_total"))
}

func metric(r *faultlineotel.Runner, name string) float64 {
	for _, m := range r.Runtime().AppendMetrics(nil) {
		if m.Name == name && len(m.Labels) == 0 {
			return m.Value
		}
	}
	return -1
}

// Every metric type reaches the engine as the samples of the mapping: a
// rule that sees every series fires once for each, with its labels and
// value.
func TestEveryMetricTypeReachesTheEngine(t *testing.T) {
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	cfg.Rules = []string{writeRules(t, `
groups:
  - name: g
    rules:
      - {alert: Seen, expr: 'true'}
`)}
	s := start(t, cfg)
	md, want := fixture.EveryType(s.clk.Now())
	s.step(t, time.Second, md)
	var got []string
	for _, ev := range s.rec.Of(fault.KindThreshold, fault.StateFiring) {
		ls := stream.Labels{}
		for _, l := range ev.Labels {
			if l.Name != "__name__" && l.Name != fault.OriginLabel {
				ls = append(ls, l)
			}
		}
		got = append(got, ev.Labels.Get("__name__")+ls.String()+" "+strconv.FormatFloat(ev.Value, 'g', -1, 64))
	}
	require.ElementsMatch(t, want, got)
}

// host is a component.Host with the given extensions.
type host map[component.ID]component.Component

func (h host) GetExtensions() map[component.ID]component.Component { return h }

// A processor listed in two pipelines is one component: the collector
// makes a processor for each pipeline, with the same ID and the same
// Config, and they share one runtime, its checkpoint and its events. Two
// runtimes took turns writing the same checkpoint, and after a restart
// each restored the last one written: the series of the other pipeline,
// which it never receives, went absent.
func TestOneRuntimeForEveryPipeline(t *testing.T) {
	storageID := component.MustNewID("memory_storage")
	h := host{storageID: memstorage.New()}
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	cfg.Rules = []string{writeRules(t, beat)}
	cfg.Storage = &storageID
	clk := clock.NewFake(t0)
	rec := &fixture.Recorder{}
	var runners []*faultlineotel.Runner
	f := newFactory(options{clk: clk, sinks: []pipeline.Sink{rec}, created: func(r *faultlineotel.Runner) { runners = append(runners, r) }})
	run := func(steps int) {
		var procs []processor.Metrics
		for range 2 { // two pipelines
			p, err := f.CreateMetrics(context.Background(), processortest.NewNopSettings(Type), cfg, new(consumertest.MetricsSink))
			require.NoError(t, err)
			require.NoError(t, p.Start(context.Background(), h))
			procs = append(procs, p)
		}
		r := runners[len(runners)-1]
		_ = r.Sync(context.Background()) // the runtime runs: a restart's downtime ends
		for range steps {
			require.NoError(t, procs[0].ConsumeMetrics(context.Background(), fixture.Up(clk.Now(), "a1", "a2")))
			require.NoError(t, procs[1].ConsumeMetrics(context.Background(), fixture.Up(clk.Now(), "b1", "b2")))
			clk.Advance(time.Second)
			require.NoError(t, r.Sync(context.Background()))
		}
		for _, p := range procs {
			require.NoError(t, p.Shutdown(context.Background()))
		}
	}
	run(20)
	require.Len(t, runners, 1, "one runtime for both pipelines")
	clk.Advance(10 * time.Second)
	run(30)
	require.Len(t, runners, 2, "a runtime for each run")
	require.Empty(t, rec.Of(fault.KindAbsence, fault.StateFiring), "%v", rec.All())
	downs := 0
	for _, ev := range rec.All() {
		if ev.Kind == fault.KindCollectorDown {
			downs++
		}
	}
	require.Equal(t, 1, downs, "one restart, one event: %v", rec.All())
}
