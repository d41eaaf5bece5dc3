package rules

import (
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/faultline-go/faultline/alert"
	"github.com/faultline-go/faultline/internal/yamlfile"
	"github.com/faultline-go/faultline/stream"
)

// Parse parses and compiles one rule file; file names it in error
// positions and in Rule.File. Every problem of the file is reported, each
// with its position, not only the first: the error, when not nil, is an
// Errors, sorted by position.
func Parse(file string, src []byte) (*Ruleset, error) {
	var b builder
	b.parse(file, src)
	return b.finish()
}

// ParseFiles reads, parses and compiles rule files into one Ruleset, with
// the rules of each file in file order and the files in the order given.
// A file given more than once (the same path once cleaned and made
// absolute, as when a glob and a name both give it) is read once, at its
// first place, as Prometheus loads it once: twice, every alert of its
// rules would be raised twice. Problems of all files, files that cannot be
// read included, are reported together: the error, when not nil, is an
// Errors.
func ParseFiles(paths ...string) (*Ruleset, error) {
	var b builder
	for _, path := range uniquePaths(paths) {
		src, err := os.ReadFile(path)
		if err != nil {
			b.errs = append(b.errs, &Error{File: path, Err: fmt.Errorf("%w: %w", ErrRead, unwrapPath(err))})
			continue
		}
		b.parse(path, src)
	}
	return b.finish()
}

// uniquePaths returns paths without those that name a file an earlier one
// names: the same path once cleaned and made absolute.
func uniquePaths(paths []string) []string {
	seen := make(map[string]bool, len(paths))
	out := make([]string, 0, len(paths))
	for _, p := range paths {
		key := filepath.Clean(p)
		if abs, err := filepath.Abs(p); err == nil {
			key = abs
		}
		if !seen[key] {
			seen[key] = true
			out = append(out, p)
		}
	}
	return out
}

// builder collects the rules, series entries and errors of the files of one
// Ruleset.
type builder struct {
	rules  []*Rule
	series []SeriesSpec
	errs   Errors
}

func (b *builder) parse(file string, src []byte) {
	p := newFileParser(file, src)
	p.parseFile()
	sortErrors(p.errs)
	b.errs = append(b.errs, p.errs...)
	b.rules = append(b.rules, p.rules...)
	b.series = append(b.series, p.series...)
}

// unwrapPath drops the path an *fs.PathError repeats: errors carry it.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// sortErrors sorts one file's errors by position, stably.
func sortErrors(errs Errors) {
	slices.SortStableFunc(errs, func(a, b *Error) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Col - b.Col
	})
}

func (b *builder) finish() (*Ruleset, error) {
	if len(b.errs) > 0 {
		return nil, b.errs
	}
	return newRuleset(b.rules, b.series), nil
}

// originLabel is fault.OriginLabel, the provenance label of every event:
// a rule label may neither replace it nor, empty, remove it. A test of the
// rules_test package checks that the two agree.
const originLabel = "faultline_origin"

// Field names of each mapping of the format.
var (
	topFields    = []string{"groups", "series"}
	groupFields  = []string{"name", "rules"}
	ruleFields   = []string{"alert", "match", "expr", "resolve", "levels", "for", "for_tolerance", "keep_firing_for", "no_data", "flapping", "labels", "annotations", "cohort"}
	levelFields  = []string{"severity", "expr", "resolve"}
	flapFields   = []string{"low", "high"}
	seriesFields = []string{"match", "cadence", "absent_after"}
)

// fileParser walks the YAML node tree of one file, checking it against the
// format and collecting every problem. The Decoder checks the YAML
// structure; the fileParser, what the fields mean.
type fileParser struct {
	*yamlfile.Decoder
	file string
	errs Errors

	group, rule string // context for errors

	rules  []*Rule
	series []SeriesSpec
}

func newFileParser(file string, src []byte) *fileParser {
	p := &fileParser{file: file}
	p.Decoder = yamlfile.NewDecoder(src, func(line, col int, err error) {
		p.errs = append(p.errs, &Error{File: p.file, Line: line, Col: col, Group: p.group, Rule: p.rule, Err: err})
	})
	p.Hint = func(what, key string) string {
		if key == "record" && what == "a rule" {
			return "; recording rules are not supported: write an alerting rule, with alert, match and expr"
		}
		return ""
	}
	return p
}

func (p *fileParser) parseFile() {
	root := p.Document("a rule file")
	if root == nil {
		return
	}
	fields, ok := p.Fields(root, "the rule file", topFields)
	if !ok {
		return
	}
	if f, ok := fields["groups"]; ok {
		p.groups(f.Val)
	}
	if f, ok := fields["series"]; ok {
		p.seriesList(f.Val)
	}
}

// selector parses an optional selector field (nil if absent or null).
func (p *fileParser) selector(fields map[string]yamlfile.Field, name string) (*Selector, bool) {
	f, ok := fields[name]
	if !ok {
		return nil, true
	}
	s, ok := p.Str(f)
	if !ok {
		return nil, f.Val.Kind == yaml.ScalarNode
	}
	sel, err := ParseSelector(s)
	if err != nil {
		line, col := f.Val.Line, f.Val.Column
		var se *SelectorError
		if errors.As(err, &se) {
			line, col = p.ValuePos(f.Val, se.Offset)
			err = fmt.Errorf("%w: %s", ErrSelector, se.Msg)
		}
		p.Report(line, col, err)
		return nil, false
	}
	return sel, true
}

func (p *fileParser) groups(n *yaml.Node) {
	seen := make(map[string]*yaml.Node)
	for _, g := range p.List(n, "groups") {
		p.group1(g, seen)
	}
}

// peek returns the value of the scalar field key of mapping n, if there is
// one, so that errors found before the field is read can name their rule or
// group.
func peek(n *yaml.Node, key string) string {
	if n.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Value == key && v.Kind == yaml.ScalarNode && !yamlfile.IsNull(v) {
			return v.Value
		}
	}
	return ""
}

func (p *fileParser) group1(n *yaml.Node, seen map[string]*yaml.Node) {
	p.group = peek(n, "name")
	defer func() { p.group = "" }()
	fields, ok := p.Fields(n, "a group", groupFields)
	if !ok {
		return
	}
	if name, ok := p.Required(fields, "name", n); ok {
		nameNode := fields["name"].Val
		p.group = name
		if first, dup := seen[name]; dup {
			p.Reportf(nameNode, "%w group name %q (first at line %d)", ErrDuplicate, name, first.Line)
		} else {
			seen[name] = nameNode
		}
	}
	if f, ok := fields["rules"]; ok {
		for _, r := range p.List(f.Val, "rules") {
			p.rule1(r)
		}
	}
}

func (p *fileParser) rule1(n *yaml.Node) {
	p.rule = peek(n, "alert")
	defer func() { p.rule = "" }()
	fields, ok := p.Fields(n, "a rule", ruleFields)
	if !ok {
		return
	}
	alertName, okAlert := p.Required(fields, "alert", n)
	r := &Rule{Group: p.group, Alert: alertName, File: p.file, Line: n.Line, Col: n.Column}
	good := okAlert

	var okSel bool
	r.Match, okSel = p.selector(fields, "match")
	good = good && okSel

	kind := sampleExpr
	if f, ok := fields["cohort"]; ok {
		var okC bool
		r.Cohort, okC = p.cohort(f)
		good = good && okC
		if r.Cohort != nil || !okC {
			kind = cohortExpr
		}
		// A cohort rule's episodes are judged per window by their own
		// state machine (fault/cohort.go), with for but without the
		// alert lifecycle fields.
		for _, name := range []string{"levels", "resolve", "for_tolerance", "keep_firing_for", "no_data", "flapping"} {
			if f, ok := fields[name]; ok && r.Cohort != nil {
				p.Reportf(f.Key, "%w: %s does not apply to cohort rules", ErrConflict, name)
				good = false
			}
		}
	}

	if lf, ok := fields["levels"]; ok {
		for _, name := range []string{"expr", "resolve"} {
			if f, ok := fields[name]; ok {
				p.Reportf(f.Key, "%w: %s and levels exclude each other: give each level its %s", ErrConflict, name, name)
				good = false
			}
		}
		good = p.levels(lf, r) && good
	} else {
		lvl := Level{Line: n.Line, Col: n.Column}
		if src, ok := p.Required(fields, "expr", n); ok {
			r.Expr, lvl.Expr = src, src
			lvl.cond, ok = p.condition(fields["expr"].Val, src, kind)
			good = good && ok
			r.program, r.fast, r.windows = lvl.cond.program, lvl.cond.fast, lvl.cond.windows
		} else {
			good = false
		}
		if f, ok := fields["resolve"]; ok {
			if src, ok := p.Required(fields, "resolve", n); ok {
				r.Resolve, lvl.Resolve = src, src
				lvl.reset, ok = p.condition(f.Val, src, kind)
				good = good && ok
			} else {
				good = false
			}
		}
		r.Levels = []Level{lvl}
	}
	for i := range r.Levels {
		for _, c := range []*pred{&r.Levels[i].cond, &r.Levels[i].reset} {
			r.history = r.history || len(c.windows) > 0
			r.Window = max(r.Window, c.window)
		}
	}
	if r.Cohort != nil {
		r.Window = r.Cohort.Window
	}

	var okD bool
	r.For, okD = p.Duration(fields, "for")
	good = good && okD
	r.KeepFiringFor, okD = p.Duration(fields, "keep_firing_for")
	good = good && okD
	if f, ok := fields["for_tolerance"]; ok {
		r.ForTolerance, ok = p.Integer(f, 0, 255)
		good = good && ok
	}
	if f, ok := fields["no_data"]; ok {
		if v, ok := p.Str(f); ok {
			if r.NoData, ok = alert.ParseNoData(v); !ok {
				p.Reportf(f.Val, "%w: no_data %q: want keep, resolve or alert", ErrValue, v)
				good = false
			}
		} else if f.Val.Kind != yaml.ScalarNode {
			good = false
		}
	}
	if f, ok := fields["flapping"]; ok {
		r.Flapping, ok = p.flapping(f)
		good = good && ok
	}

	if f, ok := fields["labels"]; ok {
		ls, nodes, ok := p.labelMap(f, "labels", true)
		r.Labels = ls
		good = good && ok
		if _, hasLevels := fields["levels"]; hasLevels {
			if i := slices.IndexFunc(ls, func(l stream.Label) bool { return l.Name == "severity" }); i >= 0 {
				p.Reportf(nodes[i], "%w: label severity and levels exclude each other: the level names the severity", ErrConflict)
				good = false
			}
		}
		var ok2 bool
		r.labelTemplates, ok2 = p.templates(ls, nodes, "label")
		good = good && ok2
	}
	if f, ok := fields["annotations"]; ok {
		as, nodes, ok := p.labelMap(f, "annotations", false)
		good = good && ok
		r.Annotations = as
		var ok2 bool
		r.templates, ok2 = p.templates(as, nodes, "annotation")
		good = good && ok2
	}
	if good {
		p.rules = append(p.rules, r)
	}
}

// maxLevels bounds the severity levels of a rule.
const maxLevels = 16

// levels reads a rule's levels into r.Levels.
func (p *fileParser) levels(f yamlfile.Field, r *Rule) bool {
	items := p.List(f.Val, "levels")
	if len(items) == 0 {
		if f.Val.Kind == yaml.SequenceNode || yamlfile.IsNull(f.Val) {
			p.Reportf(f.Val, "%w %q: it is empty", ErrMissing, "levels")
		}
		return false
	}
	if len(items) > maxLevels {
		p.Reportf(f.Val, "%w: %d levels, more than %d", ErrValue, len(items), maxLevels)
		return false
	}
	good := true
	seen := make(map[string]int)
	for _, n := range items {
		fields, ok := p.Fields(n, "a level", levelFields)
		if !ok {
			good = false
			continue
		}
		lvl := Level{Line: n.Line, Col: n.Column}
		if sev, ok := p.Required(fields, "severity", n); ok {
			if line, dup := seen[sev]; dup {
				p.Reportf(fields["severity"].Val, "%w severity %q (first at line %d)", ErrDuplicate, sev, line)
				good = false
			}
			seen[sev] = fields["severity"].Val.Line
			lvl.Severity = sev
		} else {
			good = false
		}
		if src, ok := p.Required(fields, "expr", n); ok {
			lvl.Expr = src
			lvl.cond, ok = p.condition(fields["expr"].Val, src, sampleExpr)
			good = good && ok
		} else {
			good = false
		}
		if f, ok := fields["resolve"]; ok {
			if src, ok := p.Required(fields, "resolve", n); ok {
				lvl.Resolve = src
				lvl.reset, ok = p.condition(f.Val, src, sampleExpr)
				good = good && ok
			} else {
				good = false
			}
		}
		r.Levels = append(r.Levels, lvl)
	}
	return good
}

// condition compiles the expression src of the value node.
func (p *fileParser) condition(node *yaml.Node, src string, kind exprKind) (pred, bool) {
	c, err := compileExprKind(src, kind)
	if err != nil {
		line, col := node.Line, node.Column
		var ee *exprError
		if errors.As(err, &ee) {
			line, col = p.ValuePos(node, ee.off)
			ee.msg += promqlHint(src, kind)
		}
		p.Report(line, col, err)
		return pred{}, false
	}
	pr := pred{program: c.prog, windows: c.calls, window: time.Duration(c.window)}
	if kind == sampleExpr {
		pr.fast, _ = buildFast(c.prog.Node())
	}
	return pr, true
}

// templates parses the values of labels or annotations as templates; a
// label value without "{{" is left plain (nil). It returns nil when none is
// a template.
func (p *fileParser) templates(ls stream.Labels, nodes []*yaml.Node, what string) ([]*boundedTemplate, bool) {
	var out []*boundedTemplate
	good := true
	for i, a := range ls {
		if what == "label" && !strings.Contains(a.Value, "{{") {
			continue
		}
		t, err := parseTemplate(a.Name, a.Value)
		if err != nil {
			line, col := nodes[i].Line, nodes[i].Column
			var te *templateError
			if errors.As(err, &te) {
				line, col = p.ValuePos(nodes[i], te.off)
			}
			p.Report(line, col, fmt.Errorf("%s %q: %w", what, a.Name, err))
			good = false
			continue
		}
		if out == nil {
			out = make([]*boundedTemplate, len(ls))
		}
		out[i] = t
	}
	return out, good
}

// maxPercentDecimals is how many digits after the decimal point a flap
// threshold may have. The percent state change is 5n/76 for an integer n,
// and alert compares it exactly with the threshold's float64. A decimal d
// with at most 12 decimals that differs from 5n/76 differs by at least
// 1/(76·10^12) ≈ 1.3e-14, more than the float64 of d (up to 100) differs
// from d (half of 2^-46 ≈ 7.1e-15); and one equal to 5n/76 is a multiple
// of 1/4, exactly a float64. So such a threshold compares as written.
const maxPercentDecimals = 12

// percent returns the value of a percentage field, in [0, 100], with at
// most maxPercentDecimals decimals.
func (p *fileParser) percent(f yamlfile.Field) (float64, bool) {
	if f.Val.Kind != yaml.ScalarNode || yamlfile.IsNull(f.Val) {
		p.Reportf(f.Val, "%w: %s must be a number, not %s", ErrType, f.Key.Value, yamlfile.KindName(f.Val))
		return 0, false
	}
	v, err := strconv.ParseFloat(f.Val.Value, 64)
	if err != nil || !(v >= 0 && v <= 100) {
		p.Reportf(f.Val, "%w: %s %q: want a percentage from 0 to 100", ErrValue, f.Key.Value, f.Val.Value)
		return 0, false
	}
	exact, ok := new(big.Rat).SetString(f.Val.Value)
	if !ok {
		exact = new(big.Rat).SetFloat64(v)
	}
	unit := new(big.Int).Exp(big.NewInt(10), big.NewInt(maxPercentDecimals), nil)
	if new(big.Int).Rem(unit, exact.Denom()).Sign() != 0 {
		p.Reportf(f.Val, "%w: %s %q: want at most %d digits after the decimal point", ErrValue, f.Key.Value, f.Val.Value, maxPercentDecimals)
		return 0, false
	}
	return v, true
}

// flapping reads a rule's flapping thresholds: a mapping of low and high,
// each defaulting to Nagios' (20 and 30). Null leaves flap detection off.
func (p *fileParser) flapping(f yamlfile.Field) (alert.Flapping, bool) {
	if yamlfile.IsNull(f.Val) {
		return alert.Flapping{}, true
	}
	fields, ok := p.Fields(f.Val, "flapping", flapFields)
	if !ok {
		return alert.Flapping{}, false
	}
	fl := alert.Flapping{Low: alert.DefaultFlapLow, High: alert.DefaultFlapHigh}
	good := true
	if lf, ok := fields["low"]; ok {
		fl.Low, ok = p.percent(lf)
		good = good && ok
	}
	if hf, ok := fields["high"]; ok {
		fl.High, ok = p.percent(hf)
		good = good && ok
	}
	if good && !(fl.Low < fl.High) {
		p.Reportf(f.Val, "%w: flapping low %v must be below high %v", ErrValue, fl.Low, fl.High)
		good = false
	}
	return fl, good
}

// labelMap reads a mapping of names to strings (labels or annotations),
// sorted by name, with the value nodes in the same order. Label names must
// be valid, must not start with "__" and must not be the provenance label;
// annotation names must be valid.
func (p *fileParser) labelMap(f yamlfile.Field, what string, isLabels bool) (stream.Labels, []*yaml.Node, bool) {
	var allow func(k *yaml.Node) bool
	if isLabels {
		allow = func(k *yaml.Node) bool {
			switch {
			case strings.HasPrefix(k.Value, "__"):
				p.Reportf(k, "%w %q in %s: names starting with __ are reserved", ErrLabelName, k.Value, what)
				return false
			case k.Value == originLabel:
				p.Reportf(k, "%w %q in %s: the engine sets it on every event, to recognise its own output fed back in", ErrLabelName, k.Value, what)
				return false
			}
			return true
		}
	}
	return p.Labels(f, what, allow)
}

func (p *fileParser) seriesList(n *yaml.Node) {
	for _, s := range p.List(n, "series") {
		p.series1(s)
	}
}

func (p *fileParser) series1(n *yaml.Node) {
	fields, ok := p.Fields(n, "a series entry", seriesFields)
	if !ok {
		return
	}
	spec := SeriesSpec{File: p.file, Line: n.Line, Col: n.Column}
	good := true
	if _, ok := fields["match"]; !ok {
		p.Reportf(n, "%w %q", ErrMissing, "match")
		good = false
	} else if sel, ok := p.selector(fields, "match"); !ok {
		good = false
	} else if sel == nil {
		p.Reportf(fields["match"].Val, "%w %q: it is empty", ErrMissing, "match")
		good = false
	} else {
		spec.Match = sel
	}
	var okD bool
	spec.Cadence, okD = p.Positive(fields, "cadence")
	good = good && okD
	spec.AbsentAfter, okD = p.Positive(fields, "absent_after")
	good = good && okD
	if good && spec.Cadence > 0 && (spec.AbsentAfter+spec.Cadence-1)/spec.Cadence > MaxAbsentSlots {
		p.Reportf(fields["absent_after"].Val, "%w: absent_after %v is more than %d cadences of %v", ErrValue, spec.AbsentAfter, MaxAbsentSlots, spec.Cadence)
		good = false
	}
	if good {
		p.series = append(p.series, spec)
	}
}
