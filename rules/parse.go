package rules

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/faultline-go/faultline/alert"
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
// Problems of all files, files that cannot be read included, are reported
// together: the error, when not nil, is an Errors.
func ParseFiles(paths ...string) (*Ruleset, error) {
	var b builder
	for _, path := range paths {
		src, err := os.ReadFile(path)
		if err != nil {
			b.errs = append(b.errs, &Error{File: path, Err: fmt.Errorf("%w: %w", ErrRead, unwrapPath(err))})
			continue
		}
		b.parse(path, src)
	}
	return b.finish()
}

// builder collects the rules, series entries and errors of the files of one
// Ruleset.
type builder struct {
	rules  []*Rule
	series []SeriesSpec
	errs   Errors
}

func (b *builder) parse(file string, src []byte) {
	p := fileParser{file: file, text: srcText{src: src}, aliasBudget: maxAliasNodes}
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

// maxAliasNodes bounds how many nodes YAML aliases may expand to in one
// file, so that a few aliases cannot multiply into millions of rules.
const maxAliasNodes = 10000

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
// format and collecting every problem.
type fileParser struct {
	file string
	text srcText
	errs Errors

	group, rule string // context for errors

	aliasBudget int
	aliasSizes  map[*yaml.Node]int
	budgetSpent bool

	rules  []*Rule
	series []SeriesSpec
}

func (p *fileParser) add(line, col int, err error) {
	line = max(line, 1)
	p.errs = append(p.errs, &Error{File: p.file, Line: line, Col: col, Group: p.group, Rule: p.rule, Err: err})
}

func (p *fileParser) errAt(n *yaml.Node, format string, args ...any) {
	p.add(n.Line, n.Column, fmt.Errorf(format, args...))
}

// decode decodes the next document. The YAML decoder has panicked on
// malformed input before; such a panic is returned as the syntax error it
// is rather than taking the caller down.
func decode(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: %v", r)
		}
	}()
	return dec.Decode(n)
}

func (p *fileParser) parseFile() {
	root := p.document("a rule file")
	if root == nil {
		return
	}
	fields, ok := p.fields(root, "the rule file", topFields)
	if !ok {
		return
	}
	if f, ok := fields["groups"]; ok {
		p.groups(f.val)
	}
	if f, ok := fields["series"]; ok {
		p.seriesList(f.val)
	}
}

// document decodes the file's one YAML document and returns its root, or
// nil when the file is empty or not YAML (reported). what names the kind of
// file in messages.
func (p *fileParser) document(what string) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(p.text.src))
	var doc yaml.Node
	if err := decode(dec, &doc); err != nil {
		if err != io.EOF {
			p.syntaxError(err)
		}
		return nil
	}
	var extra yaml.Node
	switch err := decode(dec, &extra); {
	case err == io.EOF:
	case err != nil:
		p.syntaxError(err)
		return nil
	default:
		p.errAt(&extra, "%w: %s holds one YAML document, found another", ErrSyntax, what)
	}
	if len(doc.Content) == 0 {
		return nil
	}
	root := p.resolve(doc.Content[0])
	if isNull(root) {
		return nil
	}
	return root
}

var yamlErrLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlParserProblems are the problems the YAML parser (as opposed to its
// scanner) reports; their line numbers come out 0-based.
var yamlParserProblems = []string{
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"did not find expected '-' indicator",
	"did not find expected <document start>",
	"did not find expected <stream-start>",
	"did not find expected key",
	"did not find expected node content",
	"found duplicate %TAG directive",
	"found duplicate %YAML directive",
	"found incompatible YAML document",
	"found undefined tag handle",
}

var yamlAnchorRE = regexp.MustCompile(`^yaml: unknown anchor '(.*)' referenced$`)

// syntaxError reports a YAML syntax error. The decoder gives only a line,
// and not always a right one: the parser's lines are 0-based and the first
// line is not named at all. This puts it right where it can.
func (p *fileParser) syntaxError(err error) {
	msg := err.Error()
	line := 1
	if m := yamlErrLineRE.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
		for _, prob := range yamlParserProblems {
			if msg == prob {
				line++
				break
			}
		}
	} else if m := yamlAnchorRE.FindStringSubmatch(msg); m != nil {
		if i := bytes.Index(p.text.src, []byte("*"+m[1])); i >= 0 {
			line = bytes.Count(p.text.src[:i], []byte("\n")) + 1
		}
		msg = strings.TrimPrefix(msg, "yaml: ")
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	line = p.refineSyntaxLine(max(line, 1), err.Error())
	line = min(max(line, 1), p.text.numLines())
	p.add(line, 0, fmt.Errorf("%w: %s", ErrSyntax, msg))
}

// refineSyntaxLine improves the line of a YAML syntax error. The decoder
// names the line where the enclosing construct began (a list three lines
// up, for a key indented one space too far). Prefixes of the file that end
// before the offending line decode, the others fail with the same message,
// so a binary search over prefixes, from that line on, finds the line that
// broke it.
func (p *fileParser) refineSyntaxLine(from int, msg string) int {
	lines := bytes.SplitAfter(p.text.src, []byte("\n"))
	key := yamlErrLineRE.ReplaceAllString(msg, "$2")
	fails := func(k int) bool {
		err := decodeAll(bytes.Join(lines[:k], nil))
		return err != nil && yamlErrLineRE.ReplaceAllString(err.Error(), "$2") == key
	}
	if from > len(lines) {
		return from
	}
	k := from + sort.Search(len(lines)-from+1, func(i int) bool { return fails(from + i) })
	if k > len(lines) {
		return from
	}
	return k
}

// decodeAll decodes every document of src, returning the first error.
func decodeAll(src []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(src))
	for {
		var n yaml.Node
		if err := decode(dec, &n); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}

// resolve follows aliases, within the file's alias budget.
func (p *fileParser) resolve(n *yaml.Node) *yaml.Node {
	for hops := 0; n.Kind == yaml.AliasNode; hops++ {
		if n.Alias == nil || hops > 100 {
			p.errAt(n, "%w: unresolvable alias", ErrSyntax)
			return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: n.Line, Column: n.Column}
		}
		p.aliasBudget -= p.size(n.Alias)
		if p.aliasBudget < 0 {
			if !p.budgetSpent {
				p.budgetSpent = true
				p.errAt(n, "%w: aliases expand to more than %d nodes", ErrSyntax, maxAliasNodes)
			}
			return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: n.Line, Column: n.Column}
		}
		n = n.Alias
	}
	return n
}

// size counts the nodes under n (aliases count as one).
func (p *fileParser) size(n *yaml.Node) int {
	if s, ok := p.aliasSizes[n]; ok {
		return s
	}
	if p.aliasSizes == nil {
		p.aliasSizes = make(map[*yaml.Node]int)
	}
	p.aliasSizes[n] = 1 // guards against cycles
	s := 1
	for _, c := range n.Content {
		if c.Kind == yaml.AliasNode {
			s++
		} else {
			s += p.size(c)
		}
	}
	p.aliasSizes[n] = s
	return s
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "null"
		}
		return "a scalar"
	case yaml.DocumentNode:
		return "a document"
	case yaml.AliasNode:
		return "an alias"
	}
	return "nothing"
}

// field is one key: value pair of a mapping.
type field struct {
	key, val *yaml.Node
}

// fields checks that n is a mapping whose keys are all known and unique,
// reporting every problem, and returns its fields by key. what names the
// mapping in messages.
func (p *fileParser) fields(n *yaml.Node, what string, known []string) (map[string]field, bool) {
	if n.Kind != yaml.MappingNode {
		p.errAt(n, "%w: %s must be a mapping, not %s", ErrType, what, kindName(n))
		return nil, false
	}
	out := make(map[string]field, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := p.resolve(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.errAt(k, "%w: keys of %s must be strings, not %s", ErrType, what, kindName(k))
			continue
		}
		if k.Tag == "!!merge" {
			p.errAt(k, "%w: merge keys (<<) are not supported", ErrUnknownField)
			continue
		}
		if !slices.Contains(known, k.Value) {
			hint := ""
			if k.Value == "record" && what == "a rule" {
				hint = "; recording rules are not supported: write an alerting rule, with alert, match and expr"
			}
			p.errAt(k, "%w %q in %s (want %s)%s", ErrUnknownField, k.Value, what, strings.Join(known, ", "), hint)
			continue
		}
		if prev, ok := out[k.Value]; ok {
			p.errAt(k, "%w field %q (first at line %d)", ErrDuplicate, k.Value, prev.key.Line)
			continue
		}
		out[k.Value] = field{key: k, val: p.resolve(v)}
	}
	return out, true
}

// list checks that n is a list (null counts as empty) and returns its items.
func (p *fileParser) list(n *yaml.Node, what string) []*yaml.Node {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		p.errAt(n, "%w: %s must be a list, not %s", ErrType, what, kindName(n))
		return nil
	}
	items := make([]*yaml.Node, len(n.Content))
	for i, c := range n.Content {
		items[i] = p.resolve(c)
	}
	return items
}

// str returns the string value of a scalar field. ok is false if the field
// is not a scalar (reported) or is null.
func (p *fileParser) str(f field) (s string, ok bool) {
	if isNull(f.val) {
		return "", false
	}
	if f.val.Kind != yaml.ScalarNode {
		p.errAt(f.val, "%w: %s must be a string, not %s", ErrType, f.key.Value, kindName(f.val))
		return "", false
	}
	if !utf8.ValidString(f.val.Value) {
		p.errAt(f.val, "%w: %s is not valid UTF-8", ErrType, f.key.Value)
		return "", false
	}
	return f.val.Value, true
}

// required returns the non-empty string value of a required field,
// reporting it missing (at the mapping m) otherwise.
func (p *fileParser) required(fields map[string]field, name string, m *yaml.Node) (string, bool) {
	f, ok := fields[name]
	if !ok {
		p.errAt(m, "%w %q", ErrMissing, name)
		return "", false
	}
	s, ok := p.str(f)
	if !ok && f.val.Kind != yaml.ScalarNode {
		return "", false // wrong type, reported
	}
	if strings.TrimSpace(s) == "" {
		p.errAt(f.val, "%w %q: it is empty", ErrMissing, name)
		return "", false
	}
	return s, true
}

// duration returns the value of an optional duration field (0 if absent or
// null).
func (p *fileParser) duration(fields map[string]field, name string) (time.Duration, bool) {
	f, ok := fields[name]
	if !ok {
		return 0, true
	}
	s, ok := p.str(f)
	if !ok {
		return 0, f.val.Kind == yaml.ScalarNode
	}
	d, err := parseDuration(s)
	if err != nil {
		p.errAt(f.val, "%s: %w", name, err)
		return 0, false
	}
	return d, true
}

// positive returns the value of an optional duration field that must be
// positive when given (0 when absent).
func (p *fileParser) positive(fields map[string]field, name string) (time.Duration, bool) {
	d, ok := p.duration(fields, name)
	if f, given := fields[name]; ok && given && !isNull(f.val) && d <= 0 {
		p.errAt(f.val, "%s: %w %q: must be positive", name, ErrDuration, f.val.Value)
		return 0, false
	}
	return d, ok
}

// selector parses an optional selector field (nil if absent or null).
func (p *fileParser) selector(fields map[string]field, name string) (*Selector, bool) {
	f, ok := fields[name]
	if !ok {
		return nil, true
	}
	s, ok := p.str(f)
	if !ok {
		return nil, f.val.Kind == yaml.ScalarNode
	}
	sel, err := ParseSelector(s)
	if err != nil {
		line, col := f.val.Line, f.val.Column
		var se *selectorError
		if errors.As(err, &se) {
			line, col = p.text.valuePos(f.val, se.off)
			err = fmt.Errorf("%w: %s", ErrSelector, se.msg)
		}
		p.add(line, col, err)
		return nil, false
	}
	return sel, true
}

func (p *fileParser) groups(n *yaml.Node) {
	seen := make(map[string]*yaml.Node)
	for _, g := range p.list(n, "groups") {
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
		if k.Kind == yaml.ScalarNode && k.Value == key && v.Kind == yaml.ScalarNode && !isNull(v) {
			return v.Value
		}
	}
	return ""
}

func (p *fileParser) group1(n *yaml.Node, seen map[string]*yaml.Node) {
	p.group = peek(n, "name")
	defer func() { p.group = "" }()
	fields, ok := p.fields(n, "a group", groupFields)
	if !ok {
		return
	}
	if name, ok := p.required(fields, "name", n); ok {
		nameNode := fields["name"].val
		p.group = name
		if first, dup := seen[name]; dup {
			p.errAt(nameNode, "%w group name %q (first at line %d)", ErrDuplicate, name, first.Line)
		} else {
			seen[name] = nameNode
		}
	}
	if f, ok := fields["rules"]; ok {
		for _, r := range p.list(f.val, "rules") {
			p.rule1(r)
		}
	}
}

func (p *fileParser) rule1(n *yaml.Node) {
	p.rule = peek(n, "alert")
	defer func() { p.rule = "" }()
	fields, ok := p.fields(n, "a rule", ruleFields)
	if !ok {
		return
	}
	alertName, okAlert := p.required(fields, "alert", n)
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
				p.errAt(f.key, "%w: %s does not apply to cohort rules", ErrConflict, name)
				good = false
			}
		}
	}

	if lf, ok := fields["levels"]; ok {
		for _, name := range []string{"expr", "resolve"} {
			if f, ok := fields[name]; ok {
				p.errAt(f.key, "%w: %s and levels exclude each other: give each level its %s", ErrConflict, name, name)
				good = false
			}
		}
		good = p.levels(lf, r) && good
	} else {
		lvl := Level{Line: n.Line, Col: n.Column}
		if src, ok := p.required(fields, "expr", n); ok {
			r.Expr, lvl.Expr = src, src
			lvl.cond, ok = p.condition(fields["expr"].val, src, kind)
			good = good && ok
			r.program, r.fast, r.windows = lvl.cond.program, lvl.cond.fast, lvl.cond.windows
		} else {
			good = false
		}
		if f, ok := fields["resolve"]; ok {
			if src, ok := p.required(fields, "resolve", n); ok {
				r.Resolve, lvl.Resolve = src, src
				lvl.reset, ok = p.condition(f.val, src, kind)
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
	r.For, okD = p.duration(fields, "for")
	good = good && okD
	r.KeepFiringFor, okD = p.duration(fields, "keep_firing_for")
	good = good && okD
	if f, ok := fields["for_tolerance"]; ok {
		r.ForTolerance, ok = p.integer(f, 0, 255)
		good = good && ok
	}
	if f, ok := fields["no_data"]; ok {
		if v, ok := p.str(f); ok {
			if r.NoData, ok = alert.ParseNoData(v); !ok {
				p.errAt(f.val, "%w: no_data %q: want keep, resolve or alert", ErrValue, v)
				good = false
			}
		} else if f.val.Kind != yaml.ScalarNode {
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
				p.errAt(nodes[i], "%w: label severity and levels exclude each other: the level names the severity", ErrConflict)
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
func (p *fileParser) levels(f field, r *Rule) bool {
	items := p.list(f.val, "levels")
	if len(items) == 0 {
		if f.val.Kind == yaml.SequenceNode || isNull(f.val) {
			p.errAt(f.val, "%w %q: it is empty", ErrMissing, "levels")
		}
		return false
	}
	if len(items) > maxLevels {
		p.errAt(f.val, "%w: %d levels, more than %d", ErrValue, len(items), maxLevels)
		return false
	}
	good := true
	seen := make(map[string]int)
	for _, n := range items {
		fields, ok := p.fields(n, "a level", levelFields)
		if !ok {
			good = false
			continue
		}
		lvl := Level{Line: n.Line, Col: n.Column}
		if sev, ok := p.required(fields, "severity", n); ok {
			if line, dup := seen[sev]; dup {
				p.errAt(fields["severity"].val, "%w severity %q (first at line %d)", ErrDuplicate, sev, line)
				good = false
			}
			seen[sev] = fields["severity"].val.Line
			lvl.Severity = sev
		} else {
			good = false
		}
		if src, ok := p.required(fields, "expr", n); ok {
			lvl.Expr = src
			lvl.cond, ok = p.condition(fields["expr"].val, src, sampleExpr)
			good = good && ok
		} else {
			good = false
		}
		if f, ok := fields["resolve"]; ok {
			if src, ok := p.required(fields, "resolve", n); ok {
				lvl.Resolve = src
				lvl.reset, ok = p.condition(f.val, src, sampleExpr)
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
			line, col = p.text.valuePos(node, ee.off)
			ee.msg += promqlHint(src, kind)
		}
		p.add(line, col, err)
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
func (p *fileParser) templates(ls stream.Labels, nodes []*yaml.Node, what string) ([]*template.Template, bool) {
	var out []*template.Template
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
				line, col = p.text.valuePos(nodes[i], runeOffsetOfLine(a.Value, te.line))
			}
			p.add(line, col, fmt.Errorf("%s %q: %w", what, a.Name, err))
			good = false
			continue
		}
		if out == nil {
			out = make([]*template.Template, len(ls))
		}
		out[i] = t
	}
	return out, good
}

// integer returns the value of an integer field within [lo, hi].
func (p *fileParser) integer(f field, lo, hi int) (int, bool) {
	if f.val.Kind != yaml.ScalarNode || isNull(f.val) {
		p.errAt(f.val, "%w: %s must be an integer, not %s", ErrType, f.key.Value, kindName(f.val))
		return 0, false
	}
	v, err := strconv.Atoi(f.val.Value)
	if err != nil || v < lo || v > hi {
		p.errAt(f.val, "%w: %s %q: want an integer from %d to %d", ErrValue, f.key.Value, f.val.Value, lo, hi)
		return 0, false
	}
	return v, true
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
func (p *fileParser) percent(f field) (float64, bool) {
	if f.val.Kind != yaml.ScalarNode || isNull(f.val) {
		p.errAt(f.val, "%w: %s must be a number, not %s", ErrType, f.key.Value, kindName(f.val))
		return 0, false
	}
	v, err := strconv.ParseFloat(f.val.Value, 64)
	if err != nil || !(v >= 0 && v <= 100) {
		p.errAt(f.val, "%w: %s %q: want a percentage from 0 to 100", ErrValue, f.key.Value, f.val.Value)
		return 0, false
	}
	exact, ok := new(big.Rat).SetString(f.val.Value)
	if !ok {
		exact = new(big.Rat).SetFloat64(v)
	}
	unit := new(big.Int).Exp(big.NewInt(10), big.NewInt(maxPercentDecimals), nil)
	if new(big.Int).Rem(unit, exact.Denom()).Sign() != 0 {
		p.errAt(f.val, "%w: %s %q: want at most %d digits after the decimal point", ErrValue, f.key.Value, f.val.Value, maxPercentDecimals)
		return 0, false
	}
	return v, true
}

// flapping reads a rule's flapping thresholds: a mapping of low and high,
// each defaulting to Nagios' (20 and 30). Null leaves flap detection off.
func (p *fileParser) flapping(f field) (alert.Flapping, bool) {
	if isNull(f.val) {
		return alert.Flapping{}, true
	}
	fields, ok := p.fields(f.val, "flapping", flapFields)
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
		p.errAt(f.val, "%w: flapping low %v must be below high %v", ErrValue, fl.Low, fl.High)
		good = false
	}
	return fl, good
}

// labelMap reads a mapping of names to strings (labels or annotations),
// sorted by name, with the value nodes in the same order. Label names must
// be valid and must not start with "__"; annotation names must be valid.
func (p *fileParser) labelMap(f field, what string, isLabels bool) (stream.Labels, []*yaml.Node, bool) {
	if isNull(f.val) {
		return nil, nil, true
	}
	if f.val.Kind != yaml.MappingNode {
		p.errAt(f.val, "%w: %s must be a mapping, not %s", ErrType, what, kindName(f.val))
		return nil, nil, false
	}
	type entry struct {
		l    stream.Label
		node *yaml.Node
	}
	var entries []entry
	seen := make(map[string]int)
	good := true
	for i := 0; i+1 < len(f.val.Content); i += 2 {
		k, v := p.resolve(f.val.Content[i]), p.resolve(f.val.Content[i+1])
		if k.Kind != yaml.ScalarNode || isNull(k) {
			p.errAt(k, "%w: names in %s must be strings, not %s", ErrType, what, kindName(k))
			good = false
			continue
		}
		switch {
		case !isLabelName(k.Value):
			p.errAt(k, "%w %q in %s: want [a-zA-Z_][a-zA-Z0-9_]*", ErrLabelName, k.Value, what)
			good = false
			continue
		case isLabels && strings.HasPrefix(k.Value, "__"):
			p.errAt(k, "%w %q in %s: names starting with __ are reserved", ErrLabelName, k.Value, what)
			good = false
			continue
		case isLabels && k.Value == originLabel:
			p.errAt(k, "%w %q in %s: the engine sets it on every event, to recognise its own output fed back in", ErrLabelName, k.Value, what)
			good = false
			continue
		}
		if line, dup := seen[k.Value]; dup {
			p.errAt(k, "%w %s name %q (first at line %d)", ErrDuplicate, strings.TrimSuffix(what, "s"), k.Value, line)
			good = false
			continue
		}
		seen[k.Value] = k.Line
		var value string
		switch {
		case isNull(v):
		case v.Kind != yaml.ScalarNode:
			p.errAt(v, "%w: value of %s %q must be a string, not %s", ErrType, strings.TrimSuffix(what, "s"), k.Value, kindName(v))
			good = false
			continue
		case !utf8.ValidString(v.Value):
			p.errAt(v, "%w: value of %s %q is not valid UTF-8", ErrType, strings.TrimSuffix(what, "s"), k.Value)
			good = false
			continue
		default:
			value = v.Value
		}
		entries = append(entries, entry{stream.Label{Name: k.Value, Value: value}, v})
	}
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.l.Name, b.l.Name) })
	ls := make(stream.Labels, len(entries))
	nodes := make([]*yaml.Node, len(entries))
	for i, e := range entries {
		ls[i], nodes[i] = e.l, e.node
	}
	return ls, nodes, good
}

func (p *fileParser) seriesList(n *yaml.Node) {
	for _, s := range p.list(n, "series") {
		p.series1(s)
	}
}

func (p *fileParser) series1(n *yaml.Node) {
	fields, ok := p.fields(n, "a series entry", seriesFields)
	if !ok {
		return
	}
	spec := SeriesSpec{File: p.file, Line: n.Line, Col: n.Column}
	good := true
	if _, ok := fields["match"]; !ok {
		p.errAt(n, "%w %q", ErrMissing, "match")
		good = false
	} else if sel, ok := p.selector(fields, "match"); !ok {
		good = false
	} else if sel == nil {
		p.errAt(fields["match"].val, "%w %q: it is empty", ErrMissing, "match")
		good = false
	} else {
		spec.Match = sel
	}
	var okD bool
	spec.Cadence, okD = p.positive(fields, "cadence")
	good = good && okD
	spec.AbsentAfter, okD = p.positive(fields, "absent_after")
	good = good && okD
	if good {
		p.series = append(p.series, spec)
	}
}
