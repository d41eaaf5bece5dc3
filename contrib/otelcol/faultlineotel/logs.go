package faultlineotel

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/faultline-go/faultline/clock"
	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/metrics"
	"github.com/faultline-go/faultline/pipeline"
	"github.com/faultline-go/faultline/stream"
)

// ScopeName is the instrumentation scope of the log records made from
// events.
const ScopeName = "github.com/faultline-go/faultline/contrib/otelcol"

// AppendLogs appends evs to ld as log records of one resource and scope;
// the resource carries faultline_origin = instance. observed is the
// records' observed time. See the package doc for the record's shape.
func AppendLogs(ld plog.Logs, evs []fault.Event, instance string, observed time.Time) {
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr(fault.OriginLabel, instance)
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName(ScopeName)
	recs := sl.LogRecords()
	recs.EnsureCapacity(len(evs))
	for i := range evs {
		LogRecord(recs.AppendEmpty(), &evs[i], observed)
	}
}

// LogRecord fills lr with ev: the timestamp is ev.At, the body its
// summary, the severity from its state and severity label, and the
// attributes every field of the event (see the package doc).
func LogRecord(lr plog.LogRecord, ev *fault.Event, observed time.Time) {
	lr.SetTimestamp(pcommon.Timestamp(ev.At))
	lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(observed))
	num, text := Severity(ev)
	lr.SetSeverityNumber(num)
	lr.SetSeverityText(text)
	lr.SetEventName("faultline." + string(ev.Kind))
	lr.Body().SetStr(ev.Summary())
	a := lr.Attributes()
	a.EnsureCapacity(16)
	a.PutStr("id", ev.ID)
	a.PutStr("episode", ev.Episode)
	a.PutStr("kind", string(ev.Kind))
	a.PutStr("rule", ev.Rule)
	a.PutStr("state", ev.State.String())
	a.PutStr("at", fault.FormatTime(ev.At))
	if ev.Since != 0 {
		a.PutStr("since", fault.FormatTime(ev.Since))
	}
	if ev.Series != 0 {
		a.PutStr("series_id", fmt.Sprintf("%016x", uint64(ev.Series)))
	}
	putLabels(a.PutEmptyMap("labels"), ev.Labels)
	if len(ev.Annotations) > 0 {
		putLabels(a.PutEmptyMap("annotations"), ev.Annotations)
	}
	if !math.IsNaN(ev.Value) && !math.IsInf(ev.Value, 0) {
		a.PutDouble("value", ev.Value)
	}
	if ev.InhibitedBy != "" {
		a.PutStr("inhibited_by", ev.InhibitedBy)
	}
	if g := ev.Gap; g != nil {
		a.PutDouble("period_s", g.Period.Seconds())
		a.PutDouble("phase_start_s", g.PhaseStart.Seconds())
		a.PutDouble("phase_end_s", g.PhaseEnd.Seconds())
		a.PutInt("series", int64(g.Series))
		if !math.IsNaN(g.LateFraction) {
			a.PutDouble("late_fraction", g.LateFraction)
		}
	}
	if o := ev.Labels.Get(fault.OriginLabel); o != "" {
		a.PutStr(fault.OriginLabel, o)
	}
}

func putLabels(m pcommon.Map, ls stream.Labels) {
	m.EnsureCapacity(len(ls))
	for _, l := range ls {
		m.PutStr(l.Name, l.Value)
	}
}

// Severity returns a log record's severity for ev; see the package doc's
// table.
func Severity(ev *fault.Event) (plog.SeverityNumber, string) {
	label := ev.Labels.Get("severity")
	num := plog.SeverityNumberInfo
	switch {
	case ev.Kind == fault.KindCollectorDown:
		num = plog.SeverityNumberWarn
	case ev.State != fault.StateFiring:
	default:
		num = plog.SeverityNumberError
		switch strings.ToLower(label) {
		case "critical", "fatal", "emergency", "page":
			num = plog.SeverityNumberFatal
		case "warning", "warn", "ticket":
			num = plog.SeverityNumberWarn
		case "info", "informational", "notice", "none":
			num = plog.SeverityNumberInfo
		}
		if ev.InhibitedBy != "" {
			num = min(num, plog.SeverityNumberWarn)
		}
	}
	if label == "" {
		label = severityText[num]
	}
	return num, label
}

var severityText = map[plog.SeverityNumber]string{
	plog.SeverityNumberInfo: "INFO", plog.SeverityNumberWarn: "WARN",
	plog.SeverityNumberError: "ERROR", plog.SeverityNumberFatal: "FATAL",
}

// Errors of LogsSink.Emit.
var (
	errLogsClosed    = errors.New("faultlineotel: logs sink closed")
	errLogsQueueFull = errors.New("faultlineotel: logs sink queue full, oldest event dropped")
)

// LogsSink is a pipeline.Sink that hands events, as log records, to the
// next consumer of the collector's logs pipelines. Emit never blocks: it
// queues the event (at most QueueSize; when full, the oldest queued event
// is dropped, counted, reason queue_full). A goroutine started by Start
// hands the queue to the consumer in batches of up to 100 records. A
// batch the consumer refuses with a permanent error (consumererror) is
// dropped, counted, reason rejected. Any other refusal is retriable (a
// memory_limiter refusing, an exporter's full sending queue): the batch is
// offered again, rebuilt from the events, after a backoff of 500ms that
// doubles up to 30s on the sink's clock, each retry counted
// (faultline_sink_retries_total), until it is accepted; meanwhile it stays
// in flight and newer events queue behind it. The error cannot go back to
// the sender of the metrics instead: the events are made by the runtime
// after ConsumeMetrics returned. Close delivers what is queued until its
// context ends; what is left, and the batch in flight then (retried or
// not), is counted, reason undelivered. Events = sent + dropped + queued,
// where queued counts the batch in flight too, as package sink does.
type LogsSink struct {
	next     consumer.Logs
	name     string
	instance string
	clk      clock.Clock
	log      *slog.Logger
	max      int

	mu      sync.Mutex
	queue   []fault.Event
	flying  int // events of the batch the consumer holds
	started bool
	closed  bool
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	ctx     context.Context // of deliveries; cancelled when Close gives up
	cancel  context.CancelFunc

	closeMu  sync.Mutex // one Close at a time; guards what follows
	closeErr error      // the first Close's result
	closeRan bool

	events, sent, retries atomic.Uint64
	dropped               [3]atomic.Uint64 // queue_full, rejected, undelivered
	droppedClose          atomic.Uint64
}

// DefaultLogsQueueSize is LogsSink's queue bound unless told otherwise.
const DefaultLogsQueueSize = 10000

const logsBatch = 100

// The backoff between offers of a batch refused with a retriable error.
const (
	logsRetryInitial = 500 * time.Millisecond
	logsRetryMax     = 30 * time.Second
)

var _ pipeline.Sink = (*LogsSink)(nil)

// NewLogsSink returns a sink that delivers to next. name labels its
// metrics (sink), instance is the resource's faultline_origin, clk gives
// the records' observed time; queueSize 0 means DefaultLogsQueueSize.
func NewLogsSink(next consumer.Logs, name, instance string, clk clock.Clock, log *slog.Logger, queueSize int) *LogsSink {
	ctx, cancel := context.WithCancel(context.Background())
	return &LogsSink{next: next, name: name, instance: instance, clk: clk, log: log, max: cmp.Or(queueSize, DefaultLogsQueueSize),
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}), ctx: ctx, cancel: cancel}
}

// Emit queues ev; it never blocks.
func (s *LogsSink) Emit(_ context.Context, ev fault.Event) error {
	s.events.Add(1)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.droppedClose.Add(1)
		return errLogsClosed
	}
	var err error
	if len(s.queue) >= s.max {
		s.queue = s.queue[1:]
		s.dropped[0].Add(1)
		err = errLogsQueueFull
	}
	s.queue = append(s.queue, ev)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return err
}

// Start starts delivery; a second call does nothing.
func (s *LogsSink) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errLogsClosed
	}
	if !s.started {
		s.started = true
		go s.loop()
	}
	return nil
}

func (s *LogsSink) loop() {
	defer close(s.done)
	for {
		select {
		case <-s.wake:
			s.deliver()
		case <-s.stop:
			s.deliver()
			return
		}
	}
}

// deliver hands everything queued to the consumer, a batch at a time.
func (s *LogsSink) deliver() {
	for s.ctx.Err() == nil {
		s.mu.Lock()
		n := min(len(s.queue), logsBatch)
		if n == 0 {
			s.mu.Unlock()
			return
		}
		batch := append([]fault.Event(nil), s.queue[:n]...)
		s.queue = s.queue[n:]
		if len(s.queue) == 0 {
			s.queue = nil // let the backing array go
		}
		s.flying = n
		s.mu.Unlock()
		err := s.consume(batch)
		s.settle(n, err)
		if err != nil && s.ctx.Err() != nil { // Close gave up on it
			return
		}
	}
}

// consume offers batch to the consumer until it accepts it, refuses it
// with a permanent error, or Close gives up (s.ctx ends), waiting the
// backoff after each retriable refusal. Each offer is built anew: a
// consumer that mutates data may have changed the last one before it
// refused it.
func (s *LogsSink) consume(batch []fault.Event) error {
	wait := logsRetryInitial
	for {
		ld := plog.NewLogs()
		AppendLogs(ld, batch, s.instance, s.clk.Now())
		err := s.next.ConsumeLogs(s.ctx, ld)
		if err == nil || consumererror.IsPermanent(err) || s.ctx.Err() != nil {
			return err
		}
		s.retries.Add(1)
		s.log.Warn("the logs pipeline refused faultline's events for now; retrying", "sink", s.name, "events", len(batch), "in", wait, "err", err)
		t := s.clk.NewTimer(wait)
		select {
		case <-t.C():
		case <-s.ctx.Done():
			t.Stop()
			return err
		}
		wait = min(2*wait, logsRetryMax)
	}
}

// settle counts the batch of n events the consumer returned err for: sent,
// refused, or undelivered when Close gave up on it. The batch stops
// counting as queued in the same step, so that a reader of the metrics
// never sees it in neither.
func (s *LogsSink) settle(n int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flying = 0
	switch {
	case err == nil:
		s.sent.Add(uint64(n))
	case s.ctx.Err() != nil:
		s.dropped[2].Add(uint64(n))
	default:
		s.dropped[1].Add(uint64(n))
		s.log.Error("the logs pipeline refused faultline's events", "sink", s.name, "events", n, "err", err)
	}
}

// Close stops accepting events and delivers what is queued until ctx
// ends; it is idempotent and safe without Start.
func (s *LogsSink) Close(ctx context.Context) error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closeRan {
		return s.closeErr
	}
	s.closeRan = true
	s.mu.Lock()
	s.closed = true
	started := s.started
	s.mu.Unlock()
	if !started {
		go s.loop()
	}
	close(s.stop)
	select {
	case <-s.done:
	case <-ctx.Done():
		s.cancel()
		<-s.done
	}
	s.cancel()
	s.mu.Lock()
	left := len(s.queue)
	s.queue = nil
	s.mu.Unlock()
	s.dropped[2].Add(uint64(left))
	if n := s.dropped[2].Load(); n > 0 {
		s.closeErr = fmt.Errorf("faultlineotel: %d events undelivered to the logs pipeline at close", n)
	}
	return s.closeErr
}

// AppendMetrics appends the sink's metrics, named as package sink's.
func (s *LogsSink) AppendMetrics(dst []metrics.Metric) []metrics.Metric {
	s.mu.Lock()
	queued := len(s.queue) + s.flying
	s.mu.Unlock()
	dst = append(dst,
		metrics.C("faultline_sink_events_total", "Events given to the sink.", s.events.Load()).With("sink", s.name),
		metrics.G("faultline_sink_queued", "Events waiting for delivery.", float64(queued)).With("sink", s.name),
		metrics.C("faultline_sink_sent_total", "Events delivered.", s.sent.Load()).With("sink", s.name),
		metrics.C("faultline_sink_retries_total", "Deliveries retried.", s.retries.Load()).With("sink", s.name),
	)
	for i, reason := range []string{"queue_full", "rejected", "undelivered"} {
		dst = append(dst, metrics.C("faultline_sink_dropped_total", "Events dropped, by reason.", s.dropped[i].Load()).With("reason", reason).With("sink", s.name))
	}
	return append(dst, metrics.C("faultline_sink_dropped_total", "Events dropped, by reason.", s.droppedClose.Load()).With("reason", "closed").With("sink", s.name))
}
