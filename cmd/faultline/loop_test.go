package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestOwnOutputFedBackIsOneFault replays a capture, turns the events into
// metrics the way a consumer republishing them on the input bus would, feeds
// them back in with the original input, and expects no amplification: the
// same events as before, plus exactly one feedback_loop fault.
func TestOwnOutputFedBackIsOneFault(t *testing.T) {
	rulesPath := filepath.Join(t.TempDir(), "rules.yaml")
	require.NoError(t, os.WriteFile(rulesPath, []byte(thresholdRules), 0o644))
	recs := fleetCapture(11)
	code, first, stderr := runCLI(t, "", "replay", "--capture", "--rules", rulesPath, writeCapture(t, recs, nil))
	require.Equal(t, exitOK, code, stderr)
	events := decodeEvents(t, first)
	require.NotEmpty(t, events)

	// Each event becomes a sample of measurement faultline_event, its labels
	// as tags (__name__ is reserved in line protocol), arriving 1 s after it.
	looped := append([]record(nil), recs...)
	for _, ev := range events {
		at, err := time.Parse(time.RFC3339Nano, ev["at"].(string))
		require.NoError(t, err)
		tags := []string{"kind=" + ev["kind"].(string), "state=" + ev["state"].(string)}
		for k, v := range ev["labels"].(map[string]any) {
			if k != "__name__" {
				tags = append(tags, k+"="+strings.ReplaceAll(v.(string), " ", `\ `))
			}
		}
		sort.Strings(tags)
		line := fmt.Sprintf("faultline_event,%s value=1i %d", strings.Join(tags, ","), at.UnixNano())
		looped = append(looped, record{arrival: at.UnixNano() + int64(time.Second), line: line})
	}
	sortRecords(looped)
	code, second, stderr := runCLI(t, "", "replay", "--capture", "--rules", rulesPath, writeCapture(t, looped, nil))
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stderr, fmt.Sprintf("rejected %d samples carrying faultline_origin", len(events)))

	var loops, others []string
	for _, ev := range decodeEvents(t, second) {
		if ev["kind"] == "feedback_loop" {
			loops = append(loops, ev["state"].(string))
			continue
		}
		b, _ := json.Marshal(ev)
		others = append(others, string(b))
	}
	require.Equal(t, []string{"firing"}, loops, "one feedback_loop fault, still open at the end of input")
	var before []string
	for _, ev := range events {
		b, _ := json.Marshal(ev)
		before = append(before, string(b))
	}
	require.Equal(t, before, others, "no amplification: the same events as without the loop")
}

func decodeEvents(t *testing.T, out string) []map[string]any {
	t.Helper()
	var evs []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var ev map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &ev))
		evs = append(evs, ev)
	}
	return evs
}
