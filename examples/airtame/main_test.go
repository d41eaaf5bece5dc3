package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/fault"
)

// TestAirtameStorm feeds the reconnect storm and checks that the cohort
// rule names firmware 4.2.1, within minutes of the storm, with a fleet-like
// event, resolves it after the storm, and raises nothing about the healthy
// firmware versions (one of which has a device reconnecting as often as
// the storm's).
func TestAirtameStorm(t *testing.T) {
	var out strings.Builder
	events, err := run(&out)
	require.NoError(t, err)
	start := time.Date(2020, 2, 8, 9, 0, 0, 0, time.UTC).UnixNano()

	var states []string
	for _, ev := range events {
		require.Equal(t, fault.KindCohort, ev.Kind, out.String())
		require.Equal(t, "FirmwareReconnectStorm", ev.Rule)
		require.Zero(t, ev.Series, "a cohort event is about the cohort, not a series")
		require.Equal(t, "4.2.1", ev.Labels.Get("firmware"), "only the storming firmware: %s", out.String())
		require.Equal(t, "page", ev.Labels.Get("severity"))
		require.Empty(t, ev.Labels.Get("device"))
		states = append(states, ev.State.String())
	}
	require.Equal(t, []string{"pending", "firing", "resolved"}, states, out.String())

	// The loop starts at minute 10 and reaches a fifth of the cohort's
	// devices each minute; the cohort stands out in the first whole minute,
	// [10m, 11m), judged 30 s after it (half the window), and fires 2m
	// later, within 4 minutes of the storm's start.
	pending, firing, resolved := events[0], events[1], events[2]
	require.Equal(t, 11*time.Minute+30*time.Second, time.Duration(pending.At-start))
	require.Equal(t, 13*time.Minute+30*time.Second, time.Duration(firing.At-start))
	require.Equal(t, pending.Since, firing.Since)
	require.Contains(t, firing.Annotations.Get("summary"), "firmware 4.2.1: ")
	require.Greater(t, firing.Value, 1.0) // reconnects/s over the cohort
	// The storm ends at minute 25: the minute [25m, 26m) resolves it.
	require.Equal(t, 26*time.Minute+30*time.Second, time.Duration(resolved.At-start))

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Regexp(t, `^\+11m30s +cohort +FirmwareReconnectStorm +pending +firmware="4\.2\.1"  "firmware 4\.2\.1: \d+\.\d reconnects/s across its devices"$`, lines[0])
	require.Regexp(t, `; 1000 series in 4 cohorts; 3 events$`, lines[len(lines)-1])
}
