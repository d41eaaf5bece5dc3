// Package faultlineotel is what the faultline processor
// (faultlineprocessor) and connector (faultlineconnector) of the
// OpenTelemetry Collector share: their configuration, the mapping of OTLP
// metrics to samples, the mapping of events to log records, checkpoints
// in a storage extension, self-metrics through the collector's
// MeterProvider, and the Runner that hosts one live runtime (package
// pipeline) per component.
//
// # From metrics to samples
//
// Mapper.Append turns every data point into samples. Each sample has the
// point's timestamp as its time, the labels below, and as its arrival the
// time the component received the batch (the runtime clock's, read once
// per ConsumeMetrics).
//
//	Gauge                     <name> = the value (int or double)
//	Sum, monotonic cumulative <name> = the value: a counter; rate(),
//	                          increase() and resets() read a drop as a reset
//	Sum, non-monotonic        <name> = the value: a gauge
//	Sum, delta                <name> = the point's increase over its interval
//	Histogram                 <name>_count, and <name>_sum if the point has a
//	                          sum; buckets, min and max are skipped (counted
//	                          per point: faultline_otelcol_buckets_skipped_total)
//	Exponential histogram     as Histogram
//	Summary                   <name>_count, <name>_sum, <name>{quantile="q"}
//	Empty                     nothing (faultline_otelcol_empty_metrics_total)
//
// The points' start times (start_time_unix_nano) are not read: faultline's
// samples carry no start time and its rules no notion of a reset but a
// drop, so a counter reset is seen only when a value is below the one
// before it. A reset whose new count has climbed back to the previous
// value or past it by the next report is missed (the start time moved,
// the value did not drop): resets() does not count it, and increase(),
// rate() and the cohorts' increases take new − old for that interval
// where the true increase is at least new, short by at least the old
// value. This holds for cumulative sums and for the _count and _sum of
// cumulative histograms and summaries. Prometheus without created
// timestamps has the same blind spot; a short report interval narrows it.
//
// A point flagged no_recorded_value (a staleness marker: no delivery)
// gives nothing and is counted. A point of a metric without a name, a
// point without a timestamp, a number point without a value, and a point
// whose labels exceed Config.MaxLabels or Config.MaxLabelBytes are
// refused: counted by reason (faultline_otelcol_points_skipped_total)
// and handed, as a *PointError with its position in the batch, to the
// runtime's BadInput, which coalesces them into one bad_input event a
// minute. NaN and infinite values are kept (a delivery; every comparison
// with NaN is false), NaN counted.
//
// Names: the metric name with every byte but ASCII letters, digits, _ and
// : replaced by _, and _ before a leading digit (MetricName). No unit or
// _total suffix is added.
//
// Labels: the point's attributes, then the resource attributes listed in
// Config.ResourceAttributes that no attribute of the same label name
// overrides. An attribute key becomes a label name by the same rule
// without : (host.name is host_name), and a name that then starts with __
// gets "key" before it (LabelName). Keys that become one name are merged,
// their values joined with ";" in the order of their keys. Values are
// pcommon.Value.AsString (ints, doubles and bools as written, maps and
// slices as JSON, bytes as base64); empty values are left out.
//
// faultline_origin on the point, its scope or its resource, whatever
// Config.ResourceAttributes says, becomes the sample's label: the engine
// then rejects the sample as faultline's own output come back (counted in
// faultline_looped_total) and raises one feedback_loop event.
//
// # From events to log records
//
// AppendLogs and LogRecord: one resource per batch, with faultline_origin
// naming the instance, and scope ScopeName. Each record has the event's at
// as its timestamp, its summary as its body (Summary), severity from its
// state and severity label (Severity), event name faultline.<kind>, and as
// attributes every field of the event: id, episode, kind, rule, state, at
// and since (RFC 3339, as fault.FormatTime), series_id (hex), labels and
// annotations (maps), value, inhibited_by, and for gaps period_s,
// phase_start_s, phase_end_s, series and late_fraction, plus
// faultline_origin; the empty ones are left out. So a logs → metrics
// conversion that keeps either faultline_origin brings the events back
// as samples the loop guard recognises. LogsSink delivers them to the
// collector's logs pipelines.
//
// # Configuration
//
// A full example, every key set (NewDefaultConfig gives the defaults;
// each field of Config says its own):
//
//	faultline:
//	  rules: [/etc/otelcol/faultline.rules.yaml]
//	  reload_interval: 30s            # 0: no reloads
//	  instance: edge-1                # faultline_origin; default: the component ID
//	  source_label: host_name
//	  resource_attributes: [service.name, service.namespace, service.instance.id, host.name]
//	  storage: file_storage/faultline # a storage extension's ID
//	  max_labels: 64
//	  max_label_bytes: 16384
//	  dedup: {window: 15m, max_bytes: 67108864, disabled: false}
//	  engine:
//	    on_time_budget: 1s
//	    lateness: 60s
//	    default_cadence: 60s
//	    absent_after: 2m
//	    max_series: 4194304
//	    series_ttl: 24h
//	    max_alerts: 1048576
//	    max_future_skew: 10m
//	    max_arrival_lag: 1h
//	    max_sources: 4096
//	    max_history: 1024
//	    max_history_points: 4194304
//	    max_cohorts: 1024
//	  runtime:
//	    shards: 1
//	    queue_len: 64
//	    tick: 250ms
//	    stall_after: 30s
//	    checkpoint_every: 1m
//	    drain: 10s
//	  alertmanager:
//	    - url: http://127.0.0.1:9093
//	      headers: {Authorization: Bearer s3cret}
//	      timeout: 10s
//	      queue_size: 10000
//	      resend_interval: 1m
//	      resolved_retention: 15m
//	      max_alerts: 10000
//	      generator_url: http://collector.example.com/
//	      send_inhibited: false
//	  webhook:
//	    - url: https://hooks.example.com/faultline
//	      headers: {Authorization: Bearer s3cret}
//	      timeout: 10s
//	      queue_size: 10000
//	      max_batch: 100
//
// Config.Validate reads and parses the rule files and reports every
// problem at once, each rule error with its file:line:col.
//
// # State
//
// With Config.Storage, the Runner keeps the runtime's checkpoint in the
// component's own client of that storage extension (Store, key
// CheckpointKey), every runtime::checkpoint_every and at Shutdown, and
// restores it at Start: a collector restart or configuration reload loses
// no open alert, and the downtime is one collector_down event, not an
// absence per series.
//
// # Self-metrics
//
// RegisterMetrics reports the runtime's metrics (its own, the engines',
// the sinks', the Mapper's and the Runner's) through the component's
// MeterProvider, under the same names.
package faultlineotel
