package rules

import (
	"fmt"
	"time"
	"unsafe"

	"github.com/expr-lang/expr/vm"

	"github.com/faultline-go/faultline/stream"
)

// Evaluator evaluates rule expressions against samples. It holds the
// per-goroutine scratch space of evaluation (an expr virtual machine and an
// environment it reuses), so evaluating does not allocate.
//
// An Evaluator is not safe for concurrent use: use one per goroutine. Any
// number of Evaluators may evaluate the rules of one Ruleset at the same
// time.
type Evaluator struct {
	vm  vm.VM
	env map[string]any // built once; its values are the boxes below

	value  *float64   // the data of env["value"]
	name   *string    // the data of env["name"]
	ts     *time.Time // the data of env["ts"]
	labels stream.Labels

	strLeft int // bytes of strings the evaluation may still build

	// Windowed functions (window.go): the calls of the rule being
	// evaluated, the history they read, and a box per call for results.
	calls  []windowCall
	hist   *History
	one    [1]Point // the history of a sample evaluated without one
	oneH   History  // its History: Newer is one[:]
	fast   fastIn
	winOut [maxWindowCalls]float64
	winBox [maxWindowCalls]any

	cohort, others, fleet *Aggregate // the data of env["cohort"] ...
}

// NewEvaluator returns an Evaluator.
func NewEvaluator() *Evaluator {
	e := &Evaluator{}
	e.vm.MemoryBudget = vmMemoryBudget
	var value, name, ts any
	e.value, value = newBox[float64]()
	e.name, name = newBox[string]()
	e.ts, ts = newBox[time.Time]()
	e.oneH.Newer = e.one[:]
	for i := range e.winBox {
		e.winBox[i] = floatAt(&e.winOut[i])
	}
	var cohort, others, fleet any
	e.cohort, cohort = newBox[Aggregate]()
	e.others, others = newBox[Aggregate]()
	e.fleet, fleet = newBox[Aggregate]()
	e.env = map[string]any{
		envCohort:    cohort,
		envOthers:    others,
		envFleet:     fleet,
		fnWindow:     e.window,
		envValue:     value,
		envName:      name,
		envTS:        ts,
		envLabels:    map[string]string(nil), // never read: patched away
		fnLabel:      e.label,
		fnHasLabel:   e.hasLabel,
		fnLabelCount: e.labelCount,
		fnConcat:     e.concat,
		fnUpper:      e.upper,
		fnLower:      e.lower,
		fnInt:        intOf,
		fnFloat:      floatOf,
		fnFetch:      fetch,
	}
	return e
}

// Eval evaluates the expression of rule r for sample s; for a rule with
// levels, it reports whether the condition of any level holds. An error
// means the expression failed at run time (say, an index out of range, or it
// built more strings than an evaluation may); it is an *Error at the rule's
// position wrapping ErrExpr.
//
// Eval does not allocate. The exceptions are what an expression builds
// itself (strings, lists, maps) and, in expressions that do not run on the
// fast path (see the package documentation), method calls on ts; whatever
// the expression and the sample, they stay within the bounds documented in
// the package documentation ("Bounds").
//
// A rule that calls windowed functions (rate(5m), previous() ...) sees, with
// Eval, a history of the sample alone; use EvalHistory to give it one. A
// cohort rule cannot be evaluated on a sample: Eval reports an error for
// it (see EvalCohort).
func (e *Evaluator) Eval(r *Rule, s *stream.Sample) (bool, error) {
	if r.fast != nil && !r.history {
		e.fast.Sample = s
		ok := r.fast(&e.fast)
		e.fast.Sample = nil
		return ok, nil
	}
	e.one[0] = Point{T: s.Time, V: s.Value}
	return e.EvalHistory(r, s, &e.oneH)
}

// EvalHistory is Eval with the history windowed functions read: the
// series' points in ascending time, the last of them s itself (see
// History). The engine keeps one per series for the rules that need it
// (Rule.Window, Rule.UsesHistory). Like Eval, it does not allocate, h
// included if the caller keeps it.
func (e *Evaluator) EvalHistory(r *Rule, s *stream.Sample, h *History) (bool, error) {
	l, err := e.LevelHistory(r, s, h)
	return l > 0, err
}

// Level returns the highest level of rule r whose condition holds for
// sample s, counting levels from 1 (the first, lowest, in the rule file),
// or 0 when none does. Levels are evaluated from the highest down, and no
// further once one holds. It fails, and allocates, as Eval does; windowed
// functions see a history of s alone (see LevelHistory).
func (e *Evaluator) Level(r *Rule, s *stream.Sample) (int, error) {
	e.one[0] = Point{T: s.Time, V: s.Value}
	return e.LevelHistory(r, s, &e.oneH)
}

// LevelHistory is Level with the history windowed functions read, as
// EvalHistory.
func (e *Evaluator) LevelHistory(r *Rule, s *stream.Sample, h *History) (int, error) {
	if r.Cohort != nil {
		return 0, r.errorf("%w: a cohort rule is evaluated per cohort, with EvalCohort", ErrExpr)
	}
	if len(r.Levels) == 0 {
		return 0, r.errorf("%w: rule was not built by Parse", ErrExpr)
	}
	for i := len(r.Levels) - 1; i >= 0; i-- {
		ok, err := e.run(r, &r.Levels[i].cond, s, h)
		if err != nil {
			return 0, err
		}
		if ok {
			return i + 1, nil
		}
	}
	return 0, nil
}

// Resolves reports whether the resolve condition of level l (counted from
// 1) of rule r holds for sample s; true when the level has none, or there
// is no such level. It fails, and allocates, as Eval does; windowed
// functions see a history of s alone (see ResolvesHistory).
func (e *Evaluator) Resolves(r *Rule, l int, s *stream.Sample) (bool, error) {
	e.one[0] = Point{T: s.Time, V: s.Value}
	return e.ResolvesHistory(r, l, s, &e.oneH)
}

// ResolvesHistory is Resolves with the history windowed functions read, as
// EvalHistory.
func (e *Evaluator) ResolvesHistory(r *Rule, l int, s *stream.Sample, h *History) (bool, error) {
	if l < 1 || l > len(r.Levels) || r.Levels[l-1].Resolve == "" {
		return true, nil
	}
	return e.run(r, &r.Levels[l-1].reset, s, h)
}

// HasResolve reports whether level l (counted from 1) of rule r has a
// resolve condition.
func (r *Rule) HasResolve(l int) bool {
	return l >= 1 && l <= len(r.Levels) && r.Levels[l-1].Resolve != ""
}

// run evaluates a condition of rule r, on the fast path when it has one.
func (e *Evaluator) run(r *Rule, p *pred, s *stream.Sample, h *History) (bool, error) {
	if p.fast != nil {
		e.fast.Sample, e.fast.hist, e.fast.calls = s, h, p.windows
		ok := p.fast(&e.fast)
		e.fast.Sample, e.fast.hist, e.fast.calls = nil, nil, nil
		return ok, nil
	}
	e.calls, e.hist = p.windows, h
	ok, err := e.evalProgram(r, p.program, s)
	e.calls, e.hist = nil, nil
	return ok, err
}

// evalVM evaluates r's expression on the expr virtual machine, windowed
// functions seeing a history of s alone.
func (e *Evaluator) evalVM(r *Rule, s *stream.Sample) (bool, error) {
	e.one[0] = Point{T: s.Time, V: s.Value}
	e.calls, e.hist = r.windows, &e.oneH
	ok, err := e.evalProgram(r, r.program, s)
	e.calls, e.hist = nil, nil
	return ok, err
}

// evalProgram evaluates a program of rule r on the expr virtual machine.
func (e *Evaluator) evalProgram(r *Rule, prog *vm.Program, s *stream.Sample) (bool, error) {
	if prog == nil {
		return false, r.errorf("%w: rule was not built by Parse", ErrExpr)
	}
	*e.value = s.Value
	*e.name = s.Name
	*e.ts = time.Unix(0, s.Time).UTC()
	return e.runBool(r, prog, s.Labels)
}

// runBool runs prog of rule r on the environment as set, with labels as
// what labels.x reads, and checks that it gave a boolean.
func (e *Evaluator) runBool(r *Rule, prog *vm.Program, labels stream.Labels) (bool, error) {
	e.labels = labels
	e.strLeft = maxStringBytes
	out, err := e.vm.Run(prog, e.env)
	e.labels = nil
	if err != nil {
		return false, r.errorf("%w", newExprError(ErrExpr, err))
	}
	b, ok := out.(bool)
	if !ok {
		return false, r.errorf("%w: it gave %T", ErrNotBool, out)
	}
	return b, nil
}

// label is the runtime of labels.x: the value of the label, or "".
func (e *Evaluator) label(name any) any {
	n, _ := name.(string)
	for i := range e.labels {
		if e.labels[i].Name == n {
			return stringAt(&e.labels[i].Value)
		}
	}
	return ""
}

// hasLabel is the runtime of "x" in labels.
func (e *Evaluator) hasLabel(name any) bool {
	n, _ := name.(string)
	for i := range e.labels {
		if e.labels[i].Name == n {
			return true
		}
	}
	return false
}

func (r *Rule) errorf(format string, args ...any) error {
	return &Error{File: r.File, Line: r.Line, Col: r.Col, Group: r.Group, Rule: r.Alert, Err: fmt.Errorf(format, args...)}
}

// Boxes without allocation.
//
// The expr virtual machine works on values of type any. Converting a float64,
// a string or a time.Time to any allocates a copy on the heap, once per
// sample and per access; that is what a map or struct environment costs.
// Instead, the Evaluator owns one heap box per environment variable and an
// interface value whose data word points at that box, made once; Eval writes
// the sample's values into the boxes. Label values are handed out the same
// way, as interfaces whose data word points at the Value field of the
// sample's own Label, so reading a label copies nothing.
//
// This relies on the layout of an empty interface (a type word and a data
// word pointing at the value, for the non-pointer-shaped types used here),
// which has been stable since Go 1.4 and which the runtime's GC understands:
// the data word is an ordinary pointer into a live heap object. An
// interface made here is only valid while the box or the label it points at
// keeps its value; expr uses it within one Run, whose result is a bool.

// eface is the layout of an empty interface.
type eface struct {
	typ  unsafe.Pointer
	data unsafe.Pointer
}

// newBox returns a pointer to a fresh heap T, and an interface holding type
// T whose data word is that pointer: writes through the pointer change the
// value the interface holds.
func newBox[T float64 | string | time.Time | Aggregate]() (*T, any) {
	p := new(T)
	var zero T
	v := any(zero) // only its type word is used
	(*eface)(unsafe.Pointer(&v)).data = unsafe.Pointer(p)
	return p, v
}

// floatAt returns an interface holding the float64 *p: writes through p
// change the value it holds.
func floatAt(p *float64) any {
	v := any(float64(0))
	(*eface)(unsafe.Pointer(&v)).data = unsafe.Pointer(p)
	return v
}

// stringType is the type word of a string in an interface.
var stringType = func() unsafe.Pointer {
	v := any("")
	return (*eface)(unsafe.Pointer(&v)).typ
}()

// stringAt returns an interface holding the string *p without copying it.
func stringAt(p *string) any {
	var v any
	*(*eface)(unsafe.Pointer(&v)) = eface{typ: stringType, data: unsafe.Pointer(p)}
	return v
}
