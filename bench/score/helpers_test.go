package score

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/bench/scenario"
)

func mk(t testing.TB, s scenario.Spec, seed uint64) *scenario.Dataset {
	t.Helper()
	ds, err := scenario.Generate(s, seed)
	require.NoError(t, err)
	return ds
}

func small(id string, n int) scenario.Spec { return scenario.MustNamed(id).WithN(n) }

// hard shrinks a hard scenario to n series (H04 keeps fewer), a 40-minute
// horizon and the incident from 5 to 35 minutes.
func hard(id string, n int) scenario.Spec {
	s := scenario.MustNamed(id)
	return s.WithN(min(s.N, n)).WithHorizon(40*time.Minute).WithIncident(5*time.Minute, 30*time.Minute)
}
