package rules

import (
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
)

// Names of the expression environment. The helper functions are not part of
// the public environment: the type check runs without them, so a rule file
// cannot call them directly.
const (
	envValue  = "value"
	envName   = "name"
	envLabels = "labels"
	envTS     = "ts"

	fnLabel    = "__label"     // func(name any) any: the value of a label, or ""
	fnHasLabel = "__has_label" // func(name any) bool: whether a label is set
	fnLabelMap = "__label_map" // func() any: all labels as a map[string]string
)

var labelsType = reflect.TypeFor[map[string]string]()

// publicEnv is the environment users write expressions against: these are
// the types the checker sees.
func publicEnv() map[string]any {
	return map[string]any{
		envValue:  float64(0),
		envName:   "",
		envLabels: map[string]string{},
		envTS:     time.Time{},
	}
}

// compileEnv is publicEnv plus the helpers the label patchers call.
func compileEnv() map[string]any {
	env := publicEnv()
	env[fnLabel] = (func(any) any)(nil)
	env[fnHasLabel] = (func(any) bool)(nil)
	env[fnLabelMap] = (func() any)(nil)
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

// compileExpr compiles a rule expression. It runs twice: once against the
// public environment, which gives precise types (labels is a
// map[string]string) and so catches non-boolean expressions and type errors,
// and once for real, with the label patchers and the optimizer, into the
// program Evaluator runs.
func compileExpr(src string) (*vm.Program, error) {
	ban := &envBan{}
	checked, err := expr.Compile(src,
		expr.Env(publicEnv()),
		expr.DisableBuiltin("now"),
		expr.Timezone("UTC"),
		expr.Patch(ban),
	)
	if err != nil {
		return nil, newExprError(ErrExpr, err)
	}
	if ban.found {
		return nil, &exprError{off: ban.loc.From, cause: ErrExpr, msg: "$env is not available in rule expressions"}
	}
	if t := checked.Node().Type(); t != nil && t.Kind() != reflect.Bool && t.Kind() != reflect.Interface {
		return nil, &exprError{cause: ErrNotBool, msg: fmt.Sprintf("it gives %s; compare it, as in value > 0.5", t)}
	}
	prog, err := expr.Compile(src,
		expr.Env(compileEnv()),
		expr.AsBool(),
		expr.DisableBuiltin("now"),
		expr.Timezone("UTC"),
		expr.Patch(labelAccessPatcher{}),
		expr.Patch(labelMapPatcher{}),
	)
	if err != nil {
		return nil, newExprError(ErrExpr, err)
	}
	return prog, nil
}

// envBan finds uses of $env, which would reach past the documented
// environment (and its hidden helpers).
type envBan struct {
	found bool
	loc   file.Location
}

func (b *envBan) Visit(node *ast.Node) {
	if id, ok := (*node).(*ast.IdentifierNode); ok && id.Value == "$env" && !b.found {
		b.found = true
		b.loc = id.Location()
	}
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

// labelMapPatcher rewrites the remaining uses of labels as a whole (such as
// len(labels) or keys(labels)) into a call that builds the map. That
// allocates, which the documented forms above do not. It runs after
// labelAccessPatcher, so only whole-map uses are left.
type labelMapPatcher struct{}

func (labelMapPatcher) Visit(node *ast.Node) {
	if isLabels(*node) {
		ast.Patch(node, &ast.CallNode{Callee: &ast.IdentifierNode{Value: fnLabelMap}})
	}
}
