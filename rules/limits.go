package rules

import (
	"errors"
	"fmt"
	"reflect"
	"regexp/syntax"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/vm/runtime"
)

// Bounds on evaluation.
//
// A rule is evaluated for every sample it selects, inside the process that
// embeds faultline, so an expression must not be able to make one
// evaluation run long or allocate much, whatever the sample. The expr
// language can do both: its iterating builtins (reduce, map, filter ...)
// over large ranges loop millions of times, and its virtual machine's
// memory budget does not see strings, so reduce(1..40, #acc + #acc, name) or
// a chain of let a2 = a1 + a1; let a3 = a2 + a2 ... would need terabytes.
// Rules are therefore restricted in two ways.
//
// At Parse time (guard, below), an expression is rejected, with the
// position of the offending part, if it
//
//   - is longer than maxExprBytes, or has more than maxExprNodes nodes
//     (operators, names and constants);
//   - calls a builtin other than those of ruleBuiltins: in particular none
//     of the iterating ones, nor those that build strings or lists (repeat,
//     replace, split, join, toJSON ...);
//   - has a range a..b whose bounds are not integer constants, or ranges
//     that span more than maxRangeSpan numbers in all;
//   - uses matches with a pattern that is not a string constant (a pattern
//     taken from the sample would be compiled on every evaluation), or
//     patterns whose programs have more than maxRegexInsts instructions in
//     all (matching takes time, and Go's regexp scratch space, in
//     proportion to them);
//   - calls date() or duration() with anything but constant strings (they
//     are evaluated once, at Parse time);
//   - uses labels other than as labels.x, labels[e], "x" in labels and
//     len(labels) (as a whole it would be copied into a map per sample);
//   - formats a time (ts.Format, ts.AppendFormat: the result grows with the
//     layout);
//   - uses ?.[k] with a computed key k on anything but labels (see
//     boundsPatcher).
//
// Without the iterating builtins an expression has no loop: each of its
// instructions runs at most once per evaluation. What one instruction may
// allocate is bounded by a constant (a boxed number or time, a reflective
// method call on ts or a duration, whose results have a fixed size, a
// literal list or map of at most maxExprNodes elements, a range of at most
// maxRangeSpan ints), except for new strings. Those are
// made only by string +, upper() and lower() (trim, trimPrefix, trimSuffix
// and slices return parts of their argument), which Evaluator runs itself
// (see boundsPatcher), charging their length to a budget of maxStringBytes
// per evaluation: the operation that would go past it fails the evaluation
// before allocating.
//
// So an evaluation allocates at most maxStringBytes of strings plus a
// constant per instruction, whatever the sample. An evaluation that fails
// also allocates its error, which quotes the expression's source line (at
// most maxExprBytes) and at most maxQuote bytes of a string of the sample:
// the operations whose expr errors would quote one whole (int() and float()
// of a string, x[k] on a value that is not a map) are rewritten too (see
// boundsPatcher). In all, no evaluation allocates more than maxEvalAlloc
// bytes, even the first one of a new Evaluator (which sizes its virtual
// machine's stack), and even when it fails: TestEvalWorstCase measures the
// expressions that allocate the most per node, grown to the largest Parse
// accepts (none above 80 KiB), and FuzzEval checks every expression it
// generates.
//
// Time is bounded likewise: at most maxExprNodes instructions, each linear
// in the strings it reads (the sample's, or built ones of at most
// maxStringBytes), except for matches: regular expressions, compiled at
// Parse time, match in time proportional to the length of their input
// times their size, which maxRegexInsts bounds for the whole expression
// (Go's regexp keeps scratch space for them, in proportion to their size,
// and reuses it from one match to the next). A pattern of 2000
// instructions that keeps them all busy therefore takes a thousand times
// longer on a 1 MiB label than on a 1 KiB one: sample strings that long are
// for the decoder's line limit to refuse.
const (
	// maxExprBytes bounds the length of an expression.
	maxExprBytes = 16 << 10
	// maxExprNodes bounds the size of an expression, in parsed nodes (the
	// expr default is 10000).
	maxExprNodes = 1000
	// maxStringBytes bounds the bytes of the strings one evaluation builds.
	maxStringBytes = 64 << 10
	// maxRangeSpan bounds how many numbers the ranges of an expression
	// span in all.
	maxRangeSpan = 1000
	// maxRegexInsts bounds the size of the compiled programs of the
	// patterns of an expression, in all: [a-z0-9]{1,63} has 127
	// instructions, .{0,1000} 2002.
	maxRegexInsts = 2048
	// vmMemoryBudget is the expr virtual machine's own budget, in its units
	// (array and map elements, range members). An expression that Parse
	// accepts never reaches it (its lists, maps and ranges are bounded by
	// maxExprNodes and maxRangeSpan); it stays as a second line of defence.
	vmMemoryBudget = 1 << 14
	// maxEvalAlloc bounds the bytes one evaluation allocates: the strings
	// (maxStringBytes, plus the rounding of their allocations and their
	// boxes), what maxExprNodes instructions may allocate besides (measured
	// below 60 KiB), and an error (a copy of the source line, at most
	// 2 × maxExprBytes): some 200 KiB at most, with a margin.
	maxEvalAlloc = 256 << 10
)

// ruleBuiltins are the expr builtins a rule may call: functions of numbers,
// of strings, and date() and duration() for comparisons with ts.
var ruleBuiltins = []string{
	"len", "abs", "ceil", "floor", "round", "min", "max", "int", "float",
	"upper", "lower", "trim", "trimPrefix", "trimSuffix",
	"hasPrefix", "hasSuffix", "indexOf", "lastIndexOf",
	"date", "duration",
}

// Why the other builtins are left out.
var (
	loopBuiltins = []string{
		"all", "any", "one", "none", "filter", "map", "count", "sum",
		"find", "findIndex", "findLast", "findLastIndex", "groupBy", "sortBy", "reduce",
	}
	buildBuiltins = []string{
		"repeat", "replace", "split", "splitAfter", "join", "string", "toJSON", "fromJSON",
		"toBase64", "fromBase64", "concat", "flatten", "sort", "uniq", "reverse", "take",
		"keys", "values", "toPairs", "fromPairs",
	}
)

// errStringBudget fails an evaluation that would build more than
// maxStringBytes of strings.
var errStringBudget = fmt.Errorf("the expression builds more than %d KiB of strings", maxStringBytes>>10)

// Helpers of the environment that evaluate the string-building operations
// (see boundsPatcher and labelCountPatcher).
const (
	fnConcat     = "__concat"      // func(a, b any) any: a + b, charged if strings
	fnUpper      = "__upper"       // func(s any) any: upper(s), charged
	fnLower      = "__lower"       // func(s any) any: lower(s), charged
	fnLabelCount = "__label_count" // func() int: len(labels)
	fnInt        = "__int"         // func(v any) any: int(v), refusing long strings
	fnFloat      = "__float"       // func(v any) any: float(v), likewise
	fnFetch      = "__fetch"       // func(x, k any) any: x[k], likewise
)

// maxQuote is the longest string of the sample that an error quotes whole
// (and the longest that int() and float() try to parse).
const maxQuote = 128

// guard checks, at Parse time, an expression's parsed tree against the
// restrictions above. It runs as the first patcher of the type-checking
// compilation, on the tree as written. ast.Walk visits children before
// their parent, so a use of labels is noted when met and dropped when its
// parent turns out to be one of the allowed forms.
type guard struct {
	problems []*exprError
	labels   map[*ast.IdentifierNode]bool // uses of labels not (yet) allowed
	span     uint64                       // numbers spanned by the ranges so far
	insts    int                          // instructions of the patterns so far
	win      windowGuard                  // windowed calls (window.go)
}

func (g *guard) fail(n ast.Node, format string, args ...any) {
	g.problems = append(g.problems, &exprError{off: n.Location().From, cause: ErrExpr, msg: fmt.Sprintf(format, args...)})
}

// first returns the problem that comes first in the expression, if any.
func (g *guard) first() *exprError {
	for n := range g.labels {
		g.fail(n, `labels can only be read as labels.name, labels["name"], "name" in labels or len(labels); as a whole it would be copied for every sample`)
	}
	g.labels = nil
	if len(g.problems) == 0 {
		return nil
	}
	return slices.MinFunc(g.problems, func(a, b *exprError) int { return a.off - b.off })
}

func isLabelsIdent(n ast.Node) bool {
	id, ok := n.(*ast.IdentifierNode)
	return ok && id.Value == envLabels
}

func (g *guard) allow(n ast.Node) {
	if id, ok := n.(*ast.IdentifierNode); ok {
		delete(g.labels, id)
	}
}

func (g *guard) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		switch n.Value {
		case "$env":
			g.fail(n, "$env is not available in rule expressions")
		case envLabels:
			if g.labels == nil {
				g.labels = make(map[*ast.IdentifierNode]bool)
			}
			g.labels[n] = true
		}
	case *ast.MemberNode:
		if isLabelsIdent(n.Node) {
			g.allow(n.Node)
			return
		}
		if n.Optional && !isConstant(n.Property) {
			g.fail(n, "?.[ ] with a computed key is only available on labels; use [ ]")
		}
		if p, ok := n.Property.(*ast.StringNode); ok && (p.Value == "Format" || p.Value == "AppendFormat") {
			g.fail(n, "%s is not available in rule expressions: its result grows with its layout; compare ts.Hour(), ts.Minute(), ts.Weekday() ... instead", p.Value)
		}
	case *ast.BinaryNode:
		switch n.Operator {
		case "in":
			if isLabelsIdent(n.Right) {
				g.allow(n.Right)
			}
		case "..":
			g.rangeNode(n)
		case "matches":
			pat, ok := n.Right.(*ast.StringNode)
			if !ok {
				g.fail(n.Right, "the pattern of matches must be a string constant: it is compiled once, at Parse time")
			} else if g.insts <= maxRegexInsts {
				g.insts += regexSize(pat.Value)
				if g.insts > maxRegexInsts {
					g.fail(n.Right, "the patterns of an expression may compile to at most %d instructions in all, and this one brings them to %d; use smaller repetition counts", maxRegexInsts, g.insts)
				}
			}
		}
	case *ast.BuiltinNode:
		g.builtin(n)
	case *ast.CallNode:
		g.win.call(n)
	}
}

func (g *guard) builtin(n *ast.BuiltinNode) {
	switch {
	case slices.Contains(loopBuiltins, n.Name):
		g.fail(n, "%s is not available in rule expressions: it loops over a collection, and a rule must do a bounded amount of work per sample", n.Name)
	case slices.Contains(buildBuiltins, n.Name):
		g.fail(n, "%s is not available in rule expressions: the strings or lists it builds can grow without bound", n.Name)
	case !slices.Contains(ruleBuiltins, n.Name):
		g.fail(n, "%s is not available in rule expressions; rules may call %s", n.Name, strings.Join(ruleBuiltins, ", "))
	case n.Name == "len":
		if len(n.Arguments) == 1 && isLabelsIdent(n.Arguments[0]) {
			g.allow(n.Arguments[0])
		}
	case n.Name == "date" || n.Name == "duration":
		for _, a := range n.Arguments {
			if _, ok := a.(*ast.StringNode); !ok {
				g.fail(a, `the arguments of %s must be string constants, as in %s`, n.Name, map[string]string{
					"date": `date("2024-05-01")`, "duration": `duration("1h30m")`}[n.Name])
				return
			}
		}
		if _, err := foldTime(n.Name, n.Arguments); err != nil && !errors.Is(err, errArity) {
			at := ast.Node(n)
			if len(n.Arguments) > 0 {
				at = n.Arguments[0]
			}
			g.fail(at, "%s: %v", n.Name, err)
		}
	}
}

// rangeNode checks a range a..b: constant bounds, and a running total of
// the numbers spanned.
func (g *guard) rangeNode(n *ast.BinaryNode) {
	from, ok1 := intConst(n.Left)
	to, ok2 := intConst(n.Right)
	if !ok1 || !ok2 {
		g.fail(n, "the bounds of a range must be integer constants, as in 1..10")
		return
	}
	if g.span > maxRangeSpan {
		return // reported
	}
	if to >= from {
		if d := uint64(to) - uint64(from); d >= maxRangeSpan {
			g.span = maxRangeSpan + 1
		} else {
			g.span += d + 1
		}
	}
	if g.span > maxRangeSpan {
		g.fail(n, "the ranges of an expression may span at most %d numbers in all; compare instead, as in x >= 1 && x <= 5000", maxRangeSpan)
	}
}

// regexSize returns the number of instructions of the program regexp would
// compile pattern to (0 if it does not compile: the type check reports it).
func regexSize(pattern string) int {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return 0
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return 0
	}
	return len(prog.Inst)
}

// intConst returns the value of an integer literal, possibly negated.
func intConst(n ast.Node) (int, bool) {
	switch n := n.(type) {
	case *ast.IntegerNode:
		return n.Value, true
	case *ast.UnaryNode:
		if v, ok := n.Node.(*ast.IntegerNode); ok {
			switch n.Operator {
			case "-":
				return -v.Value, true
			case "+":
				return v.Value, true
			}
		}
	}
	return 0, false
}

var errArity = errors.New("wrong number of arguments")

// foldTime evaluates date() or duration() on constant arguments: string
// nodes, and the time zone constant that expr.Timezone adds to date(). A
// date without a zone is read in UTC, as expr.Timezone("UTC") would have it.
func foldTime(name string, args []ast.Node) (_ any, err error) {
	var vals []any
	for _, a := range args {
		switch a := a.(type) {
		case *ast.StringNode:
			vals = append(vals, a.Value)
		case *ast.ConstantNode:
			vals = append(vals, a.Value)
		default:
			return nil, errArity
		}
	}
	switch name {
	case "duration":
		if len(vals) != 1 {
			return nil, errArity
		}
	case "date":
		if len(vals) > 0 {
			if _, ok := vals[0].(*time.Location); !ok {
				vals = append([]any{time.UTC}, vals...)
			}
		}
		if len(vals) < 2 || len(vals) > 4 {
			return nil, errArity
		}
	default:
		return nil, errArity
	}
	for _, v := range vals[1:] {
		if _, ok := v.(string); !ok && name == "date" {
			return nil, errArity
		}
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return builtin.Builtins[builtin.Index[name]].Func(vals...)
}

// foldTimePatcher replaces date() and duration() calls, whose arguments
// guard checked are constant, by their value: they are parsed once, not on
// every evaluation.
type foldTimePatcher struct{}

func (foldTimePatcher) Visit(node *ast.Node) {
	n, ok := (*node).(*ast.BuiltinNode)
	if !ok || n.Name != "date" && n.Name != "duration" {
		return
	}
	if v, err := foldTime(n.Name, n.Arguments); err == nil {
		ast.Patch(node, &ast.ConstantNode{Value: v})
	}
}

// boundsPatcher rewrites the operations that build strings into calls of
// the Evaluator's helpers, which charge what they build to the string
// budget of the evaluation. It also rewrites the operations whose errors
// would quote a string of the sample whole (it may be as long as an input
// line) into helpers that quote only the start of it:
//
//	a + b     →  __concat(a, b)   where a + b is, or may be, a string
//	upper(s)  →  __upper(s)
//	lower(s)  →  __lower(s)
//	int(s)    →  __int(s)         where s is, or may be, a string
//	float(s)  →  __float(s)       likewise
//	x[k]      →  __fetch(x, k)    where k is computed and is, or may be, a string
//
// Additions of numbers and times keep their opcodes, and so does the
// concatenation of two string constants, which the optimizer folds; so do
// int() and float() of numbers and x[k] with a constant or integer key.
// (x?.[k] with a computed k, which this could not rewrite without changing
// where the chain stops, is refused by guard.)
type boundsPatcher struct{}

func (boundsPatcher) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.BinaryNode:
		if n.Operator != "+" || !maybeString(n) {
			return
		}
		_, lc := n.Left.(*ast.StringNode)
		_, rc := n.Right.(*ast.StringNode)
		if lc && rc {
			return
		}
		ast.Patch(node, &ast.CallNode{
			Callee:    &ast.IdentifierNode{Value: fnConcat},
			Arguments: []ast.Node{n.Left, n.Right},
		})
	case *ast.MemberNode:
		if n.Optional || isConstant(n.Property) || !maybeString(n.Property) {
			return
		}
		ast.Patch(node, &ast.CallNode{
			Callee:    &ast.IdentifierNode{Value: fnFetch},
			Arguments: []ast.Node{n.Node, n.Property},
		})
	case *ast.BuiltinNode:
		if len(n.Arguments) != 1 {
			return
		}
		var fn string
		switch n.Name {
		case "upper":
			fn = fnUpper
		case "lower":
			fn = fnLower
		case "int":
			if maybeString(n.Arguments[0]) {
				fn = fnInt
			}
		case "float":
			if maybeString(n.Arguments[0]) {
				fn = fnFloat
			}
		}
		if fn != "" {
			ast.Patch(node, &ast.CallNode{
				Callee:    &ast.IdentifierNode{Value: fn},
				Arguments: n.Arguments,
			})
		}
	}
}

func isConstant(n ast.Node) bool {
	switch n.(type) {
	case *ast.StringNode, *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.ConstantNode, *ast.NilNode:
		return true
	}
	return false
}

// maybeString reports whether n is a string, or of a type known only at run
// time.
func maybeString(n ast.Node) bool {
	k := n.Type().Kind()
	return k == reflect.String || k == reflect.Interface
}

// labelCountPatcher rewrites len(labels), the one use of labels as a whole
// that guard lets through, into __label_count(), which counts the sample's
// labels without building a map.
type labelCountPatcher struct{}

func (labelCountPatcher) Visit(node *ast.Node) {
	if n, ok := (*node).(*ast.BuiltinNode); ok && n.Name == "len" && len(n.Arguments) == 1 && isLabels(n.Arguments[0]) {
		ast.Patch(node, &ast.CallNode{Callee: &ast.IdentifierNode{Value: fnLabelCount}})
	}
}

// charge takes n bytes from the evaluation's string budget, or fails the
// evaluation (the virtual machine turns the panic into its error).
func (e *Evaluator) charge(n int) {
	if n > e.strLeft {
		panic(errStringBudget)
	}
	e.strLeft -= n
}

// concat is the runtime of a + b where it may build a string.
func (e *Evaluator) concat(a, b any) any {
	x, ok1 := a.(string)
	y, ok2 := b.(string)
	if !ok1 || !ok2 {
		return runtime.Add(a, b)
	}
	e.charge(len(x) + len(y))
	return x + y
}

// upper is the runtime of upper(s).
func (e *Evaluator) upper(s any) any {
	x := stringArg("upper", s)
	e.charge(mappedLen(x, unicode.ToUpper))
	return strings.ToUpper(x)
}

// lower is the runtime of lower(s).
func (e *Evaluator) lower(s any) any {
	x := stringArg("lower", s)
	e.charge(mappedLen(x, unicode.ToLower))
	return strings.ToLower(x)
}

// intOf is the runtime of int(v) where v may be a string.
func intOf(v any) any { return parseNumber("int", v, builtin.Int) }

// floatOf is the runtime of float(v) where v may be a string.
func floatOf(v any) any { return parseNumber("float", v, builtin.Float) }

func parseNumber(fn string, v any, conv func(any) any) any {
	if s, ok := v.(string); ok && len(s) > maxQuote {
		panic(fmt.Sprintf("invalid operation: %s(%q...): %d bytes is too long for a number", fn, s[:32], len(s)))
	}
	return conv(v)
}

// fetch is the runtime of x[k] where k may be a string. expr's own fails
// on anything but a list, a map or a struct with the key in its error.
func fetch(from, key any) any {
	if s, ok := key.(string); ok && len(s) > maxQuote && reflect.ValueOf(from).Kind() != reflect.Map {
		panic(fmt.Sprintf("cannot fetch %q... (%d bytes) from %T", s[:32], len(s), from))
	}
	return runtime.Fetch(from, key)
}

// labelCount is the runtime of len(labels).
func (e *Evaluator) labelCount() int { return len(e.labels) }

func stringArg(fn string, v any) string {
	s, ok := v.(string)
	if !ok {
		panic(fmt.Sprintf("invalid argument for %s (type %T)", fn, v))
	}
	return s
}

// mappedLen returns the length of strings.Map(f, s), without building it:
// invalid UTF-8 becomes U+FFFD, as there.
func mappedLen(s string, f func(rune) rune) int {
	n := 0
	for _, r := range s {
		n += utf8.RuneLen(f(r))
	}
	return n
}
