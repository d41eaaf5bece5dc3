package ruletest

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/rules"
)

// TestRuleFilesProblemsArePlaced: what is wrong with a test file's
// rule_files is said in plain words at the test file's line and column of
// the offending entry, and a missing test file is called a test file. A
// missing test file used to read "cannot read rule file"; an entry or glob
// matching nothing was reported with the rule file's name only; and
// rule_files: [] was a "missing field" at the top of the file.
func TestRuleFilesProblemsArePlaced(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "disk.rules.yaml", "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: value > 1\n")
	const tests = "tests:\n  - input_series: [{series: x, values: '1'}]\n    transition_test: [{exp_transitions: []}]\n"
	messages := func(err error) []string {
		t.Helper()
		var errs rules.Errors
		require.True(t, errors.As(err, &errs), "%v", err)
		var out []string
		for _, e := range errs {
			out = append(out, e.Error())
		}
		return out
	}

	missing := filepath.Join(dir, "none.test.yaml")
	_, err := RunFile(context.Background(), missing, fault.Config{})
	require.Equal(t, []string{missing + ": cannot read test file: no such file or directory"}, messages(err))
	require.ErrorIs(t, err, rules.ErrRead)
	require.ErrorIs(t, err, fs.ErrNotExist)

	tf := writeFile(t, dir, "t.yaml", `rule_files: [disk.rules.yaml, nope.yaml, "x*.yaml", "y[.yaml"]`+"\n"+tests)
	_, err = RunFile(context.Background(), tf, fault.Config{})
	require.Equal(t, []string{
		tf + `:1:31: cannot read rule file "nope.yaml": no such file or directory`,
		tf + `:1:42: rule_files: "x*.yaml" matches no rule file`,
		tf + `:1:53: rule_files: "y[.yaml" is not a valid glob: syntax error in pattern`,
	}, messages(err))
	var errs rules.Errors
	require.True(t, errors.As(err, &errs))
	require.ErrorIs(t, errs[0], rules.ErrRead)
	require.ErrorIs(t, errs[0], fs.ErrNotExist)
	require.ErrorIs(t, errs[1], rules.ErrRead)
	require.ErrorIs(t, errs[2], rules.ErrValue)

	tf = writeFile(t, dir, "empty.yaml", "rule_files: []\n"+tests)
	_, err = RunFile(context.Background(), tf, fault.Config{})
	require.Equal(t, []string{tf + ":1:13: rule_files is empty: name the rule files to test"}, messages(err))
	require.ErrorIs(t, err, rules.ErrMissing)
}
