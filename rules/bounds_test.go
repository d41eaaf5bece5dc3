package rules

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestEvalMemoryBudget drives expressions past expr's memory budget (a
// million units per run, charged for ranges, arrays, maps, loop scopes and
// repeat): the run fails with an *Error wrapping ErrExpr, and the same
// Evaluator goes on evaluating, since the budget is per run. A range or a
// repeat is refused before it is built; a loop is charged as it goes, so it
// may build up to a budget's worth first (tens of MiB), never more than
// maxEvalAlloc.
func TestEvalMemoryBudget(t *testing.T) {
	e := NewEvaluator()
	s := testSample()
	ok := compileRule(t, `len(1..1000) == 1000 && len(repeat(labels.job, 1000)) == 3000 && value > 0.2`)
	for _, c := range []struct {
		src   string
		alloc uint64 // bytes it may allocate before it is refused
	}{
		{`1..2000000 | any(# == 0)`, 1 << 20},                 // a range over budget
		{`len(repeat(labels.job, 2000000)) > 0`, 1 << 20},     // repeat over budget
		{`len(map(1..600000, #)) > 0`, maxEvalAlloc},          // a range, then the array map builds
		{`len(reduce(1..600000, [#], [])) > 0`, maxEvalAlloc}, // arrays built in a loop
	} {
		r := compileRule(t, c.src)
		require.Nil(t, r.fast)
		_, alloc, err := evalAllocated(e, r, s)
		require.ErrorIs(t, err, ErrExpr, c.src)
		require.ErrorContains(t, err, "memory budget exceeded", c.src)
		checkEvalError(t, r, err)
		require.Less(t, alloc, c.alloc, c.src)

		got, err := e.Eval(ok, s)
		require.NoError(t, err, "the budget is per run")
		require.True(t, got)
	}
}
