package faultprom_test

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/clock"
	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/metrics"
	"github.com/faultline-go/faultline/pipeline"
	"github.com/faultline-go/faultline/sink"
	"github.com/faultline-go/faultline/stream"

	faultprom "github.com/faultline-go/faultline/contrib/prometheus"
)

// Counters and gauges keep their kind, help and labels.
func TestCollectorKindsHelpLabels(t *testing.T) {
	src := metrics.SourceFunc(func(dst []metrics.Metric) []metrics.Metric {
		return append(dst,
			metrics.C("faultline_samples_total", "Samples given to Process.", 42).With("shard", "0"),
			metrics.C("faultline_samples_total", "Samples given to Process.", 8).With("shard", "1"),
			metrics.G("faultline_runtime_queue", "Batches waiting in a shard's queue.", 3).With("shard", "0"),
			metrics.C("faultline_sink_dropped_total", "Events dropped, by reason.", 1).With("sink", "am").With("reason", "queue_full"),
			metrics.G("faultline_runtime_downtime_seconds", "Downtime of the collector.", 25.5),
		)
	})
	c := faultprom.NewCollector(src, &faultprom.Options{ConstLabels: prometheus.Labels{"runtime": "edge"}})
	require.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(`
# HELP faultline_samples_total Samples given to Process.
# TYPE faultline_samples_total counter
faultline_samples_total{runtime="edge",shard="0"} 42
faultline_samples_total{runtime="edge",shard="1"} 8
# HELP faultline_runtime_queue Batches waiting in a shard's queue.
# TYPE faultline_runtime_queue gauge
faultline_runtime_queue{runtime="edge",shard="0"} 3
# HELP faultline_sink_dropped_total Events dropped, by reason.
# TYPE faultline_sink_dropped_total counter
faultline_sink_dropped_total{reason="queue_full",runtime="edge",sink="am"} 1
# HELP faultline_runtime_downtime_seconds Downtime of the collector.
# TYPE faultline_runtime_downtime_seconds gauge
faultline_runtime_downtime_seconds{runtime="edge"} 25.5
`)))
	problems, err := testutil.CollectAndLint(c)
	require.NoError(t, err)
	require.Empty(t, problems)
}

// A whole runtime registers in a pedantic registry, which checks every
// metric against the descriptors and the text format's rules, and its
// values follow the runtime's.
func TestCollectorOfARuntime(t *testing.T) {
	rt, err := pipeline.New(pipeline.Config{Shards: 2, Clock: clock.NewFake(time.Unix(1767225600, 0))})
	require.NoError(t, err)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(faultprom.NewCollector(rt, nil))
	n, err := testutil.GatherAndCount(reg)
	require.NoError(t, err)
	require.Greater(t, n, 50, "the runtime's, its shards' and its engines' metrics")

	ts := time.Unix(1767225600, 0).UnixNano()
	require.NoError(t, rt.Ingest(context.Background(), []stream.Sample{
		stream.NewSample("up", stream.NewLabels("host", "a"), ts, 1, ts),
		stream.NewSample("up", stream.NewLabels("host", "b"), ts, 1, ts),
	}))
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP faultline_runtime_samples_total Samples queued for the shards.
# TYPE faultline_runtime_samples_total counter
faultline_runtime_samples_total 2
`), "faultline_runtime_samples_total"))
	problems, err := testutil.GatherAndLint(reg)
	require.NoError(t, err)
	require.Empty(t, problems)
}

// An unchecked collector describes nothing, so its source may grow after
// registration.
func TestUncheckedCollector(t *testing.T) {
	var extra bool
	src := metrics.SourceFunc(func(dst []metrics.Metric) []metrics.Metric {
		dst = append(dst, metrics.C("a_total", "A.", 1))
		if extra {
			dst = append(dst, metrics.C("b_total", "B.", 2))
		}
		return dst
	})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(faultprom.NewCollector(src, &faultprom.Options{Unchecked: true}))
	extra = true
	n, err := testutil.GatherAndCount(reg)
	require.NoError(t, err)
	require.Equal(t, 2, n)

	checked := prometheus.NewPedanticRegistry()
	extra = false
	checked.MustRegister(faultprom.NewCollector(src, nil))
	extra = true
	_, err = checked.Gather()
	require.Error(t, err, "a checked collector holds its source to what it described")
}

// clientSink is a sink whose metrics are labelled sink and client, as
// contrib/mqtt's Publisher's are (faultline_sink_*{sink="mqtt",client=...}).
type clientSink struct{}

func (clientSink) Emit(context.Context, fault.Event) error { return nil }
func (clientSink) Start() error                            { return nil }
func (clientSink) Close(context.Context) error             { return nil }
func (clientSink) AppendMetrics(dst []metrics.Metric) []metrics.Metric {
	return append(dst,
		metrics.C("faultline_sink_events_total", "Events given to the sink.", 0).With("sink", "mqtt").With("client", "faultline-1"),
		metrics.G("faultline_sink_queued", "Events (alerts) waiting for delivery or in flight.", 0).With("sink", "mqtt").With("client", "faultline-1"),
	)
}

// A runtime with two sinks, one of package sink and one labelled client
// as the MQTT Publisher is (the mqtt package doc's setup plus a JSON-lines
// log): the same metric names come with two sets of label names. The
// Collector must still register and be gathered.
func TestCollectorOfARuntimeWithSinksLabelledApart(t *testing.T) {
	rt, err := pipeline.New(pipeline.Config{Shards: 1, Clock: clock.NewFake(time.Unix(1767225600, 0)),
		Sinks: []pipeline.Sink{sink.NewJSONLines(io.Discard, nil), clientSink{}}})
	require.NoError(t, err)
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(faultprom.NewCollector(rt, nil)))
	_, err = testutil.GatherAndCount(reg)
	require.NoError(t, err)
}
