package input

import (
	"compress/gzip"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/faultline-go/faultline/metrics"
	"github.com/faultline-go/faultline/stream"
)

// HTTPOptions configures an HTTP input. A zero HTTPOptions consists
// entirely of default values.
type HTTPOptions struct {
	Options
	// Token, when set, is required on every write, as InfluxDB requires
	// it: "Authorization: Token <token>" (or "Bearer <token>"). Requests
	// without it are refused with 401 and counted. By default none.
	Token string
	// MaxBodyBytes bounds a request body, before and after gzip. A larger
	// one is answered 413 and counted (limit "body"); the lines read
	// before the bound was hit are kept. By default 32 MiB.
	MaxBodyBytes int64
	// BusyTimeout bounds a write that must wait for room in the runtime's
	// queues: once it is that old (from the start of the write), it is
	// answered 503 with Retry-After. A write that never waits arms no
	// timer. By default 1s.
	BusyTimeout time.Duration
	// MaxErrors bounds the bad lines a partial-write answer names; the
	// rest are counted in it. By default 10.
	MaxErrors int
}

// HTTP serves InfluxDB's write APIs, POST /api/v2/write and POST /write,
// as an http.Handler: see the package doc. It is a metrics.Source.
type HTTP struct {
	base
	token    [sha256.Size]byte
	hasToken bool
	maxBody  int64
	busy     time.Duration
	maxErrs  int
	gzips    sync.Pool
	codes    [numCodes]atomic.Uint64
}

var _ metrics.Source = (*HTTP)(nil)

// The status codes a write is answered with, as counted.
var statusCodes = [...]int{
	http.StatusNoContent, http.StatusBadRequest, http.StatusUnauthorized, http.StatusMethodNotAllowed,
	http.StatusRequestTimeout, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType,
	http.StatusInternalServerError, http.StatusServiceUnavailable,
}

const numCodes = len(statusCodes)

// NewHTTP returns an HTTP input delivering to rt.
func NewHTTP(rt Runtime, opts HTTPOptions) *HTTP {
	h := &HTTP{base: newBase(rt, opts.Options, "http"), maxBody: opts.MaxBodyBytes, busy: opts.BusyTimeout, maxErrs: opts.MaxErrors}
	if opts.Token != "" {
		h.token, h.hasToken = sha256.Sum256([]byte(opts.Token)), true
	}
	if h.maxBody <= 0 {
		h.maxBody = DefaultMaxBodyBytes
	}
	if h.busy <= 0 {
		h.busy = DefaultBusyTimeout
	}
	if h.maxErrs <= 0 {
		h.maxErrs = DefaultMaxErrors
	}
	return h
}

// api is one of the two write APIs: they differ in their precision names
// and in the shape of their error answers.
type api uint8

const (
	apiV1 api = iota // POST /write
	apiV2            // POST /api/v2/write
)

// ServeHTTP answers a write: 204 when every line was taken, 400 for a
// partial write (the good lines were taken) or a bad request, 401 without
// the token, 413 for a body over MaxBodyBytes, 503 with Retry-After when
// the runtime's queues stayed full. Paths other than /write and
// /api/v2/write are 404.
func (h *HTTP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var a api
	switch r.URL.Path {
	case "/api/v2/write":
		a = apiV2
	case "/write":
		a = apiV1
	default:
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.answer(w, a, http.StatusMethodNotAllowed, "method not allowed", "only POST writes")
		return
	}
	if !h.authorized(r) {
		h.code(http.StatusUnauthorized)
		h.refuse(w, a)
		return
	}
	h.write(w, r, a)
}

// Protect returns a handler that requires the input's token, as writes
// do, before it calls next: for endpoints such as a rules reload. Without
// a token it returns next.
func (h *HTTP) Protect(next http.Handler) http.Handler {
	if !h.hasToken {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !h.authorized(r) {
			h.refuse(w, apiV2)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// authorized reports whether r carries the token, compared in constant
// time (of the token's hash, so that not even its length leaks).
func (h *HTTP) authorized(r *http.Request) bool {
	if !h.hasToken {
		return true
	}
	scheme, cred, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Token") && !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(cred)))
	return subtle.ConstantTimeCompare(sum[:], h.token[:]) == 1
}

// refuse answers 401 and counts it as unauthorized.
func (h *HTTP) refuse(w http.ResponseWriter, a api) {
	h.ctr.unauthorized.Add(1)
	w.Header().Set("WWW-Authenticate", `Token realm="faultline"`)
	h.reply(w, a, http.StatusUnauthorized, "unauthorized", "unauthorized access")
}

// badLine is a rejected line as a partial-write answer names it.
type badLine struct {
	line   int64
	column int
	err    error
	text   string
}

// maxQuoted bounds the text of a bad line quoted in an answer.
const maxQuoted = 120

func (h *HTTP) write(w http.ResponseWriter, r *http.Request, a api) {
	precision, err := parsePrecision(a, r.URL.Query().Get("precision"))
	if err != nil {
		h.answer(w, a, http.StatusBadRequest, "invalid", err.Error())
		return
	}
	if r.ContentLength > h.maxBody {
		h.limit(LimitBody)
		h.answer(w, a, http.StatusRequestEntityTooLarge, "request too large",
			fmt.Sprintf("the body (%d bytes) is over the limit of %d bytes", r.ContentLength, h.maxBody))
		return
	}
	received := h.rt.Now().UnixNano()
	var body io.Reader = http.MaxBytesReader(w, r.Body, h.maxBody)
	switch enc := strings.ToLower(r.Header.Get("Content-Encoding")); enc {
	case "", "identity":
	case "gzip":
		zr, err := h.gunzip(body)
		if err != nil {
			h.bodyError(w, a, err, 0)
			return
		}
		defer h.gzips.Put(zr)
		body = &limitedReader{r: zr, n: h.maxBody}
	default:
		h.answer(w, a, http.StatusUnsupportedMediaType, "invalid", fmt.Sprintf("unsupported Content-Encoding %q (want gzip or none)", enc))
		return
	}

	f := h.getFeed(body)
	defer h.putFeed(f)
	start := f.dec.Stats().Records
	if err := f.dec.SetPrecision(precision); err != nil {
		h.answer(w, a, http.StatusBadRequest, "invalid", err.Error())
		return
	}
	f.dec.SetArrival(func() int64 { return received })
	ctx, cancel := newBusyContext(r.Context(), h.o.Clock, h.busy)
	defer cancel()
	where := r.RemoteAddr
	var bad []badLine
	nbad := 0
	var readErr, ingestErr error
	for {
		re, err := h.next(f, where)
		if re != nil {
			nbad++
			if len(bad) < h.maxErrs {
				bad = append(bad, badLine{line: re.Record, column: re.Column, err: re.Err, text: quoteLine(f.dec.Raw())})
			}
			continue
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				readErr = err
			}
			break
		}
		if h.full(f) {
			if ingestErr = h.flush(ctx, f); ingestErr != nil {
				break
			}
		}
	}
	if ingestErr == nil {
		ingestErr = h.flush(ctx, f)
	}
	switch {
	case ingestErr != nil:
		h.o.Logger.Warn("write refused: the runtime is busy", "input", h.o.Name, "remote", where, "err", ingestErr)
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(h.busy/time.Second))))
		h.answer(w, a, http.StatusServiceUnavailable, "unavailable", "faultline is busy: retry later ("+ingestErr.Error()+")")
	case readErr != nil:
		h.bodyError(w, a, readErr, f.dec.Stats().Records-start)
	case nbad > 0:
		h.answer(w, a, http.StatusBadRequest, "invalid", partialWrite(bad, nbad, f.dec.Stats().Records-start))
	default:
		h.count(f)
		h.code(http.StatusNoContent)
		w.WriteHeader(http.StatusNoContent)
	}
}

// gunzip returns a gzip reader of body, from the pool.
func (h *HTTP) gunzip(body io.Reader) (*gzip.Reader, error) {
	if zr, ok := h.gzips.Get().(*gzip.Reader); ok {
		if err := zr.Reset(body); err != nil {
			h.gzips.Put(zr)
			return nil, err
		}
		return zr, nil
	}
	return gzip.NewReader(body)
}

// bodyError answers a body that could not be read in full: over the
// limit, timed out, or not valid gzip. The lines before the failure were
// taken.
func (h *HTTP) bodyError(w http.ResponseWriter, a api, err error, records int64) {
	taken := ""
	if records > 0 {
		taken = fmt.Sprintf(" (the %d records before it were read, the good ones taken)", records)
	}
	var mbe *http.MaxBytesError
	var ne net.Error
	switch {
	case errors.As(err, &mbe) || errors.Is(err, errTooLarge):
		h.limit(LimitBody)
		h.answer(w, a, http.StatusRequestEntityTooLarge, "request too large",
			fmt.Sprintf("the body is over the limit of %d bytes%s", h.maxBody, taken))
	case errors.As(err, &ne) && ne.Timeout():
		h.limit(LimitTimeout)
		h.answer(w, a, http.StatusRequestTimeout, "request timeout", "reading the body timed out"+taken)
	case errors.Is(err, gzip.ErrHeader), errors.Is(err, gzip.ErrChecksum), errors.Is(err, io.ErrUnexpectedEOF):
		h.answer(w, a, http.StatusBadRequest, "invalid", "the body is not valid gzip: "+err.Error()+taken)
	default:
		h.answer(w, a, http.StatusBadRequest, "invalid", "reading the body: "+err.Error()+taken)
	}
}

// partialWrite is the message of a partial-write answer.
func partialWrite(bad []badLine, n int, records int64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "partial write: %d of %d records rejected, the others taken: ", n, records)
	for i, l := range bad {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "line %d, column %d: %v: %s", l.line, l.column, l.err, l.text)
	}
	if n > len(bad) {
		fmt.Fprintf(&b, "; and %d more", n-len(bad))
	}
	fmt.Fprintf(&b, " dropped=%d", n)
	return b.String()
}

// quoteLine quotes a bad line, at most maxQuoted bytes of it.
func quoteLine(raw []byte) string {
	s := strings.TrimRight(string(raw[:min(len(raw), maxQuoted+2)]), "\r\n")
	if len(s) > maxQuoted {
		return strconv.Quote(s[:maxQuoted]) + "…"
	}
	return strconv.Quote(s)
}

// answer writes an error answer to a write and counts its code.
func (h *HTTP) answer(w http.ResponseWriter, a api, status int, code, msg string) {
	h.code(status)
	h.reply(w, a, status, code, msg)
}

// reply writes an error answer in the API's shape: InfluxDB 2's
// {"code","message"}, or InfluxDB 1's {"error"}.
func (h *HTTP) reply(w http.ResponseWriter, a api, status int, code, msg string) {
	var body []byte
	if a == apiV1 {
		w.Header().Set("X-Influxdb-Error", msg)
		body, _ = json.Marshal(struct {
			Error string `json:"error"`
		}{msg})
	} else {
		body, _ = json.Marshal(struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		}{code, msg})
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// code counts an answer.
func (h *HTTP) code(status int) {
	for i, c := range statusCodes {
		if c == status {
			h.codes[i].Add(1)
			return
		}
	}
}

// parsePrecision reads the precision parameter: ns, us, ms or s for API
// v2; n, u, ms, s, m or h (and ns, us) for API v1.
func parsePrecision(a api, s string) (time.Duration, error) {
	if a == apiV2 {
		switch s {
		case "", "ns", "us", "ms", "s":
		default:
			return 0, fmt.Errorf("invalid precision %q: want ns, us, ms or s", s)
		}
	}
	p, err := stream.ParsePrecision(s)
	if err != nil {
		return 0, fmt.Errorf("invalid precision %q: want n, u, ms, s, m or h", s)
	}
	return p, nil
}

// AppendMetrics appends the input's self-metrics: its decoders' counts, its
// bounds hit, its connections (those of the listeners made by Listen), its
// writes by status code and its unauthorized requests.
func (h *HTTP) AppendMetrics(dst []metrics.Metric) []metrics.Metric {
	dst = h.appendMetrics(dst)
	dst = h.appendConnMetrics(dst)
	for i, c := range statusCodes {
		dst = append(dst, metrics.C("faultline_input_requests_total", "Write requests answered, by status code.", h.codes[i].Load()).
			With("input", h.o.Name).With("code", strconv.Itoa(c)))
	}
	return append(dst, metrics.C("faultline_input_unauthorized_total", "Requests refused for want of the token (401), writes and protected endpoints.", h.ctr.unauthorized.Load()).With("input", h.o.Name))
}

// Listen returns ln bounded to maxConns open connections (by default
// DefaultMaxConns), counted in the input's metrics: a connection over the
// bound is closed at once and counted (limit "connections"). Serve the
// input's handler on it.
func (h *HTTP) Listen(ln net.Listener, maxConns int) net.Listener {
	return newLimitListener(ln, maxConns, &h.base)
}

// errTooLarge is a gzip body that inflates past MaxBodyBytes.
var errTooLarge = errors.New("input: body too large")

// limitedReader fails with errTooLarge past n bytes.
type limitedReader struct {
	r io.Reader
	n int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		// One byte more tells a body of exactly the limit from a larger one.
		var one [1]byte
		if n, _ := l.r.Read(one[:]); n > 0 {
			return 0, errTooLarge
		}
		return l.r.Read(p)
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}
