package rules

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
)

// Names of the expression environment. The helper functions (these and
// those of limits.go) are not part of the public environment: the type check
// runs without them, so a rule file cannot call them directly.
const (
	envValue  = "value"
	envName   = "name"
	envLabels = "labels"
	envTS     = "ts"

	fnLabel    = "__label"     // func(name any) any: the value of a label, or ""
	fnHasLabel = "__has_label" // func(name any) bool: whether a label is set
)

var labelsType = reflect.TypeFor[map[string]string]()

// exprKind says which environment an expression is written against.
type exprKind uint8

const (
	sampleExpr exprKind = iota // a rule evaluated per sample
	cohortExpr                 // a cohort rule, evaluated per cohort and window
)

// Names of the cohort environment.
const (
	envCohort = "cohort"
	envOthers = "others"
	envFleet  = "fleet"
)

// publicEnv is the environment users write expressions against: these are
// the types the checker sees.
func publicEnv(kind exprKind) map[string]any {
	if kind == cohortExpr {
		return map[string]any{
			envCohort: Aggregate{},
			envOthers: Aggregate{},
			envFleet:  Aggregate{},
			envLabels: map[string]string{},
		}
	}
	env := map[string]any{
		envValue:  float64(0),
		envName:   "",
		envLabels: map[string]string{},
		envTS:     time.Time{},
	}
	for i, name := range windowFuncs {
		if winFunc(i) == winPrevious {
			env[name] = (func() float64)(nil)
		} else {
			env[name] = (func(string) float64)(nil)
		}
	}
	return env
}

// compileEnv is publicEnv plus the helpers the patchers call.
func compileEnv(kind exprKind) map[string]any {
	env := publicEnv(kind)
	env[fnWindow] = (func(any) any)(nil)
	env[fnLabel] = (func(any) any)(nil)
	env[fnHasLabel] = (func(any) bool)(nil)
	env[fnLabelCount] = (func() int)(nil)
	env[fnConcat] = (func(any, any) any)(nil)
	env[fnUpper] = (func(any) any)(nil)
	env[fnLower] = (func(any) any)(nil)
	env[fnInt] = (func(any) any)(nil)
	env[fnFloat] = (func(any) any)(nil)
	env[fnFetch] = (func(any, any) any)(nil)
	return env
}

// exprError is a problem with an expression, at a rune offset of its
// source.
type exprError struct {
	off   int
	cause error // ErrExpr or ErrNotBool
	msg   string
	prev  error // the error from expr, if any
}

func (e *exprError) Error() string { return e.cause.Error() + ": " + e.msg }

// Unwrap returns the cause (ErrExpr or ErrNotBool) and the error from expr,
// if any.
func (e *exprError) Unwrap() []error {
	if e.prev != nil {
		return []error{e.cause, e.prev}
	}
	return []error{e.cause}
}

func newExprError(cause, err error) *exprError {
	var fe *file.Error
	if errors.As(err, &fe) {
		return &exprError{off: fe.From, cause: cause, msg: fe.Message, prev: err}
	}
	return &exprError{cause: cause, msg: err.Error(), prev: err}
}

// compileExpr compiles a per-sample rule expression (see compileRule).
func compileExpr(src string) (*vm.Program, error) {
	c, err := compileExprKind(src, sampleExpr)
	return c.prog, err
}

// compiled is a compiled rule expression.
type compiled struct {
	prog   *vm.Program
	calls  []windowCall // its windowed calls, by __window index
	window int64        // the longest window of calls, ns
}

// compileRule compiles a rule expression. Bare durations in windowed calls,
// rate(5m), are first quoted (durationLiterals); error offsets are mapped
// back to src. It then runs twice: once against the
// public environment, which gives precise types (labels is a
// map[string]string) and so catches non-boolean expressions and type errors,
// and, through guard, checks the expression against the bounds of
// evaluation (see limits.go) and its windowed calls; and once for real, with
// the window and label patchers, the string budget and the optimizer, into
// the program Evaluator runs.
func compileExprKind(src string, kind exprKind) (compiled, error) {
	c, err := compileRewritten(src, kind)
	if err != nil {
		var ee *exprError
		if errors.As(err, &ee) {
			_, ins := durationLiterals(src)
			ee.off = origOffset(ee.off, ins)
		}
	}
	return c, err
}

func compileRewritten(orig string, kind exprKind) (compiled, error) {
	var c compiled
	if len(orig) > maxExprBytes {
		return c, &exprError{cause: ErrExpr, msg: fmt.Sprintf("the expression is too long: %d bytes, more than %d", len(orig), maxExprBytes)}
	}
	src, _ := durationLiterals(orig)
	g := &guard{}
	g.win.g = g
	checked, err := expr.Compile(src,
		expr.Env(publicEnv(kind)),
		expr.DisableBuiltin("now"),
		expr.MaxNodes(maxExprNodes),
		expr.Patch(g), // first: it checks the tree as written
		expr.Timezone("UTC"),
	)
	if p := g.first(); p != nil {
		return c, p
	}
	if err != nil {
		ee := newExprError(ErrExpr, err)
		if strings.Contains(ee.msg, "exceeds maximum allowed nodes") {
			ee.msg = fmt.Sprintf("the expression is too large: it has more than %d operators, names and constants", maxExprNodes)
		}
		return c, ee
	}
	if t := checked.Node().Type(); t != nil && t.Kind() != reflect.Bool && t.Kind() != reflect.Interface {
		hint := "value > 0.5"
		if kind == cohortExpr {
			hint = "cohort.rate > 5 * others.rate"
		}
		return c, &exprError{cause: ErrNotBool, msg: fmt.Sprintf("it gives %s; compare it, as in %s", t, hint)}
	}
	wp := &windowPatcher{calls: &c.calls}
	opts := []expr.Option{
		expr.Env(compileEnv(kind)),
		expr.AsBool(),
		expr.DisableAllBuiltins(),
	}
	for _, b := range ruleBuiltins {
		opts = append(opts, expr.EnableBuiltin(b))
	}
	opts = append(opts,
		expr.MaxNodes(maxExprNodes),
		expr.Timezone("UTC"),
		expr.Patch(foldTimePatcher{}),
		expr.Patch(wp),
		expr.Patch(labelAccessPatcher{}),
		expr.Patch(labelCountPatcher{}),
		expr.Patch(boundsPatcher{}),
	)
	prog, err := expr.Compile(src, opts...)
	if wp.err != nil {
		return c, &exprError{cause: ErrExpr, msg: wp.err.Error()}
	}
	if err != nil {
		return c, newExprError(ErrExpr, err)
	}
	c.prog, c.window = prog, g.win.max
	return c, nil
}

// isLabels reports whether n is the environment's labels map (and not a
// variable that shadows it).
func isLabels(n ast.Node) bool {
	id, ok := n.(*ast.IdentifierNode)
	return ok && id.Value == envLabels && id.Type() == labelsType
}

// labelAccessPatcher rewrites label access so that evaluation reads the
// sample's sorted label slice instead of a map built per sample:
//
//	labels.x, labels["x"], labels[e]  →  __label("x"), __label(e)
//	"x" in labels                     →  __has_label("x")
type labelAccessPatcher struct{}

func (labelAccessPatcher) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.MemberNode:
		if isLabels(n.Node) {
			ast.Patch(node, &ast.CallNode{
				Callee:    &ast.IdentifierNode{Value: fnLabel},
				Arguments: []ast.Node{n.Property},
			})
		}
	case *ast.BinaryNode:
		if n.Operator == "in" && isLabels(n.Right) {
			ast.Patch(node, &ast.CallNode{
				Callee:    &ast.IdentifierNode{Value: fnHasLabel},
				Arguments: []ast.Node{n.Left},
			})
		}
	}
}
