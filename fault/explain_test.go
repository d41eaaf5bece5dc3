package fault

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/rules"
)

// TestExplain: the explained series gets one explanation per evaluated
// sample, with every condition's value, its windowed calls, the alert's
// state before and after and the events it caused; the other series none;
// and explaining changes no event.
func TestExplain(t *testing.T) {
	rs := parseRules(t, `
groups:
  - name: g
    rules:
      - alert: Busy
        match: requests_total
        levels:
          - {severity: warning, expr: 'rate(1m) > 1', resolve: 'rate(1m) < 0.5'}
          - {severity: critical, expr: 'rate(1m) > 3'}
      - alert: Any
        expr: value < 0
`)
	sel, err := rules.ParseSelector(`requests_total{host="a"}`)
	require.NoError(t, err)
	run := func(explain bool) ([]Explanation, []Event) {
		var xs []Explanation
		cfg := Config{Rules: rs}
		if explain {
			cfg.Explain, cfg.Explainer = sel, func(x Explanation) { xs = append(xs, x) }
		}
		e, rec := newEngine(t, cfg)
		// Every 30 s; rate(1m) is 4 at 30 s (240 over the minute: the
		// counter starts at 0, so nothing is extrapolated before it), 8 at
		// 60 s (240 over 30 s, extrapolated to the minute), 2 at 90 s and
		// 1/3 at 120 s.
		for i, v := range []float64{0, 240, 480, 540, 550} {
			ts := sec(float64(30 * i))
			process(t, e,
				smp("requests_total", ts, ts, v, "host", "a"),
				smp("requests_total", ts, ts, v, "host", "b"))
		}
		require.NoError(t, e.Close(context.Background()))
		return xs, rec.events
	}
	xs, events := run(true)
	_, plain := run(false)
	require.Equal(t, plain, events, "explaining changes nothing")
	require.Len(t, xs, 5, "one per evaluated sample of a, none of b")

	x := xs[1]
	require.Equal(t, "requests_total", x.Name)
	require.Equal(t, "a", x.Labels.Get("host"))
	require.Equal(t, sec(30), x.Time)
	require.Len(t, x.Rules, 2)
	busy := x.Rules[0]
	require.Equal(t, "Busy", busy.Rule.Alert)
	require.Equal(t, "inactive", busy.Before)
	require.Equal(t, "firing critical", busy.After)
	require.Equal(t, []string{"threshold/firing"}, busy.Events)
	require.Len(t, busy.Conditions, 3)
	c := busy.Conditions[0]
	require.Equal(t, "warning", c.Severity)
	require.False(t, c.Resolve)
	require.True(t, c.Holds)
	require.Equal(t, []rules.CallValue{{Call: "rate(1m)", Value: 4}}, c.Calls)
	require.True(t, busy.Conditions[1].Resolve)
	require.False(t, busy.Conditions[1].Holds)
	require.Equal(t, "critical", busy.Conditions[2].Severity)
	require.True(t, busy.Conditions[2].Holds)
	require.Equal(t, "Any", x.Rules[1].Rule.Alert)
	require.Equal(t, "inactive", x.Rules[1].After)

	down := xs[3] // critical has no resolve condition: down to warning, which holds
	require.Equal(t, "firing critical", down.Rules[0].Before)
	require.Equal(t, "firing warning", down.Rules[0].After)
	require.Equal(t, []string{"threshold/firing"}, down.Rules[0].Events)
	last := xs[4] // warning's resolve holds
	require.Equal(t, "firing warning", last.Rules[0].Before)
	require.Equal(t, "inactive", last.Rules[0].After)
	require.Equal(t, []string{"threshold/resolved"}, last.Rules[0].Events)

	text := x.String()
	require.Contains(t, text, `requests_total{host="a"} = 240 at`)
	require.Contains(t, text, "\n  Busy (test.yaml:5:9): inactive → firing critical, emitted threshold/firing")
	require.Contains(t, text, "\n    warning rate(1m) > 1 = true; rate(1m) = 4")
	require.Contains(t, text, "\n    warning resolve rate(1m) < 0.5 = false; rate(1m) = 4")
	require.Equal(t, 6, strings.Count(text, "\n"))
}
