package input_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/clock"
	"github.com/faultline-go/faultline/input"
	"github.com/faultline-go/faultline/metrics"
	"github.com/faultline-go/faultline/pipeline"
	"github.com/faultline-go/faultline/stream"
)

// post sends a write to h and returns the answer.
func post(h http.Handler, path, body string, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

type v2Error struct{ Code, Message string }

func decodeV2(t *testing.T, w *httptest.ResponseRecorder) v2Error {
	t.Helper()
	var e v2Error
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &e), w.Body.String())
	require.Equal(t, "application/json; charset=utf-8", w.Header().Get("Content-Type"))
	return e
}

// A write is taken whole: each record stamped with the time the request
// was received, records without a timestamp dated by it too, in the
// precision the request names.
func TestHTTPWriteStampsArrival(t *testing.T) {
	rt := newRecorder()
	h := input.NewHTTP(rt, input.HTTPOptions{})
	rt.set(t0.Add(250 * time.Millisecond))
	body := fmt.Sprintf("cpu,host=a usage=1.5 %d\nmem,host=a used=3i\n", t0.Unix())
	w := post(h, "/api/v2/write?org=o&bucket=b&precision=s", body)
	require.Equal(t, http.StatusNoContent, w.Code, w.Body.String())
	got := rt.got()
	require.Len(t, got, 2)
	received := t0.Add(250 * time.Millisecond).UnixNano()
	requireSample(t, got[0], "cpu_usage", t0.UnixNano(), received, 1.5)
	requireSample(t, got[1], "mem_used", received, received, 3)
	require.Equal(t, "a", got[0].Labels.Get("host"))

	// API v1, precision h.
	w = post(h, "/write?db=x&precision=h", "up value=1 1\n")
	require.Equal(t, http.StatusNoContent, w.Code, w.Body.String())
	requireSample(t, rt.got()[2], "up", time.Hour.Nanoseconds(), received, 1)

	require.Equal(t, 2.0, value(t, h, "faultline_input_requests_total", "input", "http", "code", "204"))
	require.Equal(t, 3.0, value(t, h, "faultline_input_samples_total", "input", "http"))
	require.Equal(t, 3.0, value(t, h, "faultline_input_records_total", "input", "http"))
}

// The decoders' tables are bounded by the input's options: an intern
// table of 2 series is cleared as a write of 5 series goes, and every
// record is still taken.
func TestHTTPDecoderBounds(t *testing.T) {
	rt := newRecorder()
	h := input.NewHTTP(rt, input.HTTPOptions{Options: input.Options{MaxInterned: 2}})
	var body strings.Builder
	for i := range 5 {
		fmt.Fprintf(&body, "cpu,host=h%d usage=1 %d\n", i, t0.UnixNano())
	}
	w := post(h, "/api/v2/write", body.String())
	require.Equal(t, http.StatusNoContent, w.Code, w.Body.String())
	require.Len(t, rt.got(), 5)
	require.Positive(t, value(t, h, "faultline_input_intern_resets_total", "input", "http"))

	h = input.NewHTTP(newRecorder(), input.HTTPOptions{})
	w = post(h, "/api/v2/write", body.String())
	require.Equal(t, http.StatusNoContent, w.Code, w.Body.String())
	require.Zero(t, value(t, h, "faultline_input_intern_resets_total", "input", "http"))
}

// A request with bad lines keeps its good lines and answers 400 naming
// each bad line by number and column, with its text, as InfluxDB answers
// a partial write; each bad line goes to BadInput with its position.
func TestHTTPPartialWriteKeepsTheGoodLines(t *testing.T) {
	rt := newRecorder()
	h := input.NewHTTP(rt, input.HTTPOptions{})
	body := "cpu,host=a usage=1 1767225600\ncpu,host=b usage=oops 1767225600\n\nmem,host=a used=3i 1767225600\nmem,host=a,host=b used=3i 1767225600\n"
	w := post(h, "/api/v2/write?precision=s", body)
	require.Equal(t, http.StatusBadRequest, w.Code)
	e := decodeV2(t, w)
	require.Equal(t, "invalid", e.Code)
	require.Equal(t, `partial write: 2 of 4 records rejected, the others taken: `+
		`line 2, column 18: field value has unrecognized type: "cpu,host=b usage=oops 1767225600"; `+
		`line 5, column 12: stream: duplicate tag "host": "mem,host=a,host=b used=3i 1767225600" dropped=2`, e.Message)
	got := rt.got()
	require.Len(t, got, 2, "the good lines were taken")
	require.Equal(t, "cpu_usage", got[0].Name)
	require.Equal(t, "mem_used", got[1].Name)

	bad := rt.badInputs()
	require.Len(t, bad, 2)
	require.Regexp(t, `^http: 192\.0\.2\.1:1234: record 2, column 18: `, bad[0])
	require.Regexp(t, `^http: 192\.0\.2\.1:1234: record 5, column 12: `, bad[1])
	require.Equal(t, 2.0, value(t, h, "faultline_input_bad_records_total", "input", "http"))
	require.Equal(t, 1.0, value(t, h, "faultline_input_requests_total", "input", "http", "code", "400"))

	// API v1 answers in its own shape.
	w = post(h, "/write?precision=s", "cpu,host=b usage=oops 1767225600\n")
	require.Equal(t, http.StatusBadRequest, w.Code)
	var v1 struct{ Error string }
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &v1))
	require.True(t, strings.HasPrefix(v1.Error, "partial write: 1 of 1 records rejected"), v1.Error)
	require.Equal(t, v1.Error, w.Header().Get("X-Influxdb-Error"))
}

// The answer names at most MaxErrors bad lines and counts the rest; a
// long line is quoted in part.
func TestHTTPPartialWriteIsBounded(t *testing.T) {
	rt := newRecorder()
	h := input.NewHTTP(rt, input.HTTPOptions{MaxErrors: 3})
	var b strings.Builder
	for i := range 20 {
		fmt.Fprintf(&b, "m,i=%d %s=x 1\n", i, strings.Repeat("f", 200))
		fmt.Fprintf(&b, "m,i=%d v=1 1\n", i)
	}
	w := post(h, "/api/v2/write", b.String())
	require.Equal(t, http.StatusBadRequest, w.Code)
	msg := decodeV2(t, w).Message
	require.Equal(t, 3, strings.Count(msg, "line "), msg)
	require.Contains(t, msg, "; and 17 more dropped=20")
	require.Contains(t, msg, `…`, "a long line is quoted in part")
	require.Less(t, len(msg), 1000)
	require.Len(t, rt.got(), 20)
}

func gzipped(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, err := zw.Write([]byte(s))
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return b.String()
}

// Gzip bodies are read; a body that is not gzip is a 400; other encodings
// a 415.
func TestHTTPGzip(t *testing.T) {
	rt := newRecorder()
	h := input.NewHTTP(rt, input.HTTPOptions{})
	w := post(h, "/api/v2/write", gzipped(t, "up,host=a value=1 1\nup,host=b value=1 1\n"), "Content-Encoding", "gzip")
	require.Equal(t, http.StatusNoContent, w.Code, w.Body.String())
	require.Len(t, rt.got(), 2)

	w = post(h, "/api/v2/write", "up,host=a value=1 1\n", "Content-Encoding", "gzip")
	require.Equal(t, http.StatusBadRequest, w.Code)
	require.Contains(t, decodeV2(t, w).Message, "not valid gzip")

	w = post(h, "/api/v2/write", "up,host=a value=1 1\n", "Content-Encoding", "br")
	require.Equal(t, http.StatusUnsupportedMediaType, w.Code)
	require.Len(t, rt.got(), 2)
}

// A body over MaxBodyBytes is a 413, counted: at once when its length is
// announced; when it is not (chunked, or gzip that inflates past the
// bound), once the bound is reached, the lines before it taken.
func TestHTTPBodyLimit(t *testing.T) {
	rt := newRecorder()
	h := input.NewHTTP(rt, input.HTTPOptions{MaxBodyBytes: 100})
	line := "up,host=a value=1 1\n" // 20 bytes
	w := post(h, "/api/v2/write", strings.Repeat(line, 6))
	require.Equal(t, http.StatusRequestEntityTooLarge, w.Code)
	require.Contains(t, decodeV2(t, w).Message, "over the limit of 100 bytes")
	require.Empty(t, rt.got())

	w = post(h, "/api/v2/write", strings.Repeat(line, 5))
	require.Equal(t, http.StatusNoContent, w.Code, "exactly the bound is taken")

	bomb := gzipped(t, strings.Repeat(line, 6))
	require.Less(t, len(bomb), 100)
	w = post(h, "/api/v2/write", bomb, "Content-Encoding", "gzip")
	require.Equal(t, http.StatusRequestEntityTooLarge, w.Code)
	require.Contains(t, decodeV2(t, w).Message, "(the 5 records before it were read, the good ones taken)")
	require.Len(t, rt.got(), 5+5)

	req := httptest.NewRequest(http.MethodPost, "/api/v2/write", io.MultiReader(strings.NewReader(strings.Repeat(line, 7))))
	req.ContentLength = -1 // chunked
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusRequestEntityTooLarge, rec.Code)
	require.Equal(t, 3.0, value(t, h, "faultline_input_limits_total", "input", "http", "limit", "body"))
	require.Equal(t, 3.0, value(t, h, "faultline_input_requests_total", "input", "http", "code", "413"))
}

// A line over MaxLineBytes is a bad line, counted; the others are taken.
func TestHTTPLineLimit(t *testing.T) {
	rt := newRecorder()
	h := input.NewHTTP(rt, input.HTTPOptions{Options: input.Options{MaxLineBytes: 64}})
	body := "up,host=a value=1 1\nup,host=" + strings.Repeat("b", 100) + " value=1 1\nup,host=c value=1 1\n"
	w := post(h, "/api/v2/write", body)
	require.Equal(t, http.StatusBadRequest, w.Code)
	require.Contains(t, decodeV2(t, w).Message, "line 2, column 65: stream: line too long")
	require.Len(t, rt.got(), 2)
	require.Equal(t, 1.0, value(t, h, "faultline_input_limits_total", "input", "http", "limit", "line"))
}

// With a token, writes (and protected endpoints) need it, as InfluxDB's
// "Token" or as "Bearer"; the others are refused with 401 and counted.
func TestHTTPToken(t *testing.T) {
	rt := newRecorder()
	h := input.NewHTTP(rt, input.HTTPOptions{Token: "s3cret"})
	body := "up,host=a value=1 1\n"
	for _, auth := range []string{"", "Token wrong", "Token s3cre", "Token s3cret2", "Basic czNjcmV0", "s3cret"} {
		w := post(h, "/api/v2/write", body, "Authorization", auth)
		require.Equal(t, http.StatusUnauthorized, w.Code, auth)
		require.Equal(t, "unauthorized", decodeV2(t, w).Code)
	}
	require.Empty(t, rt.got())
	for _, auth := range []string{"Token s3cret", "Bearer s3cret", "token s3cret"} {
		w := post(h, "/api/v2/write", body, "Authorization", auth)
		require.Equal(t, http.StatusNoContent, w.Code, auth)
	}
	reloads := 0
	protected := h.Protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reloads++ }))
	require.Equal(t, http.StatusUnauthorized, post(protected, "/-/reload", "").Code)
	require.Equal(t, http.StatusOK, post(protected, "/-/reload", "", "Authorization", "Bearer s3cret").Code)
	require.Equal(t, 1, reloads)
	require.Equal(t, 7.0, value(t, h, "faultline_input_unauthorized_total", "input", "http"))
	require.Equal(t, 6.0, value(t, h, "faultline_input_requests_total", "input", "http", "code", "401"))
}

func TestHTTPBadRequests(t *testing.T) {
	rt := newRecorder()
	h := input.NewHTTP(rt, input.HTTPOptions{})
	for _, p := range []string{"n", "h", "m", "u", "x"} {
		w := post(h, "/api/v2/write?precision="+p, "up value=1 1\n")
		require.Equal(t, http.StatusBadRequest, w.Code, p)
		require.Contains(t, decodeV2(t, w).Message, "invalid precision")
	}
	require.Equal(t, http.StatusBadRequest, post(h, "/write?precision=x", "up value=1 1\n").Code)
	for _, p := range []string{"n", "u", "ms", "s", "m", "h", "ns", "us"} {
		require.Equal(t, http.StatusNoContent, post(h, "/write?precision="+p, "up value=1 1\n").Code, p)
	}
	req := httptest.NewRequest(http.MethodGet, "/api/v2/write", nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	require.Equal(t, http.StatusMethodNotAllowed, w.Code)
	require.Equal(t, "POST", w.Header().Get("Allow"))
	require.Equal(t, http.StatusNotFound, post(h, "/api/v2/query", "").Code)
}

// When the runtime's queues stay full for BusyTimeout, the write is
// answered 503 with Retry-After, and counted; the runtime counts the
// samples it refused.
func TestHTTPBusyIs503(t *testing.T) {
	clk := clock.NewFake(t0)
	rt, err := pipeline.New(pipeline.Config{Shards: 1, QueueLen: 1, Clock: clk})
	require.NoError(t, err)
	h := input.NewHTTP(rt, input.HTTPOptions{BusyTimeout: 2 * time.Second, Options: input.Options{Clock: clk}})
	// Not running: nothing drains the queue, which holds one batch.
	require.Equal(t, http.StatusNoContent, post(h, "/api/v2/write", "up,host=a value=1\n").Code)
	done := make(chan *httptest.ResponseRecorder)
	go func() { done <- post(h, "/api/v2/write", "up,host=b value=1\n") }()
	require.True(t, clk.WaitFor(1, nil), "the write waits on its timer")
	select {
	case <-done:
		t.Fatal("answered before its busy timeout")
	case <-time.After(20 * time.Millisecond):
	}
	clk.Advance(2 * time.Second)
	w := <-done
	require.Equal(t, http.StatusServiceUnavailable, w.Code)
	require.Equal(t, "2", w.Header().Get("Retry-After"))
	require.Contains(t, decodeV2(t, w).Message, "busy")
	require.Equal(t, 1.0, value(t, h, "faultline_input_requests_total", "input", "http", "code", "503"))
	require.Equal(t, 1.0, value(t, rt, "faultline_runtime_refused_total"))
}

// The connections of a listener made by Listen are bounded and counted.
func TestHTTPListenBoundsConnections(t *testing.T) {
	rt := newRecorder()
	h := input.NewHTTP(rt, input.HTTPOptions{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(h.Listen(ln, 2)) }()
	t.Cleanup(func() { _ = srv.Close() })

	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", ln.Addr().String())
		require.NoError(t, err)
		held = append(held, c)
	}
	eventually(t, func() bool { return value(t, h, "faultline_input_connections", "input", "http") == 2 }, "two connections open")
	c, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err = c.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF, "the third connection is closed at once")
	require.Equal(t, 1.0, value(t, h, "faultline_input_limits_total", "input", "http", "limit", "connections"))
	for _, c := range held {
		require.NoError(t, c.Close())
	}
	eventually(t, func() bool { return value(t, h, "faultline_input_connections", "input", "http") == 0 }, "connections closed")

	resp, err := http.Post("http://"+ln.Addr().String()+"/api/v2/write", "text/plain", strings.NewReader("up value=1 1\n"))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	require.Equal(t, 3.0, value(t, h, "faultline_input_connections_total", "input", "http"))
}

// Every metric has a help text and the input's label, and writes in the
// text format with HELP and TYPE.
func TestHTTPMetricsAreDescribed(t *testing.T) {
	h := input.NewHTTP(newRecorder(), input.HTTPOptions{Options: input.Options{Name: "influx"}})
	ms := h.AppendMetrics(nil)
	require.NotEmpty(t, ms)
	for _, m := range ms {
		require.NotEmpty(t, m.Help, m.Name)
		input := ""
		for _, l := range m.Labels {
			if l.Name == "input" {
				input = l.Value
			}
		}
		require.Equal(t, "influx", input, m.Name)
		if m.Kind == metrics.Counter {
			require.True(t, strings.HasSuffix(m.Name, "_total"), m.Name)
		}
	}
	var b bytes.Buffer
	require.NoError(t, metrics.WriteText(&b, ms))
	require.Contains(t, b.String(), "# TYPE faultline_input_requests_total counter\n")
	require.Contains(t, b.String(), "# TYPE faultline_input_connections gauge\n")
}

// discard is a Runtime that counts what it is given and keeps nothing.
type discard struct{ samples int }

func (d *discard) Now() time.Time { return t0 }
func (d *discard) Ingest(_ context.Context, batch []stream.Sample) error {
	d.samples += len(batch)
	return nil
}
func (d *discard) BadInput(string, error) {}

// TestHTTPAllocatesPerRequestNotPerRecord checks that a write of 1,000
// records of known series allocates a bounded number of times, whatever
// its number of records: the request's own objects, none per record.
func TestHTTPAllocatesPerRequestNotPerRecord(t *testing.T) {
	var body strings.Builder
	for h := range 1000 {
		fmt.Fprintf(&body, "cpu,host=h%04d usage_idle=%d.5 %d\n", h, h%90, t0.UnixNano())
	}
	rt := &discard{}
	h := input.NewHTTP(rt, input.HTTPOptions{})
	write := func() {
		req := httptest.NewRequest(http.MethodPost, "/api/v2/write", strings.NewReader(body.String()))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		require.Equal(t, http.StatusNoContent, w.Code, w.Body.String())
	}
	write() // the series are interned, the feed pooled
	allocs := testing.AllocsPerRun(20, write)
	require.Equal(t, 22*1000, rt.samples) // AllocsPerRun runs it once more, first
	require.Less(t, allocs, 100.0, "allocations per write of 1,000 records")
}
