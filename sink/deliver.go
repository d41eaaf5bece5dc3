package sink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/faultline-go/faultline/clock"
)

// outcome is how a delivery with retries ended.
type outcome uint8

const (
	delivered outcome = iota // the receiver acknowledged it
	rejected                 // the receiver refused it: not retried
	exhausted                // Retry.MaxAttempts were spent
	canceled                 // the context ended first
	tooLarge                 // the receiver refused it as too large (413): split it
)

// permanentError marks a failure that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// retryAfterError carries a receiver's Retry-After.
type retryAfterError struct {
	err   error
	after time.Duration
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }

// deliverWithRetry calls send until it succeeds, fails permanently, has
// been tried MaxAttempts times, or ctx ends. Each retry is counted by
// retried before its backoff; backoff waits on clk. A 413 answer is
// tooLarge, for the caller to split the batch: sent again whole, it would
// be refused again.
func deliverWithRetry(ctx context.Context, clk clock.Clock, r *Retry, log *slog.Logger, name string, send func(context.Context) error, retried func()) outcome {
	for attempt := 1; ; attempt++ {
		if ctx.Err() != nil {
			return canceled
		}
		err := send(ctx)
		if err == nil {
			return delivered
		}
		if ctx.Err() != nil {
			return canceled
		}
		if se := (*statusError)(nil); errors.As(err, &se) && se.Code == http.StatusRequestEntityTooLarge {
			return tooLarge
		}
		if pe := (*permanentError)(nil); errors.As(err, &pe) {
			log.Warn("sink: delivery rejected", "sink", name, "err", err)
			return rejected
		}
		if r.MaxAttempts > 0 && attempt >= r.MaxAttempts {
			log.Warn("sink: delivery failed, attempts spent", "sink", name, "attempts", attempt, "err", err)
			return exhausted
		}
		var after time.Duration
		if ra := (*retryAfterError)(nil); errors.As(err, &ra) {
			after = ra.after
		}
		d := r.delay(attempt, after)
		log.Info("sink: delivery failed, retrying", "sink", name, "attempt", attempt, "in", d, "err", err)
		retried()
		t := clk.NewTimer(d)
		select {
		case <-t.C():
		case <-ctx.Done():
			t.Stop()
			return canceled
		}
	}
}

// deliverHalving delivers items lo to hi of a batch with send and records
// the outcome with settle; false when the context ended first (canceled),
// with nothing settled. Items refused as too large (413) are split in
// halves, each delivered the same way; a single item refused so is handed
// to dropOne (to log) and settled as rejected.
func deliverHalving(lo, hi int, send func(lo, hi int) outcome, settle func(lo, hi int, out outcome), dropOne func(i int)) bool {
	out := send(lo, hi)
	switch {
	case out == canceled:
		return false
	case out == tooLarge && hi-lo > 1:
		mid := lo + (hi-lo)/2
		return deliverHalving(lo, mid, send, settle, dropOne) && deliverHalving(mid, hi, send, settle, dropOne)
	case out == tooLarge:
		dropOne(lo)
		out = rejected
	}
	settle(lo, hi, out)
	return true
}

// errTimeout is the cause of a request canceled by poster's timeout.
var errTimeout = errors.New("timeout")

// poster POSTs bodies to one URL.
type poster struct {
	url         string
	contentType string
	client      *http.Client
	header      http.Header
	timeout     time.Duration
	clk         clock.Clock
}

// statusError is a receiver's answer other than 2xx.
type statusError struct {
	URL    string
	Code   int
	Body   string // the start of the answer's body
	Header http.Header
}

func (e *statusError) Error() string {
	return fmt.Sprintf("POST %s: %d %s: %s", e.URL, e.Code, http.StatusText(e.Code), e.Body)
}

// post sends body and classifies the answer: nil for 2xx, a
// permanentError for 4xx other than 408 and 429 and for a redirect that
// the client followed with a GET, a retryAfterError when a 429 or 503 says
// when to come back, another error otherwise.
func (p *poster) post(ctx context.Context, body []byte) error {
	if p.timeout > 0 {
		rctx, cancel := context.WithCancelCause(ctx)
		t := p.clk.NewTimer(p.timeout)
		stop, done := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(done)
			select {
			case <-t.C():
				cancel(errTimeout)
			case <-stop:
			}
		}()
		defer func() {
			close(stop)
			<-done
			t.Stop()
			cancel(nil)
		}()
		ctx = rctx
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return &permanentError{err}
	}
	for k, vs := range p.header {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", p.contentType)
	resp, err := p.client.Do(req)
	if err != nil {
		if errors.Is(context.Cause(ctx), errTimeout) {
			return fmt.Errorf("POST %s: no answer within %s", p.url, p.timeout)
		}
		return err
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
	}()
	if m := resp.Request.Method; m != http.MethodPost {
		// The client followed a 301, 302 or 303 with a GET, which does
		// not carry the body: its answer says nothing of the delivery.
		// The URL is wrong; sending again would not help.
		return &permanentError{fmt.Errorf("POST %s: redirected to %s %s, without the body", p.url, m, resp.Request.URL.Redacted())}
	}
	if resp.StatusCode/100 == 2 {
		return nil
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	se := &statusError{URL: p.url, Code: resp.StatusCode, Body: string(bytes.TrimSpace(msg)), Header: resp.Header}
	switch c := resp.StatusCode; {
	case c == http.StatusTooManyRequests || c == http.StatusServiceUnavailable:
		if d := retryAfter(resp.Header.Get("Retry-After"), p.clk.Now()); d > 0 {
			return &retryAfterError{se, d}
		}
	case c/100 == 4 && c != http.StatusRequestTimeout:
		return &permanentError{se}
	}
	return se
}

// retryAfter returns the wait a Retry-After value asks for at now: a
// number of seconds, or an HTTP-date (RFC 9110 section 10.2.3); 0 when
// there is none.
func retryAfter(v string, now time.Time) time.Duration {
	// Out of range, ParseUint gives its maximum; the product must not
	// wrap around either.
	if s, err := strconv.ParseUint(v, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		return time.Duration(min(s, uint64(math.MaxInt64/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return t.Sub(now)
	}
	return 0
}

// appendJSONString appends s as a JSON string, as encoding/json escapes it
// (invalid UTF-8 becomes U+FFFD).
func appendJSONString(dst []byte, s string) []byte {
	b, _ := json.Marshal(s) // never fails for a string
	return append(dst, b...)
}
