package report_test

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/bench/scenario"
	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/report"
	"github.com/faultline-go/faultline/stream"
)

// absence is the firing event of an absence of series check_up{check=name}
// under rule, since since.
func absence(rule, name string, since int64) fault.Event {
	labels := stream.NewLabels("__name__", "check_up", "check", name, fault.OriginLabel, "faultline")
	series := stream.Hash("check_up", labels)
	id, ep := fault.EventIDs(fault.KindAbsence, rule, uint64(series), since, fault.StateFiring)
	return fault.Event{ID: id, Episode: ep, Kind: fault.KindAbsence, Rule: rule, State: fault.StateFiring,
		At: since, Since: since, Series: series, Labels: labels, Value: math.NaN()}
}

// waitFor evaluates expr in the page until it is true, for up to 20 s.
func waitFor(t *testing.T, br *browser, expr string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var ok bool
		br.eval(expr, &ok)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still false after 20 s", expr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLiveKeepsOpenRowsOpen: a collapsed row the reader opened stays open
// when the live page refreshes, and no other row opens in its place, even
// when a newer row is now listed before it.
func TestLiveKeepsOpenRowsOpen(t *testing.T) {
	br := startBrowser(t)
	b, err := report.New(report.Options{Title: "live"})
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/ui/", http.StripPrefix("/ui", report.Live(b, 50*time.Millisecond)))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	ctx := context.Background()
	t0 := scenario.Origin
	require.NoError(t, b.Emit(ctx, absence("older", "c-older", t0)))
	br.open(srv.URL + "/ui/")
	waitFor(t, br, `document.querySelectorAll('#timeline details').length == 1`)
	br.eval(`document.querySelector('#timeline details').open = true`, nil)

	// A newer collapsed row: the live page lists it first.
	require.NoError(t, b.Emit(ctx, absence("newer", "c-newer", t0+int64(time.Minute))))
	waitFor(t, br, `document.querySelectorAll('#timeline details').length == 2`)
	var open []string
	br.eval(`[...document.querySelectorAll('#timeline details')].filter(d => d.open).map(d => d.querySelector('.member .what').textContent)`, &open)
	require.Equal(t, []string{`check_up{check="c-older"}`}, open, "the row the reader opened, and only it")
	br.open("about:blank") // stop polling before the server goes
	require.Empty(t, br.errors(), "console errors")
}
