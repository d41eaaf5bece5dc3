package main

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestReplaySourceLabelNamesTheStorm replays three hosts of 20 series, every
// sample delivered 4×, in which host h1 redelivers each sample 41 times for
// three minutes. With --source-label host, one duplicate_storm names h1 and
// the summary counts it; without it, the input is one source, in which h1's
// loop is diluted to five times the normal ratio: no storm.
func TestReplaySourceLabelNamesTheStorm(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	storm := t0 + int64(15*time.Minute)
	var recs []record
	for h := range 3 {
		for i := range 20 {
			for ts := t0 + int64(i)*int64(500*time.Millisecond); ts < t0+int64(30*time.Minute); ts += int64(10 * time.Second) {
				first := ts + int64(100*time.Millisecond)
				copies := 4
				if h == 1 && first >= storm && first < storm+int64(3*time.Minute) {
					copies = 41
				}
				line := fmt.Sprintf("m,host=h%d,id=%d value=1 %d", h, i, ts)
				for c := range copies {
					a := first
					if c > 0 {
						a += rng.Int64N(int64(2 * time.Second))
					}
					recs = append(recs, record{arrival: a, line: line})
				}
			}
		}
	}
	sortRecords(recs)
	path := writeCapture(t, recs, nil)

	code, stdout, stderr := runCLI(t, "", "replay", "--capture", "--source-label", "host", path)
	require.Equal(t, exitOK, code, stderr)
	var got []string
	for _, ev := range decodeEvents(t, stdout) {
		got = append(got, fmt.Sprint(ev["kind"], " ", ev["state"], " ", ev["labels"], " ", ev["at"]))
	}
	require.Equal(t, []string{
		"duplicate_storm firing map[faultline_origin:faultline host:h1] 2026-01-01T00:17:00.000000000Z",
		"duplicate_storm resolved map[faultline_origin:faultline host:h1] 2026-01-01T00:23:00.000000000Z",
	}, got)
	require.Contains(t, stderr, "sources 3: duplicate storms 1, ingest lag 0\n")

	code, stdout, stderr = runCLI(t, "", "replay", "--capture", path)
	require.Equal(t, exitOK, code, stderr)
	require.Empty(t, stdout)
	require.NotContains(t, stderr, "duplicate storms")
}
