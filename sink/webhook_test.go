package sink_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/clock"
	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/sink"
)

// ids returns the event IDs of a JSON Lines body.
func ids(t *testing.T, body []byte) []string {
	t.Helper()
	var out []string
	for _, l := range bytes.Split(bytes.TrimSuffix(body, []byte("\n")), []byte("\n")) {
		var ev struct{ ID string }
		require.NoError(t, json.Unmarshal(l, &ev), "line %q", l)
		out = append(out, ev.ID)
	}
	return out
}

// fixedJitter makes backoff deterministic: retry n waits ¾ of
// Initial·2^(n-1).
func fixedJitter() float64 { return 0.5 }

func TestWebhookBatchesAsJSONLines(t *testing.T) {
	srv := newServer(t)
	hdr := http.Header{"Authorization": {"Bearer x"}}
	s := sink.NewWebhook(srv.URL, &sink.Options{MaxBatch: 3, Header: hdr})
	evs := events(7)
	for _, ev := range evs {
		require.NoError(t, s.Emit(context.Background(), ev))
	}
	require.NoError(t, s.Start())
	var got []string
	for _, n := range []int{3, 3, 1} {
		r := srv.next(t)
		require.Equal(t, "application/x-ndjson", r.header.Get("Content-Type"))
		require.Equal(t, "Bearer x", r.header.Get("Authorization"))
		b := ids(t, r.body)
		require.Len(t, b, n)
		got = append(got, b...)
	}
	require.Equal(t, []string{"e00", "e01", "e02", "e03", "e04", "e05", "e06"}, got)
	require.NoError(t, s.Close(context.Background()))
	require.Equal(t, uint64(7), s.Stats().Sent)
}

func TestWebhookOneEventPerRequestIsOneJSONObject(t *testing.T) {
	srv := newServer(t)
	s := sink.NewWebhook(srv.URL, &sink.Options{MaxBatch: 1})
	ev := events(1)[0]
	require.NoError(t, s.Emit(context.Background(), ev))
	require.NoError(t, s.Start())
	r := srv.next(t)
	require.Equal(t, "application/json", r.header.Get("Content-Type"))
	var obj map[string]any
	require.NoError(t, json.Unmarshal(r.body, &obj))
	require.Equal(t, "e00", obj["id"])
	require.Equal(t, "firing", obj["state"])
	require.NoError(t, s.Close(context.Background()))
}

func TestWebhookRetriesWithExponentialBackoff(t *testing.T) {
	fc := clock.NewFake(t0)
	srv := newServer(t)
	srv.status.Store(http.StatusInternalServerError)
	s := sink.NewWebhook(srv.URL, &sink.Options{Clock: fc, Timeout: -1, Retry: sink.Retry{
		Initial: time.Second, Max: 8 * time.Second, Rand: fixedJitter,
	}})
	require.NoError(t, s.Emit(context.Background(), events(1)[0]))
	require.NoError(t, s.Start())
	srv.next(t)
	// ¾ of 1s, 2s, 4s, 8s, then capped at Max 8s.
	for i, d := range []time.Duration{750 * time.Millisecond, 1500 * time.Millisecond, 3 * time.Second, 6 * time.Second, 6 * time.Second} {
		if i == 4 {
			srv.status.Store(http.StatusAccepted)
		}
		waitTimers(t, fc, 1)
		fc.Advance(d - time.Nanosecond)
		require.Equal(t, 1, fc.Waiters(), "retry %d: the backoff is not over", i+1)
		srv.none(t)
		fc.Advance(time.Nanosecond)
		require.Equal(t, []string{"e00"}, ids(t, srv.next(t).body), "retry %d sends the same batch", i+1)
	}
	require.NoError(t, s.Close(context.Background()))
	st := s.Stats()
	require.Equal(t, uint64(1), st.Sent)
	require.Equal(t, uint64(5), st.Retries)
	require.Zero(t, st.DroppedTotal())
}

// A 429 or 503's Retry-After outweighs the backoff, given in seconds or
// as an HTTP-date (RFC 9110 §10.2.3), as proxies and rate limiters send it.
func TestWebhookHonoursRetryAfter(t *testing.T) {
	for _, c := range []struct {
		status int
		after  string
	}{
		{http.StatusTooManyRequests, "5"},
		{http.StatusServiceUnavailable, t0.Add(5 * time.Second).Format(http.TimeFormat)},
	} {
		t.Run(c.after, func(t *testing.T) {
			fc := clock.NewFake(t0)
			srv := newServer(t)
			srv.status.Store(int32(c.status))
			srv.retryAfter.Store(c.after)
			s := sink.NewWebhook(srv.URL, &sink.Options{Clock: fc, Timeout: -1, Retry: sink.Retry{Initial: time.Second, Rand: fixedJitter}})
			require.NoError(t, s.Emit(context.Background(), events(1)[0]))
			require.NoError(t, s.Start())
			srv.next(t)
			srv.status.Store(http.StatusOK)
			waitTimers(t, fc, 1)
			fc.Advance(5*time.Second - time.Nanosecond)
			srv.none(t)
			require.Equal(t, 1, fc.Waiters(), "Retry-After, 5 s, outweighs the 750ms backoff")
			fc.Advance(time.Nanosecond)
			srv.next(t)
			require.NoError(t, s.Close(context.Background()))
			require.Equal(t, uint64(1), s.Stats().Sent)
		})
	}
}

func TestWebhookDoesNotRetryARejection(t *testing.T) {
	fc := clock.NewFake(t0)
	srv := newServer(t)
	srv.status.Store(http.StatusBadRequest)
	s := sink.NewWebhook(srv.URL, &sink.Options{Clock: fc, Timeout: -1, MaxBatch: 2})
	for _, ev := range events(3) {
		require.NoError(t, s.Emit(context.Background(), ev))
	}
	require.NoError(t, s.Start())
	require.Equal(t, []string{"e00", "e01"}, ids(t, srv.next(t).body))
	require.Equal(t, []string{"e02"}, ids(t, srv.next(t).body), "the next batch follows at once, no backoff")
	require.NoError(t, s.Close(context.Background()))
	st := s.Stats()
	require.Equal(t, uint64(3), st.Dropped[sink.ReasonRejected])
	require.Zero(t, st.Retries)
	require.Zero(t, fc.Waiters())
}

func TestWebhookRequestTimeoutOnTheClock(t *testing.T) {
	fc := clock.NewFake(t0)
	srv := newServer(t)
	srv.block.Store(true)
	s := sink.NewWebhook(srv.URL, &sink.Options{Clock: fc, Timeout: 2 * time.Second, Retry: sink.Retry{Initial: time.Second, Rand: fixedJitter}})
	require.NoError(t, s.Emit(context.Background(), events(1)[0]))
	require.NoError(t, s.Start())
	select {
	case <-srv.held: // the request is in the server; its timeout is armed
	case <-time.After(patience):
		t.Fatal("no request")
	}
	require.Equal(t, 1, fc.Waiters())
	srv.block.Store(false)
	fc.Advance(2 * time.Second)
	// The request gave up; its retry waits 750ms, then has its own timeout.
	waitTimers(t, fc, 1)
	fc.Advance(750 * time.Millisecond)
	require.Equal(t, []string{"e00"}, ids(t, srv.next(t).body))
	require.NoError(t, s.Close(context.Background()))
	st := s.Stats()
	require.Equal(t, uint64(1), st.Retries)
	require.Equal(t, uint64(1), st.Sent)
}

// TestDownSinkLosesNothingUncounted is the issue's "a down sink loses
// nothing that is not counted", in virtual time: a webhook is down while
// events overflow its queue; when it is back, every event is either
// delivered or counted as dropped, and the drops are the oldest events,
// never the batch in flight.
func TestDownSinkLosesNothingUncounted(t *testing.T) {
	fc := clock.NewFake(t0)
	srv := newServer(t)
	srv.status.Store(http.StatusServiceUnavailable)
	s := sink.NewWebhook(srv.URL, &sink.Options{Clock: fc, Timeout: -1, QueueSize: 10, MaxBatch: 4,
		Retry: sink.Retry{Initial: time.Second, Rand: fixedJitter}})
	evs := events(40)
	full := 0
	emit := func(evs []fault.Event) {
		for _, ev := range evs {
			if err := s.Emit(context.Background(), ev); err != nil {
				require.ErrorIs(t, err, sink.ErrQueueFull)
				full++
			}
		}
	}
	emit(evs[:30]) // the queue keeps e20…e29
	require.NoError(t, s.Start())
	require.Equal(t, []string{"e20", "e21", "e22", "e23"}, ids(t, srv.next(t).body))
	waitTimers(t, fc, 1) // down: the batch waits to be retried
	emit(evs[30:])       // e24…e29 make room for e30…e39
	st := s.Stats()
	require.Equal(t, 14, st.Queued, "10 queued, 4 in flight")
	require.Equal(t, uint64(26), st.Dropped[sink.ReasonQueueFull])
	require.Equal(t, 26, full, "Emit said so each time")

	srv.status.Store(http.StatusOK)
	fc.Advance(time.Hour)
	var got []string
	for len(got) < 14 {
		got = append(got, ids(t, srv.next(t).body)...)
	}
	require.NoError(t, s.Close(context.Background()))
	require.Equal(t, []string{"e20", "e21", "e22", "e23", "e30", "e31", "e32", "e33", "e34", "e35", "e36", "e37", "e38", "e39"}, got)
	st = s.Stats()
	require.Equal(t, uint64(40), st.Events)
	require.Equal(t, uint64(14), st.Sent)
	require.Equal(t, st.Events, st.Sent+st.DroppedTotal(), "every event delivered or counted")
	require.Zero(t, st.Queued)
}

func TestWebhookCloseGivesUpAtItsDeadline(t *testing.T) {
	fc := clock.NewFake(t0)
	srv := newServer(t)
	srv.status.Store(http.StatusBadGateway)
	s := sink.NewWebhook(srv.URL, &sink.Options{Clock: fc, Timeout: -1})
	for _, ev := range events(3) {
		require.NoError(t, s.Emit(context.Background(), ev))
	}
	require.NoError(t, s.Start())
	srv.next(t)
	waitTimers(t, fc, 1)
	err := closeNow(s)
	require.ErrorIs(t, err, sink.ErrUndelivered)
	require.True(t, strings.Contains(err.Error(), `3 in sink "webhook"`), err.Error())
	st := s.Stats()
	require.Equal(t, uint64(3), st.Dropped[sink.ReasonUndelivered])
	require.Zero(t, fc.Waiters(), "the backoff timer was stopped")
	require.True(t, errors.Is(s.Emit(context.Background(), events(1)[0]), sink.ErrClosed))
}

func TestWebhookEmitFromManyGoroutines(t *testing.T) {
	srv := newServer(t)
	s := sink.NewWebhook(srv.URL, &sink.Options{MaxBatch: 7})
	require.NoError(t, s.Start())
	const shards, each = 4, 50
	var wg sync.WaitGroup
	for g := range shards {
		wg.Go(func() {
			for i := range each {
				ev := events(1)[0]
				ev.ID = fmt.Sprintf("s%d-%02d", g, i)
				if err := s.Emit(context.Background(), ev); err != nil {
					t.Error(err) // not require: this is not the test's goroutine
				}
			}
		})
	}
	wg.Wait()
	require.NoError(t, s.Close(context.Background()))
	seen := map[string]int{}
	for len(srv.reqs) > 0 {
		for _, id := range ids(t, srv.next(t).body) {
			seen[id]++
		}
	}
	require.Len(t, seen, shards*each)
	for id, n := range seen {
		require.Equal(t, 1, n, id)
	}
	require.Equal(t, uint64(shards*each), s.Stats().Sent)
}

// A redirect the HTTP client follows with a GET (301, 302, 303: a URL
// moved from http to https, say) delivers nothing, as the body is not
// sent again: the batch is rejected, not counted as sent. 307 and 308
// repeat the POST and deliver.
func TestWebhookRedirectToAGetIsNoDelivery(t *testing.T) {
	for _, c := range []struct {
		code      int
		delivered bool
	}{
		{http.StatusMovedPermanently, false},
		{http.StatusFound, false},
		{http.StatusSeeOther, false},
		{http.StatusTemporaryRedirect, true},
		{http.StatusPermanentRedirect, true},
	} {
		t.Run(fmt.Sprint(c.code), func(t *testing.T) {
			var (
				mu  sync.Mutex
				got []string
			)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				mu.Lock()
				got = append(got, fmt.Sprintf("%s %s %d", r.Method, r.URL.Path, len(body)))
				mu.Unlock()
				if r.URL.Path == "/hook" {
					http.Redirect(w, r, "/moved", c.code)
				}
			}))
			t.Cleanup(srv.Close)
			s := sink.NewWebhook(srv.URL+"/hook", &sink.Options{Timeout: -1})
			ev := events(1)[0]
			require.NoError(t, s.Emit(context.Background(), ev))
			require.NoError(t, s.Close(context.Background()))
			n := len(ev.AppendJSON(nil)) + 1
			st := s.Stats()
			mu.Lock()
			defer mu.Unlock()
			if c.delivered {
				require.Equal(t, []string{fmt.Sprint("POST /hook ", n), fmt.Sprint("POST /moved ", n)}, got)
				require.Equal(t, uint64(1), st.Sent)
				return
			}
			require.Equal(t, []string{fmt.Sprint("POST /hook ", n), "GET /moved 0"}, got)
			require.Zero(t, st.Sent)
			require.Equal(t, uint64(1), st.Dropped[sink.ReasonRejected])
		})
	}
}

// A Retry-After beyond Retry.Max waits Retry.Max, however large: a number
// of seconds past the range of time.Duration too.
func TestWebhookRetryAfterBeyondMaxWaitsMax(t *testing.T) {
	for _, after := range []string{"3600", "18446744074", "99999999999999999999"} {
		t.Run(after, func(t *testing.T) {
			fc := clock.NewFake(t0)
			srv := newServer(t)
			srv.status.Store(http.StatusServiceUnavailable)
			srv.retryAfter.Store(after)
			s := sink.NewWebhook(srv.URL, &sink.Options{Clock: fc, Timeout: -1, Retry: sink.Retry{Initial: time.Second, Max: time.Minute, Rand: fixedJitter}})
			require.NoError(t, s.Emit(context.Background(), events(1)[0]))
			require.NoError(t, s.Start())
			srv.next(t)
			srv.status.Store(http.StatusOK)
			waitTimers(t, fc, 1)
			fc.Advance(time.Minute - time.Nanosecond)
			srv.none(t)
			require.Equal(t, 1, fc.Waiters(), "still waiting: Retry-After outweighs the 750ms backoff")
			fc.Advance(time.Nanosecond)
			srv.next(t)
			require.NoError(t, s.Close(context.Background()))
		})
	}
}
