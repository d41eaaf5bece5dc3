package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReplayOnlyBadLines: a replay whose every line is bad reports a
// bad_input event on stdout, as one with good lines does. No sample ever
// started the engine clock, and the episode used to be dropped at Close,
// leaving only the summary on stderr.
func TestReplayOnlyBadLines(t *testing.T) {
	code, stdout, stderr := runCLI(t, "temp,room=a value=oops 1\nxx\n", "replay", "-")
	require.Equal(t, exitOK, code, stderr)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	require.Len(t, lines, 1, stdout)
	require.Contains(t, lines[0], `"kind":"bad_input"`)
	require.Contains(t, lines[0], `"state":"firing"`)
	require.Contains(t, lines[0], `"faultline_input":"\u003cstdin\u003e"`)
	require.Contains(t, lines[0], `"value":2}`)
}
