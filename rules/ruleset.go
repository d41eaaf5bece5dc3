package rules

import (
	"iter"
	"slices"
	"time"

	"github.com/expr-lang/expr/vm"

	"github.com/faultline-go/faultline/alert"
	"github.com/faultline-go/faultline/stream"
)

// Rule is one alerting rule of a Ruleset.
//
// Rules are built by Parse and shared: treat every field as read-only.
type Rule struct {
	// Index is the rule's position in Ruleset.Rules.
	Index int
	// Group is the name of the rule's group.
	Group string
	// Alert is the name of the alert the rule raises.
	Alert string
	// Expr is the source of the rule's expression; empty when the rule has
	// levels in the rule file.
	Expr string
	// Resolve is the source of the rule's resolve expression, or empty;
	// always empty when the rule has levels in the rule file.
	Resolve string
	// Levels are the rule's severity levels, lowest first: at least one.
	// A rule written without levels has one level, with an empty Severity
	// and the rule's Expr and Resolve.
	Levels []Level
	// For is how long the expression must hold before the alert fires; 0
	// fires at once.
	For time.Duration
	// ForTolerance is how many consecutive evaluations without the
	// condition a pending alert survives (0 to 255).
	ForTolerance int
	// KeepFiringFor keeps a firing alert firing that long after it would
	// have resolved.
	KeepFiringFor time.Duration
	// NoData is what the rule's alerts do when their series goes absent.
	NoData alert.NoData
	// Flapping configures flap detection; zero when off.
	Flapping alert.Flapping
	// Match selects the series the rule applies to; nil means all series.
	Match *Selector
	// Labels are set on the alert's labels, sorted by name; their values
	// are templates, as annotations are, not expanded, and an empty one
	// removes the label (see ApplyLabels).
	Labels stream.Labels
	// Annotations are the rule's annotation templates, sorted by name and
	// not expanded (see ExpandAnnotations).
	Annotations stream.Labels
	// Window is the longest window of the rule's windowed functions
	// (rate(5m), avg_over_time(10m) ...), 0 if it calls none or only
	// previous(); for a cohort rule, Cohort.Window. The engine keeps that
	// much history of each series the rule selects (see UsesHistory).
	Window time.Duration
	// Cohort, when not nil, makes this a cohort rule: its expression is
	// evaluated once per window for each cohort of the series it selects,
	// against aggregates of the cohort and of the others (see Cohort).
	Cohort *Cohort
	// File, Line and Col locate the rule in its rule file.
	File      string
	Line, Col int

	windows        []windowCall       // the windowed calls of Expr, by __window index (one level)
	history        bool               // a condition calls windowed functions
	program        *vm.Program        // compiled Expr; immutable, shared by Evaluators
	fast           fastPred           // Expr as closures, when it has only fast forms
	templates      []*boundedTemplate // parallel to Annotations
	labelTemplates []*boundedTemplate // parallel to Labels; nil for a plain value
}

// Level is one severity level of a rule.
type Level struct {
	// Severity names the level; the engine adds it to the alert's labels as
	// "severity". Empty for the one level of a rule without levels.
	Severity string
	// Expr is the source of the level's condition.
	Expr string
	// Resolve is the source of the level's resolve condition, or empty: an
	// alert at this level resolves (or drops to a lower level) only when
	// its condition no longer holds and this one does.
	Resolve string
	// Line and Col locate the level in its rule file (the rule, for a rule
	// without levels).
	Line, Col int

	cond, reset pred
}

// pred is a compiled condition.
type pred struct {
	program *vm.Program
	fast    fastPred
	windows []windowCall  // its windowed calls, by __window index
	window  time.Duration // the longest of their windows
}

// AlertRule returns the alert state machine's view of the rule.
func (r *Rule) AlertRule() alert.Rule {
	return alert.Rule{For: r.For, ForTolerance: r.ForTolerance, KeepFiringFor: r.KeepFiringFor, NoData: r.NoData, Flapping: r.Flapping}
}

// Matches reports whether the rule applies to the series with the given
// name and labels, that is whether its selector matches.
func (r *Rule) Matches(name string, labels stream.Labels) bool {
	return r.Match.Matches(name, labels)
}

// UsesHistory reports whether the rule's conditions (expr, resolve, those
// of its levels) call windowed functions, so that the series it selects need a history (of Window, and
// at least the sample before the current one for previous()).
func (r *Rule) UsesHistory() bool { return r.history }

// Equal reports whether r and o are the same rule: same group, alert,
// expressions, levels, for, for_tolerance, keep_firing_for, no_data,
// flapping, cohort, selector, labels and annotations. Index and position are
// not compared, so a rule that only moved within its file is equal. Reloads
// use this to keep the state of unchanged rules.
func (r *Rule) Equal(o *Rule) bool {
	if r == nil || o == nil {
		return r == o
	}
	return r.Group == o.Group &&
		r.Alert == o.Alert &&
		r.Expr == o.Expr &&
		r.Resolve == o.Resolve &&
		slices.EqualFunc(r.Levels, o.Levels, func(a, b Level) bool {
			return a.Severity == b.Severity && a.Expr == b.Expr && a.Resolve == b.Resolve
		}) &&
		r.For == o.For &&
		r.ForTolerance == o.ForTolerance &&
		r.KeepFiringFor == o.KeepFiringFor &&
		r.NoData == o.NoData &&
		r.Flapping == o.Flapping &&
		r.Cohort.Equal(o.Cohort) &&
		selectorEqual(r.Match, o.Match) &&
		slices.Equal(r.Labels, o.Labels) &&
		slices.Equal(r.Annotations, o.Annotations)
}

func selectorEqual(a, b *Selector) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.String() == b.String()
}

// SeriesSpec is one entry of a rule file's series section: what is expected
// of the series it matches, for absence and gap detection.
type SeriesSpec struct {
	// Match selects the series the entry applies to; never nil.
	Match *Selector
	// Cadence is the declared interval between samples of a matching
	// series; 0 means the engine learns it.
	Cadence time.Duration
	// AbsentAfter is how long a matching series may stay silent before it
	// counts as absent; 0 means the engine's default.
	AbsentAfter time.Duration
	// File, Line and Col locate the entry in its rule file.
	File      string
	Line, Col int
}

// Equal reports whether s and o say the same thing (their positions are
// not compared).
func (s SeriesSpec) Equal(o SeriesSpec) bool {
	return selectorEqual(s.Match, o.Match) && s.Cadence == o.Cadence && s.AbsentAfter == o.AbsentAfter
}

// Ruleset is the parsed, compiled content of one or more rule files: the
// alerting rules in file order and the series expectations.
//
// A Ruleset is immutable after Parse and safe for concurrent use; its
// rules are evaluated with an Evaluator per goroutine. A nil *Ruleset is
// valid and empty.
type Ruleset struct {
	rules     []*Rule
	series    []SeriesSpec
	ruleIdx   selIndex
	seriesIdx selIndex
}

func newRuleset(rules []*Rule, series []SeriesSpec) *Ruleset {
	rs := &Ruleset{rules: rules, series: series}
	for i, r := range rules {
		r.Index = i
		rs.ruleIdx.add(i, r.Match)
	}
	for i := range series {
		rs.seriesIdx.add(i, series[i].Match)
	}
	return rs
}

// Len returns the number of rules.
func (rs *Ruleset) Len() int {
	if rs == nil {
		return 0
	}
	return len(rs.rules)
}

// Rules returns the rules in file order (files in the order given); the
// rule at position i has Index i. The slice is a copy; the rules are shared
// and must not be modified.
func (rs *Ruleset) Rules() []*Rule {
	if rs == nil {
		return nil
	}
	return slices.Clone(rs.rules)
}

// Rule returns the rule with index i, as returned by Select. It panics if i
// is out of range.
func (rs *Ruleset) Rule(i int) *Rule {
	return rs.rules[i]
}

// SeriesSpecs returns a copy of the series expectations, in file order.
func (rs *Ruleset) SeriesSpecs() []SeriesSpec {
	if rs == nil {
		return nil
	}
	return slices.Clone(rs.series)
}

// Select appends to dst the indices, in ascending order, of the rules that
// apply to the series with the given name and labels, and returns the
// extended slice. Rules whose selector fixes a metric name are found by a
// map lookup on name, so a sample only meets the selectors of rules that
// could concern it. A nil Ruleset selects nothing.
//
// Select does not allocate if dst has room; reuse dst across calls.
func (rs *Ruleset) Select(name string, labels stream.Labels, dst []int) []int {
	if rs == nil {
		return dst
	}
	for i := range rs.ruleIdx.candidates(name) {
		if rs.rules[i].Match.Matches(name, labels) {
			dst = append(dst, i)
		}
	}
	return dst
}

// Series returns the first series entry, in file order, whose selector
// matches the series with the given name and labels. A nil Ruleset has
// none.
func (rs *Ruleset) Series(name string, labels stream.Labels) (SeriesSpec, bool) {
	if rs == nil {
		return SeriesSpec{}, false
	}
	for i := range rs.seriesIdx.candidates(name) {
		if rs.series[i].Match.Matches(name, labels) {
			return rs.series[i], true
		}
	}
	return SeriesSpec{}, false
}

// Equal reports whether rs and o hold equal rules (see Rule.Equal) and
// equal series entries, in the same order. Callers use it to skip a reload
// that changes nothing. Two nil or empty Rulesets are equal.
func (rs *Ruleset) Equal(o *Ruleset) bool {
	if rs.Len() != o.Len() || len(rs.seriesView()) != len(o.seriesView()) {
		return false
	}
	for i := 0; i < rs.Len(); i++ {
		if !rs.rules[i].Equal(o.rules[i]) {
			return false
		}
	}
	a, b := rs.seriesView(), o.seriesView()
	for i := range a {
		if !a[i].Equal(b[i]) {
			return false
		}
	}
	return true
}

// seriesView is SeriesSpecs without the copy.
func (rs *Ruleset) seriesView() []SeriesSpec {
	if rs == nil {
		return nil
	}
	return rs.series
}

// selIndex indexes selectors by the metric name they fix.
type selIndex struct {
	byName  map[string][]int // ascending indices of selectors that fix a name
	unnamed []int            // ascending indices of the others (and of nil)
}

func (ix *selIndex) add(i int, s *Selector) {
	if name := s.Name(); name != "" {
		if ix.byName == nil {
			ix.byName = make(map[string][]int)
		}
		ix.byName[name] = append(ix.byName[name], i)
		return
	}
	ix.unnamed = append(ix.unnamed, i)
}

// candidates yields, in ascending order, the indices of the selectors that
// may match a series named name: those fixing that name and those fixing
// none.
func (ix *selIndex) candidates(name string) iter.Seq[int] {
	return func(yield func(int) bool) {
		named, unnamed := ix.byName[name], ix.unnamed
		for len(named) > 0 || len(unnamed) > 0 {
			var i int
			if len(unnamed) == 0 || (len(named) > 0 && named[0] < unnamed[0]) {
				i, named = named[0], named[1:]
			} else {
				i, unnamed = unnamed[0], unnamed[1:]
			}
			if !yield(i) {
				return
			}
		}
	}
}

// MaxAbsentSlots is the most slots a series may miss before it is absent:
// an absent_after of more cadences than this is an error, and for a series
// whose cadence is learned, absence is judged after at most this many
// missed slots.
const MaxAbsentSlots = 65535
