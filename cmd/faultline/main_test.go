package main

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// t0 is 2026-01-01T00:00:00Z in Unix ns.
const t0 = int64(1767225600) * int64(time.Second)

func runCLI(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func TestUsageErrors(t *testing.T) {
	code, _, _ := runCLI(t, "")
	require.Equal(t, exitUsage, code)
	code, _, _ = runCLI(t, "", "frobnicate")
	require.Equal(t, exitUsage, code)
	code, _, _ = runCLI(t, "", "replay", "--no-such-flag")
	require.Equal(t, exitUsage, code)
	code, _, _ = runCLI(t, "", "check")
	require.Equal(t, exitUsage, code)
	for _, cmd := range []string{"run", "execd"} {
		code, _, stderr := runCLI(t, "", cmd, "stray")
		require.Equal(t, exitUsage, code, cmd)
		require.Contains(t, stderr, "faultline "+cmd+`: unexpected arguments ["stray"]`)
	}
	for _, cmd := range []string{"check", "test", "replay", "run", "execd"} {
		code, _, stderr := runCLI(t, "", cmd, "--help")
		require.Equal(t, exitOK, code, cmd)
		require.Contains(t, stderr, "usage: faultline "+cmd, cmd)
	}
}

func TestCheckReportsEveryMistakeWithPosition(t *testing.T) {
	code, _, stderr := runCLI(t, "", "check", "testdata/three-mistakes.bad.yaml")
	require.Equal(t, exitFail, code)
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	require.Len(t, lines, 3, stderr)
	require.Contains(t, lines[0], "testdata/three-mistakes.bad.yaml:6:14:", "bad duration")
	require.Contains(t, lines[1], "testdata/three-mistakes.bad.yaml:9:9:", "unknown field")
	require.Contains(t, lines[1], "severity")
	require.Contains(t, lines[2], "testdata/three-mistakes.bad.yaml:11:", "expression that does not compile")

	code, stdout, _ := runCLI(t, "", "check", "testdata/good.yaml")
	require.Equal(t, exitOK, code)
	require.Contains(t, stdout, "testdata/good.yaml: ok (1 rules)")
}

func TestReplayInvalidRulesAndUnreadableFile(t *testing.T) {
	code, stdout, stderr := runCLI(t, "", "replay", "--rules", "testdata/three-mistakes.bad.yaml")
	require.Equal(t, exitFail, code)
	require.Empty(t, stdout)
	require.Contains(t, stderr, "three-mistakes.bad.yaml:6:14")
	code, _, stderr = runCLI(t, "", "replay", filepath.Join(t.TempDir(), "missing.lp"))
	require.Equal(t, exitFail, code)
	require.Contains(t, stderr, "missing.lp")
}

// record is one capture line.
type record struct {
	arrival int64
	line    string
}

// fleetCapture simulates checks every 60 s for an hour; a few die halfway
// and one has slow latencies for a while, so both absence and a threshold
// rule have something to say.
func fleetCapture(seed uint64) []record {
	rng := rand.New(rand.NewPCG(seed, 7))
	var out []record
	for c := range 40 {
		off := rng.Float64() * 60
		stop := 3600.0
		if c%10 == 3 {
			stop = 1800
		}
		for s := off; s < stop; s += 60 {
			ts := t0 + int64(s*1e9)
			lat := 0.5 + rng.Float64()
			if c == 5 && s > 600 && s < 1500 {
				lat = 3 + rng.Float64()
			}
			line := fmt.Sprintf("check,check=c%03d latency=%.3f,up=1i %d", c, lat, ts)
			out = append(out, record{arrival: ts + int64((0.05+rng.Float64()*0.1)*1e9), line: line})
		}
	}
	sortRecords(out)
	return out
}

func sortRecords(rs []record) {
	slices.SortStableFunc(rs, func(a, b record) int {
		switch {
		case a.arrival < b.arrival:
			return -1
		case a.arrival > b.arrival:
			return 1
		}
		return 0
	})
}

func writeCapture(t *testing.T, rs []record, extra map[int]string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "capture.txt")
	f, err := os.Create(path)
	require.NoError(t, err)
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, "# a capture: <arrival_unix_ns> <line protocol>")
	for i, r := range rs {
		if bad, ok := extra[i]; ok {
			fmt.Fprintln(w, bad)
		}
		fmt.Fprintf(w, "%d %s\n", r.arrival, r.line)
	}
	require.NoError(t, w.Flush())
	require.NoError(t, f.Close())
	return path
}

// upCapture returns a capture of host a's up, a sample every 10 s for secs
// seconds from t0, each arriving late(s) after its sample time (s: its
// seconds from t0), or at it when late is nil.
func upCapture(secs int64, late func(s int64) int64) string {
	var b strings.Builder
	for s := int64(0); s < secs; s += 10 {
		ts := t0 + s*int64(time.Second)
		arr := ts
		if late != nil {
			arr += late(s)
		}
		fmt.Fprintf(&b, "%d up,host=a value=1 %d\n", arr, ts)
	}
	return b.String()
}

const thresholdRules = `
groups:
  - name: checks
    rules:
      - alert: SlowCheck
        match: check_latency
        expr: value > 2.5
        for: 2m
`

func TestReplayFourCopiesPrintsIdenticalEvents(t *testing.T) {
	rulesPath := filepath.Join(t.TempDir(), "rules.yaml")
	require.NoError(t, os.WriteFile(rulesPath, []byte(thresholdRules), 0o644))

	once := fleetCapture(1)
	// Every record delivered 4×: copies up to 200 ms later, interleaved
	// with other records, as at-least-once delivery produces.
	rng := rand.New(rand.NewPCG(3, 4))
	var many []record
	for _, r := range once {
		many = append(many, r)
		for range 3 {
			many = append(many, record{arrival: r.arrival + int64(rng.Float64()*0.2e9), line: r.line})
		}
	}
	sortRecords(many)

	code1, out1, err1 := runCLI(t, "", "replay", "--capture", "--rules", rulesPath, writeCapture(t, once, nil))
	code4, out4, err4 := runCLI(t, "", "replay", "--capture", "--rules", rulesPath, writeCapture(t, many, nil))
	require.Equal(t, exitOK, code1, err1)
	require.Equal(t, exitOK, code4, err4)
	require.Contains(t, out1, `"kind":"absence"`)
	require.Contains(t, out1, `"kind":"threshold"`)
	require.Equal(t, out1, out4, "4× delivery must print byte-identical events")
	require.Contains(t, err4, "duplicates "+fmt.Sprint(3*2*len(once)))
}

func TestReplayReportsBadLinesAndProcessesGoodOnes(t *testing.T) {
	recs := fleetCapture(2)
	bad := map[int]string{
		10:  "not a capture line",
		200: fmt.Sprintf("%d check,check=x latency= %d", t0, t0),
		500: fmt.Sprintf("%d check,check=x latency=1", t0) + " notanumber",
	}
	path := writeCapture(t, recs, bad)
	code, stdout, stderr := runCLI(t, "", "replay", "--capture", path)
	require.Equal(t, exitOK, code, stderr)
	// Line numbers: line 1 is the comment; record i sits on line i+2, and
	// each bad line before it pushes it down one.
	require.Contains(t, stderr, fmt.Sprintf("%s:%d:", path, 10+2))
	require.Contains(t, stderr, fmt.Sprintf("%s:%d:", path, 200+3))
	require.Contains(t, stderr, fmt.Sprintf("%s:%d:", path, 500+4))
	require.Contains(t, stderr, "input errors 3")
	// Every good line's two fields became samples.
	require.Contains(t, stderr, fmt.Sprintf("samples %d", 2*len(recs)))
	require.Contains(t, stdout, `"kind":"absence"`)

	// The bad lines are coalesced into bad_input events, the same whatever
	// the batch size: the first two are less than five minutes apart, one
	// episode, reported a minute after the first and resolved five quiet
	// minutes after the second with both counted; the third is another.
	var badEvents []string
	for _, l := range strings.Split(stdout, "\n") {
		if strings.Contains(l, `"kind":"bad_input"`) {
			badEvents = append(badEvents, l)
			require.Contains(t, l, `"faultline_input":"`+path+`"`)
			require.Contains(t, l, `"faultline_origin":"faultline"`)
		}
	}
	require.Len(t, badEvents, 4, stdout)
	for i, want := range []string{`"state":"firing"`, `"state":"resolved"`, `"state":"firing"`, `"state":"resolved"`} {
		require.Contains(t, badEvents[i], want)
	}
	require.Contains(t, badEvents[0], `"value":1}`)
	require.Contains(t, badEvents[0], `"examples":"record 12, column 1: `)
	require.Contains(t, badEvents[1], `"value":2}`)
	require.Contains(t, badEvents[1], `\nrecord 203, column 43: `)
	_, stdout1, _ := runCLI(t, "", "replay", "--capture", "--batch", "1", path)
	require.Equal(t, stdout, stdout1)
}

// hotRules fires Hot when temp stays above 100 for 2 minutes.
const hotRules = `
groups:
  - name: g
    rules:
      - alert: Hot
        match: temp
        expr: value > 100
        for: 2m
`

func TestReplayPlainLineProtocolFromStdin(t *testing.T) {
	var b strings.Builder
	for s := 0; s < 600; s += 10 {
		fmt.Fprintf(&b, "temp,room=a value=%d %d\n", 80+s/10, t0+int64(s)*1e9)
	}
	rulesPath := filepath.Join(t.TempDir(), "rules.yaml")
	require.NoError(t, os.WriteFile(rulesPath, []byte(hotRules), 0o644))
	code, stdout, stderr := runCLI(t, b.String(), "replay", "--rules", rulesPath, "-")
	require.Equal(t, exitOK, code, stderr)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	require.Len(t, lines, 2, stdout)
	require.Contains(t, lines[0], `"state":"pending"`)
	require.Contains(t, lines[1], `"state":"firing"`)
	// value > 100 from s = 210; firing 2 m of sample time later, at 330 s.
	require.Contains(t, lines[1], `"at":"2026-01-01T00:05:30.000000000Z"`)
	require.Contains(t, lines[1], `"labels":{"__name__":"temp","faultline_origin":"faultline","room":"a"}`)
}

// replay --precision reads timestamps in its unit: the same records in
// seconds give the same events as in nanoseconds. A unit it does not know
// is a usage error.
func TestReplayPrecision(t *testing.T) {
	var ns, s strings.Builder
	for i := int64(0); i < 600; i += 10 {
		if i == 300 {
			continue // an absence
		}
		fmt.Fprintf(&ns, "temp,room=a value=%d %d\n", 80+i/10, t0+i*1e9)
		fmt.Fprintf(&s, "temp,room=a value=%d %d\n", 80+i/10, t0/1e9+i)
	}
	rulesPath := filepath.Join(t.TempDir(), "rules.yaml")
	require.NoError(t, os.WriteFile(rulesPath, []byte(hotRules), 0o644))
	code, want, stderr := runCLI(t, ns.String(), "replay", "--rules", rulesPath, "-")
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, want, `"state":"firing"`)
	code, got, stderr := runCLI(t, s.String(), "replay", "--precision", "s", "--rules", rulesPath, "-")
	require.Equal(t, exitOK, code, stderr)
	require.Equal(t, want, got)
	for _, cmd := range []string{"replay", "run", "execd"} {
		code, _, stderr = runCLI(t, "", cmd, "--precision", "sec")
		require.Equal(t, exitUsage, code, cmd)
		require.Contains(t, stderr, `unknown precision "sec"`, cmd)
	}
}

// Flags may follow the file names, as promtool's do; "--" ends the flags.
func TestFlagsAfterArguments(t *testing.T) {
	code, stdout, stderr := runCLI(t, "", "check", "testdata/good.yaml", "--lint=none")
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stdout, "testdata/good.yaml: ok (1 rules)")
	code, stdout, stderr = runCLI(t, "", "check", "testdata/good.yaml", "--lint", "none")
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stdout, "testdata/good.yaml: ok (1 rules)")

	code, _, stderr = runCLI(t, "", "check", "testdata/good.yaml", "--lint")
	require.Equal(t, exitUsage, code)
	require.Contains(t, stderr, "flag needs an argument: -lint")

	code, _, stderr = runCLI(t, "", "check", "--", "--lint=none")
	require.Equal(t, exitFail, code, "after --, a file name")
	require.Contains(t, stderr, "--lint=none")

	rulesPath := filepath.Join(t.TempDir(), "rules.yaml")
	require.NoError(t, os.WriteFile(rulesPath, []byte(thresholdRules), 0o644))
	capture := writeCapture(t, fleetCapture(1), nil)
	code, want, stderr := runCLI(t, "", "replay", "--capture", "--rules", rulesPath, capture)
	require.Equal(t, exitOK, code, stderr)
	code, got, stderr := runCLI(t, "", "replay", capture, "--capture", "--rules", rulesPath)
	require.Equal(t, exitOK, code, stderr)
	require.Equal(t, want, got)
}

// TestReplaySummarySaysWhatArrivedTooFarAhead: samples the engine rejects
// because they arrived too long after both their sample time and its
// clock (fault.Config.MaxArrivalLag: a backlog delivered hours late) are
// said in the summary; they vanished from it, so that every sample of a
// capture could be dropped with "fresh 0" and nothing else.
func TestReplaySummarySaysWhatArrivedTooFarAhead(t *testing.T) {
	in := upCapture(300, func(int64) int64 { return 2 * int64(time.Hour) })
	code, _, stderr := runCLI(t, in, "replay", "--capture", "-")
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stderr, "samples 30: fresh 0,")
	require.Contains(t, stderr, "rejected 30 samples that arrived more than 1h0m0s after their sample time and the engine clock\n")

	_, _, stderr = runCLI(t, upCapture(10, nil), "replay", "--capture", "-")
	require.NotContains(t, stderr, "rejected", "said only when there are some")
}

// TestReplaySaysWhereCaptureArrivalsGoBack: a capture is in arrival
// order; one whose arrival times go back (captures concatenated in the
// wrong order, a clock stepped back) is replayed as it always was, the
// engine clock staying at the latest arrival, but the summary says how
// many records went back and where the first is, file:line, instead of
// nothing.
func TestReplaySaysWhereCaptureArrivalsGoBack(t *testing.T) {
	in := "# a comment\n" + upCapture(300, func(s int64) int64 {
		if s == 150 || s == 160 {
			return -140 * int64(time.Second)
		}
		return 0
	})
	code, _, stderr := runCLI(t, in, "replay", "--capture", "-")
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stderr, "records arriving before the latest arrival read 2 (the first <stdin>:17, 2m10s behind it): a capture is in arrival order, and the engine clock stayed at the latest\n")

	// In order, not said.
	_, _, stderr = runCLI(t, upCapture(300, nil), "replay", "--capture", "-")
	require.NotContains(t, stderr, "before the latest arrival")
	// Nor is a first record stamped before 1970: nothing came before it.
	_, _, stderr = runCLI(t, "-5 up,host=a value=1 -5\n0 up,host=a value=1 0\n", "replay", "--capture", "-")
	require.Contains(t, stderr, "fresh 2")
	require.NotContains(t, stderr, "before the latest arrival")
}

// TestReplayNamesTheNegativeFlag: a negative --dedup-window or
// --absent-after is a usage error that names the flag, as the other
// duration flags' are; the engine's "negative durations and limits are
// not allowed" left the operator to guess which of them it was.
func TestReplayNamesTheNegativeFlag(t *testing.T) {
	for _, name := range []string{"dedup-window", "absent-after"} {
		code, stdout, stderr := runCLI(t, "", "replay", "--"+name, "-1s", "-")
		require.Equal(t, exitUsage, code, name)
		require.Empty(t, stdout)
		require.Equal(t, "faultline replay: --"+name+" must be 0 or more, not -1s\n", stderr)
	}
}

// TestReplayHelpNamesValuesRight: in replay's --help a boolean flag shows
// no value and a flag that takes one names it: the flag package takes the
// first `quoted` word of a usage as the value's name, so --capture, a
// boolean, read as "-capture <arrival_unix_ns> <line protocol>", as if it
// took the format as its argument, and --rules as "-rules value".
func TestReplayHelpNamesValuesRight(t *testing.T) {
	code, _, stderr := runCLI(t, "", "replay", "--help")
	require.Equal(t, exitOK, code)
	require.Contains(t, stderr, "\n  -capture\n    \tinput lines are <arrival_unix_ns> <line protocol> captures")
	require.Contains(t, stderr, "\n  -rules FILE\n")
	for _, cmd := range []string{"run", "execd"} { // their flags are live.go's
		code, _, stderr := runCLI(t, "", cmd, "--help")
		require.Equal(t, exitOK, code, cmd)
		require.Contains(t, stderr, "\n  -rules FILE\n", cmd)
	}
}
