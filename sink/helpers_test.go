package sink_test

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/clock"
	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/stream"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// patience bounds every real-time wait of these tests: a test that waits
// this long for something fails instead of hanging.
const patience = 10 * time.Second

// event returns an absence event of series cpu{host=h}.
func event(id string, state fault.State, at time.Time, host string) fault.Event {
	return fault.Event{
		ID:      id,
		Episode: "ep-" + host,
		Kind:    fault.KindAbsence,
		Rule:    "absence",
		State:   state,
		At:      at.UnixNano(),
		Since:   at.Add(-5 * time.Minute).UnixNano(),
		Labels:  stream.NewLabels("__name__", "cpu", "host", host, fault.OriginLabel, "test"),
		Value:   math.NaN(),
	}
}

// events returns n firing events e00, e01, … of distinct series.
func events(n int) []fault.Event {
	evs := make([]fault.Event, n)
	for i := range evs {
		evs[i] = event(fmt.Sprintf("e%02d", i), fault.StateFiring, t0, fmt.Sprintf("h%02d", i))
	}
	return evs
}

// waitTimers waits until at least n timers and tickers are armed on fc.
func waitTimers(t *testing.T, fc *clock.Fake, n int) {
	t.Helper()
	done := make(chan struct{})
	timer := time.AfterFunc(patience, func() { close(done) })
	defer timer.Stop()
	require.True(t, fc.WaitFor(n, done), "waited %s for %d timers, have %d", patience, n, fc.Waiters())
}

// eventually waits until cond holds.
func eventually(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", patience, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// request is one request a test server received.
type request struct {
	header http.Header
	body   []byte
	path   string
}

// server is an HTTP receiver whose answers a test sets.
type server struct {
	*httptest.Server
	reqs       chan request
	status     atomic.Int32  // the answer's status code
	retryAfter atomic.Value  // string: the answer's Retry-After, if any
	block      atomic.Bool   // hold requests until the client gives up
	held       chan struct{} // a request is held
}

func newServer(t *testing.T) *server {
	s := &server{reqs: make(chan request, 1000), held: make(chan struct{}, 1000)}
	s.status.Store(http.StatusOK)
	s.retryAfter.Store("")
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The body is read first: only then does the server notice that
		// the client went away, and cancel r.Context().
		body, _ := io.ReadAll(r.Body)
		if s.block.Load() {
			s.held <- struct{}{}
			<-r.Context().Done()
			return
		}
		// The answer is fixed before the test sees the request, so a test
		// that changes it after next() changes the next answer.
		status, ra := int(s.status.Load()), s.retryAfter.Load().(string)
		s.reqs <- request{r.Header.Clone(), body, r.URL.Path}
		if ra != "" {
			w.Header().Set("Retry-After", ra)
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(s.Close)
	return s
}

// next returns the next request received.
func (s *server) next(t *testing.T) request {
	t.Helper()
	select {
	case r := <-s.reqs:
		return r
	case <-time.After(patience):
		t.Fatalf("no request in %s", patience)
		return request{}
	}
}

// none checks that no request is waiting.
func (s *server) none(t *testing.T) {
	t.Helper()
	select {
	case r := <-s.reqs:
		t.Fatalf("unexpected request: %s", r.body)
	default:
	}
}

// closeNow closes c with a context that is already done, for tests that
// check what was left.
func closeNow(c interface{ Close(context.Context) error }) error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return c.Close(ctx)
}
