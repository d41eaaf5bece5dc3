package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/bench/scenario"
)

// TestReplayNamesTheStratcondIncident replays a capture of a small stratcond
// fleet (lost samples never arrive) with the built-in detectors only.
func TestReplayNamesTheStratcondIncident(t *testing.T) {
	spec := scenario.MustNamed("B02").WithN(1500).WithIncident(10*time.Minute, 10*time.Minute).WithHorizon(30 * time.Minute)
	ds, err := scenario.Generate(spec, 7)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "stratcond.capture")
	f, err := os.Create(path)
	require.NoError(t, err)
	require.NoError(t, ds.WriteCapture(f))
	require.NoError(t, f.Close())

	code, stdout, stderr := runCLI(t, "", "replay", "--capture", path)
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stderr, "events: absence firing")

	type event struct {
		ID, Kind, State string
		InhibitedBy     string  `json:"inhibited_by"`
		Period          float64 `json:"period_s"`
		PhaseStart      float64 `json:"phase_start_s"`
		PhaseEnd        float64 `json:"phase_end_s"`
		Series          int
		LateFraction    *float64 `json:"late_fraction"`
		Labels          map[string]string
	}
	var gaps, absences []event
	sc := bufio.NewScanner(strings.NewReader(stdout))
	for sc.Scan() {
		var ev event
		require.NoError(t, json.Unmarshal(sc.Bytes(), &ev), sc.Text())
		switch {
		case ev.Kind == "periodic_gap" && ev.State == "firing":
			gaps = append(gaps, ev)
		case ev.Kind == "absence" && ev.State == "firing":
			absences = append(absences, ev)
		}
	}
	require.Len(t, gaps, 1, stdout)
	g := gaps[0]
	require.InDelta(t, 60, g.Period, 0.6)
	require.InDelta(t, 12, g.PhaseStart, 1)
	require.InDelta(t, 13.5, g.PhaseEnd, 1)
	require.Greater(t, g.Series, 10)
	require.NotNil(t, g.LateFraction)
	require.Less(t, *g.LateFraction, 0.05, "data loss")
	require.NotEmpty(t, absences)
	for _, a := range absences {
		require.Equal(t, g.ID, a.InhibitedBy, "absence of %s", a.Labels["check"])
		require.Equal(t, "check_up", a.Labels["__name__"])
	}
}
