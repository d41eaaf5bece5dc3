// Package input holds the inputs of the live runtime (package pipeline):
// InfluxDB's write APIs over HTTP, line protocol over TCP, and line
// protocol from one stream such as standard input. Each decodes Influx
// line protocol (package stream), stamps every record with its arrival
// time, hands the samples to a Runtime (*pipeline.Runtime) and reports
// each record it cannot decode to Runtime.BadInput, which coalesces them
// into bad_input events. They use the standard library only.
//
// # Arrival time
//
// The arrival time is Runtime.Now: for HTTP, the moment the request was
// received, for all its records; for TCP and streams, the moment of the
// read that brought the end of the record's line. A record without a
// timestamp takes its arrival time as its sample time.
//
// # HTTP: the InfluxDB write APIs
//
// HTTP serves POST /api/v2/write (precision ns, us, ms or s) and POST
// /write (precision n, u, ms, s, m or h), with plain or gzip bodies
// (Content-Encoding: gzip); the bucket, org and db parameters are not
// used. A write is answered as InfluxDB answers it:
//
//	204  every line was taken
//	400  a partial write: the good lines were taken, and the answer names
//	     each bad line by number and column, with its text (at most
//	     HTTPOptions.MaxErrors of them; it counts the others); or a bad
//	     precision, or a body that is not valid gzip
//	401  the token is required and missing or wrong (counted)
//	413  the body is over HTTPOptions.MaxBodyBytes (counted); the lines
//	     before the bound were taken
//	415  a Content-Encoding other than gzip
//	503  the runtime's queues stayed full for HTTPOptions.BusyTimeout, with
//	     Retry-After; resend the body (what was taken of it is
//	     deduplicated)
//
// Errors come as JSON: {"code": "invalid", "message": "partial write: ..."}
// for API v2, {"error": "partial write: ..."} for API v1. Tokens are
// compared in constant time. HTTP.Protect puts other endpoints (a rules
// reload) behind the same token; HTTP.Listen bounds the connections. The
// HTTP server's own timeouts (read, write, idle, header size) are the
// server's to set: a slow client holds its own connection and goroutine,
// nothing that other clients wait for.
//
// # TCP and streams
//
// TCP reads each connection, and Reader one stream, line by line. Their
// samples are handed to the runtime before each read, so none waits for
// more input; while the runtime has no room they stop reading, and the
// sender feels the back-pressure.
//
// # Bounds
//
//	bound                 default   past it                                    counted in
//	line                  1 MiB     the line is skipped, a bad record          faultline_input_limits_total{limit="line"}
//	request body          32 MiB    413, the rest of the body is not read      faultline_input_limits_total{limit="body"}
//	connections           1,024     the connection is closed at once           faultline_input_limits_total{limit="connections"}
//	TCP idle time         5m        the connection is closed                   faultline_input_limits_total{limit="timeout"}
//	HTTP body read time   server's  408                                        faultline_input_limits_total{limit="timeout"}
//	samples per Ingest    4,096     handed over, then decoding goes on         —
//	waiting for room      1s (HTTP) 503 with Retry-After                       faultline_input_requests_total{code="503"}
//	idle decoders kept    2×CPUs    further ones are dropped after use         —
//
// # Self-metrics
//
// Each input is a metrics.Source (register it with
// pipeline.Runtime.AddMetrics), its metrics labelled input with its name:
// its decoders' counts (faultline_input_bytes_total, _lines_total,
// _records_total, _bad_records_total, _decoded_samples_total, …), the
// samples handed over (faultline_input_samples_total), the bounds hit,
// and for HTTP and TCP the connections; for HTTP also the writes by status
// code (faultline_input_requests_total) and the requests refused for want
// of the token (faultline_input_unauthorized_total).
//
// This package holds transports and wire formats; it must not know what
// the runtime does with the samples.
package input
