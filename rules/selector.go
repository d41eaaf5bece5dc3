package rules

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/faultline-go/faultline/stream"
)

// MatchOp is the operator of a label matcher.
type MatchOp uint8

// Label matcher operators, as in PromQL.
const (
	MatchEqual     MatchOp = iota // =
	MatchNotEqual                 // !=
	MatchRegexp                   // =~
	MatchNotRegexp                // !~
)

// String returns the operator as written in a selector.
func (op MatchOp) String() string {
	switch op {
	case MatchEqual:
		return "="
	case MatchNotEqual:
		return "!="
	case MatchRegexp:
		return "=~"
	case MatchNotRegexp:
		return "!~"
	}
	return "MatchOp(" + strconv.Itoa(int(op)) + ")"
}

// nameLabel is the pseudo-label a selector uses for the sample name.
const nameLabel = "__name__"

// Matcher is one label matcher of a Selector: Name Op Value. The sample
// name is matched as the label "__name__". As in Prometheus, a missing label
// has the value "", and regexes are fully anchored.
type Matcher struct {
	Name  string
	Op    MatchOp
	Value string

	re *valueRegexp // for MatchRegexp and MatchNotRegexp
}

// Matches reports whether the label value v satisfies the matcher. A
// regex matcher from ParseSelector or Selector.Matchers has its regex
// compiled; one built by hand compiles it on every call.
func (m *Matcher) Matches(v string) bool {
	if m.re == nil && (m.Op == MatchRegexp || m.Op == MatchNotRegexp) {
		re, err := compileValueRegexp(m.Value)
		if err != nil {
			return false
		}
		return re.matches(v) == (m.Op == MatchRegexp)
	}
	switch m.Op {
	case MatchEqual:
		return v == m.Value
	case MatchNotEqual:
		return v != m.Value
	case MatchRegexp:
		return m.re.matches(v)
	case MatchNotRegexp:
		return !m.re.matches(v)
	}
	return false
}

// String formats the matcher as in a selector: name="value".
func (m *Matcher) String() string {
	name := m.Name
	if !isLabelName(name) {
		name = strconv.Quote(name)
	}
	return name + m.Op.String() + strconv.Quote(m.Value)
}

// valueRegexp is a fully anchored regex with fast paths for the common
// shapes: a literal, a list of literal alternatives, ".*" and ".+".
type valueRegexp struct {
	kind int
	alts []string // kind == reAlts
	re   *regexp.Regexp
}

const (
	reFull     = iota // use re
	reAlts            // v is one of alts
	reAny             // ".*": always
	reNonEmpty        // ".+": v != ""
)

func compileValueRegexp(expr string) (*valueRegexp, error) {
	if _, err := regexp.Compile(expr); err != nil {
		return nil, err // the message shows the user's regex, not ours
	}
	re, err := regexp.Compile("^(?s:" + expr + ")$")
	if err != nil {
		return nil, err
	}
	switch expr {
	case ".*":
		return &valueRegexp{kind: reAny}, nil
	case ".+":
		return &valueRegexp{kind: reNonEmpty}, nil
	}
	alts := strings.Split(expr, "|")
	for _, a := range alts {
		if regexp.QuoteMeta(a) != a {
			return &valueRegexp{kind: reFull, re: re}, nil
		}
	}
	return &valueRegexp{kind: reAlts, alts: alts}, nil
}

func (r *valueRegexp) matches(v string) bool {
	switch r.kind {
	case reAlts:
		for _, a := range r.alts {
			if v == a {
				return true
			}
		}
		return false
	case reAny:
		return true
	case reNonEmpty:
		return v != ""
	}
	return r.re.MatchString(v)
}

// Selector selects series by name and labels, in PromQL selector syntax:
// an optional metric name followed by an optional brace-enclosed list of
// label matchers,
//
//	http_errors{job="api", env=~"prod|stage", instance!~"canary-.*"}
//
// The operators are = != =~ !~; values are double-quoted, single-quoted or
// backquoted strings, with Go escapes in the first two; regexes are RE2 and
// fully anchored (env=~"prod" does not match "production"). A missing label
// has the value "", so env!="prod" matches series without env. "{}" selects
// every series. The zero of *Selector (nil) also selects every series.
//
// A Selector is immutable and safe for concurrent use.
type Selector struct {
	name     string // the exact sample name required, or ""
	matchers []Matcher
}

// Name returns the exact sample name the selector requires (its metric
// name, or the value of a __name__="..." matcher), or "" if any name may
// match.
func (s *Selector) Name() string {
	if s == nil {
		return ""
	}
	return s.name
}

// Matchers returns a copy of the selector's matchers, a metric name given
// before the braces included as a __name__ matcher.
func (s *Selector) Matchers() []Matcher {
	if s == nil {
		return nil
	}
	return append([]Matcher(nil), s.matchers...)
}

// Matches reports whether the series with the given name and labels is
// selected. A nil selector matches every series.
func (s *Selector) Matches(name string, labels stream.Labels) bool {
	if s == nil {
		return true
	}
	for i := range s.matchers {
		m := &s.matchers[i]
		var v string
		if m.Name == nameLabel {
			v = name
		} else {
			v = labels.Get(m.Name)
		}
		if !m.Matches(v) {
			return false
		}
	}
	return true
}

// String formats the selector in canonical form, which ParseSelector reads
// back to an equal selector: the metric name if one is fixed, then the other
// matchers in braces, as in name{a="1", b=~"x|y"}. A nil selector is "{}".
func (s *Selector) String() string {
	if s == nil {
		return "{}"
	}
	var b strings.Builder
	skip := -1
	if s.name != "" && isMetricName(s.name) {
		for i := range s.matchers {
			if m := &s.matchers[i]; m.Name == nameLabel && m.Op == MatchEqual && m.Value == s.name {
				skip = i
				break
			}
		}
	}
	if skip >= 0 {
		b.WriteString(s.name)
		if len(s.matchers) == 1 {
			return b.String()
		}
	}
	b.WriteByte('{')
	first := true
	for i := range s.matchers {
		if i == skip {
			continue
		}
		if !first {
			b.WriteString(", ")
		}
		first = false
		b.WriteString(s.matchers[i].String())
	}
	b.WriteByte('}')
	return b.String()
}

// SelectorError is a syntax error of a selector, at a character of it, so
// that a file parser can point at that character in the file.
type SelectorError struct {
	// Offset is the offending character's offset in the selector, in runes.
	Offset int
	// Msg says what is wrong, without the position.
	Msg string
}

// Error formats the problem with its position in the selector.
func (e *SelectorError) Error() string {
	return fmt.Sprintf("%s: %s (at character %d)", ErrSelector.Error(), e.Msg, e.Offset+1)
}

// Unwrap returns ErrSelector.
func (e *SelectorError) Unwrap() error { return ErrSelector }

// ParseSelector parses a series selector (see Selector for the syntax). The
// error is a *SelectorError, which wraps ErrSelector.
func ParseSelector(s string) (*Selector, error) {
	p := selParser{src: s}
	sel, err := p.parse()
	if err != nil {
		return nil, err
	}
	return sel, nil
}

type selParser struct {
	src string
	pos int // byte offset
}

func (p *selParser) errorf(bytePos int, format string, args ...any) error {
	if bytePos > len(p.src) {
		bytePos = len(p.src)
	}
	return &SelectorError{Offset: utf8.RuneCountInString(p.src[:bytePos]), Msg: fmt.Sprintf(format, args...)}
}

func (p *selParser) skipSpace() {
	for p.pos < len(p.src) {
		switch p.src[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *selParser) peek() byte {
	if p.pos < len(p.src) {
		return p.src[p.pos]
	}
	return 0
}

func (p *selParser) parse() (*Selector, error) {
	sel := &Selector{}
	p.skipSpace()
	if p.pos == len(p.src) {
		return nil, p.errorf(p.pos, "empty selector")
	}
	if c := p.peek(); isNameStart(c) || c == ':' {
		start := p.pos
		for p.pos < len(p.src) && (isNameChar(p.src[p.pos]) || p.src[p.pos] == ':') {
			p.pos++
		}
		sel.name = p.src[start:p.pos]
		sel.matchers = append(sel.matchers, Matcher{Name: nameLabel, Op: MatchEqual, Value: sel.name})
		p.skipSpace()
	} else if c != '{' {
		return nil, p.errorf(p.pos, "unexpected %s, want a metric name or '{'", describe(p.src[p.pos:]))
	}
	if p.peek() == '{' {
		p.pos++
		if err := p.parseMatchers(sel); err != nil {
			return nil, err
		}
		p.skipSpace()
	}
	if p.pos < len(p.src) {
		return nil, p.errorf(p.pos, "unexpected %s after the selector", describe(p.src[p.pos:]))
	}
	if sel.name == "" {
		for i := range sel.matchers {
			if m := &sel.matchers[i]; m.Name == nameLabel && m.Op == MatchEqual {
				sel.name = m.Value
				break
			}
		}
	}
	return sel, nil
}

func (p *selParser) parseMatchers(sel *Selector) error {
	for {
		p.skipSpace()
		if p.peek() == '}' {
			p.pos++
			return nil
		}
		if p.pos == len(p.src) {
			return p.errorf(p.pos, "missing '}'")
		}
		// Label name: an identifier or a quoted string.
		nameStart := p.pos
		var name string
		switch c := p.peek(); {
		case isNameStart(c):
			for p.pos < len(p.src) && isNameChar(p.src[p.pos]) {
				p.pos++
			}
			name = p.src[nameStart:p.pos]
		case c == '"' || c == '\'' || c == '`':
			s, err := p.parseString()
			if err != nil {
				return err
			}
			if s == "" {
				return p.errorf(nameStart, "empty label name")
			}
			name = s
		default:
			return p.errorf(p.pos, "unexpected %s, want a label name", describe(p.src[p.pos:]))
		}
		p.skipSpace()
		opStart := p.pos
		var op MatchOp
		switch {
		case strings.HasPrefix(p.src[p.pos:], "=~"):
			op, p.pos = MatchRegexp, p.pos+2
		case strings.HasPrefix(p.src[p.pos:], "!~"):
			op, p.pos = MatchNotRegexp, p.pos+2
		case strings.HasPrefix(p.src[p.pos:], "!="):
			op, p.pos = MatchNotEqual, p.pos+2
		case strings.HasPrefix(p.src[p.pos:], "="):
			op, p.pos = MatchEqual, p.pos+1
		default:
			return p.errorf(opStart, "unexpected %s after label %q, want one of = != =~ !~", describe(p.src[p.pos:]), name)
		}
		p.skipSpace()
		valueStart := p.pos
		if c := p.peek(); c != '"' && c != '\'' && c != '`' {
			return p.errorf(p.pos, "unexpected %s, want a quoted label value", describe(p.src[p.pos:]))
		}
		value, err := p.parseString()
		if err != nil {
			return err
		}
		m := Matcher{Name: name, Op: op, Value: value}
		if op == MatchRegexp || op == MatchNotRegexp {
			re, err := compileValueRegexp(value)
			if err != nil {
				return p.errorf(valueStart, "bad regex for label %q: %v", name, err)
			}
			m.re = re
		}
		sel.matchers = append(sel.matchers, m)
		p.skipSpace()
		switch p.peek() {
		case ',':
			p.pos++
		case '}':
		default:
			if p.pos == len(p.src) {
				return p.errorf(p.pos, "missing '}'")
			}
			return p.errorf(p.pos, "unexpected %s, want ',' or '}'", describe(p.src[p.pos:]))
		}
	}
}

// parseString parses a quoted string at p.pos: "..." and '...' with Go
// escapes, `...` raw.
func (p *selParser) parseString() (string, error) {
	start := p.pos
	q := p.src[p.pos]
	i := p.pos + 1
	for i < len(p.src) {
		c := p.src[i]
		if c == q {
			break
		}
		if c == '\\' && q != '`' {
			i += 2
			continue
		}
		if c == '\n' && q != '`' {
			return "", p.errorf(i, "newline in quoted string")
		}
		i++
	}
	if i >= len(p.src) {
		return "", p.errorf(start, "unterminated quoted string")
	}
	raw := p.src[start : i+1]
	p.pos = i + 1
	switch q {
	case '`':
		return raw[1 : len(raw)-1], nil
	case '\'':
		// Turn the single-quoted body into a double-quoted one for
		// strconv.Unquote: \' becomes ', a bare " gets escaped.
		var b strings.Builder
		b.WriteByte('"')
		body := raw[1 : len(raw)-1]
		for j := 0; j < len(body); j++ {
			switch c := body[j]; {
			case c == '\\' && j+1 < len(body) && body[j+1] == '\'':
				b.WriteByte('\'')
				j++
			case c == '\\' && j+1 < len(body):
				b.WriteByte(c)
				b.WriteByte(body[j+1])
				j++
			case c == '"':
				b.WriteString(`\"`)
			default:
				b.WriteByte(c)
			}
		}
		b.WriteByte('"')
		raw = b.String()
	}
	s, err := strconv.Unquote(raw)
	if err != nil {
		return "", p.errorf(start, "bad escape in quoted string %s", p.src[start:p.pos])
	}
	if !utf8.ValidString(s) {
		return "", p.errorf(start, "quoted string is not valid UTF-8")
	}
	return s, nil
}

func describe(rest string) string {
	if rest == "" {
		return "end of selector"
	}
	r, _ := utf8.DecodeRuneInString(rest)
	return strconv.QuoteRune(r)
}

func isNameStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isNameChar(c byte) bool {
	return isNameStart(c) || (c >= '0' && c <= '9')
}

// isLabelName reports whether s is a valid label name: [a-zA-Z_][a-zA-Z0-9_]*.
func isLabelName(s string) bool {
	if s == "" || !isNameStart(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isNameChar(s[i]) {
			return false
		}
	}
	return true
}

// isMetricName reports whether s is a valid metric name:
// [a-zA-Z_:][a-zA-Z0-9_:]*.
func isMetricName(s string) bool {
	if s == "" || !(isNameStart(s[0]) || s[0] == ':') {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !(isNameChar(s[i]) || s[i] == ':') {
			return false
		}
	}
	return true
}
