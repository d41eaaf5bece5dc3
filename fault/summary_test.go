package fault

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/stream"
)

func TestSummary(t *testing.T) {
	host := stream.NewLabels("__name__", "up", "host", "a", OriginLabel, "faultline")
	gap := &Gap{Period: time.Minute, PhaseStart: 14200 * time.Millisecond, PhaseEnd: 15800 * time.Millisecond, Series: 380, LateFraction: math.NaN()}
	for _, c := range []struct {
		ev   Event
		want string
	}{
		{Event{Kind: KindAbsence, Labels: host, Value: math.NaN()}, `up{host="a"} stopped reporting`},
		{Event{Kind: KindAbsence, Labels: host, Annotations: stream.NewLabels("summary", "api down")}, "api down"},
		{Event{Kind: KindPeriodicGap, Labels: stream.NewLabels(OriginLabel, "faultline"), Gap: gap},
			"fleet periodic gap: every 1m0s, 14.20–15.80 s into each period, ~380 series"},
		{Event{Kind: KindSeriesPeriodicGap, Labels: host, Gap: gap}, `up{host="a"} loses samples every 1m0s, 14.20–15.80 s into each period`},
		{Event{Kind: KindFeedbackLoop, Labels: stream.NewLabels("looped_origin", "faultline", "looped_name", "faultline_alert")},
			`faultline's own output comes back as input (origin "faultline", e.g. faultline_alert)`},
		{Event{Kind: KindThreshold, Rule: "HighCPU", Labels: host, Value: 0.97}, `HighCPU on up{host="a"} (value 0.97)`},
		{Event{Kind: KindFlapping, Rule: "HighCPU", Labels: host, Value: math.NaN()}, `flapping HighCPU on up{host="a"}`},
		{Event{Kind: KindDuplicateStorm, Labels: stream.NewLabels("source", "kafka-1"), Value: math.Inf(1)}, `duplicate_storm on {source="kafka-1"}`},
		{Event{Kind: KindIngestLag, Value: math.NaN()}, `ingest_lag`},
	} {
		require.Equal(t, c.want, c.ev.Summary())
	}
}
