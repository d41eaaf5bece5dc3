package faultprom_test

import (
	"fmt"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/faultline-go/faultline/metrics"

	faultprom "github.com/faultline-go/faultline/contrib/prometheus"
)

// An embedder registers faultline's self-metrics in its own registry: here
// a source of two metrics, as a runtime (pipeline.Runtime), an input or a
// sink would give them.
func ExampleNewCollector() {
	src := metrics.SourceFunc(func(dst []metrics.Metric) []metrics.Metric {
		return append(dst,
			metrics.C("faultline_runtime_events_total", "Events delivered to the sinks, after merging.", 7),
			metrics.G("faultline_runtime_queue", "Batches waiting in a shard's queue.", 2).With("shard", "0"),
		)
	})
	reg := prometheus.NewRegistry()
	reg.MustRegister(faultprom.NewCollector(src, nil))
	n, err := testutil.GatherAndCount(reg)
	fmt.Println(n, err)
	err = testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP faultline_runtime_queue Batches waiting in a shard's queue.
# TYPE faultline_runtime_queue gauge
faultline_runtime_queue{shard="0"} 2
`), "faultline_runtime_queue")
	fmt.Println(err)
	// Output:
	// 2 <nil>
	// <nil>
}
