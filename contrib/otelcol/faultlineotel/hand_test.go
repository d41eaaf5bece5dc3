package faultlineotel_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/goleak"

	"github.com/faultline-go/faultline/clock"
	"github.com/faultline-go/faultline/contrib/otelcol/faultlineotel"
	"github.com/faultline-go/faultline/contrib/otelcol/internal/fixture"
	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/pipeline"
)

// ups returns metrics with one resource per host h<from>..h<from+n-1>,
// each with a gauge "up" whose value is the host's number.
func ups(from, n int) pmetric.Metrics {
	md := pmetric.NewMetrics()
	for i := from; i < from+n; i++ {
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutStr("host.name", fmt.Sprintf("h%d", i))
		m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
		m.SetName("up")
		p := m.SetEmptyGauge().DataPoints().AppendEmpty()
		p.SetTimestamp(pcommon.NewTimestampFromTime(t0))
		p.SetIntValue(int64(i))
	}
	return md
}

// ConsumeMetrics gives its batch to the runtime, which with one shard
// (the default) queues that very batch: the runner must never write to it
// again. Calls in parallel each deliver their own samples, intact: every
// host's alert fires once, with its labels and value. Run with -race, a
// batch written to once given (cleared, reused for the next call) shows
// as a race, or as samples lost or mixed up.
func TestConsumedBatchesArriveIntact(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	path := filepath.Join(t.TempDir(), "rules.yaml")
	require.NoError(t, os.WriteFile(path, []byte("groups: [{name: g, rules: [{alert: Seen, match: up, expr: 'value >= 0'}]}]\n"), 0o644))
	cfg := faultlineotel.NewDefaultConfig()
	cfg.Rules = []string{path}
	rec := &fixture.Recorder{}
	r := faultlineotel.NewRunner(faultlineotel.Settings{
		ID: component.MustNewID("faultline"), Kind: component.KindProcessor,
		Telemetry: componenttest.NewNopTelemetrySettings(), Config: cfg, Clock: clock.NewFake(t0),
		Sinks: []pipeline.Sink{rec},
	})
	require.NoError(t, r.Start(context.Background(), componenttest.NewNopHost()))
	require.Equal(t, 1, r.Runtime().Shards())
	const callers, calls, hosts = 4, 50, 7
	var wg sync.WaitGroup
	for c := range callers {
		wg.Go(func() {
			for i := range calls {
				assert.NoError(t, r.ConsumeMetrics(context.Background(), ups((c*calls+i)*hosts, hosts)))
			}
		})
	}
	wg.Wait()
	require.NoError(t, r.Sync(context.Background()))
	require.NoError(t, r.Shutdown(context.Background()))

	seen := map[string]float64{}
	for _, ev := range rec.Of(fault.KindThreshold, fault.StateFiring) {
		host := ev.Labels.Get("host_name")
		_, dup := seen[host]
		require.False(t, dup, "%s fired twice", host)
		seen[host] = ev.Value
	}
	require.Len(t, seen, callers*calls*hosts)
	for i := range callers * calls * hosts {
		v, ok := seen[fmt.Sprintf("h%d", i)]
		require.True(t, ok, "h%d never fired", i)
		require.Equal(t, float64(i), v, "h%d", i)
	}
}
