package rules

import (
	"cmp"
	"fmt"
	"reflect"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
	"unicode/utf8"

	"github.com/expr-lang/expr/ast"
)

// Names of the lints, as Finding.Check reports them. They are stable: tools
// may filter on them.
const (
	// CheckNeverMatches: a rule that can never fire, because its selector
	// contradicts itself (env="a" and env="b"), or its expression is
	// always false (it folds to false, or it compares name or a label with
	// a value the selector excludes); or a series entry whose selector
	// contradicts itself.
	CheckNeverMatches = "never-matches"
	// CheckShadowedSeries: a series entry that never applies, because an
	// earlier entry matches every series it matches and the first matching
	// entry wins.
	CheckShadowedSeries = "shadowed-series"
	// CheckDuplicateName: an alerting rule with the same alert name and
	// the same selector as an earlier rule of its file.
	CheckDuplicateName = "duplicate-name"
	// CheckForBelowCadence: a rule whose for is not zero but less than
	// twice the cadence declared for its series.
	CheckForBelowCadence = "for-below-cadence"
	// CheckToleranceWithoutFor: a rule with for_tolerance but no for: it is
	// never pending, so the tolerance never applies.
	CheckToleranceWithoutFor = "tolerance-without-for"
	// CheckLabelFromValue: a rule label whose template reads the sample
	// value ($value, or .Value where the dot is the data): the labels
	// of one alert then change from event to event, and tools that key
	// alerts by their labels (Alertmanager) see each event as another
	// alert.
	CheckLabelFromValue = "label-from-value"
)

// Finding is one lint finding: a rule or series entry that is valid but
// almost certainly not what its author meant. Findings are warnings; the
// Ruleset they come from is fully usable.
type Finding struct {
	// File, Line and Col locate the rule or series entry concerned (the
	// start of its mapping in the rule file).
	File      string
	Line, Col int
	// Group and Rule name the rule's group and alert; both are empty for
	// a series entry.
	Group string
	Rule  string
	// Check is the lint's stable short name, one of the Check constants.
	Check string
	// Message says what is wrong and, where it can, how to fix it.
	Message string
}

// String formats the finding as
//
//	file:line:col: group "g": rule "r": message (check)
//
// leaving out the parts that are empty or zero, as Error does.
func (f Finding) String() string {
	e := Error{File: f.File, Line: f.Line, Col: f.Col, Group: f.Group, Rule: f.Rule, Err: lintMessage(f.Message)}
	return e.Error() + " (" + f.Check + ")"
}

type lintMessage string

func (m lintMessage) Error() string { return string(m) }

// Lint looks for rules and series entries that are valid but certainly
// wrong, and returns them as findings sorted by position within each file;
// files come in the order in which the rules, then the series entries,
// name them (the order they were given, unless a file has no rules). It
// reports only what it can prove from the rule files alone:
//
//   - never-matches: a rule whose selector no series can satisfy (the same
//     label required to equal two values, or a value its other matchers
//     exclude, as in env="prod", env!="prod" or env=~"", env!=""), or whose
//     expression is false for every series its selector matches (it folds
//     to false, as value > 1 && false does, or it compares name or a label
//     with a value the selector excludes, as match cpu with name == "mem"
//     does); a series entry whose selector no series can satisfy.
//   - shadowed-series: a series entry that an earlier entry makes dead,
//     because the earlier one matches every series this one matches and
//     the first matching entry wins.
//   - duplicate-name: an alerting rule with the same alert name and an
//     identical selector (the same matchers, in any order) as an earlier
//     rule of the same file, as promtool's duplicate-rules lint has it.
//     Both raise the same alert on the same series, and their events get
//     the same IDs when both start on the same sample.
//   - for-below-cadence: a rule whose for is not zero but less than twice
//     the cadence its series are declared with, as pint advises: such a
//     for waits for only one or two more samples. The series entry must
//     certainly be the one that applies to every series the rule matches.
//
// Anything uncertain is left alone: regexes are compared only where their
// languages are finite and small, and expressions are only understood in
// their comparisons of name and labels with constants, combined with and,
// or, not and the conditional operator.
func (rs *Ruleset) Lint() []Finding {
	if rs == nil {
		return nil
	}
	var out []Finding
	add := func(f Finding) { out = append(out, f) }

	dead := make([]bool, len(rs.rules)) // rules that never fire
	for i, r := range rs.rules {
		if msg, ok := ruleNeverFires(r); ok {
			dead[i] = true
			add(r.finding(CheckNeverMatches, msg))
		}
	}
	lintDuplicates(rs.rules, add)
	seriesFacts := make([]selFacts, len(rs.series))
	for i := range rs.series {
		seriesFacts[i] = factsOf(rs.series[i].Match)
	}
	for i, r := range rs.rules {
		if !dead[i] {
			lintForBelowCadence(r, rs.series, seriesFacts, add)
		}
		lintLifecycle(r, add)
	}
	lintSeries(rs.series, seriesFacts, add)

	order := make(map[string]int) // files in the order given
	for _, r := range rs.rules {
		if _, ok := order[r.File]; !ok {
			order[r.File] = len(order)
		}
	}
	for _, s := range rs.series {
		if _, ok := order[s.File]; !ok {
			order[s.File] = len(order)
		}
	}
	slices.SortStableFunc(out, func(a, b Finding) int {
		return cmp.Or(
			cmp.Compare(order[a.File], order[b.File]),
			cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Col, b.Col),
		)
	})
	return out
}

func (r *Rule) finding(check, msg string) Finding {
	return Finding{File: r.File, Line: r.Line, Col: r.Col, Group: r.Group, Rule: r.Alert, Check: check, Message: msg}
}

func (s *SeriesSpec) finding(check, msg string) Finding {
	return Finding{File: s.File, Line: s.Line, Col: s.Col, Check: check, Message: msg}
}

// ruleNeverFires reports why rule r can never fire, if it certainly cannot.
func ruleNeverFires(r *Rule) (string, bool) {
	facts := factsOf(r.Match)
	if why, ok := facts.contradiction(); ok {
		return "match can never select a series, so the rule never fires: " + why, true
	}
	if r.program == nil {
		return "", false
	}
	v := facts.eval(r.program.Node())
	if !v.known || v.val {
		return "", false
	}
	if len(v.why) == 0 {
		return "expr reduces to false, so the rule never fires", true
	}
	return fmt.Sprintf("expr is false for every series match selects, so the rule never fires: %s", strings.Join(v.why, "; ")), true
}

// lintDuplicates reports rules with the alert name and selector of an
// earlier rule of the same file.
func lintDuplicates(rules []*Rule, add func(Finding)) {
	type key struct{ file, alert, sel string }
	first := make(map[key]*Rule)
	for _, r := range rules {
		k := key{r.File, r.Alert, selectorKey(r.Match)}
		f, dup := first[k]
		if !dup {
			first[k] = r
			continue
		}
		where := "line " + strconv.Itoa(f.Line)
		if f.Group != r.Group {
			where += fmt.Sprintf(" (group %q)", f.Group)
		}
		add(r.finding(CheckDuplicateName, fmt.Sprintf(
			"same alert name and match as the rule at %s: both raise %s on the same series, and their events get the same IDs when both start on one sample; rename one or make the matches differ",
			where, r.Alert)))
	}
}

// lintForBelowCadence reports a rule whose for is below twice the cadence
// declared for all of its series.
func lintForBelowCadence(r *Rule, series []SeriesSpec, facts []selFacts, add func(Finding)) {
	if r.For <= 0 || r.Cohort != nil { // a cohort rule's for counts windows, not samples
		return
	}
	spec, ok := seriesOfRule(factsOf(r.Match), series, facts)
	if !ok || spec.Cadence <= 0 || r.For >= 2*spec.Cadence {
		return
	}
	c, at := spec.Cadence, ref(r.File, spec.File, spec.Line, spec.Col)
	var msg string
	if r.For < c {
		msg = fmt.Sprintf("for: %s is shorter than the cadence %s declared for its series (series entry at %s): it fires on the next sample that still holds, as for: %s would",
			FormatDuration(r.For), FormatDuration(c), at, FormatDuration(c))
	} else {
		msg = fmt.Sprintf("for: %s is less than twice the cadence %s declared for its series (series entry at %s), so it waits for only one or two more samples",
			FormatDuration(r.For), FormatDuration(c), at)
	}
	msg += fmt.Sprintf("; use for: %s or more", FormatDuration(2*c))
	add(r.finding(CheckForBelowCadence, msg))
}

// lintLifecycle reports suspicious combinations of the alert lifecycle
// fields of rule r.
func lintLifecycle(r *Rule, add func(Finding)) {
	if r.ForTolerance > 0 && r.For <= 0 {
		add(r.finding(CheckToleranceWithoutFor, fmt.Sprintf(
			"for_tolerance: %d without for: the alert fires on the first evaluation that holds and is never pending, so the tolerance never applies; add a for or remove for_tolerance",
			r.ForTolerance)))
	}
	for i, l := range r.Labels {
		if i < len(r.labelTemplates) && r.labelTemplates[i] != nil && readsValue(r.labelTemplates[i].t) {
			add(r.finding(CheckLabelFromValue, fmt.Sprintf(
				"label %s reads $value: the alert's labels change with every event, so tools that key alerts by labels see a new alert each time; put the value in an annotation",
				l.Name)))
		}
	}
}

// readsValue reports whether template t reads the sample value: $value,
// or .Value, $.Value, . or $ where they are the template's data. Inside
// with and range the dot is the pipeline's value, not the data.
func readsValue(t *template.Template) bool {
	if t == nil || t.Tree == nil || t.Root == nil {
		return false
	}
	for _, n := range t.Root.Nodes {
		if int(n.Position()) < len(templateDefs) {
			continue // templateDefs declares $labels and $value
		}
		if nodeReadsValue(n, true) {
			return true
		}
	}
	return false
}

// nodeReadsValue is readsValue for one node of a template's tree, dotIsData
// saying whether the dot is the template's data there.
func nodeReadsValue(n parse.Node, dotIsData bool) bool {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return false
		}
		for _, c := range n.Nodes {
			if nodeReadsValue(c, dotIsData) {
				return true
			}
		}
	case *parse.ActionNode:
		return nodeReadsValue(n.Pipe, dotIsData)
	case *parse.PipeNode:
		if n == nil {
			return false
		}
		for _, c := range n.Cmds {
			if nodeReadsValue(c, dotIsData) {
				return true
			}
		}
	case *parse.CommandNode:
		for _, a := range n.Args {
			if nodeReadsValue(a, dotIsData) {
				return true
			}
		}
	case *parse.VariableNode: // $value, $ (the data), $.Value
		return n.Ident[0] == "$value" || n.Ident[0] == "$" && (len(n.Ident) == 1 || n.Ident[1] == "Value")
	case *parse.FieldNode:
		return dotIsData && n.Ident[0] == "Value"
	case *parse.DotNode:
		return dotIsData
	case *parse.ChainNode: // (pipeline).Field
		if len(n.Field) > 0 && n.Field[0] == "Value" {
			if v, ok := n.Node.(*parse.VariableNode); ok && len(v.Ident) == 1 && v.Ident[0] == "$" {
				return true
			}
			if _, ok := n.Node.(*parse.DotNode); ok && dotIsData {
				return true
			}
		}
		return nodeReadsValue(n.Node, dotIsData)
	case *parse.IfNode:
		return branchReadsValue(&n.BranchNode, dotIsData, dotIsData)
	case *parse.WithNode:
		return branchReadsValue(&n.BranchNode, dotIsData, false)
	case *parse.RangeNode:
		return branchReadsValue(&n.BranchNode, dotIsData, false)
	}
	return false
}

// branchReadsValue is nodeReadsValue for if, with and range: the pipeline
// and else branch see the outer dot, the body bodyDot.
func branchReadsValue(b *parse.BranchNode, dotIsData, bodyDot bool) bool {
	return nodeReadsValue(b.Pipe, dotIsData) || nodeReadsValue(b.List, bodyDot) || nodeReadsValue(b.ElseList, dotIsData)
}

// seriesOfRule returns the series entry that applies to every series sel
// matches, if that is certain: the first entry that may match any of them
// matches all of them. Entries that certainly match none are skipped.
func seriesOfRule(rule selFacts, series []SeriesSpec, facts []selFacts) (SeriesSpec, bool) {
	for i, s := range series {
		if disjoint(rule, facts[i]) {
			continue
		}
		if covers(facts[i], rule) {
			return s, true
		}
		return SeriesSpec{}, false // some of the rule's series may get this entry, some another
	}
	return SeriesSpec{}, false
}

// lintSeries reports series entries that never apply.
func lintSeries(series []SeriesSpec, facts []selFacts, add func(Finding)) {
	dead := make([]bool, len(series))
	for j := range series {
		s := &series[j]
		if why, ok := facts[j].contradiction(); ok {
			dead[j] = true
			add(s.finding(CheckNeverMatches, "match can never select a series, so the entry never applies: "+why))
			continue
		}
		for i := range j {
			if dead[i] || !covers(facts[i], facts[j]) {
				continue
			}
			e := &series[i]
			add(s.finding(CheckShadowedSeries, fmt.Sprintf(
				"the entry never applies: the entry at %s (match %s) matches every series this one matches, and the first matching entry wins; remove this one or move it above that one",
				ref(s.File, e.File, e.Line, e.Col), e.Match)))
			break
		}
	}
}

// ref names a position: "line 7" in the file from, file:line:col in
// another.
func ref(from, file string, line, col int) string {
	if file == from {
		return "line " + strconv.Itoa(line)
	}
	return fmt.Sprintf("%s:%d:%d", file, line, col)
}

// selectorKey identifies a selector up to the order and repetition of its
// matchers.
func selectorKey(s *Selector) string {
	if s == nil {
		return ""
	}
	keys := make([]string, len(s.matchers))
	for i := range s.matchers {
		keys[i] = s.matchers[i].String()
	}
	slices.Sort(keys)
	return strings.Join(slices.Compact(keys), ", ")
}

// Selector reasoning.
//
// Everything below answers questions about the set of series a selector
// matches, and answers "yes" only when that is certain. A label's matchers
// constrain its value (the empty string for a missing label); where some
// matcher limits the value to a finite set (=, a regex with a small finite
// language, !~".+", !~".*"), the set of values all the matchers accept is
// computed exactly, by running the matchers on each candidate. Otherwise
// the only facts used are "some matcher rejects v", which is exact too.

// maxFiniteValues bounds the finite languages enumerated from regexes.
const maxFiniteValues = 256

// selFacts is a selector's matchers grouped by label (the name as
// __name__), with its labels in a fixed order.
type selFacts struct {
	name   string // the name the selector fixes, or ""
	labels []string
	by     map[string][]*mfact
}

// mfact is a matcher with what is known of the values it accepts.
type mfact struct {
	*Matcher
	cand   []string // a finite set holding every value it accepts, if candOK
	rej    []string // the values it rejects, if rejOK (finitely many)
	candOK bool
	rejOK  bool
}

func factsOf(s *Selector) selFacts {
	f := selFacts{name: s.Name(), by: make(map[string][]*mfact)}
	if s == nil {
		return f
	}
	for i := range s.matchers {
		m := &mfact{Matcher: &s.matchers[i]}
		m.cand, m.candOK = candidates(m.Matcher)
		m.rej, m.rejOK = rejectedValues(m.Matcher)
		if _, ok := f.by[m.Name]; !ok {
			f.labels = append(f.labels, m.Name)
		}
		f.by[m.Name] = append(f.by[m.Name], m)
	}
	slices.Sort(f.labels)
	return f
}

// contradiction explains why no series satisfies the matchers, if none
// certainly does.
func (f selFacts) contradiction() (string, bool) {
	for _, l := range f.labels {
		ms := f.by[l]
		if vals, ok := allowedValues(ms); ok && len(vals) == 0 {
			what := fmt.Sprintf("value of label %q", l)
			if l == nameLabel {
				what = "metric name"
			}
			return fmt.Sprintf("no %s satisfies %s", what, describeMatchers(ms)), true
		}
	}
	return "", false
}

func describeMatchers(ms []*mfact) string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = m.String()
	}
	return strings.Join(parts, ", ")
}

// disjoint reports whether no series can satisfy both a and b.
func disjoint(a, b selFacts) bool {
	if a.name != "" && b.name != "" && a.name != b.name {
		return true
	}
	both := selFacts{by: make(map[string][]*mfact)}
	for _, f := range []selFacts{a, b} {
		for _, l := range f.labels {
			if _, ok := both.by[l]; !ok {
				both.labels = append(both.labels, l)
			}
			both.by[l] = append(both.by[l], f.by[l]...)
		}
	}
	_, ok := both.contradiction()
	return ok
}

// covers reports whether every series inner matches, outer matches too:
// each matcher of outer is implied by inner's matchers on its label.
func covers(outer, inner selFacts) bool {
	if outer.name != "" && inner.name != "" && outer.name != inner.name {
		return false // a shortcut: only an inner that matches nothing would be covered
	}
	for _, l := range outer.labels {
		for _, m := range outer.by[l] {
			if !implied(inner.by[l], m) {
				return false
			}
		}
	}
	return true
}

// implied reports whether every value that satisfies ms satisfies m.
func implied(ms []*mfact, m *mfact) bool {
	for _, o := range ms {
		if o.Op == m.Op && o.Value == m.Value {
			return true
		}
	}
	if vals, ok := allowedValues(ms); ok {
		for _, v := range vals {
			if !m.Matches(v) {
				return false
			}
		}
		return true
	}
	if m.rejOK {
		for _, v := range m.rej {
			if !rejects(ms, v) {
				return false
			}
		}
		return true
	}
	return false
}

// rejects reports whether some matcher of ms rejects v.
func rejects(ms []*mfact, v string) bool {
	for _, m := range ms {
		if !m.Matches(v) {
			return true
		}
	}
	return false
}

// allowedValues returns the values that satisfy every matcher of ms, if
// some matcher limits them to a finite set.
func allowedValues(ms []*mfact) ([]string, bool) {
	var best []string
	found := false
	for _, m := range ms {
		if m.candOK && (!found || len(m.cand) < len(best)) {
			best, found = m.cand, true
		}
	}
	if !found {
		return nil, false
	}
	vals := []string{}
	for _, v := range best {
		if !rejects(ms, v) {
			vals = append(vals, v)
		}
	}
	return vals, true
}

// candidates returns a finite set holding every value m accepts, if there
// is one.
func candidates(m *Matcher) ([]string, bool) {
	switch m.Op {
	case MatchEqual:
		return []string{m.Value}, true
	case MatchRegexp:
		if re := m.compiled(); re != nil && re.kind == reAlts {
			return re.alts, true
		}
		return finiteLanguage(m.Value)
	case MatchNotRegexp:
		switch re := m.compiled(); {
		case re == nil:
		case re.kind == reAny:
			return []string{}, true
		case re.kind == reNonEmpty:
			return []string{""}, true
		}
	}
	return nil, false
}

// rejectedValues returns the values m rejects, if they are finitely many.
func rejectedValues(m *Matcher) ([]string, bool) {
	var c []string
	switch m.Op {
	case MatchNotEqual:
		return []string{m.Value}, true
	case MatchNotRegexp:
		var ok bool
		if c, ok = finiteLanguage(m.Value); !ok {
			return nil, false
		}
	case MatchRegexp:
		switch re := m.compiled(); {
		case re == nil:
			return nil, false
		case re.kind == reAny:
			return []string{}, true
		case re.kind == reNonEmpty:
			c = []string{""}
		default:
			return nil, false
		}
	default:
		return nil, false
	}
	out := []string{}
	for _, v := range c {
		if !m.Matches(v) {
			out = append(out, v)
		}
	}
	return out, true
}

// compiled returns the matcher's compiled regex, compiling it for a
// matcher built by hand; nil if it does not compile.
func (m *Matcher) compiled() *valueRegexp {
	if m.re != nil {
		return m.re
	}
	re, err := compileValueRegexp(m.Value)
	if err != nil {
		return nil
	}
	return re
}

// finiteLanguage returns a finite set of strings that holds every string
// the fully anchored regex expr matches, if it can find one of at most
// maxFiniteValues strings. The set may hold strings the regex does not
// match (zero-width assertions are taken to always hold), so callers run
// the matcher on each.
func finiteLanguage(expr string) ([]string, bool) {
	re, err := syntax.Parse("(?s:"+expr+")", syntax.Perl)
	if err != nil {
		return nil, false
	}
	set, ok := enumerate(re.Simplify())
	if !ok {
		return nil, false
	}
	slices.Sort(set)
	return slices.Compact(set), true
}

func enumerate(re *syntax.Regexp) ([]string, bool) {
	switch re.Op {
	case syntax.OpNoMatch:
		return []string{}, true
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText,
		syntax.OpEndText, syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return []string{""}, true
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return nil, false
		}
		return []string{string(re.Rune)}, true
	case syntax.OpCharClass:
		n := 0
		for i := 0; i+1 < len(re.Rune); i += 2 {
			n += int(re.Rune[i+1]-re.Rune[i]) + 1
			if n > maxFiniteValues {
				return nil, false
			}
		}
		out := make([]string, 0, n)
		for i := 0; i+1 < len(re.Rune); i += 2 {
			for r := re.Rune[i]; r <= re.Rune[i+1]; r++ {
				if utf8.ValidRune(r) {
					out = append(out, string(r))
				}
			}
		}
		return out, true
	case syntax.OpCapture:
		return enumerate(re.Sub[0])
	case syntax.OpQuest:
		sub, ok := enumerate(re.Sub[0])
		if !ok || len(sub) >= maxFiniteValues {
			return nil, false
		}
		return append(sub, ""), true
	case syntax.OpConcat:
		out := []string{""}
		for _, s := range re.Sub {
			sub, ok := enumerate(s)
			if !ok || len(out)*len(sub) > maxFiniteValues {
				return nil, false
			}
			next := make([]string, 0, len(out)*len(sub))
			for _, a := range out {
				for _, b := range sub {
					next = append(next, a+b)
				}
			}
			out = next
		}
		return out, true
	case syntax.OpAlternate:
		var out []string
		for _, s := range re.Sub {
			sub, ok := enumerate(s)
			if !ok || len(out)+len(sub) > maxFiniteValues {
				return nil, false
			}
			out = append(out, sub...)
		}
		return out, true
	}
	return nil, false // stars, pluses, any character, case folding
}

// Expression reasoning.
//
// eval walks a compiled expression (after expr's optimizer and the label
// patchers) and decides it where it can: constants, not, and, or, the
// conditional operator, comparisons of constants, and comparisons of name
// or a label (labels.x, labels["x"]) with string constants, judged against
// what the rule's selector says of that label. Anything else is unknown.
// "Known false" means the expression never yields true (it may fail at run
// time, which does not fire the rule either), and "known true" that it
// never yields false.

// verdict is what eval knows of an expression.
type verdict struct {
	known bool
	val   bool
	why   []string // the selector facts that decided it
}

func (f selFacts) eval(n ast.Node) verdict {
	switch n := n.(type) {
	case *ast.BoolNode:
		return verdict{known: true, val: n.Value}
	case *ast.ConstantNode:
		if b, ok := n.Value.(bool); ok {
			return verdict{known: true, val: b}
		}
	case *ast.UnaryNode:
		if n.Operator == "!" || n.Operator == "not" {
			v := f.eval(n.Node)
			v.val = !v.val
			return v
		}
	case *ast.ConditionalNode:
		c := f.eval(n.Cond)
		if c.known {
			branch := n.Exp2
			if c.val {
				branch = n.Exp1
			}
			v := f.eval(branch)
			if v.known {
				v.why = append(slices.Clip(c.why), v.why...)
			}
			return v
		}
		a, b := f.eval(n.Exp1), f.eval(n.Exp2)
		if a.known && b.known && a.val == b.val {
			return verdict{known: true, val: a.val, why: append(slices.Clip(a.why), b.why...)}
		}
	case *ast.CallNode:
		if isCallOf(n, fnHasLabel, 1) {
			if name, ok := n.Arguments[0].(*ast.StringNode); ok && name.Value != nameLabel {
				// A label that cannot be empty is set.
				if ms := f.by[name.Value]; rejects(ms, "") {
					return verdict{known: true, val: true, why: []string{
						fmt.Sprintf("%q in labels always holds under %s", name.Value, describeMatchers(ms))}}
				}
			}
		}
	case *ast.BinaryNode:
		return f.evalBinary(n)
	}
	return verdict{}
}

func (f selFacts) evalBinary(n *ast.BinaryNode) verdict {
	switch n.Operator {
	case "&&", "and", "||", "or":
		absorb := n.Operator == "||" || n.Operator == "or" // the value that decides alone
		l, r := f.eval(n.Left), f.eval(n.Right)
		switch {
		case l.known && l.val == absorb:
			return l
		case r.known && r.val == absorb:
			return r
		case l.known && r.known:
			return verdict{known: true, val: !absorb, why: append(slices.Clip(l.why), r.why...)}
		}
		return verdict{}
	case "==", "!=", "<", "<=", ">", ">=":
		if v, ok := compareConsts(n); ok {
			return verdict{known: true, val: v}
		}
		if n.Operator != "==" && n.Operator != "!=" {
			return verdict{}
		}
		leaf, str := n.Left, n.Right
		if _, ok := leaf.(*ast.StringNode); ok {
			leaf, str = str, leaf
		}
		s, ok := str.(*ast.StringNode)
		if !ok {
			return verdict{}
		}
		v := f.leafIs(leaf, []string{s.Value}, fmt.Sprintf("== %q", s.Value))
		if n.Operator == "!=" && v.known {
			v.val = !v.val
			v.why = f.reason(leaf, fmt.Sprintf("!= %q", s.Value), v.val)
		}
		return v
	case "in":
		set, ok := constStrings(n.Right)
		if !ok {
			return verdict{}
		}
		quoted := make([]string, len(set))
		for i, s := range set {
			quoted[i] = strconv.Quote(s)
		}
		return f.leafIs(n.Left, set, "in ["+strings.Join(quoted, ", ")+"]")
	case "startsWith", "endsWith", "contains", "matches":
		s, ok := n.Right.(*ast.StringNode)
		if !ok {
			return verdict{}
		}
		var pred func(string) bool
		switch n.Operator {
		case "startsWith":
			pred = func(v string) bool { return strings.HasPrefix(v, s.Value) }
		case "endsWith":
			pred = func(v string) bool { return strings.HasSuffix(v, s.Value) }
		case "contains":
			pred = func(v string) bool { return strings.Contains(v, s.Value) }
		default:
			re, err := regexp.Compile(s.Value)
			if err != nil {
				return verdict{}
			}
			pred = re.MatchString
		}
		return f.leafSatisfies(n.Left, pred, fmt.Sprintf("%s %q", n.Operator, s.Value))
	}
	return verdict{}
}

// leafLabel returns the label whose value leaf reads: __name__ for name,
// x for labels.x and labels["x"] (patched to __label("x")).
func leafLabel(leaf ast.Node) (string, string, bool) {
	switch n := leaf.(type) {
	case *ast.ChainNode: // labels?.x: the optional member is patched away
		return leafLabel(n.Node)
	case *ast.IdentifierNode:
		if n.Value == envName && (n.Type() == nil || n.Type().Kind() == reflect.String) {
			return nameLabel, envName, true
		}
	case *ast.CallNode:
		if isCallOf(n, fnLabel, 1) {
			if s, ok := n.Arguments[0].(*ast.StringNode); ok && s.Value != nameLabel {
				if isLabelName(s.Value) {
					return s.Value, "labels." + s.Value, true
				}
				return s.Value, "labels[" + strconv.Quote(s.Value) + "]", true
			}
		}
	}
	return "", "", false
}

// leafIs decides "leaf is one of set".
func (f selFacts) leafIs(leaf ast.Node, set []string, op string) verdict {
	label, _, ok := leafLabel(leaf)
	if !ok {
		return verdict{}
	}
	ms := f.by[label]
	if len(ms) == 0 {
		return verdict{}
	}
	none := true
	for _, v := range set {
		if !rejects(ms, v) {
			none = false
			break
		}
	}
	if none {
		return verdict{known: true, val: false, why: f.reason(leaf, op, false)}
	}
	if vals, ok := allowedValues(ms); ok && len(vals) > 0 {
		for _, v := range vals {
			if !slices.Contains(set, v) {
				return verdict{}
			}
		}
		return verdict{known: true, val: true, why: f.reason(leaf, op, true)}
	}
	return verdict{}
}

// leafSatisfies decides pred(leaf) when the selector limits the leaf to a
// finite set of values.
func (f selFacts) leafSatisfies(leaf ast.Node, pred func(string) bool, op string) verdict {
	label, _, ok := leafLabel(leaf)
	if !ok {
		return verdict{}
	}
	vals, ok := allowedValues(f.by[label])
	if !ok || len(vals) == 0 {
		return verdict{}
	}
	first := pred(vals[0])
	for _, v := range vals[1:] {
		if pred(v) != first {
			return verdict{}
		}
	}
	return verdict{known: true, val: first, why: f.reason(leaf, op, first)}
}

func (f selFacts) reason(leaf ast.Node, op string, val bool) []string {
	label, text, _ := leafLabel(leaf)
	how := "is always false"
	if val {
		how = "always holds"
	}
	return []string{fmt.Sprintf("%s %s %s under %s", text, op, how, describeMatchers(f.by[label]))}
}

// compareConsts compares two number or two string constants.
func compareConsts(n *ast.BinaryNode) (bool, bool) {
	if a, ok := n.Left.(*ast.StringNode); ok {
		if b, ok := n.Right.(*ast.StringNode); ok {
			return compareOp(n.Operator, strings.Compare(a.Value, b.Value)), true
		}
		return false, false
	}
	ai, aInt := n.Left.(*ast.IntegerNode)
	bi, bInt := n.Right.(*ast.IntegerNode)
	if aInt && bInt {
		return compareOp(n.Operator, cmp.Compare(ai.Value, bi.Value)), true
	}
	a, ok1 := constFloat(n.Left)
	b, ok2 := constFloat(n.Right)
	if ok1 && ok2 {
		return compareOp(n.Operator, cmp.Compare(a, b)), true
	}
	return false, false
}

func constFloat(n ast.Node) (float64, bool) {
	switch n := n.(type) {
	case *ast.FloatNode:
		return n.Value, n.Value == n.Value // NaN compares false with everything
	case *ast.IntegerNode:
		if n.Value <= maxExactInt && n.Value >= -maxExactInt {
			return float64(n.Value), true
		}
	}
	return 0, false
}

func compareOp(op string, c int) bool {
	switch op {
	case "==":
		return c == 0
	case "!=":
		return c != 0
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	case ">":
		return c > 0
	}
	return c >= 0
}

// constStrings returns the members of a constant list of strings, in any
// of the forms the optimizer leaves.
func constStrings(n ast.Node) ([]string, bool) {
	var out []string
	switch n := n.(type) {
	case *ast.ConstantNode:
		switch v := n.Value.(type) {
		case map[string]struct{}:
			for s := range v {
				out = append(out, s)
			}
		case []any:
			for _, e := range v {
				s, ok := e.(string)
				if !ok {
					return nil, false
				}
				out = append(out, s)
			}
		default:
			return nil, false
		}
	case *ast.ArrayNode:
		for _, e := range n.Nodes {
			s, ok := e.(*ast.StringNode)
			if !ok {
				return nil, false
			}
			out = append(out, s.Value)
		}
	default:
		return nil, false
	}
	slices.Sort(out)
	return slices.Compact(out), true
}
