package ruletest

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/internal/yamlfile"
	"github.com/faultline-go/faultline/rules"
	"github.com/faultline-go/faultline/stream"
)

// Field names of each mapping of the test file format.
var (
	testTopFields        = []string{"rule_files", "evaluation_interval", "tests"}
	testGroupFields      = []string{"name", "interval", "start_timestamp", "input_series", "delivery", "alert_rule_test", "transition_test"}
	testSeriesFields     = []string{"series", "values"}
	testDeliveryFields   = []string{"copies", "lag", "redeliver_after", "late", "restart_at", "reload_at"}
	testLateFields       = []string{"series", "at", "by"}
	testAlertFields      = []string{"eval_time", "alertname", "exp_alerts"}
	testExpAlertFields   = []string{"exp_labels", "exp_annotations"}
	testTransitionFields = []string{"alertname", "exp_transitions"}
	testExpTransFields   = []string{"at", "kind", "state", "exp_labels"}
)

// Bounds of a test file, so that a short notation cannot expand into
// gigabytes ('1x1000000000').
const (
	// MaxSteps bounds the steps (samples and omitted samples) of the
	// input series of one test, all series together.
	MaxSteps = 1_000_000
	// MaxFileSteps bounds the steps of all the tests of a file, so that
	// YAML aliases of one test cannot multiply MaxSteps.
	MaxFileSteps = 5 * MaxSteps
	// MaxCopies bounds Delivery.Copies.
	MaxCopies = 100
)

// File is a parsed rule test file (see the package doc for the format).
type File struct {
	// File is the test file's name, as given to ParseFile.
	File string
	// RuleFiles are the rule files to test, as written: paths or globs,
	// relative to the test file's directory unless absolute.
	RuleFiles []string
	// EvaluationInterval is the default interval of input series; 1m when
	// not given.
	EvaluationInterval time.Duration
	// Tests are the file's tests, in file order.
	Tests []*Test

	// ruleFilePos locates the entries of RuleFiles in the file, when
	// parsed, so that one matching nothing is reported where it is.
	ruleFilePos [][2]int
}

// ruleFileAt returns the line and column of RuleFiles[i] in the test
// file, or 0, 0 for a File not parsed (or edited) by its caller.
func (tf *File) ruleFileAt(i int) (line, col int) {
	if len(tf.ruleFilePos) != len(tf.RuleFiles) {
		return 0, 0
	}
	return tf.ruleFilePos[i][0], tf.ruleFilePos[i][1]
}

// causeError is a problem in its own words that still matches its causes
// (one of rules' Err* first) with errors.Is: the text of a cause is
// sometimes worded for rule files, or says less than the problem.
type causeError struct {
	msg    string
	causes []error
}

func (e *causeError) Error() string   { return e.msg }
func (e *causeError) Unwrap() []error { return e.causes }

// Test is one test of a test file (an entry of its tests list, promtool's
// test group): input series, how they are delivered, and what must (and
// must not) fire.
type Test struct {
	// Name is the test's name; it may be empty.
	Name string
	// Interval is the time between consecutive values of the input series.
	Interval time.Duration
	// Start is the time of the first value of every input series, in Unix
	// nanoseconds.
	Start int64
	// Series are the input series.
	Series []InputSeries
	// Delivery says how the samples reach the engine.
	Delivery Delivery
	// AlertTests check which alerts fire at given times, as promtool's
	// alert_rule_test.
	AlertTests []AlertTest
	// TransitionTests check every transition of an alert (or every event)
	// over the whole test.
	TransitionTests []TransitionTest
	// Line and Col locate the test in its file.
	Line, Col int
}

// InputSeries is one input series: its identity and its values, one per
// interval from the test's start. The input series of a test are distinct:
// ParseFile refuses two with the same name and labels.
type InputSeries struct {
	Name   string
	Labels stream.Labels // sorted by name, without __name__
	Values []SeriesValue
	// Line and Col locate the series entry in its file.
	Line, Col int
}

// SeriesValue is one step of an input series.
type SeriesValue struct {
	// Value is the sample value, unless Omitted.
	Value float64
	// Omitted is set for '_' and 'stale': no sample at this step.
	// faultline has no staleness markers: a series that stops sending is
	// judged by its absence, so 'stale' is read as '_', and is kept apart
	// only for messages.
	Omitted, Stale bool
}

// Delivery says how a test's samples reach the engine. The zero Delivery
// delivers each sample once, at its own time, in order.
type Delivery struct {
	// Copies is how many times each sample is delivered (at least once).
	Copies int
	// Lag is the time from a sample's time to the arrival of its first copy.
	Lag time.Duration
	// RedeliverAfter is the time between consecutive copies of a sample.
	RedeliverAfter time.Duration
	// Late are samples that arrive later than the others.
	Late []LateSample
	// RestartAt are offsets from the test's start at which the engine is
	// snapshot and restored into a new one, as after a crash, before the
	// deliveries arriving after that time.
	RestartAt []time.Duration
	// ReloadAt are offsets from the test's start at which the engine's
	// rules are reloaded, unchanged (fault.Engine.Update), before the
	// deliveries arriving after that time.
	ReloadAt []time.Duration
	// Line and Col locate the delivery mapping in its file.
	Line, Col int
}

// LateSample delays the samples at offset At of the input series that Match
// selects: their copies arrive By after the sample time instead of Lag.
type LateSample struct {
	Match  *rules.Selector
	At, By time.Duration
	// Line and Col locate the entry in its file.
	Line, Col int
}

// AlertTest checks which alerts named Alertname are firing at EvalTime, as
// promtool does: the alerts firing must be exactly ExpAlerts. An empty
// ExpAlerts asserts that none is firing then.
type AlertTest struct {
	EvalTime  time.Duration
	Alertname string
	ExpAlerts []ExpAlert
	// Line and Col locate the test case in its file.
	Line, Col int
}

// ExpAlert is an alert expected to fire: its labels (without __name__,
// alertname and the provenance label) and its annotations.
type ExpAlert struct {
	Labels      stream.Labels
	Annotations stream.Labels
}

// TransitionTest checks every transition of the alerts named Alertname, or
// every event of the test when Alertname is empty, in order. An empty
// Transitions asserts that nothing happens at all, not even pending.
type TransitionTest struct {
	Alertname   string
	Transitions []ExpTransition
	// Line and Col locate the test case in its file.
	Line, Col int
}

// ExpTransition is one expected transition: the engine time it happens at,
// as an offset from the test's start, and the state it enters. Kind, when
// not empty, is the event's kind (threshold, flapping, absence ...); Labels,
// when HasLabels, are compared as ExpAlert.Labels are.
type ExpTransition struct {
	At        time.Duration
	Kind      string
	State     string
	Labels    stream.Labels
	HasLabels bool
	// Line and Col locate the transition in its file.
	Line, Col int
}

// ParseFile parses a rule test file (see the package doc); file names it
// in error positions. Like rules.Parse, it reports every problem, each
// with its file:line:col: the error, when not nil, is a rules.Errors,
// sorted by position, whose causes are rules' (rules.ErrMissing …).
func ParseFile(file string, src []byte) (*File, error) {
	p := newFileParser(file, src)
	tf := &File{File: file, EvaluationInterval: time.Minute}
	p.testFile(tf)
	if len(p.errs) > 0 {
		slices.SortStableFunc(p.errs, func(a, b *rules.Error) int {
			return cmp.Or(a.Line-b.Line, a.Col-b.Col)
		})
		// A node reached through many aliases reports its problem once.
		p.errs = slices.CompactFunc(p.errs, func(a, b *rules.Error) bool { return a.Error() == b.Error() })
		return nil, p.errs
	}
	return tf, nil
}

// ReadFile reads and parses a rule test file, as ParseFile.
func ReadFile(path string) (*File, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the error carries the path
		}
		// rules.ErrRead says "rule file": this one is a test file.
		return nil, rules.Errors{&rules.Error{File: path, Err: &causeError{"cannot read test file: " + err.Error(), []error{rules.ErrRead, err}}}}
	}
	return ParseFile(path, src)
}

// fileParser walks the YAML node tree of one test file, checking it
// against the format and collecting every problem. The Decoder checks the
// YAML structure; the fileParser, what the fields mean.
type fileParser struct {
	*yamlfile.Decoder
	file  string
	errs  rules.Errors
	steps int // expanded by the tests read so far (MaxFileSteps)
}

func newFileParser(file string, src []byte) *fileParser {
	p := &fileParser{file: file}
	p.Decoder = yamlfile.NewDecoder(src, func(line, col int, err error) {
		p.errs = append(p.errs, &rules.Error{File: p.file, Line: line, Col: col, Err: err})
	})
	return p
}

// selector parses an optional selector field (nil if absent or null).
func (p *fileParser) selector(fields map[string]yamlfile.Field, name string) (*rules.Selector, bool) {
	f, ok := fields[name]
	if !ok {
		return nil, true
	}
	s, ok := p.Str(f)
	if !ok {
		return nil, f.Val.Kind == yaml.ScalarNode
	}
	sel, err := rules.ParseSelector(s)
	if err != nil {
		line, col := f.Val.Line, f.Val.Column
		var se *rules.SelectorError
		if errors.As(err, &se) {
			line, col = p.ValuePos(f.Val, se.Offset)
			err = fmt.Errorf("%w: %s", rules.ErrSelector, se.Msg)
		}
		p.Report(line, col, err)
		return nil, false
	}
	return sel, true
}

func (p *fileParser) testFile(tf *File) {
	root := p.Document("a test file")
	if root == nil {
		if len(p.errs) == 0 { // not YAML (reported) is not empty
			p.Report(1, 0, fmt.Errorf("%w %q: the test file is empty", rules.ErrMissing, "tests"))
		}
		return
	}
	fields, ok := p.Fields(root, "the test file", testTopFields)
	if !ok {
		return
	}
	if f, ok := fields["rule_files"]; ok {
		items := p.List(f.Val, "rule_files")
		for _, n := range items {
			if s, ok := p.Str(yamlfile.Field{Key: f.Key, Val: n}); ok && s != "" {
				tf.RuleFiles = append(tf.RuleFiles, s)
				tf.ruleFilePos = append(tf.ruleFilePos, [2]int{n.Line, n.Column})
			} else if ok {
				p.Reportf(n, "%w: an empty rule file name", rules.ErrMissing)
			}
		}
		// An empty list (or none) is present, not missing: said where it
		// is. A list of bad entries has had each reported.
		if len(items) == 0 && (yamlfile.IsNull(f.Val) || f.Val.Kind == yaml.SequenceNode) {
			at := f.Val
			if yamlfile.IsNull(at) {
				at = f.Key
			}
			p.Report(at.Line, at.Column, &causeError{"rule_files is empty: name the rule files to test", []error{rules.ErrMissing}})
		}
	} else {
		p.Reportf(root, "%w %q: name the rule files to test", rules.ErrMissing, "rule_files")
	}
	if d, ok := p.Positive(fields, "evaluation_interval"); ok && d > 0 {
		tf.EvaluationInterval = d
	}
	f, ok := fields["tests"]
	if !ok {
		p.Reportf(root, "%w %q", rules.ErrMissing, "tests")
		return
	}
	for _, n := range p.List(f.Val, "tests") {
		if g := p.testGroup(n, tf.EvaluationInterval); g != nil {
			tf.Tests = append(tf.Tests, g)
		}
	}
}

func (p *fileParser) testGroup(n *yaml.Node, interval time.Duration) *Test {
	fields, ok := p.Fields(n, "a test", testGroupFields)
	if !ok {
		return nil
	}
	g := &Test{Interval: interval, Delivery: Delivery{Copies: 1}, Line: n.Line, Col: n.Column}
	before := len(p.errs)
	if f, ok := fields["name"]; ok {
		g.Name, _ = p.Str(f)
	}
	if d, ok := p.Positive(fields, "interval"); ok && d > 0 {
		g.Interval = d
	}
	if f, ok := fields["start_timestamp"]; ok {
		g.Start = p.timestamp(f)
	}
	steps := 0 // expanded so far, by the series that failed too
	if f, ok := fields["input_series"]; ok {
		// Two entries of one series would be one series to the engine,
		// the first sample delivered of each time winning: refused, as
		// promtool refuses their duplicate samples.
		first := map[string]int{} // series identity → line of its entry
		for _, s := range p.List(f.Val, "input_series") {
			room, limit := MaxSteps-steps, MaxSteps
			if left := MaxFileSteps - p.steps; left < room {
				room, limit = left, MaxFileSteps
			}
			in, n, ok := p.inputSeries(s, room, limit)
			steps += n
			p.steps += n
			if !ok {
				continue
			}
			key := seriesKey(in.Name, in.Labels)
			if line, dup := first[key]; dup {
				p.Report(in.Line, in.Col, fmt.Errorf("%w input series %s%s (first at line %d)", rules.ErrDuplicate, in.Name, in.Labels, line))
				continue
			}
			first[key] = in.Line
			g.Series = append(g.Series, in)
		}
	}
	if f, ok := fields["delivery"]; ok {
		g.Delivery = p.delivery(f.Val)
	}
	if f, ok := fields["alert_rule_test"]; ok {
		for _, c := range p.List(f.Val, "alert_rule_test") {
			if at, ok := p.alertTest(c); ok {
				g.AlertTests = append(g.AlertTests, at)
			}
		}
	}
	if f, ok := fields["transition_test"]; ok {
		for _, c := range p.List(f.Val, "transition_test") {
			if tt, ok := p.transitionTest(c); ok {
				g.TransitionTests = append(g.TransitionTests, tt)
			}
		}
	}
	if len(g.AlertTests)+len(g.TransitionTests) == 0 && len(p.errs) == before {
		p.Reportf(n, "%w: a test needs alert_rule_test or transition_test cases", rules.ErrMissing)
	}
	return g
}

// timestamp reads start_timestamp: Unix seconds or RFC 3339, as promtool.
func (p *fileParser) timestamp(f yamlfile.Field) int64 {
	s, ok := p.Str(f)
	if !ok {
		return 0
	}
	if secs, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(secs) && math.Abs(secs) < 9e9 {
		return int64(math.Round(secs * 1e9))
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		p.Reportf(f.Val, "%w: start_timestamp %q: want Unix seconds or an RFC 3339 time", rules.ErrValue, s)
		return 0
	}
	return t.UnixNano()
}

// inputSeries reads an input series whose values may expand to at most
// room steps (what is left of limit: the test's MaxSteps or the file's
// MaxFileSteps), and returns how many steps it expanded, even when it
// fails.
func (p *fileParser) inputSeries(n *yaml.Node, room, limit int) (InputSeries, int, bool) {
	in := InputSeries{Line: n.Line, Col: n.Column}
	fields, ok := p.Fields(n, "an input series", testSeriesFields)
	if !ok {
		return in, 0, false
	}
	good := true
	if s, ok := p.Required(fields, "series", n); ok {
		node := fields["series"].Val
		name, labels, off, err := parseSeriesNotation(s)
		if err != nil {
			line, col := p.ValuePos(node, off)
			p.Report(line, col, err)
			good = false
		}
		in.Name, in.Labels = name, labels
	} else {
		good = false
	}
	steps := 0
	if s, ok := p.Required(fields, "values", n); ok {
		vals, expanded, off, err := parseSeriesValues(s, room, limit)
		if err != nil {
			line, col := p.ValuePos(fields["values"].Val, off)
			p.Report(line, col, err)
			good = false
		}
		in.Values, steps = vals, expanded
	} else {
		good = false
	}
	return in, steps, good
}

// seriesKey is the identity of a series: its name, quoted so that it
// ends where the labels begin, and its sorted labels as Labels.String
// writes them, a form no other label set has.
func seriesKey(name string, labels stream.Labels) string {
	return strconv.Quote(name) + labels.String()
}

// parseSeriesNotation reads 'name{a="1", b="2"}': a selector whose matchers
// are all equalities, with a metric name. On error it returns the rune
// offset of the problem.
func parseSeriesNotation(s string) (string, stream.Labels, int, error) {
	sel, err := rules.ParseSelector(s)
	if err != nil {
		var se *rules.SelectorError
		if errors.As(err, &se) {
			return "", nil, se.Offset, fmt.Errorf("series: %w: %s", rules.ErrSelector, se.Msg)
		}
		return "", nil, 0, fmt.Errorf("series: %w", err)
	}
	var ls stream.Labels
	name := ""
	for _, m := range sel.Matchers() {
		if m.Op != rules.MatchEqual {
			off := 0
			if i := strings.Index(s, m.Name+m.Op.String()); i >= 0 {
				off = len([]rune(s[:i]))
			}
			return "", nil, off, fmt.Errorf("series: %w: %s: a series has labels, not matchers: use =", rules.ErrSelector, m.String())
		}
		if m.Name == "__name__" {
			name = m.Value
			continue
		}
		if m.Value != "" {
			ls = append(ls, stream.Label{Name: m.Name, Value: m.Value})
		}
	}
	if name == "" {
		return "", nil, 0, fmt.Errorf("series: %w: %q has no metric name", rules.ErrSelector, s)
	}
	ls.Sort()
	return name, ls, 0, nil
}

// ParseSeriesValues expands promtool's notation for series values, at most
// limit steps:
//
//	a          one sample (a number, Inf, -Inf or NaN)
//	a+bxn      n+1 samples a, a+b, a+2b … a+nb; a-bxn likewise
//	axn        n+1 samples a (a+0xn)
//	_          no sample at this step; _xn: n steps without one
//	stale      no sample at this step (see SeriesValue)
//
// separated by spaces: '1+1x3 _ 5x2 stale' is 1 2 3 4 _ 5 5 5 stale. On
// error it returns the rune offset of the offending token.
func ParseSeriesValues(s string, limit int) ([]SeriesValue, int, error) {
	out, _, off, err := parseSeriesValues(s, limit, limit)
	return out, off, err
}

// parseSeriesValues is ParseSeriesValues with room steps left of limit in
// all. It also returns how many steps it expanded, even when it fails.
func parseSeriesValues(s string, room, limit int) ([]SeriesValue, int, int, error) {
	var out []SeriesValue
	off := 0 // rune offset of the current token
	for tok := range strings.FieldsSeq(s) {
		off = runeIndexOf(s, tok, off)
		n, err := expandToken(tok, room-len(out), limit, func(v SeriesValue) { out = append(out, v) })
		if err != nil {
			return nil, len(out), off, fmt.Errorf("values: %w", err)
		}
		off += n
	}
	if len(out) == 0 {
		return nil, 0, 0, fmt.Errorf("values: %w: no values", rules.ErrMissing)
	}
	return out, len(out), 0, nil
}

// runeIndexOf returns the rune offset of tok in s at or after rune offset
// from.
func runeIndexOf(s, tok string, from int) int {
	i := 0
	for bi := range s {
		if i >= from && strings.HasPrefix(s[bi:], tok) {
			return i
		}
		i++
	}
	return from
}

// errSeriesValue is the cause of series notation errors: a rules.ErrValue.
var errSeriesValue error = valueError("invalid series values")

// valueError is a rules.ErrValue with its own text.
type valueError string

func (e valueError) Error() string { return string(e) }

func (e valueError) Unwrap() error { return rules.ErrValue }

// expandToken expands one token of the series notation, calling emit for
// each step, at most room of them (of limit in all). It returns the token's
// length in runes.
func expandToken(tok string, room, limit int, emit func(SeriesValue)) (int, error) {
	length := len([]rune(tok))
	base, times, hasTimes := strings.Cut(tok, "x")
	if strings.HasPrefix(strings.ToLower(tok), "inf") || strings.HasPrefix(strings.ToLower(tok), "-inf") || strings.HasPrefix(strings.ToLower(tok), "+inf") || strings.EqualFold(tok, "nan") {
		base, times, hasTimes = tok, "", false // Inf, NaN: no x inside
	}
	n := 0
	if hasTimes {
		var err error
		n, err = strconv.Atoi(times)
		if err != nil || n < 0 || strings.HasPrefix(times, "+") {
			return 0, fmt.Errorf("%w %q: the count after x must be a whole number", errSeriesValue, tok)
		}
	}
	switch base {
	case "_", "stale":
		if base == "stale" && hasTimes {
			return 0, fmt.Errorf("%w %q: stale is not repeated", errSeriesValue, tok)
		}
		count := 1
		if hasTimes {
			count = n // _xn is n steps, as in promtool
		}
		if count > room {
			return 0, fmt.Errorf("%w %q: more than %d steps in all", errSeriesValue, tok, limit)
		}
		for range count {
			emit(SeriesValue{Omitted: true, Stale: base == "stale"})
		}
		return length, nil
	}
	start, step := base, "0"
	if hasTimes {
		// a+b or a-b: the sign that splits them is the last one not at the
		// start and not after an exponent's e.
		for i := len(base) - 1; i > 0; i-- {
			if (base[i] == '+' || base[i] == '-') && base[i-1] != 'e' && base[i-1] != 'E' {
				start, step = base[:i], base[i:]
				break
			}
		}
	}
	a, errA := parseSampleValue(start)
	b, errB := parseSampleValue(step)
	if errA != nil || errB != nil {
		return 0, fmt.Errorf("%w %q: want a, a+bxn, a-bxn, axn, _, _xn or stale", errSeriesValue, tok)
	}
	if n+1 > room {
		return 0, fmt.Errorf("%w %q: more than %d steps in all", errSeriesValue, tok, limit)
	}
	for i := range n + 1 {
		emit(SeriesValue{Value: a + float64(i)*b})
	}
	return length, nil
}

// parseSampleValue parses a number, Inf, +Inf, -Inf or NaN.
func parseSampleValue(s string) (float64, error) {
	switch strings.ToLower(s) {
	case "inf", "+inf":
		return math.Inf(1), nil
	case "-inf":
		return math.Inf(-1), nil
	case "nan":
		return math.NaN(), nil
	}
	if strings.ContainsAny(s, "xX_") || s == "" {
		return 0, errSeriesValue
	}
	return strconv.ParseFloat(s, 64)
}

func (p *fileParser) delivery(n *yaml.Node) Delivery {
	d := Delivery{Copies: 1, Line: n.Line, Col: n.Column}
	if yamlfile.IsNull(n) {
		return d
	}
	fields, ok := p.Fields(n, "delivery", testDeliveryFields)
	if !ok {
		return d
	}
	if f, ok := fields["copies"]; ok {
		if s, ok := p.Str(f); ok {
			c, err := strconv.Atoi(s)
			if err != nil || c < 1 || c > MaxCopies {
				p.Reportf(f.Val, "%w: copies %q: want a whole number from 1 to %d", rules.ErrValue, s, MaxCopies)
			} else {
				d.Copies = c
			}
		}
	}
	d.Lag, _ = p.Duration(fields, "lag")
	d.RedeliverAfter, _ = p.Duration(fields, "redeliver_after")
	if f, ok := fields["late"]; ok {
		for _, c := range p.List(f.Val, "late") {
			cf, ok := p.Fields(c, "a late sample", testLateFields)
			if !ok {
				continue
			}
			l := LateSample{Line: c.Line, Col: c.Column}
			if _, given := cf["series"]; !given {
				p.Reportf(c, "%w %q", rules.ErrMissing, "series")
			}
			l.Match, _ = p.selector(cf, "series")
			for _, name := range []string{"at", "by"} {
				if _, given := cf[name]; !given {
					p.Reportf(c, "%w %q", rules.ErrMissing, name)
				}
			}
			l.At, _ = p.Duration(cf, "at")
			l.By, _ = p.Positive(cf, "by")
			d.Late = append(d.Late, l)
		}
	}
	for _, name := range []string{"restart_at", "reload_at"} {
		f, ok := fields[name]
		if !ok {
			continue
		}
		for _, c := range p.List(f.Val, name) {
			if d0, ok := p.Duration(map[string]yamlfile.Field{name: {Key: f.Key, Val: c}}, name); ok {
				if name == "restart_at" {
					d.RestartAt = append(d.RestartAt, d0)
				} else {
					d.ReloadAt = append(d.ReloadAt, d0)
				}
			}
		}
	}
	return d
}

func (p *fileParser) alertTest(n *yaml.Node) (AlertTest, bool) {
	at := AlertTest{Line: n.Line, Col: n.Column}
	fields, ok := p.Fields(n, "an alert_rule_test case", testAlertFields)
	if !ok {
		return at, false
	}
	good := true
	if _, given := fields["eval_time"]; !given {
		p.Reportf(n, "%w %q", rules.ErrMissing, "eval_time")
		good = false
	}
	var okT bool
	at.EvalTime, okT = p.Duration(fields, "eval_time")
	at.Alertname, ok = p.Required(fields, "alertname", n)
	good = good && okT && ok
	if f, ok := fields["exp_alerts"]; ok {
		for _, c := range p.List(f.Val, "exp_alerts") {
			ef, ok := p.Fields(c, "an expected alert", testExpAlertFields)
			if !ok {
				good = false
				continue
			}
			var ea ExpAlert
			if f, ok := ef["exp_labels"]; ok {
				ea.Labels, _, ok = p.Labels(f, "exp_labels", nil)
				good = good && ok
			}
			if f, ok := ef["exp_annotations"]; ok {
				ea.Annotations, _, ok = p.Labels(f, "exp_annotations", nil)
				good = good && ok
			}
			at.ExpAlerts = append(at.ExpAlerts, ea)
		}
	}
	return at, good
}

func (p *fileParser) transitionTest(n *yaml.Node) (TransitionTest, bool) {
	tt := TransitionTest{Line: n.Line, Col: n.Column}
	fields, ok := p.Fields(n, "a transition_test case", testTransitionFields)
	if !ok {
		return tt, false
	}
	good := true
	if f, ok := fields["alertname"]; ok {
		tt.Alertname, _ = p.Str(f)
	}
	f, ok := fields["exp_transitions"]
	if !ok {
		p.Reportf(n, "%w %q: list the transitions, or [] for none", rules.ErrMissing, "exp_transitions")
		return tt, false
	}
	for _, c := range p.List(f.Val, "exp_transitions") {
		cf, ok := p.Fields(c, "an expected transition", testExpTransFields)
		if !ok {
			good = false
			continue
		}
		et := ExpTransition{Line: c.Line, Col: c.Column}
		if _, given := cf["at"]; !given {
			p.Reportf(c, "%w %q", rules.ErrMissing, "at")
			good = false
		}
		et.At, ok = p.Duration(cf, "at")
		good = good && ok
		et.State, ok = p.Required(cf, "state", c)
		good = good && ok
		if ok && !slices.Contains([]string{"pending", "firing", "resolved"}, et.State) {
			p.Reportf(cf["state"].Val, "%w %q: want pending, firing or resolved", rules.ErrValue, et.State)
			good = false
		}
		if f, ok := cf["kind"]; ok {
			et.Kind, _ = p.Str(f)
			if !slices.Contains(fault.Kinds(), fault.Kind(et.Kind)) {
				p.Reportf(f.Val, "%w %q: want one of %v", rules.ErrValue, et.Kind, fault.Kinds())
				good = false
			}
		}
		if f, ok := cf["exp_labels"]; ok {
			et.HasLabels = true
			et.Labels, _, ok = p.Labels(f, "exp_labels", nil)
			good = good && ok
		}
		tt.Transitions = append(tt.Transitions, et)
	}
	return tt, good
}
