package rules_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/rules"
)

// TestEngineOriginLabelIsReserved checks that the label rules refuse as
// reserved is the one the engine sets on its events: a rule label could
// otherwise replace it or, empty, remove it, and the engine would not
// recognise its own output fed back in.
func TestEngineOriginLabelIsReserved(t *testing.T) {
	_, err := rules.Parse("r.yaml", []byte("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: value > 1\n        labels: {"+fault.OriginLabel+": x}\n"))
	require.ErrorIs(t, err, rules.ErrLabelName)
	require.ErrorContains(t, err, fault.OriginLabel)
}
