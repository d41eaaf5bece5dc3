package report

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/bench/scenario"
	"github.com/faultline-go/faultline/fault"
)

// TestLive: the page, then polls that carry the sections only when
// something changed, open faults first.
func TestLive(t *testing.T) {
	b, err := New(Options{})
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/ui/", http.StripPrefix("/ui", Live(b, 0)))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	get := func(path string) (int, string, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(body)
	}
	type state struct {
		Version  uint64
		Sections map[string]string
	}
	pollQ := func(q string) state {
		t.Helper()
		code, ctype, body := get("/ui/state.json" + q)
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, "application/json", ctype)
		var s state
		require.NoError(t, json.Unmarshal([]byte(body), &s))
		return s
	}
	poll := func(v uint64) state { t.Helper(); return pollQ("?v=" + strconv.FormatUint(v, 10)) }

	code, ctype, page := get("/ui/")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "text/html; charset=utf-8", ctype)
	require.Contains(t, page, "data-live")
	require.Contains(t, page, `data-refresh="2000"`)
	require.Contains(t, page, "connect-src 'self'")

	s := pollQ("") // a first poll, without a version
	v := s.Version
	require.Contains(t, s.Sections["gaps"], "No data yet.")
	require.Empty(t, poll(v).Sections, "nothing changed: nothing drawn")

	ctx := context.Background()
	t0 := scenario.Origin
	minute := int64(time.Minute)
	// A resolved storm, then an open fleet gap: the gap is listed first.
	for _, st := range []fault.State{fault.StateFiring, fault.StateResolved} {
		id, ep := fault.EventIDs(fault.KindDuplicateStorm, "duplicate_storm", 1, t0, st)
		require.NoError(t, b.Emit(ctx, fault.Event{ID: id, Episode: ep, Kind: fault.KindDuplicateStorm, Rule: "duplicate_storm", State: st, Since: t0, At: t0 + int64(st)*minute, Value: 4}))
	}
	_, gap := gapEvents(t0+10*minute, 0)
	require.NoError(t, b.Emit(ctx, gap[0]))
	require.NoError(t, b.Emit(ctx, gap[1]))
	for s := t0; s < t0+20*minute; s += int64(fault.PhaseBinWidth) {
		b.PhaseBin(fault.PhaseBin{Start: s, Expected: 10})
	}

	s = poll(v)
	require.Greater(t, s.Version, v)
	require.Len(t, s.Sections, 6)
	require.Contains(t, s.Sections["gaps"], "Fleet gap 1")
	require.Contains(t, s.Sections["gaps"], "open")
	tl := s.Sections["timeline"]
	gapAt, stormAt := strings.Index(tl, "fleet gap</span>"), strings.Index(tl, "duplicate storm</span>")
	require.Positive(t, gapAt)
	require.Positive(t, stormAt)
	require.Less(t, gapAt, stormAt, "open faults first")
	require.Empty(t, poll(s.Version).Sections)

	code, _, _ = get("/ui/nothing")
	require.Equal(t, http.StatusNotFound, code)
	resp, err := http.Post(srv.URL+"/ui/", "text/plain", nil)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
}
