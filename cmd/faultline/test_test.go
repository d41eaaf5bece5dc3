package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTestCommandExitCodes(t *testing.T) {
	code, stdout, stderr := runCLI(t, "", "test", "../../ruletest/testdata/pass.test.yaml")
	require.Equal(t, exitOK, code, stderr)
	require.Equal(t, "Unit testing: ../../ruletest/testdata/pass.test.yaml\n  SUCCESS (3 tests)\n", stdout)

	code, stdout, _ = runCLI(t, "", "test", "../../ruletest/testdata/pass.test.yaml", "../../ruletest/testdata/fail.test.yaml")
	require.Equal(t, exitFail, code)
	require.Contains(t, stdout, "  SUCCESS (3 tests)\nUnit testing: ../../ruletest/testdata/fail.test.yaml\n  FAILED:\n")
	require.Contains(t, stdout, "\n    ../../ruletest/testdata/fail.test.yaml:10:9: test \"wrong expectations\": alertname DiskFull at 1m:\n"+
		"      - expected, not firing: {host=\"a\", severity=\"page\"}\n")

	bad := writeRules(t, "bad.test.yaml", "rule_files: [x.yaml]\ntests:\n  - input_series: [{series: 'up', values: '1 two'}]\n    transition_test: [{exp_transitions: []}]\n")
	code, stdout, _ = runCLI(t, "", "test", bad)
	require.Equal(t, exitFail, code)
	require.Contains(t, stdout, "  INVALID:\n    "+bad+":3:46: values: invalid series values \"two\"")

	code, _, stderr = runCLI(t, "", "test")
	require.Equal(t, exitUsage, code)
	require.Contains(t, stderr, "usage: faultline test FILE...")
}
