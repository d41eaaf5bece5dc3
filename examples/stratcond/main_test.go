package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestStratcondTimeline(t *testing.T) {
	var out strings.Builder
	require.NoError(t, run(&out, 2000, 0, 1))
	s := out.String()
	require.Regexp(t, `00:30:1\d\.\d\d  loss burst: checks missed at 00:30:1[12]\.\d\d`, s)
	require.Regexp(t, `00:32:1\d\.\d\d  FLEET FAULT: periodic gap every 1m0s, 1[12]\.\d\d–13\.\d\d s into each period`, s)
	require.Contains(t, s, "the lost samples never arrived: data loss")
	require.Contains(t, s, "explained by the fleet fault, not paged")
	require.Regexp(t, `01:0\d:\d\d\.\d\d  fleet fault resolved`, s)
	require.Regexp(t, `Absences: [1-9]\d* explained by the fleet fault, 0 paged`, s)
	require.NotContains(t, s, ": paged")

	out.Reset()
	require.NoError(t, run(&out, 2000, 30*time.Second, 1))
	require.Contains(t, out.String(), "a delivery gap, not data loss")
	require.Contains(t, out.String(), "Absences: 0 explained by the fleet fault, 0 paged")
}
