package faultlineotel_test

import (
	"fmt"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/faultline-go/faultline/contrib/otelcol/faultlineotel"
)

// A data point with dotted attribute keys becomes a sample with label
// names by the naming rule; the resource's host.name is a label too.
func ExampleMapper_Append() {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("host.name", "h1")
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("http.server.active_requests")
	p := m.SetEmptyGauge().DataPoints().AppendEmpty()
	p.SetTimestamp(pcommon.NewTimestampFromTime(time.Unix(1767225600, 0)))
	p.SetIntValue(12)
	p.Attributes().PutStr("http.request.method", "GET")

	mapper := faultlineotel.NewMapper(faultlineotel.NewDefaultConfig())
	for _, s := range mapper.Append(nil, md, time.Unix(1767225601, 0).UnixNano(), nil) {
		fmt.Println(s.Name, s.Labels, s.Value, time.Unix(0, s.Time).UTC().Format(time.RFC3339))
	}
	// Output:
	// http_server_active_requests {host_name="h1", http_request_method="GET"} 12 2026-01-01T00:00:00Z
}
