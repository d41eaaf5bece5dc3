package rules

import (
	"errors"
	"strconv"
	"strings"

	"github.com/faultline-go/faultline/internal/yamlfile"
)

// Causes of rule file errors. An *Error wraps exactly one of them (sometimes
// through further wrapping), so callers can tell problems apart with
// errors.Is. Their text is short because it is always shown after a
// file:line:col position. Package ruletest reports the problems of rule
// test files with the same causes and Error type.
var (
	// ErrSyntax: the file is not well-formed YAML.
	ErrSyntax = yamlfile.ErrSyntax
	// ErrUnknownField: a mapping has a key the format does not define.
	ErrUnknownField = yamlfile.ErrUnknownField
	// ErrDuplicate: a field is given twice in one mapping, or a group name
	// is used twice in one file.
	ErrDuplicate = yamlfile.ErrDuplicate
	// ErrType: a node has the wrong YAML kind (a scalar where a mapping or
	// a sequence is expected, or the reverse).
	ErrType = yamlfile.ErrType
	// ErrMissing: a required field is absent or empty.
	ErrMissing = yamlfile.ErrMissing
	// ErrDuration: a duration is unparsable, negative, or not positive where
	// it must be.
	ErrDuration = yamlfile.ErrDuration
	// ErrExpr: an expression does not compile, or fails at evaluation time.
	ErrExpr = errors.New("invalid expression")
	// ErrNotBool: an expression does not produce a boolean.
	ErrNotBool = errors.New("expression is not boolean")
	// ErrSelector: a series selector is malformed or has a bad regex.
	ErrSelector = errors.New("invalid selector")
	// ErrLabelName: a label or annotation name is not valid.
	ErrLabelName = yamlfile.ErrLabelName
	// ErrTemplate: an annotation template does not parse or fails to
	// execute.
	ErrTemplate = errors.New("invalid template")
	// ErrValue: a value is out of its range or not one of those allowed
	// (no_data, for_tolerance, flapping thresholds, too many levels).
	ErrValue = yamlfile.ErrValue
	// ErrConflict: two fields that exclude each other are both given (expr
	// or resolve with levels, label severity with levels).
	ErrConflict = errors.New("conflicting fields")
	// ErrRead: a rule file (or a rule test file) could not be read.
	ErrRead = errors.New("cannot read rule file")
)

// Error is one problem of a rule file (or of a rule test file, see package
// ruletest), at a position.
//
// Line and Col are 1-based; Col is in characters (runes), as YAML counts
// them. Col is 0 when only the line is known (YAML syntax errors), and both
// are 0 for problems of the file as a whole (it could not be read). Group and
// Rule name the enclosing group and alerting rule, when there is one.
type Error struct {
	File      string
	Line, Col int
	Group     string
	Rule      string
	Err       error
}

// Error formats the problem as
//
//	file:line:col: group "g": rule "r": message
//
// leaving out the parts that are empty or zero.
func (e *Error) Error() string {
	var b strings.Builder
	pos := false
	if e.File != "" {
		b.WriteString(e.File)
		pos = true
	}
	if e.Line > 0 {
		if pos {
			b.WriteByte(':')
		}
		b.WriteString(strconv.Itoa(e.Line))
		if e.Col > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(e.Col))
		}
		pos = true
	}
	if pos {
		b.WriteString(": ")
	}
	if e.Group != "" {
		b.WriteString("group ")
		b.WriteString(strconv.Quote(e.Group))
		b.WriteString(": ")
	}
	if e.Rule != "" {
		b.WriteString("rule ")
		b.WriteString(strconv.Quote(e.Rule))
		b.WriteString(": ")
	}
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	} else {
		b.WriteString("unknown error")
	}
	return b.String()
}

// Unwrap returns the cause, so errors.Is(err, ErrDuration) and friends work.
func (e *Error) Unwrap() error { return e.Err }

// Errors is every problem found in one parse, sorted by file (in the order
// the files were given) and position. Parse and ParseFiles return a non-empty
// Errors as their error.
type Errors []*Error

// Error formats one problem per line.
func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Unwrap returns the problems, so errors.Is and errors.As look into each.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}
