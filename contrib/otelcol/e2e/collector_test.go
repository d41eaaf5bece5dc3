package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/faultline-go/faultline/contrib/otelcol/internal/fixture"
	"github.com/faultline-go/faultline/internal/testsvc"
)

// testlogs is a logs exporter whose records the test reads.
var testlogsType = component.MustNewType("testlogs")

type testlogsExporter struct {
	component.StartFunc
	component.ShutdownFunc
	*consumertest.LogsSink
}

func testlogsFactory(sink *consumertest.LogsSink) exporter.Factory {
	return exporter.NewFactory(testlogsType, func() component.Config { return &struct{}{} },
		exporter.WithLogs(func(context.Context, exporter.Settings, component.Config) (exporter.Logs, error) {
			return &testlogsExporter{LogsSink: sink}, nil
		}, component.StabilityLevelDevelopment))
}

// loopback is a logs → metrics connector, as a user might build one to
// count events: one gauge faultline_events per log record, with the
// record's resource attributes (faultline_origin among them) and its
// kind. It brings faultline's events back into a metrics pipeline.
var loopbackType = component.MustNewType("loopback")

type loopbackConnector struct {
	component.StartFunc
	component.ShutdownFunc
	next consumer.Metrics
}

func (c *loopbackConnector) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (c *loopbackConnector) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	md := pmetric.NewMetrics()
	for i := range ld.ResourceLogs().Len() {
		rl := ld.ResourceLogs().At(i)
		rm := md.ResourceMetrics().AppendEmpty()
		rl.Resource().Attributes().CopyTo(rm.Resource().Attributes())
		ms := rm.ScopeMetrics().AppendEmpty().Metrics()
		for j := range rl.ScopeLogs().Len() {
			lrs := rl.ScopeLogs().At(j).LogRecords()
			for k := range lrs.Len() {
				m := ms.AppendEmpty()
				m.SetName("faultline_events")
				p := m.SetEmptyGauge().DataPoints().AppendEmpty()
				p.SetTimestamp(pcommon.NewTimestampFromTime(time.Now()))
				p.SetIntValue(1)
				kind, _ := lrs.At(k).Attributes().Get("kind")
				p.Attributes().PutStr("kind", kind.Str())
			}
		}
	}
	return c.next.ConsumeMetrics(ctx, md)
}

func loopbackFactory() connector.Factory {
	return connector.NewFactory(loopbackType, func() component.Config { return &struct{}{} },
		connector.WithLogsToMetrics(func(_ context.Context, _ connector.Settings, _ component.Config, next consumer.Metrics) (connector.Logs, error) {
			return &loopbackConnector{next: next}, nil
		}, component.StabilityLevelDevelopment))
}

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
	return path
}

func settings(f otelcol.Factories, provs []confmap.ProviderFactory, uris ...string) otelcol.CollectorSettings {
	return otelcol.CollectorSettings{
		BuildInfo: component.BuildInfo{Command: "otelcol-faultline", Version: "test"},
		Factories: func() (otelcol.Factories, error) { return f, nil },
		ConfigProviderSettings: otelcol.ConfigProviderSettings{ResolverSettings: confmap.ResolverSettings{
			URIs: uris, ProviderFactories: provs, DefaultScheme: "env",
		}},
		DisableGracefulShutdown: true,
		SkipSettingGRPCLogger:   true,
	}
}

// collector is a collector running in-process.
type collector struct {
	col  *otelcol.Collector
	done chan error
}

func runCollector(t *testing.T, set otelcol.CollectorSettings) *collector {
	t.Helper()
	col, err := otelcol.NewCollector(set)
	require.NoError(t, err)
	c := &collector{col: col, done: make(chan error, 1)}
	go func() { c.done <- col.Run(context.Background()) }()
	require.Eventually(t, func() bool {
		select {
		case err := <-c.done:
			require.NoError(t, err, "the collector stopped")
		default:
		}
		return col.GetState() == otelcol.StateRunning
	}, 20*time.Second, 10*time.Millisecond)
	return c
}

func (c *collector) stop(t *testing.T) {
	t.Helper()
	c.col.Shutdown()
	require.NoError(t, <-c.done)
}

// sender sends OTLP metrics over gRPC: every cadence, an up gauge per
// host, stamped with the wall clock.
type sender struct {
	conn   *grpc.ClientConn
	client pmetricotlp.GRPCClient
	stop   chan struct{}
	done   chan struct{}
	mu     sync.Mutex
	hosts  []string
	errs   []error
}

func newSender(t *testing.T, port int, cadence time.Duration, hosts ...string) *sender {
	t.Helper()
	conn, err := grpc.NewClient(fmt.Sprintf("127.0.0.1:%d", port), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	s := &sender{conn: conn, client: pmetricotlp.NewGRPCClient(conn), stop: make(chan struct{}), done: make(chan struct{}), hosts: hosts}
	go s.run(cadence)
	return s
}

func (s *sender) run(cadence time.Duration) {
	defer close(s.done)
	tick := time.NewTicker(cadence)
	defer tick.Stop()
	for {
		s.mu.Lock()
		md := fixture.Up(time.Now(), s.hosts...)
		s.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := s.client.Export(ctx, pmetricotlp.NewExportRequestFromMetrics(md), grpc.WaitForReady(true))
		cancel()
		if err != nil {
			s.mu.Lock()
			s.errs = append(s.errs, err)
			s.mu.Unlock()
		}
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
	}
}

func (s *sender) setHosts(hosts ...string) {
	s.mu.Lock()
	s.hosts = hosts
	s.mu.Unlock()
}

func (s *sender) close(t *testing.T) {
	t.Helper()
	close(s.stop)
	<-s.done
	require.NoError(t, s.conn.Close())
	s.mu.Lock()
	defer s.mu.Unlock()
	require.Empty(t, s.errs, "every export was accepted")
}

// recorder is an HTTP endpoint that keeps the JSON bodies posted to it:
// an Alertmanager's alerts (an array) or a webhook's events (lines).
type recorder struct {
	srv  *httptest.Server
	mu   sync.Mutex
	objs []map[string]any
}

func newRecorder(t *testing.T) *recorder {
	r := &recorder{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var arr []map[string]any
		r.mu.Lock()
		defer r.mu.Unlock()
		if json.Unmarshal(body, &arr) == nil {
			r.objs = append(r.objs, arr...)
			return
		}
		for _, line := range strings.Split(strings.TrimSpace(string(body)), "\n") {
			var obj map[string]any
			if json.Unmarshal([]byte(line), &obj) == nil {
				r.objs = append(r.objs, obj)
			}
		}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *recorder) all() []map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]map[string]any(nil), r.objs...)
}

// logRecord is what the test reads of a log record.
type logRecord struct {
	id, kind, state, host string
}

func logRecords(sink *consumertest.LogsSink) []logRecord {
	var out []logRecord
	for _, ld := range sink.AllLogs() {
		for i := range ld.ResourceLogs().Len() {
			sls := ld.ResourceLogs().At(i).ScopeLogs()
			for j := range sls.Len() {
				lrs := sls.At(j).LogRecords()
				for k := range lrs.Len() {
					a := lrs.At(k).Attributes().AsRaw()
					rec := logRecord{id: fmt.Sprint(a["id"]), kind: fmt.Sprint(a["kind"]), state: fmt.Sprint(a["state"])}
					if labels, ok := a["labels"].(map[string]any); ok {
						rec.host, _ = labels["host_name"].(string)
					}
					out = append(out, rec)
				}
			}
		}
	}
	return out
}

// testRules makes absence quick: a host is absent 2 s after its last
// report.
const testRules = `
series:
  - {match: up, cadence: 500ms, absent_after: 2s}
`

// overrides are the test's additions to the README's configuration:
// addresses, paths and the sinks it reads, the testlogs exporter on the
// connector's logs pipeline, and a loop: the connector's records come back,
// through the loopback connector, into a metrics pipeline with a second
// faultline processor.
const overrides = `
extensions:
  file_storage/faultline:
    directory: %[1]s
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:%[2]d
processors:
  faultline:
    rules: [%[3]s]
    alertmanager: [{url: "%[4]s", resend_interval: 1h}]
  faultline/echo:
    instance: echo
    webhook: [{url: "%[5]s"}]
connectors:
  faultline:
    rules: [%[3]s]
  loopback: {}
exporters:
  testlogs: {}
service:
  telemetry:
    logs: {level: error}
    metrics:
      readers:
        - pull: {exporter: {prometheus: {host: 127.0.0.1, port: %[6]d}}}
  pipelines:
    logs/faultline:
      receivers: [faultline]
      exporters: [debug, testlogs, loopback]
    metrics/echo:
      receivers: [loopback]
      processors: [faultline/echo]
      exporters: [debug]
`

// A real collector, built in-process from the README's manifest and
// configuration: OTLP over gRPC from three hosts, one of which stops; its
// absence arrives as a log record (the connector) and an alert (the
// processor). The collector restarts on the same storage: one
// collector_down record, nothing repeated, no absence storm. The events
// that come back through a logs → metrics connector raise one
// feedback_loop.
func TestRealCollector(t *testing.T) {
	files := readmeFiles(t)
	m := readmeManifest(t, files)
	logs := new(consumertest.LogsSink)
	f, provs := factories(t, m, []exporter.Factory{testlogsFactory(logs)}, []connector.Factory{loopbackFactory()})
	dir := t.TempDir()
	cfgPath := writeFile(t, dir, "otelcol-config.yaml", files["otelcol-config.yaml"])
	rulesPath := writeFile(t, dir, "rules.yaml", testRules)
	storage := filepath.Join(dir, "storage")
	am, hook := newRecorder(t), newRecorder(t)
	start := func() (*collector, int, int) {
		grpcPort, metricsPort := testsvc.FreePort(t), testsvc.FreePort(t)
		over := writeFile(t, dir, "overrides.yaml", fmt.Sprintf(overrides, storage, grpcPort, rulesPath, am.srv.URL, hook.srv.URL, metricsPort))
		return runCollector(t, settings(f, provs, "file:"+cfgPath, "file:"+over)), grpcPort, metricsPort
	}

	// The first run: h3 stops after 2 s.
	col, grpcPort, metricsPort := start()
	snd := newSender(t, grpcPort, 250*time.Millisecond, "h1", "h2", "h3")
	time.Sleep(2 * time.Second) // h3 reports for a while: a real-time test
	snd.setHosts("h1", "h2")
	require.Eventually(t, func() bool {
		for _, r := range logRecords(logs) {
			if r.kind == "absence" && r.state == "firing" && r.host == "h3" {
				return true
			}
		}
		return false
	}, 20*time.Second, 50*time.Millisecond, "h3's absence as a log record")
	require.Eventually(t, func() bool {
		for _, a := range am.all() {
			if labels, ok := a["labels"].(map[string]any); ok && labels["alertname"] == "absence" && labels["host_name"] == "h3" {
				return true
			}
		}
		return false
	}, 10*time.Second, 50*time.Millisecond, "the processor's alert for h3 reaches the Alertmanager")
	require.Eventually(t, func() bool { return countKind(hook.all(), "feedback_loop", "firing") > 0 }, 10*time.Second, 50*time.Millisecond,
		"the events that came back raise a feedback loop")

	// Self-metrics, through the collector's own Prometheus endpoint.
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort))
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	for _, name := range []string{"faultline_runtime_samples_total", "faultline_otelcol_points_total", "faultline_series"} {
		for _, who := range []string{`processor="faultline"`, `connector="faultline"`, `processor="faultline/echo"`} {
			require.Regexp(t, "(?m)^"+name+`\{[^}]*`+who, string(body), "each component's own")
		}
	}
	require.Regexp(t, `(?m)^faultline_sink_sent_total\{connector="faultline",sink="logs"\} [1-9]`, string(body))

	snd.close(t)
	col.stop(t)
	first := logRecords(logs)
	require.Len(t, first, 1, "one event in the first run: %v", first)
	require.Equal(t, 1, countKind(hook.all(), "feedback_loop", "firing"), "one feedback loop, however many events came back")

	// The second run, on the same storage, after a downtime longer than
	// absent_after: h1 and h2 report again, for longer than absent_after.
	time.Sleep(3 * time.Second)
	col, grpcPort, _ = start()
	snd = newSender(t, grpcPort, 250*time.Millisecond, "h1", "h2")
	time.Sleep(4 * time.Second)
	snd.close(t)
	col.stop(t)
	second := logRecords(logs)[len(first):]
	require.Len(t, second, 1, "only the downtime: %v", second)
	require.Equal(t, "collector_down", second[0].kind)
	for _, r := range first {
		require.NotEqual(t, r.id, second[0].id)
	}
}

func countKind(objs []map[string]any, kind, state string) int {
	n := 0
	for _, o := range objs {
		if o["kind"] == kind && o["state"] == state {
			n++
		}
	}
	return n
}
