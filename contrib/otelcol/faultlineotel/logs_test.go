package faultlineotel_test

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/faultline-go/faultline/clock"
	"github.com/faultline-go/faultline/contrib/otelcol/faultlineotel"
	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/stream"
)

// A periodic gap event becomes a log record whose attributes carry every
// field of the event.
func TestLogRecordOfAGap(t *testing.T) {
	ev := fault.Event{
		ID: "0df906330fd6171d", Episode: "1111222233334444", Kind: fault.KindPeriodicGap, Rule: "periodic_gap",
		State: fault.StateFiring, At: t0.Add(2 * time.Minute).UnixNano(), Since: t0.UnixNano(),
		Labels:      stream.NewLabels("faultline_origin", "edge", "team", "obs"),
		Annotations: stream.NewLabels("runbook", "https://x/gap"),
		Value:       math.NaN(), InhibitedBy: "",
		Gap: &fault.Gap{Period: time.Minute, PhaseStart: 12 * time.Second, PhaseEnd: 13500 * time.Millisecond, Series: 195, LateFraction: 0},
	}
	ld := plog.NewLogs()
	observed := t0.Add(3 * time.Minute)
	faultlineotel.AppendLogs(ld, []fault.Event{ev}, "edge", observed)
	require.Equal(t, 1, ld.LogRecordCount())
	rl := ld.ResourceLogs().At(0)
	require.Equal(t, map[string]any{"faultline_origin": "edge"}, rl.Resource().Attributes().AsRaw())
	require.Equal(t, faultlineotel.ScopeName, rl.ScopeLogs().At(0).Scope().Name())
	lr := rl.ScopeLogs().At(0).LogRecords().At(0)
	require.Equal(t, ev.At, int64(lr.Timestamp()))
	require.Equal(t, observed.UnixNano(), int64(lr.ObservedTimestamp()))
	require.Equal(t, plog.SeverityNumberError, lr.SeverityNumber())
	require.Equal(t, "ERROR", lr.SeverityText())
	require.Equal(t, "faultline.periodic_gap", lr.EventName())
	require.Equal(t, "fleet periodic gap: every 1m0s, 12.00–13.50 s into each period, ~195 series", lr.Body().Str())
	require.Equal(t, map[string]any{
		"id": "0df906330fd6171d", "episode": "1111222233334444", "kind": "periodic_gap", "rule": "periodic_gap",
		"state": "firing", "at": "2026-01-01T00:02:00.000000000Z", "since": "2026-01-01T00:00:00.000000000Z",
		"labels":      map[string]any{"faultline_origin": "edge", "team": "obs"},
		"annotations": map[string]any{"runbook": "https://x/gap"},
		"period_s":    60.0, "phase_start_s": 12.0, "phase_end_s": 13.5, "series": int64(195), "late_fraction": 0.0,
		"faultline_origin": "edge",
	}, lr.Attributes().AsRaw())
}

// An absence's record names the series; its summary annotation, when the
// rule has one, is the body.
func TestLogRecordOfAnAbsence(t *testing.T) {
	ev := fault.Event{ID: "a", Episode: "b", Kind: fault.KindAbsence, Rule: "absence", State: fault.StateResolved,
		At: t0.UnixNano(), Since: t0.Add(-time.Minute).UnixNano(), Series: 0xabc, Value: 3, InhibitedBy: "c",
		Labels: stream.NewLabels("__name__", "up", "host_name", "h3", "faultline_origin", "x")}
	lr := plog.NewLogRecord()
	faultlineotel.LogRecord(lr, &ev, t0)
	require.Equal(t, `up{host_name="h3"} stopped reporting`, lr.Body().Str())
	require.Equal(t, plog.SeverityNumberInfo, lr.SeverityNumber())
	a := lr.Attributes().AsRaw()
	require.Equal(t, "0000000000000abc", a["series_id"])
	require.Equal(t, 3.0, a["value"])
	require.Equal(t, "c", a["inhibited_by"])
	require.Equal(t, "resolved", a["state"])
	require.NotContains(t, a, "period_s")

	ev.Annotations = stream.NewLabels("summary", "host h3 is gone")
	faultlineotel.LogRecord(lr, &ev, t0)
	require.Equal(t, "host h3 is gone", lr.Body().Str())
}

// Severity follows the state, the severity label and inhibition.
func TestSeverity(t *testing.T) {
	for _, c := range []struct {
		state     fault.State
		kind      fault.Kind
		severity  string
		inhibited bool
		num       plog.SeverityNumber
		text      string
	}{
		{fault.StateFiring, fault.KindAbsence, "", false, plog.SeverityNumberError, "ERROR"},
		{fault.StateFiring, fault.KindThreshold, "critical", false, plog.SeverityNumberFatal, "critical"},
		{fault.StateFiring, fault.KindThreshold, "page", false, plog.SeverityNumberFatal, "page"},
		{fault.StateFiring, fault.KindThreshold, "Warning", false, plog.SeverityNumberWarn, "Warning"},
		{fault.StateFiring, fault.KindThreshold, "ticket", false, plog.SeverityNumberWarn, "ticket"},
		{fault.StateFiring, fault.KindThreshold, "info", false, plog.SeverityNumberInfo, "info"},
		{fault.StateFiring, fault.KindThreshold, "sev2", false, plog.SeverityNumberError, "sev2"},
		{fault.StateFiring, fault.KindThreshold, "critical", true, plog.SeverityNumberWarn, "critical"},
		{fault.StateFiring, fault.KindAbsence, "", true, plog.SeverityNumberWarn, "WARN"},
		{fault.StatePending, fault.KindThreshold, "critical", false, plog.SeverityNumberInfo, "critical"},
		{fault.StateResolved, fault.KindAbsence, "", false, plog.SeverityNumberInfo, "INFO"},
		{fault.StateResolved, fault.KindCollectorDown, "", false, plog.SeverityNumberWarn, "WARN"},
	} {
		ev := fault.Event{State: c.state, Kind: c.kind}
		if c.severity != "" {
			ev.Labels = stream.NewLabels("severity", c.severity)
		}
		if c.inhibited {
			ev.InhibitedBy = "x"
		}
		num, text := faultlineotel.Severity(&ev)
		require.Equal(t, c.num, num, "%+v", c)
		require.Equal(t, c.text, text, "%+v", c)
	}
}

// blockingLogs is a logs consumer that blocks until released, then fails
// permanently or records.
type blockingLogs struct {
	consumertest.LogsSink
	release chan struct{}
	fail    bool
	mu      sync.Mutex
	calls   int
}

func (b *blockingLogs) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	b.mu.Lock()
	b.calls++
	b.mu.Unlock()
	select {
	case <-b.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	if b.fail {
		return consumererror.NewPermanent(errors.New("refused"))
	}
	return b.LogsSink.ConsumeLogs(ctx, ld)
}

func sinkCounts(s *faultlineotel.LogsSink) map[string]float64 {
	out := map[string]float64{}
	for _, m := range s.AppendMetrics(nil) {
		key := m.Name
		for _, l := range m.Labels {
			if l.Name == "reason" {
				key += "/" + l.Value
			}
		}
		out[key] = m.Value
	}
	return out
}

// The logs sink never blocks: a full queue drops its oldest event, a
// refused batch is dropped, what is left at Close is counted, and
// events = sent + dropped + queued.
func TestLogsSinkBoundsAndCounts(t *testing.T) {
	next := &blockingLogs{release: make(chan struct{})}
	s := faultlineotel.NewLogsSink(next, "logs", "x", clock.NewFake(t0), slog.New(slog.DiscardHandler), 4)
	require.NoError(t, s.Start())
	ev := func(i int) fault.Event {
		return fault.Event{ID: string(rune('a' + i)), Kind: fault.KindAbsence, State: fault.StateFiring, At: t0.UnixNano()}
	}
	require.NoError(t, s.Emit(context.Background(), ev(0)))
	require.Eventually(t, func() bool { next.mu.Lock(); defer next.mu.Unlock(); return next.calls == 1 }, 5*time.Second, time.Millisecond)
	// Event 0 is in flight; the queue holds 4; both count as queued.
	for i := 1; i <= 4; i++ {
		require.NoError(t, s.Emit(context.Background(), ev(i)))
	}
	require.ErrorContains(t, s.Emit(context.Background(), ev(5)), "queue full")
	c := sinkCounts(s)
	require.Equal(t, 6.0, c["faultline_sink_events_total"])
	require.Equal(t, 1.0, c["faultline_sink_dropped_total/queue_full"])
	require.Equal(t, 5.0, c["faultline_sink_queued"], "the 4 queued and the one in flight")
	require.Equal(t, c["faultline_sink_events_total"], c["faultline_sink_sent_total"]+c["faultline_sink_dropped_total/queue_full"]+c["faultline_sink_queued"])

	close(next.release) // deliver
	require.NoError(t, s.Close(context.Background()))
	var ids []string
	for _, ld := range next.AllLogs() {
		for i := range ld.LogRecordCount() {
			v, _ := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(i).Attributes().Get("id")
			ids = append(ids, v.Str())
		}
	}
	require.Equal(t, []string{"a", "c", "d", "e", "f"}, ids, "the oldest queued (b) was dropped")
	c = sinkCounts(s)
	require.Equal(t, 5.0, c["faultline_sink_sent_total"])
	require.Equal(t, c["faultline_sink_events_total"], c["faultline_sink_sent_total"]+c["faultline_sink_dropped_total/queue_full"]+c["faultline_sink_queued"])
	require.ErrorContains(t, s.Emit(context.Background(), ev(6)), "closed")
	require.Equal(t, 1.0, sinkCounts(s)["faultline_sink_dropped_total/closed"])
}

// A consumer that refuses permanently, or is still blocked when Close
// gives up: the events are counted, never lost silently.
func TestLogsSinkRefusedAndUndelivered(t *testing.T) {
	next := &blockingLogs{release: make(chan struct{}), fail: true}
	close(next.release)
	s := faultlineotel.NewLogsSink(next, "logs", "x", clock.NewFake(t0), slog.New(slog.DiscardHandler), 0)
	require.NoError(t, s.Start())
	require.NoError(t, s.Emit(context.Background(), fault.Event{ID: "a"}))
	require.NoError(t, s.Close(context.Background()))
	require.Equal(t, 1.0, sinkCounts(s)["faultline_sink_dropped_total/rejected"])

	blocked := &blockingLogs{release: make(chan struct{})}
	s = faultlineotel.NewLogsSink(blocked, "logs", "x", clock.NewFake(t0), slog.New(slog.DiscardHandler), 0)
	for i := range 150 { // not started: Close delivers, and gives up at its deadline
		require.NoError(t, s.Emit(context.Background(), fault.Event{ID: string(rune('a' + i))}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := s.Close(ctx)
	require.ErrorContains(t, err, "150 events undelivered")
	c := sinkCounts(s)
	require.Equal(t, 150.0, c["faultline_sink_dropped_total/undelivered"], "the batch in flight and the rest")
	require.Zero(t, c["faultline_sink_dropped_total/rejected"])
	require.Equal(t, err, s.Close(context.Background()), "idempotent")
}

var _ consumer.Logs = (*blockingLogs)(nil)

// scriptedLogs is a logs consumer that returns its errors in turn, one a
// call, then accepts.
type scriptedLogs struct {
	consumertest.LogsSink
	mu    sync.Mutex
	errs  []error
	calls int
}

func (s *scriptedLogs) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	s.mu.Lock()
	s.calls++
	var err error
	if len(s.errs) > 0 {
		err, s.errs = s.errs[0], s.errs[1:]
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	return s.LogsSink.ConsumeLogs(ctx, ld)
}

// A retriable refusal of the logs pipeline (a memory_limiter, a full
// sending queue) is retried after a backoff on the sink's clock, until the
// batch is delivered; only a permanent one drops it.
func TestLogsSinkRetriesRetriableErrors(t *testing.T) {
	next := &scriptedLogs{errs: []error{errors.New("data refused due to high memory usage"), errors.New("sending queue is full")}}
	clk := clock.NewFake(t0)
	s := faultlineotel.NewLogsSink(next, "logs", "x", clk, slog.New(slog.DiscardHandler), 0)
	require.NoError(t, s.Start())
	require.NoError(t, s.Emit(context.Background(), fault.Event{ID: "a"}))
	for i := range 2 { // a backoff after each refusal
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		armed := clk.WaitFor(1, ctx.Done())
		cancel()
		require.True(t, armed, "no backoff after refusal %d", i+1)
		clk.Advance(time.Minute)
	}
	require.Eventually(t, func() bool { return next.LogRecordCount() == 1 }, 5*time.Second, time.Millisecond)
	require.NoError(t, s.Close(context.Background()))
	c := sinkCounts(s)
	require.Equal(t, 1.0, c["faultline_sink_sent_total"])
	require.Zero(t, c["faultline_sink_dropped_total/rejected"])
	require.Equal(t, 2.0, c["faultline_sink_retries_total"])
	require.Equal(t, 3, next.calls)

	next = &scriptedLogs{errs: []error{consumererror.NewPermanent(errors.New("cannot encode"))}}
	s = faultlineotel.NewLogsSink(next, "logs", "x", clk, slog.New(slog.DiscardHandler), 0)
	require.NoError(t, s.Start())
	require.NoError(t, s.Emit(context.Background(), fault.Event{ID: "a"}))
	require.NoError(t, s.Close(context.Background()))
	c = sinkCounts(s)
	require.Equal(t, 1.0, c["faultline_sink_dropped_total/rejected"], "a permanent error is not retried")
	require.Zero(t, c["faultline_sink_retries_total"])
	require.Equal(t, 1, next.calls)

	// Still refused when Close gives up: undelivered, not rejected.
	next = &scriptedLogs{errs: []error{errors.New("busy"), errors.New("busy")}}
	s = faultlineotel.NewLogsSink(next, "logs", "x", clk, slog.New(slog.DiscardHandler), 0)
	require.NoError(t, s.Start())
	require.NoError(t, s.Emit(context.Background(), fault.Event{ID: "a"}))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	require.ErrorContains(t, s.Close(ctx), "1 events undelivered")
	c = sinkCounts(s)
	require.Equal(t, 1.0, c["faultline_sink_dropped_total/undelivered"])
	require.Zero(t, c["faultline_sink_dropped_total/rejected"])
}
