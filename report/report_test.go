package report_test

import (
	"bytes"
	"context"
	"flag"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/bench/scenario"
	"github.com/faultline-go/faultline/bench/score"
	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/report"
)

var screenshotTo = flag.String("screenshot", "", "write the README's screenshot of the stratcond report (10,000 checks) to this `file`")

// replay runs a scenario through an engine that reports to a Builder.
func replay(t testing.TB, spec scenario.Spec, seed uint64) (*report.Builder, *scenario.Dataset) {
	t.Helper()
	ds, err := scenario.Generate(spec, seed)
	require.NoError(t, err)
	b, err := report.New(report.Options{Title: "faultline report: " + spec.ID + " " + spec.Name})
	require.NoError(t, err)
	eng, err := fault.New(fault.Config{Observer: b, Sink: b})
	require.NoError(t, err)
	defer eng.Deduper().Reset()
	ctx := context.Background()
	for batch := range ds.Batches(4096) {
		require.NoError(t, eng.Process(ctx, batch))
	}
	require.NoError(t, eng.Close(ctx))
	return b, ds
}

// writeReport writes b's page to a file and returns its file:// URL.
func writeReport(t *testing.T, b *report.Builder) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, b.WriteHTML(&buf))
	path := filepath.Join(t.TempDir(), "report.html")
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
	return "file://" + path, buf.Bytes()
}

// small is a scenario with n series and an incident of dur from 10 min,
// 10 min before its end.
func small(id string, n int, dur time.Duration) scenario.Spec {
	s := scenario.MustNamed(id).WithN(n)
	return s.WithIncident(10*time.Minute, dur).WithHorizon(10*time.Minute + dur + 10*time.Minute)
}

// pageFacts is what the test reads from the rendered DOM.
type pageFacts struct {
	Gaps     int    `json:"gaps"`
	Headline string `json:"headline"`
	NoGap    string `json:"noGap"`
	Marks    int    `json:"marks"` // window rects and lines anywhere
	Period   string `json:"period"`
	Text     string `json:"text"`
	PlotX    float64
	PlotW    float64
	Windows  []struct {
		X, W                float64
		Start, End, PeriodS float64
	} `json:"windows"`
	Heat *struct {
		Cols, Rows   int
		ColS, RowS   float64
		From         float64
		PeriodS      float64
		PlotY, PlotH float64
		LineY        []float64
		Dark         []float64 // rows × cols darkness, 0 (white) … 1 (black)
	} `json:"heat"`
	Rows    int  `json:"rows"`
	Details bool `json:"details"`
}

// factsJS reads pageFacts from the page; the heatmap's pixels through a
// canvas (its image is a data: URI, so the canvas is not tainted).
const factsJS = `(async () => {
  const q = s => document.querySelector(s), qa = s => [...document.querySelectorAll(s)];
  const f = {gaps: qa('article.gap-block').length, headline: (q('.headline')||{}).textContent||'',
    noGap: (q('#no-gap')||{}).textContent||'', marks: qa('.window, .wline').length,
    text: document.body.innerText, rows: qa('#timeline .row').length, details: !!q('#timeline details')};
  const g = q('article.gap-block');
  if (!g) return f;
  f.period = g.querySelector('dd.period').textContent;
  const h = g.querySelector('svg.hist');
  f.PlotX = +h.dataset.plotX; f.PlotW = +h.dataset.plotW;
  f.windows = [...h.querySelectorAll('rect.window')].map(r => ({X: +r.getAttribute('x'), W: +r.getAttribute('width'),
    Start: +r.dataset.phaseStartS, End: +r.dataset.phaseEndS, PeriodS: +r.dataset.periodS}));
  const s = g.querySelector('svg.heat'), im = s.querySelector('image');
  const img = new Image();
  await new Promise((ok, bad) => { img.onload = ok; img.onerror = bad; img.src = im.getAttribute('href'); });
  const c = document.createElement('canvas'); c.width = img.width; c.height = img.height;
  const ctx = c.getContext('2d'); ctx.drawImage(img, 0, 0);
  const px = ctx.getImageData(0, 0, c.width, c.height).data, dark = [];
  for (let i = 0; i < px.length; i += 4) dark.push(1 - (0.299*px[i] + 0.587*px[i+1] + 0.114*px[i+2]) / 255);
  f.heat = {Cols: img.width, Rows: img.height, ColS: +s.dataset.colS, RowS: +s.dataset.rowS, From: +s.dataset.from,
    PeriodS: +s.dataset.periodS, PlotY: +s.dataset.plotY, PlotH: +s.dataset.plotH,
    LineY: [...s.querySelectorAll('line.wline')].map(l => +l.getAttribute('y1')), Dark: dark};
  return f;
})()`

// TestReportInChromium renders reports in headless Chromium and checks
// them from the DOM: a generated gap's window sits at the true phase in
// both figures and its band holds in the heatmap for the incident and
// only then; the control says there is no gap and draws no window; the
// live page refreshes without reloading. No page logs an error.
func TestReportInChromium(t *testing.T) {
	br := startBrowser(t)

	t.Run("gap", func(t *testing.T) {
		spec := small("B01", 1000, 10*time.Minute)
		spec.Replay = 0
		b, ds := replay(t, spec, 3)
		url, html := writeReport(t, b)
		require.NotContains(t, string(html), "http://", "the report fetches nothing")
		require.NotContains(t, string(html), "https://")
		br.open(url)
		var f pageFacts
		br.eval(factsJS, &f)
		require.Empty(t, br.errors(), "console errors")

		truth := ds.Truth
		require.Equal(t, 1, f.Gaps, f.Headline)
		require.Equal(t, "1m0s", f.Period, "the discovered period is printed")
		require.Contains(t, f.Headline, "every 1m0s")
		require.Contains(t, f.Text, "Period (discovered)\n1m0s")
		require.Len(t, f.Windows, 1)
		w := f.Windows[0]
		start, end := truth.Phase.Seconds(), (truth.Phase + truth.Width).Seconds()
		require.InDelta(t, truth.Period.Seconds(), w.PeriodS, 0.3)
		// Each edge within B01's strict tolerance (score.PhaseSlack).
		slack := score.PhaseSlack.Seconds()
		require.InDelta(t, start, w.Start, slack, "window start into the period")
		require.InDelta(t, end, w.End, slack, "window end")
		// The rect is drawn where its data says.
		require.InDelta(t, f.PlotX+f.PlotW*w.Start/w.PeriodS, w.X, 0.2)
		require.InDelta(t, f.PlotW*(w.End-w.Start)/w.PeriodS, w.W, 0.2)

		h := f.Heat
		require.NotNil(t, h)
		require.Len(t, h.Dark, h.Cols*h.Rows)
		require.Len(t, h.LineY, 2)
		require.InDelta(t, h.PlotY+h.PlotH*w.Start/h.PeriodS, h.LineY[0], 0.5, "the heatmap's window lines sit at the window")
		// Darkness of the rows inside the true window (its middle), by
		// column: dark through the incident, light before and after.
		rowOf := func(s float64) int { return int(s / h.RowS) }
		colOf := func(ns int64) int {
			p := int64(h.PeriodS * 1e9)
			return int((ns/p - int64(h.From)/p) / int64(h.ColS/h.PeriodS))
		}
		band := func(col int) float64 {
			sum, n := 0.0, 0
			for r := rowOf(start + 0.25); r < rowOf(end-0.25); r++ {
				sum += h.Dark[r*h.Cols+col]
				n++
			}
			return sum / float64(n)
		}
		elsewhere := func(col int) float64 {
			sum, n := 0.0, 0
			for r := range h.Rows {
				if s := float64(r) * h.RowS; s < start-2 || s > end+2 {
					sum += h.Dark[r*h.Cols+col]
					n++
				}
			}
			return sum / float64(n)
		}
		on, off := colOf(truth.Onset), colOf(truth.End)
		t.Logf("heatmap %d×%d, incident in columns %d…%d", h.Cols, h.Rows, on, off)
		require.Greater(t, on, 2, "the heatmap starts before the incident")
		require.Less(t, off, h.Cols-1, "and ends after it")
		for c := 0; c < h.Cols; c++ {
			switch {
			case c > on && c < off-1:
				require.Greater(t, band(c), 0.5, "column %d, during the incident: the band holds", c)
				require.Less(t, elsewhere(c), 0.2, "column %d: only the band", c)
			case c < on || c > off+1:
				require.Less(t, band(c), 0.3, "column %d, outside the incident: no band", c)
			}
		}

		require.True(t, f.Details, "the explained absences are one collapsible row")
		require.Contains(t, f.Text, "explained by fleet gap 1 (not paged)")
	})

	t.Run("control", func(t *testing.T) {
		b, _ := replay(t, small("C01", 1000, 10*time.Minute), 3)
		url, _ := writeReport(t, b)
		br.open(url)
		var f pageFacts
		br.eval(factsJS, &f)
		require.Empty(t, br.errors(), "console errors")
		require.Zero(t, f.Gaps)
		require.Zero(t, f.Marks, "no window is drawn")
		require.Equal(t, "No fleet periodic gap.", f.Headline)
		require.Contains(t, f.NoGap, "No fleet periodic gap was found")
		require.Contains(t, f.Text, "Delivery over time")
	})

	t.Run("live", func(t *testing.T) {
		ds, err := scenario.Generate(small("B01", 1000, 10*time.Minute), 3)
		require.NoError(t, err)
		b, err := report.New(report.Options{Title: "live"})
		require.NoError(t, err)
		mux := http.NewServeMux()
		mux.Handle("/ui/", http.StripPrefix("/ui", report.Live(b, 100*time.Millisecond)))
		srv := httptest.NewServer(mux)
		defer srv.Close()

		br.open(srv.URL + "/ui/")
		var f pageFacts
		br.eval(factsJS, &f)
		require.Contains(t, f.Text, "No data yet.")
		br.eval(`window.loadedOnce = 42`, nil)

		eng, err := fault.New(fault.Config{Observer: b, Sink: b})
		require.NoError(t, err)
		defer eng.Deduper().Reset()
		for batch := range ds.Batches(4096) {
			require.NoError(t, eng.Process(context.Background(), batch))
		}
		require.NoError(t, eng.Close(context.Background()))

		var got struct {
			Gaps   int
			Loaded int
		}
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			br.eval(`({Gaps: document.querySelectorAll('article.gap-block').length, Loaded: window.loadedOnce||0})`, &got)
			if got.Gaps > 0 {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		require.Equal(t, 1, got.Gaps, "the gap appeared")
		require.Equal(t, 42, got.Loaded, "without reloading the page")
		br.open("about:blank") // stop polling before the server goes
		require.Empty(t, br.errors(), "console errors")
	})

	t.Run("screenshot", func(t *testing.T) {
		// The README's picture: the stratcond demo (10,000 checks, the
		// lost samples never arrive) with -screenshot; a small fleet
		// otherwise, to check that the page can be captured.
		spec := scenario.MustNamed("B01")
		if *screenshotTo == "" {
			spec = small("B01", 500, 10*time.Minute)
		}
		spec.Replay = 0
		b, _ := replay(t, spec, 1)
		url, _ := writeReport(t, b)
		br.open(url)
		shot := br.screenshot(1200, "#timeline")
		require.Empty(t, br.errors(), "console errors")
		img, err := png.Decode(bytes.NewReader(shot))
		require.NoError(t, err)
		require.Equal(t, 1200, img.Bounds().Dx())
		require.Greater(t, img.Bounds().Dy(), 700)
		if *screenshotTo != "" {
			require.NoError(t, os.WriteFile(*screenshotTo, shot, 0o644))
		}
	})
}

// TestControlSaysSoPlainly: a control's page says there is no gap and
// holds no window.
func TestControlSaysSoPlainly(t *testing.T) {
	b, _ := replay(t, small("C01", 500, 10*time.Minute), 1)
	var buf bytes.Buffer
	require.NoError(t, b.WriteHTML(&buf))
	s := buf.String()
	require.Contains(t, s, "No fleet periodic gap was found")
	require.NotContains(t, s, `class="window"`)
	require.NotContains(t, s, `class="wline"`)
	require.False(t, strings.Contains(s, "<image"), "no heatmap")
}

// TestAxisLabelsFitInChromium: every label of every chart lies inside its
// chart, in Chromium. Labels end 6 units left of the plot, which starts
// 56 units in; an ingest lag of 0.75 ms was labelled "0.00075 s", wider
// than that, and the chart cut its left end off.
func TestAxisLabelsFitInChromium(t *testing.T) {
	br := startBrowser(t)
	b, err := report.New(report.Options{})
	require.NoError(t, err)
	t0 := int64(1_767_225_600) * int64(time.Second) // 2026-01-01 00:00 UTC
	for i := range int64(10) {
		start := t0 + i*int64(time.Minute)
		b.PhaseBin(fault.PhaseBin{Start: start, Expected: 100})
		b.SourceMinute(fault.SourceMinute{Source: "agent-1", Start: start, Fresh: 100, Lag: 750 * time.Microsecond})
	}
	url, html := writeReport(t, b)
	br.open(url)
	var out []struct {
		Label       string
		Left, Right float64
		Width       float64 // of its chart
	}
	br.eval(`[...document.querySelectorAll('svg.chart text')].map(e => {
		const b = e.getBBox();
		return {Label: e.textContent, Left: b.x, Right: b.x + b.width, Width: e.ownerSVGElement.viewBox.baseVal.width};
	})`, &out)
	require.Empty(t, br.errors(), "console errors")
	require.NotEmpty(t, out)
	for _, l := range out {
		require.GreaterOrEqual(t, l.Left, 0.0, "label %q starts left of its chart", l.Label)
		require.LessOrEqual(t, l.Right, l.Width, "label %q ends right of its chart", l.Label)
	}
	require.Contains(t, string(html), ">750 µs<", "the lag axis")
}
