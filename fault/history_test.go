package fault

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/rules"
	"github.com/faultline-go/faultline/stream"
)

const windowedRules = `groups:
- name: w
  rules:
  - alert: Reconnecting
    match: reconnects_total
    expr: rate(1m) > 0.5
    labels: {severity: page}
  - alert: Jump
    match: temp
    expr: value - previous() > 10
`

// TestWindowedRule drives a counter through a quiet minute, a storm and a
// counter reset, in virtual time, and a gauge through a jump.
func TestWindowedRule(t *testing.T) {
	e, rec := newEngine(t, Config{Rules: parseRules(t, windowedRules)})
	v := 0.0
	var batch []stream.Sample
	for i := range 31 { // every 10 s
		switch {
		case i >= 12 && i < 20:
			v += 10 // 1/s: a storm
		case i == 20:
			v = 2 // the device restarted: a reset, then quiet again
		default:
			v++
		}
		at := sec(float64(10 * i))
		batch = append(batch, smp("reconnects_total", at, at, v, "device", "d1"),
			smp("temp", at, at, map[bool]float64{true: 40, false: 20}[i == 25], "device", "d1"))
	}
	process(t, e, batch...)
	require.Equal(t, []string{
		"threshold/Reconnecting/firing",
		"threshold/Reconnecting/resolved",
		"threshold/Jump/firing",
		"threshold/Jump/resolved",
	}, rec.kinds())
	fire, resolve := rec.events[0], rec.events[1]
	// By hand: the counter reads 1..12 at 0..110 s, then +10 a sample.
	// At 130 s the window (70, 130] holds 9, 10, 11, 12, 22, 32 at 80..130
	// s: 23 over the 50 s sampled, the first sample 10 s from the start
	// (under 1.1 intervals), so ×60/50 = 27.6: 0.46/s. At 140 s: 10 ... 42,
	// 32 × 1.2 = 38.4: 0.64/s > 0.5.
	require.Equal(t, sec(140), fire.Since)
	require.Equal(t, "page", fire.Labels.Get("severity"))
	// The reset at 200 s (92 → 2) adds 92 back: at 200 s the window
	// holds 52 ... 92, 2: 2 − 52 + 92 = 42, ×1.2: 0.84/s; at 210 s 33 →
	// 0.66/s; at 220 s 72, 82, 92, 2, 3, 4: 24 → 0.48/s, resolved. (Read
	// as a gauge, the drop would have resolved it at 200 s.)
	require.Equal(t, sec(220), resolve.At)
	st := e.Stats()
	require.Equal(t, uint64(2), st.HistorySeries)
	require.Zero(t, st.HistoryEvicted)
	require.Equal(t, uint64(4+8), st.HistoryPoints) // the counter's ring grew to 8 once (7 points in 60 s)
}

// TestHistoryBounds drives the per-series and global bounds past their
// limits: the oldest points are evicted and counted, memory stays put.
func TestHistoryBounds(t *testing.T) {
	rs := parseRules(t, `groups:
- name: w
  rules:
  - {alert: Slow, match: x, expr: 'avg_over_time(1h) > 100'}
`)
	e, _ := newEngine(t, Config{Rules: rs, MaxHistory: 16, MaxHistoryPoints: 28})
	var batch []stream.Sample
	for i := range 100 { // one sample a second: 100 points in the window
		for _, dev := range []string{"a", "b"} {
			batch = append(batch, smp("x", sec(float64(i)), sec(float64(i)), float64(i), "dev", dev))
		}
	}
	process(t, e, batch...)
	st := e.Stats()
	require.Equal(t, uint64(2), st.HistorySeries)
	// Both start at 4 (8 in all), grow to 8 (16), a to 16 (24, its
	// cap); b would take the total to 32, past 28, so it stays at 8.
	require.Equal(t, uint64(4+4+4+4+8), st.HistoryPoints)
	require.Equal(t, uint64((100-16)+(100-8)), st.HistoryEvicted)
	require.Equal(t, int32(16), e.al.hists[0].n)
	require.Equal(t, int32(8), e.al.hists[1].n)
	require.Equal(t, sec(84), e.al.hists[0].at(0).T) // the newest 16 remain
}

func TestHistoryRingAndEncoding(t *testing.T) {
	e, err := New(Config{MaxHistory: 8})
	require.NoError(t, err)
	h := e.newHistory(int64(30 * time.Second))
	for i := range 50 {
		e.push(&h, rules.Point{T: int64(i) * int64(time.Second) * 7, V: float64(i)})
		// Points within 30 s of the newest, and one more; at 7 s apart
		// that is 5 (28 s back) + the newest.
		var v rules.History
		h.view(&v)
		require.Equal(t, int(h.n), v.Len())
		for j := 1; j < v.Len(); j++ {
			require.Less(t, v.At(j-1).T, v.At(j).T)
		}
		require.Equal(t, float64(i), v.At(v.Len()-1).V)
		require.LessOrEqual(t, h.n, int32(6))
	}
	b := h.appendBinary([]byte("x"))
	got, rest, err := decodeHistory(b[1:], 8)
	require.NoError(t, err)
	require.Empty(t, rest)
	require.Equal(t, h.n, got.n)
	require.Equal(t, h.keep, got.keep)
	for i := range h.n {
		require.Equal(t, h.at(i), got.at(i))
	}
	_, _, err = decodeHistory(b[1:], 2) // more points than allowed
	require.Error(t, err)
	_, _, err = decodeHistory(b[1:len(b)-3], 8) // truncated
	require.Error(t, err)
}

// Only series selected by rules that read history pay for it.
func TestHistoryOnlyWhereNeeded(t *testing.T) {
	rs := parseRules(t, `groups:
- name: w
  rules:
  - {alert: A, match: x, expr: 'value > 1'}
  - {alert: B, match: y, expr: 'rate(5m) > 1'}
`)
	e, _ := newEngine(t, Config{Rules: rs})
	process(t, e, smp("x", sec(0), sec(0), 1), smp("y", sec(0), sec(0), 1), smp("z", sec(0), sec(0), 1))
	require.Equal(t, uint64(1), e.Stats().HistorySeries)
	require.Len(t, e.al.hists, 1)
}

// BenchmarkWindowedRule measures the engine per sample, dedup off, 1,000
// series every 10 s: with windowed rules (rate over a 5m history of 30
// points per series, previous(), avg_over_time), and, for comparison, with
// a plain threshold rule on the same series.
func BenchmarkWindowedRule(b *testing.B) {
	for _, c := range []struct{ name, rules string }{
		{"windowed", `
  - {alert: A, match: reconnects_total, expr: 'rate(5m) > 10 && previous() <= value'}
  - {alert: B, match: reconnects_total, expr: 'avg_over_time(5m) > 1e12'}`},
		{"threshold", `
  - {alert: A, match: reconnects_total, expr: 'value > 1e12'}`},
	} {
		b.Run(c.name, func(b *testing.B) {
			rs, err := rules.Parse("b.yaml", []byte("groups:\n- name: w\n  rules:"+c.rules+"\n"))
			require.NoError(b, err)
			e, err := New(Config{Rules: rs, DisableDedup: true})
			require.NoError(b, err)
			const series = 1000
			batch := make([]stream.Sample, series)
			for i := range batch {
				batch[i] = stream.NewSample("reconnects_total", stream.NewLabels("device", fmt.Sprint(i)), 0, 0, 0)
			}
			ctx := context.Background()
			step := func(k int) {
				ts := sec(float64(10 * k))
				for i := range batch {
					batch[i].Time, batch[i].Arrival, batch[i].Value = ts, ts, float64(k)
				}
				_ = e.Process(ctx, batch)
			}
			for k := range 40 { // fill the 5m windows
				step(k)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for k := 40; k < 40+b.N; k++ {
				step(k)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*series), "ns/sample")
		})
	}
}
