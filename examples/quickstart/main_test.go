package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestQuickstartTimeline(t *testing.T) {
	var out strings.Builder
	require.NoError(t, run(&out))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 6, out.String())
	require.Regexp(t, `^\+10m59s +threshold SlowCheck +pending +check=c12 `, lines[0])
	require.Regexp(t, `^\+13m59s +threshold SlowCheck +firing +check=c12 +"check c12 took 3\.\ds"`, lines[1])
	require.Regexp(t, `^\+20m59s +threshold SlowCheck +resolved +check=c12 `, lines[2])
	require.Regexp(t, `^\+34m20s +absence +absence +firing +check=c07$`, lines[3])
	require.Equal(t, "4680 deliveries: 1170 fresh, 3510 duplicates; 20 series; 4 events", lines[5])
}
