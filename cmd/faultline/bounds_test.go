package main

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// badGoodInput returns line protocol with bad bad records, each followed by
// a good one, and the line numbers of the bad ones.
func badGoodInput(bad int) (string, []int) {
	var b strings.Builder
	var lines []int
	for i := range bad {
		b.WriteString("m,id=a v\n") // no field value: an error at column 9
		lines = append(lines, 2*i+1)
		fmt.Fprintf(&b, "m,id=a v=1 %d\n", t0+int64(i)*10e9)
	}
	return b.String(), lines
}

var errorLineRE = regexp.MustCompile(`(?m)^<stdin>:(\d+):(\d+): `)

// TestReplayMaxErrorsBound floods replay with bad records: the first
// --max-errors (100 by default) are printed one by one with their
// positions, the rest only counted in the summary, and every good record
// is still processed.
func TestReplayMaxErrorsBound(t *testing.T) {
	const bad = 150
	input, lines := badGoodInput(bad)
	for _, c := range []struct {
		args    []string
		printed int
	}{
		{nil, 100},
		{[]string{"--max-errors", "5"}, 5},
		{[]string{"--max-errors", "0"}, 0},
		{[]string{"--max-errors", "1000"}, bad},
	} {
		args := append([]string{"replay"}, c.args...)
		code, _, stderr := runCLI(t, input, append(args, "-")...)
		require.Equal(t, exitOK, code, stderr)

		got := errorLineRE.FindAllStringSubmatch(stderr, -1)
		require.Len(t, got, c.printed, "%v", c.args)
		var listed []string
		for i, m := range got {
			require.Equal(t, fmt.Sprint(lines[i]), m[1], "the first errors, in order")
			require.Equal(t, "9", m[2])
			listed = append(listed, fmt.Sprintf("<stdin>:%d", lines[i]))
		}
		summary := fmt.Sprintf("input errors %d\n", bad)
		if c.printed > 0 {
			more := ""
			if c.printed < bad {
				more = fmt.Sprintf(", and %d more", bad-c.printed)
			}
			summary = fmt.Sprintf("input errors %d (%s%s)\n", bad, strings.Join(listed, ", "), more)
		}
		require.Contains(t, stderr, summary, "%v", c.args)
		require.Contains(t, stderr, fmt.Sprintf("records %d, samples %d: fresh %d", 2*bad, bad, bad), "good records are processed")
	}

	code, _, stderr := runCLI(t, input, "replay", "--max-errors", "-1", "-")
	require.Equal(t, exitUsage, code)
	require.Contains(t, stderr, "--max-errors ≥ 0")
}
