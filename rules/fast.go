package rules

import (
	"cmp"
	"reflect"
	"regexp"
	"strings"
	"time"

	"github.com/expr-lang/expr/ast"

	"github.com/faultline-go/faultline/stream"
)

// The fast path.
//
// Most rule expressions compare the sample's value, name and labels with
// constants and combine the comparisons with and, or and not. For those,
// running expr's virtual machine costs more than the comparisons themselves
// (a run starts with bookkeeping, loads each variable from the environment
// map and dispatches every operator on interface values). So, at Parse time,
// an expression whose compiled tree uses only the forms below is also
// compiled to a tree of Go closures over the sample, and Eval calls that
// instead. Anything else runs on the virtual machine. Both give the same
// result; fast_test.go checks it over generated expressions.
//
// Forms: value, name, labels.x / labels["x"] (after the label patchers),
// "x" in labels, number, string and bool constants; ts.Hour(), ts.Minute(),
// ts.Second(), ts.Day(), ts.Year(), ts.YearDay(), ts.Unix(); unary - + ! not;
// + - * / on floats; == != < <= > >= on numbers or strings; == != on bools;
// && || and or; matches, contains, startsWith, endsWith with a string on
// each side; in with a constant list of strings.

// fastIn is what the closures read: the sample, and the history for the
// windowed calls (__window(k), see window.go), whose table the closures
// capture.
type fastIn struct {
	*stream.Sample
	hist  *History
	calls []windowCall
}

type (
	fastPred func(s *fastIn) bool
	fastNum  func(s *fastIn) float64
	fastStr  func(s *fastIn) string
)

// maxExactInt is the largest integer constant compared on the fast path,
// where numbers are float64: beyond 2^53 not every integer is a float64.
const maxExactInt = 1 << 53

// buildFast compiles the tree of a compiled program to closures, if it only
// uses the fast forms.
func buildFast(n ast.Node) (fastPred, bool) {
	return fastBool(n)
}

func fastBool(n ast.Node) (fastPred, bool) {
	switch n := n.(type) {
	case *ast.BoolNode:
		v := n.Value
		return func(*fastIn) bool { return v }, true
	case *ast.ConstantNode:
		if v, ok := n.Value.(bool); ok {
			return func(*fastIn) bool { return v }, true
		}
	case *ast.UnaryNode:
		if n.Operator == "!" || n.Operator == "not" {
			if p, ok := fastBool(n.Node); ok {
				return func(s *fastIn) bool { return !p(s) }, true
			}
		}
	case *ast.CallNode:
		if isCallOf(n, fnHasLabel, 1) {
			if name, ok := fastString(n.Arguments[0]); ok {
				return func(s *fastIn) bool { return hasLabel(s.Labels, name(s)) }, true
			}
		}
	case *ast.BinaryNode:
		return fastBinary(n)
	}
	return nil, false
}

func fastBinary(n *ast.BinaryNode) (fastPred, bool) {
	switch n.Operator {
	case "&&", "and", "||", "or":
		l, ok1 := fastBool(n.Left)
		r, ok2 := fastBool(n.Right)
		if !ok1 || !ok2 {
			return nil, false
		}
		if n.Operator == "&&" || n.Operator == "and" {
			return func(s *fastIn) bool { return l(s) && r(s) }, true
		}
		return func(s *fastIn) bool { return l(s) || r(s) }, true

	case "==", "!=", "<", "<=", ">", ">=":
		if p, ok := fastCompareConst(n); ok {
			return p, true
		}
		if l, ok := fastNumber(n.Left); ok {
			if r, ok := fastNumber(n.Right); ok {
				return compare(n.Operator, l, r), true
			}
			return nil, false
		}
		if l, ok := fastString(n.Left); ok {
			if r, ok := fastString(n.Right); ok {
				return compare(n.Operator, l, r), true
			}
			return nil, false
		}
		if n.Operator == "==" || n.Operator == "!=" {
			l, ok1 := fastBool(n.Left)
			r, ok2 := fastBool(n.Right)
			if ok1 && ok2 {
				if n.Operator == "==" {
					return func(s *fastIn) bool { return l(s) == r(s) }, true
				}
				return func(s *fastIn) bool { return l(s) != r(s) }, true
			}
		}

	case "matches":
		pat, ok := n.Right.(*ast.StringNode)
		if !ok {
			return nil, false
		}
		re, err := regexp.Compile(pat.Value)
		if err != nil {
			return nil, false
		}
		if l, ok := fastString(n.Left); ok {
			return func(s *fastIn) bool { return re.MatchString(l(s)) }, true
		}

	case "contains", "startsWith", "endsWith":
		l, ok1 := fastString(n.Left)
		r, ok2 := fastString(n.Right)
		if !ok1 || !ok2 {
			return nil, false
		}
		switch n.Operator {
		case "contains":
			return func(s *fastIn) bool { return strings.Contains(l(s), r(s)) }, true
		case "startsWith":
			return func(s *fastIn) bool { return strings.HasPrefix(l(s), r(s)) }, true
		}
		return func(s *fastIn) bool { return strings.HasSuffix(l(s), r(s)) }, true

	case "in":
		set, ok := stringSet(n.Right)
		if !ok {
			return nil, false
		}
		if l, ok := fastString(n.Left); ok {
			return func(s *fastIn) bool {
				_, in := set[l(s)]
				return in
			}, true
		}
	}
	return nil, false
}

// stringSet returns the members of a constant list of strings (which the
// optimizer turns into a set).
func stringSet(n ast.Node) (map[string]struct{}, bool) {
	switch n := n.(type) {
	case *ast.ConstantNode:
		set, ok := n.Value.(map[string]struct{})
		return set, ok
	case *ast.ArrayNode:
		set := make(map[string]struct{}, len(n.Nodes))
		for _, e := range n.Nodes {
			str, ok := e.(*ast.StringNode)
			if !ok {
				return nil, false
			}
			set[str.Value] = struct{}{}
		}
		return set, true
	}
	return nil, false
}

// fastCompareConst compiles the most common comparisons, value or a label
// against a constant, to a single closure.
func fastCompareConst(n *ast.BinaryNode) (fastPred, bool) {
	if id, ok := n.Left.(*ast.IdentifierNode); ok && id.Value == envValue {
		if c, ok := fastNumber(n.Right); ok && isConst(n.Right) {
			v := c(nil)
			switch n.Operator {
			case "==":
				return func(s *fastIn) bool { return s.Value == v }, true
			case "!=":
				return func(s *fastIn) bool { return s.Value != v }, true
			case "<":
				return func(s *fastIn) bool { return s.Value < v }, true
			case "<=":
				return func(s *fastIn) bool { return s.Value <= v }, true
			case ">":
				return func(s *fastIn) bool { return s.Value > v }, true
			case ">=":
				return func(s *fastIn) bool { return s.Value >= v }, true
			}
		}
	}
	if call, ok := n.Left.(*ast.CallNode); ok && isCallOf(call, fnLabel, 1) {
		name, ok1 := call.Arguments[0].(*ast.StringNode)
		val, ok2 := n.Right.(*ast.StringNode)
		if ok1 && ok2 {
			l, v := name.Value, val.Value
			switch n.Operator {
			case "==":
				return func(s *fastIn) bool { return s.Labels.Get(l) == v }, true
			case "!=":
				return func(s *fastIn) bool { return s.Labels.Get(l) != v }, true
			}
		}
	}
	return nil, false
}

// isConst reports whether n is a numeric constant.
func isConst(n ast.Node) bool {
	switch n := n.(type) {
	case *ast.FloatNode, *ast.IntegerNode:
		return true
	case *ast.ConstantNode:
		switch n.Value.(type) {
		case float64, int:
			return true
		}
	}
	return false
}

// compare returns the comparison op of two fast operands of one ordered
// type.
func compare[T cmp.Ordered](op string, l, r func(*fastIn) T) fastPred {
	switch op {
	case "==":
		return func(s *fastIn) bool { return l(s) == r(s) }
	case "!=":
		return func(s *fastIn) bool { return l(s) != r(s) }
	case "<":
		return func(s *fastIn) bool { return l(s) < r(s) }
	case "<=":
		return func(s *fastIn) bool { return l(s) <= r(s) }
	case ">":
		return func(s *fastIn) bool { return l(s) > r(s) }
	}
	return func(s *fastIn) bool { return l(s) >= r(s) }
}

func fastNumber(n ast.Node) (fastNum, bool) {
	switch n := n.(type) {
	case *ast.IdentifierNode:
		if n.Value == envValue {
			return func(s *fastIn) float64 { return s.Value }, true
		}
	case *ast.FloatNode:
		return constNum(n.Value), true
	case *ast.IntegerNode:
		if n.Value <= maxExactInt && n.Value >= -maxExactInt {
			return constNum(float64(n.Value)), true
		}
	case *ast.ConstantNode:
		switch v := n.Value.(type) {
		case float64:
			return constNum(v), true
		case int:
			if v <= maxExactInt && v >= -maxExactInt {
				return constNum(float64(v)), true
			}
		}
	case *ast.UnaryNode:
		x, ok := fastNumber(n.Node)
		if !ok {
			return nil, false
		}
		switch n.Operator {
		case "-":
			return func(s *fastIn) float64 { return -x(s) }, true
		case "+":
			return x, true
		}
	case *ast.BinaryNode:
		// Only where expr computes in float64 too.
		if !runtimeFloat(n) {
			return nil, false
		}
		l, ok1 := fastNumber(n.Left)
		r, ok2 := fastNumber(n.Right)
		if !ok1 || !ok2 {
			return nil, false
		}
		switch n.Operator {
		case "+":
			return func(s *fastIn) float64 { return l(s) + r(s) }, true
		case "-":
			return func(s *fastIn) float64 { return l(s) - r(s) }, true
		case "*":
			return func(s *fastIn) float64 { return l(s) * r(s) }, true
		case "/":
			return func(s *fastIn) float64 { return l(s) / r(s) }, true
		}
	case *ast.CallNode:
		if isCallOf(n, fnWindow, 1) {
			return fastWindow(n)
		}
		return fastTimeMethod(n)
	}
	return nil, false
}

// runtimeFloat reports whether expr computes n in float64: n is typed so,
// or is an arithmetic operation of which one operand is (a windowed call
// is typed any but always gives a float64, and expr's arithmetic on a
// float64 and another number gives a float64).
func runtimeFloat(n ast.Node) bool {
	t := n.Type()
	if t != nil && t.Kind() == reflect.Float64 {
		return true
	}
	switch n := n.(type) {
	case *ast.CallNode:
		return isCallOf(n, fnWindow, 1)
	case *ast.BinaryNode:
		if t == nil || t.Kind() != reflect.Interface {
			return false
		}
		switch n.Operator {
		case "+", "-", "*", "/":
			return runtimeFloat(n.Left) || runtimeFloat(n.Right)
		}
	}
	return false
}

// fastWindow compiles __window(k): windowed call k over the history.
func fastWindow(n *ast.CallNode) (fastNum, bool) {
	k, ok := n.Arguments[0].(*ast.IntegerNode)
	if !ok || k.Value < 0 || k.Value >= maxWindowCalls {
		return nil, false
	}
	i := k.Value
	return func(s *fastIn) float64 { return s.calls[i].eval(s.hist) }, true
}

func constNum(v float64) fastNum {
	return func(*fastIn) float64 { return v }
}

// fastTimeMethod compiles ts.Hour() and the like.
func fastTimeMethod(n *ast.CallNode) (fastNum, bool) {
	m, ok := n.Callee.(*ast.MemberNode)
	if !ok || len(n.Arguments) != 0 || m.Optional {
		return nil, false
	}
	id, ok := m.Node.(*ast.IdentifierNode)
	if !ok || id.Value != envTS {
		return nil, false
	}
	prop, ok := m.Property.(*ast.StringNode)
	if !ok {
		return nil, false
	}
	var f func(time.Time) float64
	switch prop.Value {
	case "Hour":
		f = func(t time.Time) float64 { return float64(t.Hour()) }
	case "Minute":
		f = func(t time.Time) float64 { return float64(t.Minute()) }
	case "Second":
		f = func(t time.Time) float64 { return float64(t.Second()) }
	case "Day":
		f = func(t time.Time) float64 { return float64(t.Day()) }
	case "Year":
		f = func(t time.Time) float64 { return float64(t.Year()) }
	case "YearDay":
		f = func(t time.Time) float64 { return float64(t.YearDay()) }
	case "Unix":
		f = func(t time.Time) float64 { return float64(t.Unix()) }
	default:
		return nil, false
	}
	return func(s *fastIn) float64 { return f(time.Unix(0, s.Time).UTC()) }, true
}

func fastString(n ast.Node) (fastStr, bool) {
	switch n := n.(type) {
	case *ast.IdentifierNode:
		if n.Value == envName {
			return func(s *fastIn) string { return s.Name }, true
		}
	case *ast.StringNode:
		v := n.Value
		return func(*fastIn) string { return v }, true
	case *ast.ConstantNode:
		if v, ok := n.Value.(string); ok {
			return func(*fastIn) string { return v }, true
		}
	case *ast.CallNode:
		if isCallOf(n, fnLabel, 1) {
			if str, ok := n.Arguments[0].(*ast.StringNode); ok {
				name := str.Value
				return func(s *fastIn) string { return s.Labels.Get(name) }, true
			}
			if name, ok := fastString(n.Arguments[0]); ok {
				return func(s *fastIn) string { return s.Labels.Get(name(s)) }, true
			}
		}
	}
	return nil, false
}

func isCallOf(n *ast.CallNode, fn string, args int) bool {
	id, ok := n.Callee.(*ast.IdentifierNode)
	return ok && id.Value == fn && len(n.Arguments) == args
}

func hasLabel(ls stream.Labels, name string) bool {
	for i := range ls {
		if ls[i].Name == name {
			return true
		}
	}
	return false
}
