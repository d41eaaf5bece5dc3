// Package ruletest reads and runs rule unit tests: test files in the shape
// of promtool's (`promtool test rules`), so that tests written for
// Prometheus read the same here, plus what a pipeline does to samples and
// what promtool cannot assert. Each test feeds its input series through a
// fault.Engine in virtual time, delivered as a pipeline would deliver them
// (copies, lag, late samples, a restart from a snapshot, a reload of the
// rules), and checks the alerts firing at given times, as promtool does,
// and every transition over the whole test, which promtool cannot.
//
// # Test files
//
// ParseFile and ReadFile read a test file into a File; RunFile reads and
// runs one:
//
//	rule_files: [rules.yaml]       # relative to the test file; globs allowed
//	evaluation_interval: 1m        # the default interval of input series
//	tests:
//	  - name: disk fills
//	    interval: 1m
//	    start_timestamp: 2024-01-01T00:00:00Z   # or Unix seconds; default 0
//	    input_series:
//	      - series: 'disk_used_ratio{host="a"}'
//	        values: '0.5+0.1x4 _ 0.95x3 stale'
//	    delivery:                  # faultline: how the samples reach the engine
//	      copies: 4                # at-least-once: each sample 4 times
//	      lag: 5s                  # the first copy arrives 5 s after its time
//	      redeliver_after: 30s     # each further copy 30 s after the one before
//	      late:                    # these arrive late, after newer samples
//	        - {series: 'disk_used_ratio{host="a"}', at: 3m, by: 2m}
//	      restart_at: [4m]         # snapshot → restore into a new engine
//	      reload_at: [5m]          # reload the rules (fault.Engine.Update)
//	    alert_rule_test:           # as promtool: what fires at eval_time
//	      - eval_time: 6m
//	        alertname: DiskFull
//	        exp_alerts:
//	          - exp_labels: {host: a, severity: page}
//	            exp_annotations: {summary: disk a is 95% full}
//	    transition_test:           # faultline: every transition, in order
//	      - alertname: DiskFull    # without it: every event of the test
//	        exp_transitions:
//	          - {at: 5m, state: pending}
//	          - {at: 7m, state: firing, exp_labels: {host: a, severity: page}}
//	          # kind: flapping, absence ... when it is not a threshold event
//
// The file is decoded as strictly as a rule file, and its problems are
// reported as a rule file's are: all at once, each a *rules.Error with its
// file:line:col.
//
// # Running
//
// How a test maps onto the engine, which evaluates each fresh sample as it
// arrives rather than every evaluation_interval:
//
//   - Value k of an input series is a sample at start + k×interval. Its
//     first copy arrives Delivery.Lag later, each further copy
//     Delivery.RedeliverAfter after the one before; a late sample's copies
//     arrive Delivery.Late[].By after its time instead. Deliveries are
//     processed in arrival order, those arriving together in one batch.
//   - The engine's clock is the arrival time, and event times are engine
//     times. An alert_rule_test case at eval_time T sees the events up to
//     start + T + Lag: the state once the samples of time T have arrived.
//     A transition's `at` is its event's engine time, minus start.
//   - An alert is firing at a time if the last event of its episode up to
//     then is firing. Its labels, compared with exp_labels, are the event's
//     labels without __name__, alertname and fault.OriginLabel; its
//     annotations are the event's. As promtool, an alert_rule_test case
//     accepts an alertname in exp_labels that is the case's own. The
//     flapping episode of an alert that flaps is not an alert of its own
//     here (it has the alert's name and labels): transition_test checks
//     it, with kind: flapping.
//   - The test's input ends at its last delivery, or at its latest
//     eval_time or expected transition if that is later: the engine is
//     advanced to it, not closed, so series are not judged absent for
//     merely ending, unless a test looks past their end. A restart_at or
//     reload_at after that end fails the test: nothing would run after it.
//   - A case whose alertname no rule of the rule files raises, and that
//     is not the kind of one of the engine's detectors (absence,
//     periodic_gap ...), fails: it could never see its alert, so an empty
//     exp_alerts or exp_transitions would pass whatever the rules do (a
//     typo, a rule renamed since). promtool lets such a case pass.
//   - No data is not a recovery: where Prometheus resolves an alert whose
//     series went stale, faultline keeps it (absence reports the silence).
//   - A test fails, as promtool's do, when a rule fails to evaluate (or to
//     expand its labels or annotations): the failure gives the count of
//     the engine's EvalErrors and each rule's first error, with its time.
//
// This package holds the test runner; it must not know how the engine works
// inside: it drives fault.Engine through its public API only.
package ruletest

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/rules"
	"github.com/faultline-go/faultline/stream"
)

// Result is the outcome of one test file.
type Result struct {
	// File is the test file.
	File string
	// Tests are the outcomes of its tests, in file order.
	Tests []TestResult
}

// Failed reports whether any test of the file failed.
func (r *Result) Failed() bool {
	for i := range r.Tests {
		if len(r.Tests[i].Failures) > 0 {
			return true
		}
	}
	return false
}

// TestResult is the outcome of one test.
type TestResult struct {
	// Name is the test's name, or "#n" (1-based) when it has none.
	Name string
	// Line and Col locate the test in its file.
	Line, Col int
	// Failures are the test's failed assertions, each a readable message
	// that begins with the file:line:col of the assertion; none if it
	// passed.
	Failures []string
}

// RunFile reads the test file at path, loads its rule files and runs its
// tests with the engine configured by cfg (its Rules and Sink are the
// test's). The error is the test file's or its rule files' problems, each
// with its file:line:col; failed assertions are in the Result.
func RunFile(ctx context.Context, path string, cfg fault.Config) (*Result, error) {
	tf, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Run(ctx, tf, cfg)
}

// Run loads the rule files of tf (relative to the directory of tf.File) and
// runs its tests, as RunFile.
func Run(ctx context.Context, tf *File, cfg fault.Config) (*Result, error) {
	rs, err := loadRules(tf)
	if err != nil {
		return nil, err
	}
	res := &Result{File: tf.File}
	for i, g := range tf.Tests {
		tr := TestResult{Name: g.Name, Line: g.Line, Col: g.Col}
		if tr.Name == "" {
			tr.Name = "#" + strconv.Itoa(i+1)
		}
		r := runner{file: tf.File, name: tr.Name, g: g, cfg: cfg}
		r.cfg.Rules = rs
		if err := r.run(ctx); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			r.failf(g.Line, g.Col, "%v", err)
		}
		tr.Failures = r.failures
		res.Tests = append(res.Tests, tr)
	}
	return res, nil
}

// loadRules expands the rule file globs of tf and parses the files. An
// entry that names no file, or a glob that matches none or is malformed,
// is reported at its line and column in the test file, as written; then
// the problems of the rule files found follow.
func loadRules(tf *File) (*rules.Ruleset, error) {
	dir := filepath.Dir(tf.File)
	var paths []string
	var errs rules.Errors
	for i, entry := range tf.RuleFiles {
		pat := entry
		if !filepath.IsAbs(pat) {
			pat = filepath.Join(dir, pat)
		}
		line, col := tf.ruleFileAt(i)
		bad := func(msg string, causes ...error) {
			errs = append(errs, &rules.Error{File: tf.File, Line: line, Col: col, Err: &causeError{msg, causes}})
		}
		m, err := filepath.Glob(pat)
		switch {
		case err != nil:
			bad(fmt.Sprintf("rule_files: %q is not a valid glob: %v", entry, err), rules.ErrValue, err)
		case len(m) > 0:
			paths = append(paths, m...)
		case isGlob(pat):
			bad(fmt.Sprintf("rule_files: %q matches no rule file", entry), rules.ErrRead, fs.ErrNotExist)
		default: // Glob found no such file: say why
			if _, err := os.Lstat(pat); err != nil {
				var pe *fs.PathError
				if errors.As(err, &pe) {
					err = pe.Err // the message names the entry
				}
				bad(fmt.Sprintf("cannot read rule file %q: %v", entry, err), rules.ErrRead, err)
			} else {
				paths = append(paths, pat) // created since
			}
		}
	}
	rs, err := rules.ParseFiles(paths...)
	if len(errs) == 0 {
		return rs, err
	}
	var more rules.Errors
	if errors.As(err, &more) {
		errs = append(errs, more...)
	}
	return nil, errs
}

// isGlob reports whether path has the characters filepath.Match treats
// specially (its backslash escapes, except on Windows).
func isGlob(path string) bool {
	if runtime.GOOS == "windows" {
		return strings.ContainsAny(path, `*?[`)
	}
	return strings.ContainsAny(path, `*?[\`)
}

// runner runs one test.
type runner struct {
	file, name string
	g          *Test
	cfg        fault.Config
	events     []fault.Event
	failures   []string

	now      int64    // engine time of the call in progress
	evalLogs []string // the engine's diagnostics, each once, with their time

	alerts []string // the alert names the rules raise, sorted (knownAlert)
}

func (r *runner) failf(line, col int, format string, args ...any) {
	r.failures = append(r.failures, fmt.Sprintf("%s:%d:%d: test %q: ", r.file, line, col, r.name)+fmt.Sprintf(format, args...))
}

// run feeds the test's deliveries to an engine and checks its assertions.
func (r *runner) run(ctx context.Context) error {
	deliveries, ok := r.deliveries()
	if !ok {
		return nil // reported
	}
	r.cfg.Sink = fault.SinkFunc(func(_ context.Context, ev fault.Event) error {
		r.events = append(r.events, ev)
		return nil
	})
	next := slog.DiscardHandler
	if r.cfg.Logger != nil {
		next = r.cfg.Logger.Handler()
	}
	r.cfg.Logger = slog.New(&diagnostics{next: next, r: r})
	e, err := fault.New(r.cfg)
	if err != nil {
		return err
	}
	for _, rule := range r.cfg.Rules.Rules() {
		r.alerts = append(r.alerts, rule.Alert)
	}
	slices.Sort(r.alerts)
	r.alerts = slices.Compact(r.alerts)
	breaks := r.breaks()
	for len(deliveries) > 0 {
		at := deliveries[0].Arrival
		for len(breaks) > 0 && breaks[0].at < at {
			if e, err = r.interrupt(ctx, e, breaks[0]); err != nil {
				return err
			}
			breaks = breaks[1:]
		}
		n := 1
		for n < len(deliveries) && deliveries[n].Arrival == at {
			n++
		}
		r.now = at
		if err := e.Process(ctx, deliveries[:n]); err != nil {
			return err
		}
		deliveries = deliveries[n:]
	}
	end := r.horizon()
	for _, b := range breaks {
		if b.at > end {
			// Skipped, it would leave the test passing as if it had
			// checked that the restart or reload changes nothing.
			name := "restart_at"
			if b.reload {
				name = "reload_at"
			}
			r.failf(r.g.Delivery.Line, r.g.Delivery.Col, "%s %s is after the test's end, %s: nothing would run after it",
				name, fmtOffset(b.at-r.g.Start), fmtOffset(end-r.g.Start))
			continue
		}
		if e, err = r.interrupt(ctx, e, b); err != nil {
			return err
		}
	}
	r.now = end
	if err := e.Advance(ctx, end); err != nil {
		return err
	}
	r.checkAlerts()
	r.checkTransitions()
	r.checkEvalErrors(e.Stats().EvalErrors)
	return nil
}

// checkEvalErrors fails the test if a rule failed to evaluate (or to
// expand its labels or annotations), as promtool does: such a rule cannot
// fire, so assertions that it does not would pass.
func (r *runner) checkEvalErrors(n uint64) {
	if n == 0 {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d rule evaluation errors", n)
	for _, l := range r.evalLogs {
		b.WriteString("\n  ")
		b.WriteString(l)
	}
	r.failf(r.g.Line, r.g.Col, "%s", b.String())
}

// diagnostics is the engine's Logger during a test: it keeps each
// diagnostic (a rule's evaluation error, logged once per rule by each
// engine) once, with the test time it came at, and passes it on.
type diagnostics struct {
	next  slog.Handler
	r     *runner
	attrs []slog.Attr
}

func (d *diagnostics) Enabled(ctx context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (d *diagnostics) Handle(ctx context.Context, rec slog.Record) error {
	// The message and its error, which names the rule's file:line:col;
	// without one, the message and its attributes.
	var cause error
	var b strings.Builder
	b.WriteString(rec.Message)
	attr := func(a slog.Attr) bool {
		if err, ok := a.Value.Any().(error); ok && cause == nil {
			cause = err
		}
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	}
	for _, a := range d.attrs {
		attr(a)
	}
	rec.Attrs(attr)
	msg := b.String()
	if cause != nil {
		msg = rec.Message + ": " + cause.Error()
	}
	if !slices.ContainsFunc(d.r.evalLogs, func(l string) bool { return strings.HasSuffix(l, ": "+msg) }) {
		d.r.evalLogs = append(d.r.evalLogs, "at "+fmtOffset(d.r.now-d.r.g.Start)+": "+msg)
	}
	if d.next.Enabled(ctx, rec.Level) {
		return d.next.Handle(ctx, rec)
	}
	return nil
}

func (d *diagnostics) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &diagnostics{next: d.next.WithAttrs(attrs), r: d.r, attrs: append(slices.Clip(d.attrs), attrs...)}
}

func (d *diagnostics) WithGroup(name string) slog.Handler {
	return &diagnostics{next: d.next.WithGroup(name), r: d.r, attrs: d.attrs}
}

// pause is a restart or a reload of the engine, at engine time at.
type pause struct {
	at     int64
	reload bool
}

// breaks returns the test's restarts and reloads in time order, a restart
// before a reload at the same time.
func (r *runner) breaks() []pause {
	var out []pause
	for _, t := range r.g.Delivery.RestartAt {
		out = append(out, pause{at: r.g.Start + int64(t)})
	}
	for _, t := range r.g.Delivery.ReloadAt {
		out = append(out, pause{at: r.g.Start + int64(t), reload: true})
	}
	slices.SortStableFunc(out, func(a, b pause) int { return cmp.Compare(a.at, b.at) })
	return out
}

// interrupt restarts e, or reloads its rules, at b.at.
func (r *runner) interrupt(ctx context.Context, e *fault.Engine, b pause) (*fault.Engine, error) {
	if !b.reload {
		return r.restart(ctx, e, b.at)
	}
	if err := e.Advance(ctx, b.at); err != nil {
		return nil, err
	}
	if err := e.Update(ctx, r.cfg.Rules); err != nil {
		return nil, fmt.Errorf("reload_at %s: %w", fmtOffset(b.at-r.g.Start), err)
	}
	return e, nil
}

// restart advances e to t, snapshots it and restores the snapshot into a
// new engine with the same configuration, as a process restarted after a
// crash would.
func (r *runner) restart(ctx context.Context, e *fault.Engine, t int64) (*fault.Engine, error) {
	if err := e.Advance(ctx, t); err != nil {
		return nil, err
	}
	var snap bytes.Buffer
	if err := e.Snapshot(&snap); err != nil {
		return nil, fmt.Errorf("restart_at %s: %w", fmtOffset(t-r.g.Start), err)
	}
	restored, err := fault.Restore(r.cfg, &snap)
	if err != nil {
		return nil, fmt.Errorf("restart_at %s: %w", fmtOffset(t-r.g.Start), err)
	}
	return restored, nil
}

// deliveries builds the test's deliveries, in arrival order. It reports a
// late entry that matches no sample.
func (r *runner) deliveries() ([]stream.Sample, bool) {
	g := r.g
	d := g.Delivery
	copies := max(d.Copies, 1)
	lateUsed := make([]bool, len(d.Late))
	var out []stream.Sample
	for _, in := range g.Series {
		id := stream.Hash(in.Name, in.Labels)
		for k, v := range in.Values {
			if v.Omitted {
				continue
			}
			offset := time.Duration(k) * g.Interval
			ts := g.Start + int64(offset)
			arrival := ts + int64(d.Lag)
			for i, l := range d.Late {
				if l.At == offset && l.Match.Matches(in.Name, in.Labels) {
					arrival = ts + int64(l.By)
					lateUsed[i] = true
				}
			}
			for c := range copies {
				out = append(out, stream.Sample{
					Name: in.Name, Labels: in.Labels, Series: id,
					Time: ts, Value: v.Value,
					Arrival: arrival + int64(c)*int64(d.RedeliverAfter),
				})
			}
		}
	}
	ok := true
	for i, used := range lateUsed {
		if !used {
			l := d.Late[i]
			r.failf(l.Line, l.Col, "late: no sample of %s at %s", l.Match, fmtOffset(int64(l.At)))
			ok = false
		}
	}
	slices.SortStableFunc(out, func(a, b stream.Sample) int { return cmp.Compare(a.Arrival, b.Arrival) })
	return out, ok
}

// horizon is the engine time the test ends at: its last delivery, or its
// latest eval_time or expected transition if later.
func (r *runner) horizon() int64 {
	g := r.g
	end := g.Start
	for _, in := range g.Series {
		last := g.Start + int64(len(in.Values)-1)*int64(g.Interval) + int64(g.Delivery.Lag) + int64(max(g.Delivery.Copies, 1)-1)*int64(g.Delivery.RedeliverAfter)
		end = max(end, last)
	}
	for _, l := range g.Delivery.Late {
		end = max(end, g.Start+int64(l.At+l.By)+int64(max(g.Delivery.Copies, 1)-1)*int64(g.Delivery.RedeliverAfter))
	}
	for _, at := range g.AlertTests {
		end = max(end, g.Start+int64(at.EvalTime)+int64(g.Delivery.Lag))
	}
	for _, tt := range g.TransitionTests {
		for _, et := range tt.Transitions {
			end = max(end, g.Start+int64(et.At))
		}
	}
	return end
}

// detectorKind reports whether name is the kind of one of the engine's own
// detectors, whose events carry their kind as the alert name (absence,
// periodic_gap ...); the other kinds are events of rules, named by the
// rule's alert.
func detectorKind(name string) bool {
	switch k := fault.Kind(name); k {
	case fault.KindThreshold, fault.KindCohort, fault.KindFlapping:
		return false
	default:
		return slices.Contains(fault.Kinds(), k)
	}
}

// knownAlert reports whether some event of the test could carry the alert
// name: a rule raises it, or it is a detector's kind. Otherwise it fails
// the case at line:col: a case about an alert that cannot exist (a typo,
// a rule renamed since) would pass whatever the rules do, as promtool's
// does.
func (r *runner) knownAlert(name string, line, col int) bool {
	if _, ok := slices.BinarySearch(r.alerts, name); ok || detectorKind(name) {
		return true
	}
	raised := r.alerts
	more := ""
	if len(raised) > 10 {
		raised, more = raised[:10], ", ..."
	}
	r.failf(line, col, "alertname %s: no rule raises it (the rule files raise %s%s)", name, strings.Join(raised, ", "), more)
	return false
}

// alertLabels are an event's labels as exp_labels states them.
func alertLabels(ev *fault.Event) stream.Labels {
	var out stream.Labels
	for _, l := range ev.Labels {
		switch l.Name {
		case "__name__", "alertname", fault.OriginLabel:
			continue
		}
		out = append(out, l)
	}
	return out
}

// checkAlerts checks the alert_rule_test cases.
func (r *runner) checkAlerts() {
	g := r.g
	for _, at := range g.AlertTests {
		if !r.knownAlert(at.Alertname, at.Line, at.Col) {
			continue
		}
		until := g.Start + int64(at.EvalTime) + int64(g.Delivery.Lag)
		last := map[string]*fault.Event{} // by episode
		var order []string
		for i := range r.events {
			ev := &r.events[i]
			// A flapping episode is not another alert: it carries the
			// alert's name and labels, and the alert is firing or not as
			// its own episode's last event says.
			if ev.At > until || ev.Rule != at.Alertname || ev.Kind == fault.KindFlapping {
				continue
			}
			if _, seen := last[ev.Episode]; !seen {
				order = append(order, ev.Episode)
			}
			last[ev.Episode] = ev
		}
		var got []string
		for _, ep := range order {
			if ev := last[ep]; ev.State == fault.StateFiring {
				got = append(got, fmtAlert(alertLabels(ev), ev.Annotations))
			}
		}
		want := make([]string, len(at.ExpAlerts))
		for i, ea := range at.ExpAlerts {
			// promtool sets alertname in every exp_labels, so tests
			// written for it may state it: the case's own is dropped,
			// another one stays and fails.
			ls := slices.DeleteFunc(slices.Clone(ea.Labels), func(l stream.Label) bool {
				return l.Name == "alertname" && l.Value == at.Alertname
			})
			want[i] = fmtAlert(ls, ea.Annotations)
		}
		slices.Sort(got)
		slices.Sort(want)
		if slices.Equal(got, want) {
			continue
		}
		var b strings.Builder
		fmt.Fprintf(&b, "alertname %s at %s:", at.Alertname, fmtOffset(int64(at.EvalTime)))
		for _, w := range missing(want, got) {
			fmt.Fprintf(&b, "\n  - expected, not firing: %s", w)
		}
		for _, w := range missing(got, want) {
			fmt.Fprintf(&b, "\n  + firing, not expected: %s", w)
		}
		r.failf(at.Line, at.Col, "%s", b.String())
	}
}

// missing returns the items of a (a sorted multiset) not in b.
func missing(a, b []string) []string {
	var out []string
	b = slices.Clone(b) // matched items are deleted from the copy
	for _, x := range a {
		if i := slices.Index(b, x); i >= 0 {
			b = slices.Delete(b, i, i+1)
			continue
		}
		out = append(out, x)
	}
	return out
}

func fmtAlert(labels, annotations stream.Labels) string {
	if len(labels) == 0 {
		labels = stream.Labels{}
	}
	s := labels.String()
	if len(annotations) > 0 {
		s += " annotations " + annotations.String()
	}
	return s
}

// checkTransitions checks the transition_test cases.
func (r *runner) checkTransitions() {
	g := r.g
	for _, tt := range r.g.TransitionTests {
		if tt.Alertname != "" && !r.knownAlert(tt.Alertname, tt.Line, tt.Col) {
			continue
		}
		var got []*fault.Event
		for i := range r.events {
			if ev := &r.events[i]; tt.Alertname == "" || ev.Rule == tt.Alertname {
				got = append(got, ev)
			}
		}
		bad := -1
		for i := range max(len(got), len(tt.Transitions)) {
			if i >= len(got) || i >= len(tt.Transitions) {
				bad = i
				break
			}
			want, ev := tt.Transitions[i], got[i]
			if g.Start+int64(want.At) != ev.At || want.State != ev.State.String() || want.Kind != "" && want.Kind != string(ev.Kind) ||
				want.HasLabels && !slices.Equal(want.Labels, alertLabels(ev)) {
				bad = i
				break
			}
		}
		if bad < 0 {
			continue
		}
		what := "every event"
		if tt.Alertname != "" {
			what = "alertname " + tt.Alertname
		}
		var b strings.Builder
		fmt.Fprintf(&b, "transitions of %s differ from transition %d on:", what, bad+1)
		b.WriteString("\n  expected:")
		if len(tt.Transitions) == 0 {
			b.WriteString(" none")
		}
		for i, want := range tt.Transitions {
			line := fmt.Sprintf("at %s %s", fmtOffset(int64(want.At)), kindState(want.Kind, want.State))
			if want.HasLabels {
				line += " " + want.Labels.String()
			}
			fmt.Fprintf(&b, "\n  %s %s", mark(i, bad), line)
		}
		b.WriteString("\n  got:")
		if len(got) == 0 {
			b.WriteString(" none")
		}
		for i, ev := range got {
			name := ""
			if tt.Alertname == "" {
				name = ev.Rule + " "
			}
			kind := string(ev.Kind)
			if kind == string(fault.KindThreshold) {
				kind = ""
			}
			fmt.Fprintf(&b, "\n  %s at %s %s%s %s", mark(i, bad), fmtOffset(ev.At-g.Start), name, kindState(kind, ev.State.String()), alertLabels(ev))
		}
		r.failf(tt.Line, tt.Col, "%s", b.String())
	}
}

// kindState formats a transition's kind (when given) and state, as
// flapping/firing.
func kindState(kind, state string) string {
	if kind == "" {
		return state
	}
	return kind + "/" + state
}

func mark(i, bad int) string {
	if i == bad {
		return ">"
	}
	return " "
}

// fmtOffset formats a time offset as a Prometheus duration: 5m, 1h30m,
// 1m30s, 250ms; negative offsets with a sign.
func fmtOffset(ns int64) string {
	if ns < 0 {
		return "-" + rules.FormatDuration(time.Duration(-ns))
	}
	return rules.FormatDuration(time.Duration(ns))
}
