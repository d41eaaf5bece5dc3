package ruletest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/rules"
)

func TestPassingFile(t *testing.T) {
	res, err := RunFile(context.Background(), "testdata/pass.test.yaml", fault.Config{})
	require.NoError(t, err)
	require.False(t, res.Failed())
	require.Len(t, res.Tests, 3)
	for _, tr := range res.Tests {
		require.Empty(t, tr.Failures, tr.Name)
	}
}

// TestRuleLabelsRemove runs Prometheus' empty-label cases through the
// engine: a rule label whose value is empty, or expands to "", removes
// the label from the alert, the series' own label of that name included.
func TestRuleLabelsRemove(t *testing.T) {
	res, err := RunFile(context.Background(), "testdata/labels.test.yaml", fault.Config{})
	require.NoError(t, err)
	require.Len(t, res.Tests, 3)
	for _, tr := range res.Tests {
		require.Empty(t, tr.Failures, tr.Name)
	}
}

// TestFailuresAreReadable: every wrong expectation is reported at its
// position, with what was expected and what happened.
func TestFailuresAreReadable(t *testing.T) {
	res, err := RunFile(context.Background(), "testdata/fail.test.yaml", fault.Config{})
	require.NoError(t, err)
	require.True(t, res.Failed())
	require.Equal(t, []string{
		`testdata/fail.test.yaml:10:9: test "wrong expectations": alertname DiskFull at 1m:
  - expected, not firing: {host="a", severity="page"}`,
		`testdata/fail.test.yaml:14:9: test "wrong expectations": alertname DiskFull at 3m:
  - expected, not firing: {host="c", severity="page"} annotations {summary="disk c is 95% full"}
  + firing, not expected: {host="b", severity="page"} annotations {summary="disk b is 95% full"}`,
		`testdata/fail.test.yaml:22:9: test "wrong expectations": transitions of alertname DiskFull differ from transition 2 on:
  expected:
    at 0s pending {host="a", severity="page"}
  > at 1m firing
  got:
    at 0s pending {host="a", severity="page"}
  > at 0s pending {host="b", severity="page"}
    at 2m firing {host="a", severity="page"}
    at 2m firing {host="b", severity="page"}`,
		`testdata/fail.test.yaml:26:9: test "wrong expectations": transitions of every event differ from transition 1 on:
  expected: none
  got:
  > at 0s DiskFull pending {host="a", severity="page"}
    at 0s DiskFull pending {host="b", severity="page"}
    at 2m DiskFull firing {host="a", severity="page"}
    at 2m DiskFull firing {host="b", severity="page"}`,
	}, res.Tests[0].Failures)
	require.Equal(t, []string{
		`testdata/fail.test.yaml:29:14: test "a late entry that matches nothing": late: no sample of disk_used_ratio{host="z"} at 1m`,
	}, res.Tests[1].Failures)
}

// TestBadRuleFiles: a rule file that is missing or invalid fails the test
// file, and runs nothing: a missing one at its entry in the test file
// (first: the test file's problems), an invalid one at its own positions.
func TestBadRuleFiles(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "bad.yaml", "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: value >\n")
	tf := writeFile(t, dir, "t.yaml", "rule_files: [bad.yaml, missing.yaml]\ntests:\n  - input_series: [{series: x, values: '1'}]\n    transition_test: [{exp_transitions: []}]\n")
	_, err := RunFile(context.Background(), tf, fault.Config{})
	var errs rules.Errors
	require.True(t, errors.As(err, &errs), "%v", err)
	require.Len(t, errs, 2)
	require.Equal(t, tf+`:1:24: cannot read rule file "missing.yaml": no such file or directory`, errs[0].Error())
	require.Contains(t, errs[1].Error(), "bad.yaml:5:")
}

func TestFmtOffset(t *testing.T) {
	for ns, want := range map[int64]string{
		0: "0s", 60e9: "1m", 90e9: "1m30s", 5400e9: "1h30m", 250e6: "250ms",
		-30e9: "-30s", 86400e9 + 1: "1d1ns",
	} {
		require.Equal(t, want, fmtOffset(ns))
	}
}

// TestRestartChangesNothing runs restart.test.yaml's test without restarts
// and with a restart at each 20 s of its span, alone and all at once: the
// events (IDs included) are the same every time, and the test passes.
func TestRestartChangesNothing(t *testing.T) {
	ctx := context.Background()
	tf, err := ReadFile("testdata/restart.test.yaml")
	require.NoError(t, err)
	rs, err := loadRules(tf)
	require.NoError(t, err)
	g := *tf.Tests[0]
	run := func(restarts ...time.Duration) []fault.Event {
		g.Delivery.RestartAt = restarts
		r := runner{file: tf.File, name: "restart", g: &g, cfg: fault.Config{Rules: rs}}
		require.NoError(t, r.run(ctx))
		require.Empty(t, r.failures, "restarts %v", restarts)
		return r.events
	}
	base := run()
	require.Len(t, base, 13)
	var all []time.Duration
	for at := 20 * time.Second; at < 15*time.Minute; at += 20 * time.Second {
		require.Equal(t, base, run(at), "restart at %s", at)
		all = append(all, at)
	}
	require.Equal(t, base, run(all...), "a restart every 20 s")
}

// TestReloadChangesNothing runs restart.test.yaml's test with its rules
// reloaded (reload_at) at each 20 s of its span, alone, all at once, and
// among restarts: the events (IDs included) are those of a run without
// reload, and the test passes.
func TestReloadChangesNothing(t *testing.T) {
	ctx := context.Background()
	tf, err := ReadFile("testdata/restart.test.yaml")
	require.NoError(t, err)
	rs, err := loadRules(tf)
	require.NoError(t, err)
	g := *tf.Tests[0]
	run := func(restarts, reloads []time.Duration) []fault.Event {
		g.Delivery.RestartAt, g.Delivery.ReloadAt = restarts, reloads
		r := runner{file: tf.File, name: "reload", g: &g, cfg: fault.Config{Rules: rs}}
		require.NoError(t, r.run(ctx))
		require.Empty(t, r.failures, "reloads %v", reloads)
		return r.events
	}
	base := run(nil, nil)
	require.Len(t, base, 13)
	var all []time.Duration
	for at := 20 * time.Second; at < 15*time.Minute; at += 20 * time.Second {
		require.Equal(t, base, run(nil, []time.Duration{at}), "reload at %s", at)
		all = append(all, at)
	}
	require.Equal(t, base, run(nil, all), "a reload every 20 s")
	var some []time.Duration
	for i := 1; i < len(all); i += 3 {
		some = append(some, all[i])
	}
	require.Equal(t, base, run(some, all), "reloads and restarts together")
}

// TestEvaluationErrorsFailTheTest: a rule whose expression fails at
// evaluation time (int of a label that is not a number) never fires, so
// a test expecting nothing to fire would pass on a rule that cannot work.
// As promtool, the test fails instead, naming the rule, the time and the
// error.
func TestEvaluationErrorsFailTheTest(t *testing.T) {
	tf, res := runRuleTest(t, `groups:
  - name: g
    rules:
      - alert: BadCode
        match: http_errors
        expr: int(labels.code) >= 500
`, `rule_files: [r.yaml]
tests:
  - name: never fires
    input_series:
      - series: 'http_errors{code="oops"}'
        values: '1x3'
    delivery: {restart_at: [1m]}
    alert_rule_test:
      - eval_time: 3m
        alertname: BadCode
`)
	require.True(t, res.Failed(), "a test whose rule failed to evaluate passed")
	require.Len(t, res.Tests[0].Failures, 1)
	msg := res.Tests[0].Failures[0]
	require.True(t, strings.HasPrefix(msg, tf+`:3:5: test "never fires": 4 rule evaluation errors`), msg)
	require.Contains(t, msg, "at 0s")
	require.Contains(t, msg, "BadCode")
	require.Contains(t, msg, "oops")
	require.Equal(t, 1, strings.Count(msg, "\n"), "the same error, logged again by the restored engine, is shown once: %s", msg)
}

// TestUnknownAlertnameFails: a case whose alertname no rule raises (a typo,
// or a rule renamed since) can never see that alert fire, so its exp_alerts
// [] or exp_transitions [] would pass whatever the rules do. The test fails
// instead, at the case, naming the alerts the rule files raise. Kinds of
// the engine's own detectors (absence ...) are alert names too.
func TestUnknownAlertnameFails(t *testing.T) {
	tf, res := runRuleTest(t, highRule, `rule_files: [r.yaml]
tests:
  - name: typo
    input_series:
      - series: 'cpu{host="a"}'
        values: '95x3'
    alert_rule_test:
      - eval_time: 2m
        alertname: Hihg
      - eval_time: 2m
        alertname: absence
    transition_test:
      - alertname: Hgh
        exp_transitions: []
`)
	require.True(t, res.Failed(), "a test about an alert no rule raises passed")
	require.Equal(t, []string{
		tf + `:8:9: test "typo": alertname Hihg: no rule raises it (the rule files raise High)`,
		tf + `:13:9: test "typo": alertname Hgh: no rule raises it (the rule files raise High)`,
	}, res.Tests[0].Failures)
}

// TestExpLabelsAlertname: promtool adds the case's alertname to every
// exp_labels, so tests written for it may state alertname there; an
// alertname equal to the case's is accepted, another one fails.
func TestExpLabelsAlertname(t *testing.T) {
	tf, res := runRuleTest(t, highRule, `rule_files: [r.yaml]
tests:
  - name: promtool style
    input_series:
      - series: 'cpu{host="a"}'
        values: '95x3'
    alert_rule_test:
      - eval_time: 2m
        alertname: High
        exp_alerts:
          - exp_labels: {alertname: High, host: a}
  - name: another alertname
    input_series:
      - series: 'cpu{host="a"}'
        values: '95x3'
    alert_rule_test:
      - eval_time: 2m
        alertname: High
        exp_alerts:
          - exp_labels: {alertname: Low, host: a}
`)
	require.Empty(t, res.Tests[0].Failures)
	require.Equal(t, []string{tf + `:17:9: test "another alertname": alertname High at 2m:
  - expected, not firing: {alertname="Low", host="a"}
  + firing, not expected: {host="a"}`}, res.Tests[1].Failures)
}

// TestFlappingAlertIsListedOnce: while an alert flaps, its flapping
// episode (kind flapping, state firing) carries the alert's name and
// labels; alert_rule_test counted it as a second firing alert with the
// same labels, so a promtool-style case had to list the alert twice. The
// alert is listed once, as its own episode's last event says; the
// flapping episode is for transition_test (kind: flapping).
func TestFlappingAlertIsListedOnce(t *testing.T) {
	_, res := runRuleTest(t, `groups:
  - name: g
    rules:
      - alert: Flappy
        expr: value > 90
        flapping: {}
`, `rule_files: [r.yaml]
tests:
  - name: flaps
    input_series:
      - series: 'cpu{host="a"}'
        values: '95 0 95 0 95 0 95 0 95 95'
    alert_rule_test:
      - eval_time: 9m
        alertname: Flappy
        exp_alerts:
          - exp_labels: {host: a}
    transition_test:
      - alertname: Flappy
        exp_transitions:
          - {at: 0s, state: firing}
          - {at: 1m, state: resolved}
          - {at: 2m, state: firing}
          - {at: 3m, state: resolved}
          - {at: 4m, state: firing}
          - {at: 5m, kind: flapping, state: firing}
`)
	require.Empty(t, res.Tests[0].Failures)
}

// TestBreaksAfterTheEndFail: a restart_at or reload_at after the test's
// end (its last delivery, eval_time or expected transition) was skipped
// without a word, so the test passed as if it had checked that a restart
// changes nothing. It fails instead, as a late entry that matches no
// sample does.
func TestBreaksAfterTheEndFail(t *testing.T) {
	tf, res := runRuleTest(t, highRule, `rule_files: [r.yaml]
tests:
  - name: restart never happens
    delivery:
      restart_at: [2m, 20m]
      reload_at: [3m, 30m]
    input_series:
      - series: 'cpu{host="a"}'
        values: '95x3'
    alert_rule_test:
      - eval_time: 3m
        alertname: High
        exp_alerts:
          - exp_labels: {host: a}
`)
	require.Equal(t, []string{
		tf + `:5:7: test "restart never happens": restart_at 20m is after the test's end, 3m: nothing would run after it`,
		tf + `:5:7: test "restart never happens": reload_at 30m is after the test's end, 3m: nothing would run after it`,
	}, res.Tests[0].Failures)
}

// highRule is a rule file with one rule, High: value > 90.
const highRule = `groups:
  - name: g
    rules:
      - alert: High
        expr: value > 90
`

// writeFile writes src to the file name in dir, and returns its path.
func writeFile(t *testing.T, dir, name, src string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(src), 0o644))
	return p
}

// runRuleTest writes ruleSrc as r.yaml and testSrc as t.yaml (which names
// rule_files: [r.yaml]) in a fresh directory, runs t.yaml, and returns its
// path and result: the test file must run, whether its tests pass or not.
func runRuleTest(t *testing.T, ruleSrc, testSrc string) (string, *Result) {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, dir, "r.yaml", ruleSrc)
	tf := writeFile(t, dir, "t.yaml", testSrc)
	res, err := RunFile(context.Background(), tf, fault.Config{})
	require.NoError(t, err)
	return tf, res
}
