// Package sink delivers faultline's events to the outside world: JSON
// Lines to a file or stdout, line protocol for Telegraf and Influx
// pipelines, webhooks, and Alertmanager.
//
// Every sink implements fault.Sink. The engine calls Emit synchronously,
// from its own goroutine, so Emit never does I/O and never blocks: it puts
// the event into a bounded queue (for Alertmanager, a bounded table of
// alerts) and returns. A goroutine owned by the sink delivers from there. A
// sink that is down therefore never holds up detection: its queue fills,
// what it has to drop is counted by reason, and the rest is delivered when
// it comes back.
//
// Emit is safe for concurrent use: engines of several shards may share one
// sink. Its context is not used.
//
// # Lifecycle
//
// All sinks share one lifecycle:
//
//   - New… builds a sink and starts nothing. Emit may be called at once;
//     events wait in the queue.
//   - Start starts the delivery goroutine. A second Start does nothing;
//     Start after Close returns ErrClosed.
//   - Close(ctx) stops accepting events (Emit then returns ErrClosed and
//     counts the event as dropped, reason "closed"), delivers what is queued
//     (with retries) until the queue is empty or ctx ends, then waits for
//     the goroutine (not for a write to an io.Writer that blocks past ctx:
//     see JSONLines). What could not be delivered by then is counted (reason
//     "undelivered") and reported in Close's error, which wraps
//     ErrUndelivered. Close is idempotent (later calls return the first
//     one's result) and is safe without Start: it then delivers the queue
//     itself, the same way.
//
// # Delivery
//
// Delivery is at least once: a batch whose outcome is unknown (a timeout, a
// connection reset, a write error) is sent again, so a consumer may see an
// event twice and deduplicates by its ID, which the engine derives from
// the data. Failed deliveries are retried with exponential backoff and
// jitter (Retry), forever unless Retry.MaxAttempts says otherwise. An HTTP
// 4xx answer other than 408 and 429 is not retried, nor is a redirect
// that the client follows with a GET (301, 302, 303), which loses the
// body: the batch is counted as dropped, reason "rejected". A 413
// (payload too large) is not retried either: the batch is split in
// halves, each sent (and split) the same way, down to single events; an
// event refused alone is dropped, reason "rejected", and logged. 429 and
// 503 answers' Retry-After is honoured, up to Retry.Max.
//
// The queue holds Options.QueueSize events. When it is full, Emit drops the
// oldest queued event (not the batch in flight), counts it (reason
// "queue_full") and returns ErrQueueFull: the newest state of an episode is
// worth more than the oldest. For the JSON Lines, line protocol and webhook
// sinks, once nothing is in flight,
//
//	Events = Sent + Dropped (all reasons) + Queued
//
// so nothing is lost without being counted. The Alertmanager sink keeps
// alerts rather than events; see Alertmanager.
//
// All time (backoff, timeouts, Alertmanager's re-sends) is read from
// Options.Clock, so tests run in virtual time with clock.NewFake.
//
// # Self-metrics
//
// Each sink is a metrics.Source. Its metrics carry a label sink naming the
// instance (Options.Name):
//
//	faultline_sink_events_total       events given to Emit
//	faultline_sink_queued             events (alerts) waiting or in flight
//	faultline_sink_sent_total         events (alerts) delivered
//	faultline_sink_retries_total      deliveries retried
//	faultline_sink_dropped_total      events (alerts) dropped, by reason
//
// The Alertmanager sink adds faultline_sink_alerts (alerts it holds) and
// faultline_sink_untracked_total (see Alertmanager).
//
// This package holds event delivery; it must not know how events are made:
// it takes fault.Events and delivers them.
package sink
