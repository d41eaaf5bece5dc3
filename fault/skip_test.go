package fault

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/stream"
)

// TestSkipJudgesNothingInTheDowntime: a host down from 100 s to 200 s.
// Series a reports every 10 s before and after: nothing is missing. b
// falls silent at 80 s: its silence is timed afresh from 200 s, and its
// absence (30 s) fires 30 s later. c is still learning its cadence when
// the host goes down and sends nothing after: timed from 200 s too.
func TestSkipJudgesNothingInTheDowntime(t *testing.T) {
	rs := parseRules(t, `
series:
  - {match: '{id=~"a|b"}', cadence: 10s, absent_after: 30s}
  - {match: '{id="c"}', absent_after: 30s}
`)
	e, rec := newEngine(t, Config{Rules: rs})
	ctx := context.Background()
	var before, after []stream.Sample
	before = append(before, steady("m", 10, 0, 100, 0.1, "id", "a")...)
	before = append(before, steady("m", 10, 0, 85, 0.1, "id", "b")...)
	before = append(before, smp("m", sec(90), sec(90.1), 1, "id", "c"))
	after = append(after, steady("m", 10, 200, 300, 0.1, "id", "a")...)
	sortByArrival(before)
	process(t, e, before...)
	require.NoError(t, e.Skip(ctx, sec(100), sec(200)))
	require.Equal(t, sec(200), e.Now())
	require.Empty(t, rec.events, "nothing was judged in the downtime")
	process(t, e, after...)
	require.NoError(t, e.Advance(ctx, sec(300)))

	require.Equal(t, []string{"absence/absence/firing", "absence/absence/firing"}, rec.kinds())
	got := map[string]Event{}
	for _, ev := range rec.events {
		got[ev.Labels.Get("id")] = ev
	}
	require.Contains(t, got, "b")
	require.Contains(t, got, "c")
	require.NotContains(t, got, "a", "a kept reporting: no absence")
	// b: slots 200, 210 and 220 missed, the third at its on-time deadline;
	// dated by its last sample, of 80 s.
	require.Equal(t, sec(80), got["b"].Since)
	require.InDelta(t, sec(221.1), got["b"].At, float64(20*time.Millisecond))
	require.Equal(t, sec(230), got["c"].At, "30 s after the downtime")

	st := e.Stats()
	require.Positive(t, st.SlotsSkipped)
	require.Zero(t, st.SlotsLost, "the downtime's slots are not lost")
}

func TestSkipAfterCloseIsRefused(t *testing.T) {
	e, _ := newEngine(t, Config{})
	require.NoError(t, e.Close(context.Background()))
	require.ErrorIs(t, e.Skip(context.Background(), sec(0), sec(10)), ErrClosed)
}

// TestSkipDoesNotEvictForTheDowntime: a host down for longer than
// SeriesTTL. Its series reported until it went down and report again
// after: the downtime was the host's silence, not theirs, so it must not
// evict them. Evicting them would resolve their firing alerts
// (reason="evicted") and fire them again as new episodes on their next
// samples: a page storm on every long restart.
func TestSkipDoesNotEvictForTheDowntime(t *testing.T) {
	rs := parseRules(t, `
groups:
  - name: g
    rules:
      - {alert: Hot, expr: 'value > 10'}
`)
	e, rec := newEngine(t, Config{Rules: rs, SeriesTTL: time.Hour})
	ctx := context.Background()
	for i := range 10 {
		process(t, e, smp("m", sec(float64(10*i)), sec(float64(10*i)+0.1), 20, "id", "a"))
	}
	require.Equal(t, []string{"threshold/Hot/firing"}, rec.kinds())
	require.NoError(t, e.Skip(ctx, sec(100), sec(100+7200)))
	for i := range 10 {
		s := 100 + 7200 + float64(10*i)
		process(t, e, smp("m", sec(s), sec(s+0.1), 20, "id", "a"))
	}
	require.Equal(t, []string{"threshold/Hot/firing"}, rec.kinds(), "one episode, never evicted")
	require.Zero(t, e.Stats().SeriesEvicted)
}

// A duplicate storm open when the host goes down is still open after it
// comes back: the downtime's minutes are not calm minutes. (They were, and
// a downtime of five minutes resolved the storm, which fired again as a
// new episode once the host was back.)
func TestSkipKeepsADuplicateStormOpen(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	storm, stormEnd := sec(20*60), sec(45*60)
	down, up := sec(30*60), sec(40*60)
	g := hostStream{
		hosts: []string{"h0", "h1", "h2"}, series: 50, rng: rng,
		copies: func(h int, ts, first int64) int {
			if h == 1 && first >= storm && first < stormEnd {
				return 61
			}
			return 3 + rng.IntN(3)
		},
	}
	in := g.deliveries(sec(0), sec(60*60))
	e, rec := newEngine(t, Config{SourceLabel: "host"})
	ctx := context.Background()
	in = feedUntil(t, e, in, down)
	require.NoError(t, e.Skip(ctx, down, up))
	for len(in) > 0 && in[0].Arrival < up {
		in = in[1:] // nothing arrived while the host was down
	}
	feedUntil(t, e, in, math.MaxInt64)
	require.NoError(t, e.Close(ctx))

	storms := perSource(rec.events)
	require.Len(t, storms, 2, "one episode: %v", rec.kinds())
	fire, res := storms[0], storms[1]
	require.Equal(t, StateFiring, fire.State)
	require.Equal(t, StateResolved, res.State)
	require.Equal(t, fire.Episode, res.Episode)
	require.Equal(t, stormEnd+5*minute, res.At, "the end of the fifth calm minute after the storm")
}
