// Package rules reads faultline rule files: it decodes them strictly,
// reports every problem of a file at once with its file:line:col, and
// compiles them into an immutable Ruleset that evaluates rules against
// samples, from many goroutines at once.
//
// # Rule files
//
// A rule file is YAML in the shape of a Prometheus alerting rule file, plus
// an optional series section:
//
//	groups:
//	  - name: api
//	    rules:
//	      - alert: HighErrorRate
//	        match: 'http_errors{job="api", env=~"prod|stage"}'
//	        expr: value > 0.05 && labels.job == "api"
//	        for: 2m
//	        keep_firing_for: 5m
//	        labels: {severity: page}
//	        annotations:
//	          summary: 'errors at {{ $value }} on {{ $labels.instance }}'
//	series:
//	  - match: 'check_up{region="eu"}'
//	    cadence: 60s
//	    absent_after: 5m
//
// Group fields: name (required, unique in the file) and rules. Rule fields:
//
//   - alert: the alert's name (required).
//   - match: a series selector (see Selector); the rule is evaluated only for
//     the series it matches. Without one, the rule sees every series.
//   - expr: the condition, an expr-lang expression that must be boolean
//     (required; see below).
//   - resolve: an optional second condition, for hysteresis: a firing alert
//     resolves only when expr no longer holds and resolve does (Zabbix'
//     recovery expression, Kapacitor's reset lambdas).
//   - levels: severity levels, lowest first, instead of expr and resolve:
//     each a mapping of severity (required, unique in the rule), expr
//     (required) and resolve (optional). See Alert lifecycle.
//   - for: how long the condition must hold before the alert fires, as a
//     Prometheus duration: 1h30m, 90s, 2m, 1d, 1w, 250ms, or 0 (the default).
//   - for_tolerance: how many consecutive evaluations without the condition
//     a pending alert survives: an integer from 0 (the default) to 255.
//   - keep_firing_for: how long a firing alert keeps firing after it would
//     have resolved, as a duration; 0 by default.
//   - no_data: what the alert does when its series goes absent: keep (the
//     default), resolve or alert.
//   - flapping: a mapping of low and high, percentages from 0 to 100 with
//     low < high, each defaulting to Nagios' 20 and 30; it turns flap
//     detection on ({} for the defaults). Off without it (or with null).
//   - labels: labels set on the alert. Names match [a-zA-Z_][a-zA-Z0-9_]*,
//     do not start with "__" and are not faultline_origin (the engine's
//     provenance label); with levels, not "severity", which the level
//     sets. Values are templates, as annotations are (a value without
//     "{{" is plain text). As in Prometheus, a value that is or expands to
//     "" removes the label, the series' own label of that name included;
//     see Rule.ApplyLabels.
//   - annotations: Go text/template templates, Prometheus style: $labels is
//     the alert's labels ({{ $labels.instance }}, a missing label is empty),
//     $value the sample value. Unlike Prometheus, whose annotations see the
//     series' labels alone, these are the labels the event carries: the
//     series' with the rule's labels applied and, with levels, the level's
//     severity, so that one annotation can say which level fired. Besides
//     text/template's builtins they may call humanize,
//     humanizePercentage, humanizeDuration, toUpper and toLower.
//     Templates run on every event, so they must run in bounded
//     time: Parse refuses, at the offending character, a range over
//     anything but $labels (or .Labels), such as {{ range 1000000000 }},
//     which loops for seconds writing nothing; a range inside another
//     range's body; template and block, which can recurse; and declaring
//     or assigning $labels. So an expansion runs each part of its template
//     at most once per label of the series. An expansion that would write
//     more than 64 KiB fails (ErrTemplate), as Prometheus' templates do
//     not, and so does one whose functions (print, printf, js ...) would
//     build more than 64 KiB of strings: {{ $x = print $x $x }} doubles $x
//     on every line. printf takes no width or precision from an argument
//     (%*d): it bounds them before formatting. See Rule.ExpandAnnotations.
//   - cohort: makes the rule a cohort rule (see "Cohort rules" below):
//     {by: [label, ...], window: duration}.
//
// Series entries describe what is expected of matching series, for the
// absence and gap detectors: match (required), cadence (the interval
// between samples, positive; without it the engine learns it) and
// absent_after (how long a series may be silent before it is absent,
// positive, at most MaxAbsentSlots cadences). The first entry that matches a series applies (Ruleset.Series).
//
// Decoding is strict: unknown fields, duplicate fields, wrong YAML kinds,
// missing required fields, duplicate group names, bad durations, bad
// selectors or regexes, bad label names, bad templates, expressions that
// do not compile or are not boolean, values out of range (ErrValue) and
// fields that exclude each other (ErrConflict: expr or resolve with levels,
// label severity with levels) are all errors. Parse reports all of
// them, each as an *Error with the file:line:col of the offending node; for
// expressions, selectors and templates the position is that of the
// offending character inside the value, for plain, quoted and block (| and
// >) YAML scalars alike.
//
// Expressions are not PromQL. One that does not compile and looks like
// PromQL (selectors with {matchers} or [ranges], PromQL's functions and
// aggregations, by, without, offset, names with a colon, or a bare metric
// name compared with a number) has one hint appended to its error, saying
// what to write instead: absent() is absent_after on a series entry,
// rate(x[5m]) > 1 is match: x with expr: rate(5m) > 1, aggregations are
// cohort rules. A rule with a record field is refused as an unknown field
// that says recording rules are not supported.
//
// # Alert lifecycle
//
// The engine keeps one alert per rule and series, moved on every fresh
// sample of the series (in sample time) by package alert's state machine,
// which documents it exactly. In short, with the choices faultline makes
// where the systems it borrows from differ:
//
//   - for is Prometheus': pending when the condition starts to hold, firing
//     at the first evaluation at which it holds and for has passed. A
//     pending alert whose condition stops holding is resolved (an event, as
//     its pending was one), unless for_tolerance forgives it: up to that
//     many consecutive misses, the for clock running on, never firing on a
//     miss. A missing sample is no evaluation and never resets for.
//   - levels move as Kapacitor's determineLevel: up to the highest level
//     that holds, if at or above the current one; else stay while the
//     current level's resolve does not hold; else down to the highest level
//     that holds, or resolved. for gates the start of an episode only; a
//     pending alert follows the highest level that holds and fires at it.
//     Each level change of a firing alert is an event; the engine labels
//     events with the level's severity.
//   - keep_firing_for is Prometheus' code: the countdown starts at the
//     first evaluation that would resolve the alert, and a condition that
//     holds again cancels it. It does not protect a pending alert.
//   - no_data applies when the absence detector fires for the series: keep
//     changes nothing (no data is not a recovery); resolve resolves at
//     once, keep_firing_for notwithstanding; alert fires at once, skipping
//     for, at the alert's level or the first one.
//   - flapping is Nagios' weighted percent state change over the last 21
//     recorded states (firing at which level, or not), one per evaluation.
//     While the alert flaps its transitions are held back; one flapping
//     event marks the start and the end, after which the current state is
//     emitted if it is not the last one emitted.
//
// Lint flags for_tolerance without for (tolerance-without-for) and labels
// templated with $value (label-from-value).
//
// # Expressions
//
// Expressions are written in the expr language
// (https://expr-lang.org/docs/language-definition) and compiled once, at
// Parse time, against this typed environment:
//
//	value   float64    the sample value
//	name    string     the sample (metric) name
//	labels  map        the sample's labels: labels.job, labels["job"];
//	                   a missing label reads as ""; "job" in labels tells
//	                   whether a label is set
//	ts      time.Time  the sample time, in UTC: ts.Hour(), ts.Weekday() ...
//
// So, for example:
//
//	value > 0.05 && labels.job == "api"
//	labels.env in ["prod", "stage"] and not ("canary" in labels)
//	name startsWith "http_" && labels.code matches "^5.."
//	value > 100 && ts.Hour() >= 8 && ts.Hour() < 20
//
// The expression must be boolean; its type is checked at Parse time.
// Besides expr's operators (arithmetic, comparisons, and, or, not, ?:, ??,
// in, matches, contains, startsWith, endsWith, let, list and map literals,
// slices) and the methods of ts (ts.Hour(), ts.Weekday(), ts.Add(d) ...),
// expressions may call these functions:
//
//	len, abs, ceil, floor, round, min, max, int, float,
//	upper, lower, trim, trimPrefix, trimSuffix,
//	hasPrefix, hasSuffix, indexOf, lastIndexOf, date, duration
//
// now() is not available: rules run in sample time, never on the wall
// clock, so use ts. date() and duration() take constant strings and are
// evaluated once, at Parse time; date() reads times without a zone in UTC.
// $env is not available.
//
// # Windowed functions
//
// An expression may read the recent history of its series, over a window
// of sample time that ends at the sample being evaluated, with functions
// named as in PromQL; the window is a constant duration, written bare:
//
//	rate(5m) > 10                            per-second increase of a counter
//	increase(1h) >= 3                        its increase
//	delta(10m) < -5                          last − first of a gauge, extrapolated
//	avg_over_time(10m) > 0.9 && value > 1    also min_, max_, sum_, count_,
//	                                         stddev_ and last_over_time
//	changes(15m) > 4 || resets(1h) > 0       value changes; counter resets
//	value - previous() > 10                  the sample before this one
//
// The window of rate(5m) at a sample of time t is (t−5m, t]: left-open, as
// in Prometheus 3. Durations are checked at Parse, each error at its
// position: positive, at most MaxWindow (24h), in the syntax of for
// ("5m", "1h30m"; quoted, rate("5m"), works too). An expression may call
// at most 16 different windowed functions. A function whose window holds
// too few samples gives NaN, and every comparison with NaN is false, so
// rate(5m) > 10 does not hold on a series' first sample (two samples are
// needed for rate, increase, delta and previous, one for the others;
// count_over_time, changes and resets give 0 on none).
//
// rate, increase and delta are Prometheus' (promql extrapolatedRate, as of
// 2.52 and 3.x), so a threshold ported from a Prometheus rule means the
// same: a value below its predecessor is a counter reset and adds the
// predecessor (for rate and increase, not delta); the result is
// extrapolated from the first sample in the window to the window's start
// when that sample is within 1.1 average sample intervals of it, and by
// half an interval otherwise, and never back past the time the counter
// would have been zero. The window ends at the sample being evaluated,
// so nothing is extrapolated at its end. So increase() of an integer
// counter need not be an integer (increase(55s) of a counter rising 1 every
// 10 s is 5.5, from 5 measured); we keep that rather than invent a second
// meaning for a name Prometheus users know. Cohort rules, whose sums are
// read as counts, do not extrapolate (see Aggregate.Increase).
// sum/avg_over_time use Kahan summation and stddev_over_time the
// population deviation, as Prometheus.
//
// The engine keeps the history a rule needs (Rule.Window,
// Rule.UsesHistory), per series and bounded; see fault.Config.MaxHistory.
// Outside the engine, Evaluator.EvalHistory takes it as a History. Windowed
// functions run on the fast path too, and evaluating them does not
// allocate.
//
// # Cohort rules
//
// A rule with a cohort field compares groups of series, cohorts, instead
// of looking at one series:
//
//	rules:
//	  - alert: FirmwareReconnectStorm
//	    match: device_reconnects_total
//	    cohort: {by: [firmware], window: 1m}
//	    expr: >
//	      cohort.series >= 10
//	      && cohort.rate / cohort.series >= 5 * others.rate / max(others.series, 1)
//	    for: 2m
//
// The series the rule's match selects are grouped by the values of the by
// labels (one to eight label names, unique, not starting with __). Once
// per window of sample time (windows aligned to the Unix epoch), the
// expression is evaluated for every cohort that reported in the window,
// against three Aggregates: cohort (that cohort), others (every other
// series the rule selects) and fleet (all of them), with labels holding
// the cohort's by labels. Each has the fields series, samples, sum, avg,
// min, max, increase and rate (see Aggregate). value, name, ts and the
// windowed functions are not available: the expression is about the
// window, not a sample. by and window are required, and unknown fields
// are errors, each at its position. The engine's semantics of windows,
// episodes and events are described in package fault (cohort.go).
//
// # Bounds
//
// A rule is evaluated for every sample it selects, in the process that
// embeds faultline, so one evaluation must do a small, bounded amount of
// work whatever the expression and the sample: an expression that could
// loop or build without bound (reduce(1..40, #acc + #acc, name), a chain of
// let b = a + a; let c = b + b ...) must not take that process down. So
// Parse refuses, each with the position of the offending part:
//
//   - the other builtins of expr: those that loop over a collection (all,
//     any, one, none, filter, map, count, sum, find, findIndex, findLast,
//     findLastIndex, groupBy, sortBy, reduce), those that build strings or
//     lists (repeat, replace, split, join, toJSON, keys ...) and the rest;
//   - ranges a..b whose bounds are not integer constants, or ranges that
//     span more than 1000 numbers in all (compare instead: x >= 1 && x <=
//     5000);
//   - matches with a pattern that is not a string constant, and date() or
//     duration() with arguments that are not: they are compiled once;
//     patterns that compile to more than 2048 instructions in all
//     (.{0,1000} alone is 2002);
//   - uses of labels other than labels.x, labels[e], "x" in labels and
//     len(labels): as a whole, labels would be copied for every sample;
//   - ts.Format and ts.AppendFormat, whose results grow with their layout,
//     and x?.[k] with a computed k on anything but labels;
//   - expressions longer than 16 KiB, or of more than 1000 operators,
//     names and constants.
//
// What remains has no loop, so each part of an expression runs at most
// once per evaluation, and the strings an evaluation builds (with +, upper
// and lower) are counted: an evaluation that would build more than 64 KiB of
// them fails with an *Error wrapping ErrExpr, which the engine counts,
// leaving its alerts as they are. Hence no evaluation allocates more than
// 256 KiB, whatever the expression and the sample, even one that fails (its
// error quotes at most 128 bytes of a string of the sample), and its time is
// proportional to the size of the expression times that of the strings it
// reads, or, for matches, to the size of its patterns times that of the
// strings they match. The reasoning is in limits.go.
//
// Label and annotation templates are bounded likewise (see annotations
// above; the reasoning is at maxTemplateBytes in template.go).
//
// # Evaluation
//
// A Ruleset is immutable and safe for concurrent use. To evaluate, each
// goroutine uses its own Evaluator, which holds the scratch space of
// evaluation:
//
//	rs, err := rules.ParseFiles("rules.yaml")
//	...
//	ev := rules.NewEvaluator() // one per goroutine
//	var idx []int
//	idx = rs.Select(s.Name, s.Labels, idx[:0]) // rules whose selector matches
//	for _, i := range idx {
//		firing, err := ev.Eval(rs.Rule(i), &s)
//		...
//	}
//
// Select finds the rules of a series with one map lookup on its name (rules
// whose selector fixes a metric name are indexed by it) plus the rules
// without a fixed name, so expressions are never evaluated for series they
// do not concern.
//
// Eval does not allocate. Expressions made only of comparisons of value,
// name, labels and ts.Hour()-style fields with constants, combined with
// and, or and not (most rules), run as compiled Go closures in a few
// nanoseconds; the others run on expr's virtual machine, which reads value,
// name, ts and labels from the sample without copying them. What allocates
// is what an expression builds (strings, lists, maps) and some calls (of
// methods of ts, and of functions that return strings or take several
// arguments), within the bounds above; operators never do.
//
// This package holds the rule file format and compiled rules; it must not
// know about engines, state, time passing or events: evaluating a rule
// against one sample and its history is all it does.
package rules
