package rules

import (
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"text/template/parse"
	"unicode/utf8"

	"github.com/faultline-go/faultline/stream"
)

// templateDefs is prepended to every annotation template, as Prometheus
// does, so templates can say $labels and $value. It adds no line, so line
// numbers in template errors are those of the annotation text.
const templateDefs = "{{$labels := .Labels}}{{$value := .Value}}"

// templateData is what an annotation template executes on. It has no
// methods: templates could call them, outside the bounds of
// maxTemplateBytes.
type templateData struct {
	Labels map[string]string
	Value  float64
}

// boundedTemplate is a parsed label or annotation template. It runs as
// clones of itself, each with its own templateRun: text/template gives its
// functions no state of the expansion they serve, so each clone's functions
// are closures on its run, which counts the strings they build (see
// maxTemplateBytes).
type boundedTemplate struct {
	t    *template.Template // as parsed; cloned, and run by the first run
	runs sync.Pool          // of *templateRun, one expansion at a time each
}

// templateRun is one clone of a template and what the expansion it runs
// has built so far.
type templateRun struct {
	t     *template.Template
	built int   // bytes of strings the functions built in this expansion
	err   error // why a verb of the current printf call was refused
}

// execute expands bt for data into w, with a fresh budget.
func (bt *boundedTemplate) execute(w io.Writer, data *templateData) error {
	run, _ := bt.runs.Get().(*templateRun)
	if run == nil {
		t, err := bt.t.Clone()
		if err != nil {
			return err
		}
		run = &templateRun{t: t}
		t.Funcs(run.funcs())
	}
	run.built = 0
	err := run.t.Execute(w, data)
	bt.runs.Put(run)
	return err
}

// funcs returns the functions templates may call, bound to run: besides
// ours, text/template's builtins that build strings, in versions that
// charge what they build (the others build nothing: and, or, not, len,
// index, slice, call, and the comparisons).
func (run *templateRun) funcs() template.FuncMap {
	return template.FuncMap{
		"humanize":           humanize,
		"humanizePercentage": humanizePercentage,
		"humanizeDuration":   humanizeDuration,
		"toUpper":            func(s string) (string, error) { return run.mapString(strings.ToUpper, s) },
		"toLower":            func(s string) (string, error) { return run.mapString(strings.ToLower, s) },
		"print":              func(args ...any) (string, error) { return run.print(fmt.Sprint, args) },
		"println":            func(args ...any) (string, error) { return run.print(fmt.Sprintln, args) },
		"printf":             run.printf,
		"html":               func(args ...any) (string, error) { return run.print(template.HTMLEscaper, args) },
		"js":                 func(args ...any) (string, error) { return run.print(template.JSEscaper, args) },
		"urlquery":           func(args ...any) (string, error) { return run.print(template.URLQueryEscaper, args) },
	}
}

// maxTemplateBytes bounds an expansion of a label or annotation template,
// as maxStringBytes bounds an evaluation of an expression: it writes at
// most maxTemplateBytes, and its functions build at most maxTemplateBytes
// of strings; the write or the call that would go past either fails the
// expansion (ErrTemplate).
//
// Templates are expanded on every event, on the engine's goroutine, and
// text/template cannot be stopped once it runs, so an expansion must do a
// bounded amount of work whatever the template. Its loops are bounded at
// Parse time, by checkTemplate: a template ranges only over the series'
// labels, ranges do not nest and templates do not call templates, so an
// expansion runs each part of its template at most once per label. What a
// part does is bounded by the two budgets: without the first, a range
// would write its body once per label; without the second, a template
// could build strings without bound while writing a few digits: printf
// pads to a million bytes per verb, and {{ $x = print $x $x }} doubles $x
// on every line. The functions that build strings (print, printf, println,
// html, js, urlquery, toUpper, toLower) check, before building, that what
// they read and printf's padding fit in what is left of the second
// budget, so each builds at most a few times that, and count what they
// built; humanize and its kin return a few bytes, and the other builtins
// (comparisons, len, index, slice, and, or, not) build nothing. So an
// expansion's time, and what it allocates, are proportional to the size of
// its template times the number of labels of the series, times the length
// of the strings it reads, the series' or built ones of at most 64 KiB.
const maxTemplateBytes = 64 << 10

// errTemplateTooLong stops an expansion that would write more than
// maxTemplateBytes.
var errTemplateTooLong = fmt.Errorf("expands to more than %d bytes", maxTemplateBytes)

// errTemplateBuilds stops an expansion whose functions build more than
// maxTemplateBytes of strings.
var errTemplateBuilds = fmt.Errorf("builds more than %d KiB of strings", maxTemplateBytes>>10)

// charge fails if n more bytes would take the strings built in this
// expansion past maxTemplateBytes: a function calls it, before building,
// with a bound on the bytes it reads (its arguments, and printf's
// padding), so that what it builds is at most a few times that.
func (run *templateRun) charge(n int) error {
	if n > maxTemplateBytes-run.built {
		return errTemplateBuilds
	}
	return nil
}

// add counts s, a string a function built, and fails if the strings built
// in this expansion are now more than maxTemplateBytes.
func (run *templateRun) add(s string) (string, error) {
	run.built += len(s)
	if run.built > maxTemplateBytes {
		return "", errTemplateBuilds
	}
	return s, nil
}

// mapString is f(s) (toUpper, toLower), charged. It writes at most 3 bytes
// per byte (an invalid byte becomes U+FFFD).
func (run *templateRun) mapString(f func(string) string, s string) (string, error) {
	if err := run.charge(len(s)); err != nil {
		return "", err
	}
	return run.add(f(s))
}

// print is f(args...), charged: fmt.Sprint, fmt.Sprintln, or an escaper,
// which writes at most 6 bytes (js' \u003C) per byte of what fmt.Sprint
// writes.
func (run *templateRun) print(f func(...any) string, args []any) (string, error) {
	n := 1 + len(args) // the spaces and newline of fmt.Sprintln
	for _, a := range args {
		m, ok := fmtBound(a, 0)
		if !ok {
			return "", fmt.Errorf("cannot print a %T", a)
		}
		n += m
	}
	if err := run.charge(n); err != nil {
		return "", err
	}
	return run.add(f(args...))
}

// printf is fmt.Sprintf, charged. A width or precision (up to a million in
// fmt) pads every key and value of a map, so each argument goes to fmt as
// a fmtArg, which charges its verb's padding and argument before
// formatting it. So fmt cannot read a width or precision from an argument
// (%*d), which printf refuses, and names an extra argument's type fmtArg.
func (run *templateRun) printf(format string, args ...any) (string, error) {
	if hasStar(format) {
		return "", errors.New("a width or precision given by an argument (*) is not supported")
	}
	wrapped := make([]any, len(args))
	for i, a := range args {
		wrapped[i] = fmtArg{v: a, run: run}
	}
	built := run.built
	run.err = nil
	out := fmt.Sprintf(format, wrapped...)
	if run.err != nil {
		return "", run.err
	}
	// The verbs were counted one by one, so that each is charged after
	// those before it; out counts them again, with the format's text and
	// fmt's %!verb(MISSING)-style notes, a few bytes per verb.
	run.built = built
	return run.add(out)
}

// hasStar reports whether a directive of format takes its width or
// precision from an argument (%*d, %.*f, %[2]*[1]d).
func hasStar(format string) bool {
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		for i++; i < len(format) && strings.IndexByte("+-# 0123456789.[]*", format[i]) >= 0; i++ {
			if format[i] == '*' {
				return true
			}
		}
	}
	return false
}

// fmtArg is an argument of printf: fmt has it format itself, with the
// verb, flags, width and precision it was given, once they are charged.
type fmtArg struct {
	v   any
	run *templateRun
}

// Format implements fmt.Formatter.
func (a fmtArg) Format(f fmt.State, verb rune) {
	if a.run.err != nil {
		return
	}
	w, _ := f.Width()
	p, _ := f.Precision()
	n, ok := fmtBound(a.v, w+p)
	if !ok {
		a.run.err = fmt.Errorf("cannot print a %T", a.v)
		return
	}
	if a.run.err = a.run.charge(n); a.run.err != nil {
		return
	}
	out, err := a.run.add(fmt.Sprintf(fmt.FormatString(f, verb), a.v))
	if err != nil {
		a.run.err = err
		return
	}
	_, _ = io.WriteString(f, out)
}

// fmtBound bounds what fmt reads and pads for v with one verb of width
// plus precision wp: the bytes of its strings, and wp and a constant for
// each string and number (%f of 1e308 has 309 digits before the point; a
// complex number is two floats, each padded). A verb writes at most 6
// times that (%q writes a byte as \x00, % #x as 0x00 and a space). ok is
// false for a type a template cannot meet: it has the data's map and
// pointer, and scalars.
func fmtBound(v any, wp int) (n int, ok bool) {
	const scalar = 768
	switch v := v.(type) {
	case map[string]string:
		n = 32 // map[] or map[string]string{}
		for k, x := range v {
			n += len(k) + len(x) + 2*wp + 24
		}
		return n, true
	case *templateData:
		m, _ := fmtBound(v.Labels, wp)
		return 64 + m + 2*wp + scalar, true
	}
	switch r := reflect.ValueOf(v); r.Kind() {
	case reflect.String:
		return r.Len() + wp + 8, true
	case reflect.Invalid, reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return 2*wp + scalar, true
	}
	return 0, false
}

// boundedBuilder is a strings.Builder that refuses to grow past
// maxTemplateBytes.
type boundedBuilder struct{ strings.Builder }

func (b *boundedBuilder) Write(p []byte) (int, error) {
	if b.Len()+len(p) > maxTemplateBytes {
		return 0, errTemplateTooLong
	}
	return b.Builder.Write(p)
}

// templateError is a problem of a template, at a character of its text.
type templateError struct {
	off  int // rune offset in the template text
	msg  string
	prev error // text/template's error, if it is one
}

func (e *templateError) Error() string { return ErrTemplate.Error() + ": " + e.msg }

func (e *templateError) Unwrap() []error {
	if e.prev == nil {
		return []error{ErrTemplate}
	}
	return []error{ErrTemplate, e.prev}
}

var templateErrRE = regexp.MustCompile(`^template: [^:]*:(\d+): (.*)$`)

// parseTemplate parses the annotation text for annotation name, and
// refuses it if it could run without bound (see checkTemplate).
func parseTemplate(name, text string) (*boundedTemplate, error) {
	run := new(templateRun)
	t, err := template.New(name).
		Option("missingkey=zero").
		Funcs(run.funcs()).
		Parse(templateDefs + text)
	if err != nil {
		// text/template says the line, not the column.
		line := 1
		te := &templateError{msg: err.Error(), prev: err}
		if m := templateErrRE.FindStringSubmatch(err.Error()); m != nil {
			if l, convErr := strconv.Atoi(m[1]); convErr == nil {
				line = l
			}
			te.msg = m[2]
		}
		te.off = runeOffsetOfLine(text, line)
		te.off += nameOffset(text, te.off, te.msg)
		return nil, te
	}
	if err := checkTemplate(t, text); err != nil {
		return nil, err
	}
	run.t = t
	bt := &boundedTemplate{t: t}
	bt.runs.Put(run)
	return bt, nil
}

// checkTemplate refuses the templates whose execution is not bounded by
// the size of their text and of the series' labels. text/template cannot
// be stopped once it runs, and the bound on what an expansion writes
// (maxTemplateBytes) does not see loops that write nothing, so these are
// refused at Parse time, at the offending character:
//
//   - a range over anything but $labels or .Labels: over an integer
//     ({{ range 1000000000 }}{{ end }} runs for seconds and writes
//     nothing) or a value computed by the template;
//   - a range inside another range's body: over n labels, k nested ranges
//     loop n^k times (a range in another's else branch runs once);
//   - template and block: templates that call templates can recurse, each
//     call doubling the work;
//   - declaring or assigning $labels, which would make a range over it
//     range over something else.
//
// What remains loops only over the series' labels, once per range node, so
// an expansion runs each part of the template at most once per label.
// Every template defined in the text (define) is checked, though none can
// be called.
func checkTemplate(t *template.Template, text string) *templateError {
	g := templateGuard{pos: -1}
	for _, tt := range t.Templates() {
		if tt.Tree != nil {
			g.walk(tt.Root, false)
		}
	}
	if g.pos < 0 {
		return nil
	}
	return &templateError{off: utf8.RuneCountInString(text[:g.pos-len(templateDefs)]), msg: g.msg}
}

// templateGuard walks a template's parse tree for checkTemplate, keeping
// the problem that comes first in the text.
type templateGuard struct {
	pos int // byte offset of the first problem in templateDefs+text; -1 if none
	msg string
}

func (g *templateGuard) fail(pos parse.Pos, msg string) {
	if int(pos) < len(templateDefs) {
		return // templateDefs declares $labels
	}
	if g.pos < 0 || int(pos) < g.pos {
		g.pos, g.msg = int(pos), msg
	}
}

// walk checks node n; inRange says whether n is in the body of a range.
func (g *templateGuard) walk(n parse.Node, inRange bool) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			g.walk(c, inRange)
		}
	case *parse.ActionNode:
		g.pipe(n.Pipe)
	case *parse.IfNode:
		g.pipe(n.Pipe)
		g.walk(n.List, inRange)
		g.walk(n.ElseList, inRange)
	case *parse.WithNode:
		g.pipe(n.Pipe)
		g.walk(n.List, inRange)
		g.walk(n.ElseList, inRange)
	case *parse.RangeNode:
		if inRange {
			g.fail(n.Position(), "a range inside a range: ranges do not nest, as k nested ranges over n labels would loop n^k times")
		}
		if !isLabelsPipe(n.Pipe) {
			pos := n.Pipe.Position()
			if len(n.Pipe.Cmds) > 0 {
				pos = n.Pipe.Cmds[0].Position()
			}
			g.fail(pos, "a range must be over $labels or .Labels: over anything else (an integer, a variable) it could loop without bound")
		}
		g.pipe(n.Pipe)
		g.walk(n.List, true)
		g.walk(n.ElseList, inRange)
	case *parse.TemplateNode:
		g.fail(n.Position(), "template and block are not supported: templates that call templates could recurse without bound")
	}
}

// pipe checks the declarations of pipeline p and of those in its
// arguments.
func (g *templateGuard) pipe(p *parse.PipeNode) {
	if p == nil {
		return
	}
	for _, v := range p.Decl {
		if v.Ident[0] == "$labels" {
			g.fail(v.Position(), "$labels cannot be declared or assigned: ranges over $labels must be over the series' labels")
		}
	}
	for _, c := range p.Cmds {
		for _, a := range c.Args {
			if ch, ok := a.(*parse.ChainNode); ok {
				a = ch.Node
			}
			if sub, ok := a.(*parse.PipeNode); ok {
				g.pipe(sub)
			}
		}
	}
}

// isLabelsPipe reports whether pipeline p is $labels or .Labels alone.
func isLabelsPipe(p *parse.PipeNode) bool {
	if len(p.Cmds) != 1 || len(p.Cmds[0].Args) != 1 {
		return false
	}
	switch a := p.Cmds[0].Args[0].(type) {
	case *parse.VariableNode:
		return len(a.Ident) == 1 && a.Ident[0] == "$labels"
	case *parse.FieldNode:
		return len(a.Ident) == 1 && a.Ident[0] == "Labels"
	}
	return false
}

// ExpandAnnotations executes the rule's annotation templates for a series
// with the given labels and value, and returns the expanded annotations,
// sorted by name. Templates see $labels (the labels, as a map: a missing
// label reads as "") and $value.
//
// If a template fails, or would expand to more than 64 KiB or build more
// than 64 KiB of strings (see maxTemplateBytes), its annotation holds the
// error text (as Prometheus does) and the returned error, which
// wraps ErrTemplate, says which one; the other annotations are expanded
// regardless.
func (r *Rule) ExpandAnnotations(labels stream.Labels, value float64) (stream.Labels, error) {
	if len(r.Annotations) == 0 {
		return nil, nil
	}
	return r.expand(r.Annotations, r.templates, "annotation", labels, value)
}

// expand executes templates (parallel to texts; a nil one leaves its text
// as it is) for a series with the given labels and value.
func (r *Rule) expand(texts stream.Labels, templates []*boundedTemplate, what string, labels stream.Labels, value float64) (stream.Labels, error) {
	data := templateData{Labels: make(map[string]string, len(labels)), Value: value}
	for _, l := range labels {
		data.Labels[l.Name] = l.Value
	}
	out := make(stream.Labels, len(texts))
	var errs []error
	var b boundedBuilder
	for i, a := range texts {
		out[i].Name = a.Name
		if i >= len(templates) || templates[i] == nil {
			out[i].Value = a.Value
			continue
		}
		b.Reset()
		if err := templates[i].execute(&b, &data); err != nil {
			err = fmt.Errorf("%s %q: %w: %w", what, a.Name, ErrTemplate, err)
			errs = append(errs, err)
			out[i].Value = "<error expanding template: " + err.Error() + ">"
			continue
		}
		out[i].Value = b.String()
	}
	if len(errs) > 0 {
		return out, r.errorf("%w", errors.Join(errs...))
	}
	return out, nil
}

// ExpandLabels returns the rule's labels expanded for a series with the
// given labels and value, sorted by name. Label values are templates as
// annotations are (see ExpandAnnotations), with the series' labels (not the
// rule's) as $labels. A label whose value is or expands to "" is returned
// with the empty value: it removes the label (see ApplyLabels). When no
// value is a template, it returns Labels itself, shared: do not modify it.
//
// If a template fails, its label holds the error text and the returned
// error, which wraps ErrTemplate, says which one.
func (r *Rule) ExpandLabels(labels stream.Labels, value float64) (stream.Labels, error) {
	if r.labelTemplates == nil {
		return r.Labels, nil
	}
	return r.expand(r.Labels, r.labelTemplates, "label", labels, value)
}

// ApplyLabels sets the rule's labels, expanded as ExpandLabels does, on
// labels (the series' labels, which are also $labels), as Prometheus'
// labels.Builder.Set does: a rule label whose value is empty, plain or
// expanded, removes the label of that name, the series' own included; any
// other value adds the label or replaces the series' value. labels is
// modified in place and returned sorted by name, as append does.
//
// If a template fails, its label holds the error text and the returned
// error, which wraps ErrTemplate, says which one.
func (r *Rule) ApplyLabels(labels stream.Labels, value float64) (stream.Labels, error) {
	set, err := r.ExpandLabels(labels, value)
	for _, l := range set {
		i := slices.IndexFunc(labels, func(x stream.Label) bool { return x.Name == l.Name })
		switch {
		case i < 0 && l.Value != "":
			labels = append(labels, l)
		case i >= 0 && l.Value != "":
			labels[i].Value = l.Value
		case i >= 0:
			labels = slices.Delete(labels, i, i+1)
		}
	}
	labels.Sort()
	return labels, err
}

func toFloat(v any) (float64, error) {
	switch v := v.(type) {
	case float64:
		return v, nil
	case float32:
		return float64(v), nil
	case int:
		return float64(v), nil
	case int64:
		return float64(v), nil
	case string:
		return strconv.ParseFloat(v, 64)
	}
	return 0, fmt.Errorf("cannot convert %T to a number", v)
}

// humanize formats a number with an SI prefix: 1234 → 1.234k, 0.0012 → 1.2m.
func humanize(v any) (string, error) {
	f, err := toFloat(v)
	if err != nil {
		return "", err
	}
	if f == 0 || math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Sprintf("%.4g", f), nil
	}
	prefix := ""
	if math.Abs(f) >= 1 {
		for _, p := range []string{"k", "M", "G", "T", "P", "E", "Z", "Y"} {
			if math.Abs(f) < 1000 {
				break
			}
			prefix = p
			f /= 1000
		}
	} else {
		for _, p := range []string{"m", "u", "n", "p", "f", "a", "z", "y"} {
			if math.Abs(f) >= 1 {
				break
			}
			prefix = p
			f *= 1000
		}
	}
	return fmt.Sprintf("%.4g%s", f, prefix), nil
}

// humanizePercentage formats a ratio as a percentage: 0.1234 → 12.34%.
func humanizePercentage(v any) (string, error) {
	f, err := toFloat(v)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%.4g%%", f*100), nil
}

// humanizeDuration formats seconds as a duration: 3725 → 1h 2m 5s,
// 0.25 → 250ms.
func humanizeDuration(v any) (string, error) {
	f, err := toFloat(v)
	if err != nil {
		return "", err
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Sprintf("%.4g", f), nil
	}
	sign := ""
	if f < 0 {
		sign = "-"
		f = -f
	}
	if f < 1 {
		switch {
		case f == 0:
			return "0s", nil
		case f >= 1e-3:
			return fmt.Sprintf("%s%.4gms", sign, f*1e3), nil
		case f >= 1e-6:
			return fmt.Sprintf("%s%.4gus", sign, f*1e6), nil
		}
		return fmt.Sprintf("%s%.4gns", sign, f*1e9), nil
	}
	secs := int64(f)
	days, secs := secs/86400, secs%86400
	hours, secs := secs/3600, secs%3600
	minutes, secs := secs/60, secs%60
	switch {
	case days > 0:
		return fmt.Sprintf("%s%dd %dh %dm %ds", sign, days, hours, minutes, secs), nil
	case hours > 0:
		return fmt.Sprintf("%s%dh %dm %ds", sign, hours, minutes, secs), nil
	case minutes > 0:
		return fmt.Sprintf("%s%dm %ds", sign, minutes, secs), nil
	}
	return fmt.Sprintf("%s%.4gs", sign, f), nil
}

// templateNameErrRE matches the text/template errors that name what is
// wrong: an undefined function or variable.
var templateNameErrRE = regexp.MustCompile(`^(?:function "([^"]+)" not defined|undefined variable "(\$[^"]*)")$`)

// nameOffset returns the rune offset, from the start of the line of text
// at rune offset lineOff, of the name that error message msg says is
// undefined, in an action ({{ ... }}) of that line; 0 when msg names
// nothing or the name is not found. text/template gives these errors a
// line but no column, and a long annotation's line can hide the name.
func nameOffset(text string, lineOff int, msg string) int {
	m := templateNameErrRE.FindStringSubmatch(msg)
	if m == nil {
		return 0
	}
	name := m[1] + m[2]
	line := text
	for range lineOff { // drop lineOff runes
		_, n := utf8.DecodeRuneInString(line)
		line = line[n:]
	}
	if i := strings.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	isIdent := func(c byte) bool {
		return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
	}
	for from := strings.Index(line, "{{"); from >= 0 && from < len(line); {
		i := strings.Index(line[from:], name)
		if i < 0 {
			return 0
		}
		i += from
		end := i + len(name)
		// A whole word, not part of another name or a field (.name).
		if (i == 0 || !isIdent(line[i-1]) && line[i-1] != '.' && line[i-1] != '$') && (end == len(line) || !isIdent(line[end])) {
			return utf8.RuneCountInString(line[:i])
		}
		from = end
	}
	return 0
}

// runeOffsetOfLine returns the rune offset at which line n (1-based) of s
// starts, or the length of s if it has fewer lines.
func runeOffsetOfLine(s string, n int) int {
	off := 0
	for l := 1; l < n; l++ {
		i := 0
		for i < len(s) && s[i] != '\n' {
			i++
		}
		if i == len(s) {
			return off + utf8.RuneCountInString(s)
		}
		off += utf8.RuneCountInString(s[:i]) + 1
		s = s[i+1:]
	}
	return off
}
