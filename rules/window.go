package rules

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/expr-lang/expr/ast"
	"github.com/faultline-go/faultline/internal/yamlfile"
)

// Windowed functions.
//
// rate(5m), avg_over_time(10m), previous() ... read the recent history of
// the series being evaluated: the samples the engine kept for it, oldest
// first, the current one last. Each call is resolved at Parse time: its
// duration is a constant, checked there, and the call becomes
// __window(k), k indexing the rule's table of calls, which the Evaluator
// runs on the History it is given. The window of a call ending at the
// current sample time t is (t−d, t], left-open as in Prometheus 3.

// Point is one sample of a series' history: its sample time (Unix ns) and
// value.
type Point struct {
	T int64
	V float64
}

// History is the recent history of one series that windowed functions
// read: its points in ascending time, Older then Newer (the two halves of a
// ring buffer; either may be empty), the sample being evaluated last. The
// engine keeps it; callers of Evaluator.EvalHistory outside the engine
// build it themselves.
type History struct {
	Older, Newer []Point
}

// Len returns the number of points.
func (h *History) Len() int { return len(h.Older) + len(h.Newer) }

// At returns point i, 0 being the oldest.
func (h *History) At(i int) Point {
	if i < len(h.Older) {
		return h.Older[i]
	}
	return h.Newer[i-len(h.Older)]
}

// winFunc is a windowed function.
type winFunc uint8

const (
	winRate winFunc = iota
	winIncrease
	winDelta
	winAvg
	winMin
	winMax
	winSum
	winCount
	winStddev
	winLast
	winChanges
	winResets
	winPrevious
)

// windowFuncs are the names of the windowed functions, by winFunc.
var windowFuncs = [...]string{
	winRate:     "rate",
	winIncrease: "increase",
	winDelta:    "delta",
	winAvg:      "avg_over_time",
	winMin:      "min_over_time",
	winMax:      "max_over_time",
	winSum:      "sum_over_time",
	winCount:    "count_over_time",
	winStddev:   "stddev_over_time",
	winLast:     "last_over_time",
	winChanges:  "changes",
	winResets:   "resets",
	winPrevious: "previous",
}

func windowFunc(name string) (winFunc, bool) {
	i := slices.Index(windowFuncs[:], name)
	return winFunc(i), i >= 0
}

const (
	// MaxWindow is the longest window a windowed function may read.
	MaxWindow = 24 * time.Hour
	// maxWindowCalls bounds the windowed calls of one expression.
	maxWindowCalls = 16
	// fnWindow is the helper the windowed calls become: func(k any) any.
	fnWindow = "__window"
)

// windowCall is one windowed call of an expression.
type windowCall struct {
	fn  winFunc
	rng int64 // the window, ns; 0 for previous()
}

// eval computes the call over h, at the time of its last point. The result
// is NaN when the window does not hold enough points: two for rate,
// increase, delta and previous, one for the others (count_over_time,
// changes and resets are then 0). It costs a binary search for the start
// of the window and one pass over the points in it.
func (c windowCall) eval(h *History) float64 {
	n := h.Len()
	if n == 0 {
		if c.fn == winCount || c.fn == winChanges || c.fn == winResets {
			return 0
		}
		return math.NaN()
	}
	last := h.At(n - 1)
	switch c.fn {
	case winPrevious:
		if n < 2 {
			return math.NaN()
		}
		return h.At(n - 2).V
	case winLast:
		return last.V
	}
	segs := h.since(last.T - c.rng)
	count := len(segs[0]) + len(segs[1])
	switch c.fn {
	case winRate, winIncrease, winDelta:
		return extrapolatedRate(segs, count, last.T-c.rng, last.T, c.rng, c.fn != winDelta, c.fn == winRate)
	case winCount:
		return float64(count)
	case winChanges, winResets:
		k, first := 0, true
		var prev float64
		for _, seg := range segs {
			for _, p := range seg {
				if !first && (c.fn == winResets && p.V < prev || c.fn == winChanges && p.V != prev && !(math.IsNaN(p.V) && math.IsNaN(prev))) {
					k++
				}
				prev, first = p.V, false
			}
		}
		return float64(k)
	case winMin, winMax:
		// As Prometheus: NaN only if every value is NaN.
		v := math.NaN()
		for _, seg := range segs {
			for _, p := range seg {
				if c.fn == winMin && (p.V < v || math.IsNaN(v)) || c.fn == winMax && (p.V > v || math.IsNaN(v)) {
					v = p.V
				}
			}
		}
		return v
	case winSum, winAvg:
		var sum, comp float64 // Kahan-Babuška summation, as Prometheus
		for _, seg := range segs {
			for _, p := range seg {
				sum, comp = kahanInc(p.V, sum, comp)
			}
		}
		if c.fn == winAvg {
			return (sum + comp) / float64(count)
		}
		return sum + comp
	case winStddev:
		// Welford's method, population deviation, as Prometheus.
		var k, mean, m2 float64
		for _, seg := range segs {
			for _, p := range seg {
				k++
				d := p.V - mean
				mean += d / k
				m2 += d * (p.V - mean)
			}
		}
		return math.Sqrt(m2 / k)
	}
	return math.NaN()
}

// since returns the points with times after from, in the two parts of h.
func (h *History) since(from int64) [2][]Point {
	after := func(pts []Point) []Point {
		i := sort.Search(len(pts), func(i int) bool { return pts[i].T > from })
		return pts[i:]
	}
	if len(h.Newer) == 0 || h.Newer[0].T > from {
		return [2][]Point{after(h.Older), h.Newer}
	}
	return [2][]Point{nil, after(h.Newer)}
}

func kahanInc(inc, sum, c float64) (float64, float64) {
	t := sum + inc
	switch {
	case math.IsInf(t, 0):
		c = 0
	case math.Abs(sum) >= math.Abs(inc):
		c += (sum - t) + inc
	default:
		c += (inc - t) + sum
	}
	return t, c
}

// extrapolatedRate is Prometheus' rate, increase and delta (promql
// extrapolatedRate, as of Prometheus 2.52 and 3.x) over the count points
// of segs, for the range (rangeStart, rangeEnd] of rng ns: the difference
// of the last and first values, corrected for counter resets (a value
// below its predecessor adds the predecessor) when isCounter, extrapolated
// to the ends of the range when the first and last points are within 1.1
// average intervals of them (else by half an average interval), and never
// extrapolated below a zero counter value. Here the range always ends at
// the last point (the sample being evaluated), so only the start is
// extrapolated.
func extrapolatedRate(segs [2][]Point, count int, rangeStart, rangeEnd, rng int64, isCounter, isRate bool) float64 {
	if count < 2 {
		return math.NaN()
	}
	var f, l Point
	if len(segs[0]) > 0 {
		f = segs[0][0]
	} else {
		f = segs[1][0]
	}
	if len(segs[1]) > 0 {
		l = segs[1][len(segs[1])-1]
	} else {
		l = segs[0][len(segs[0])-1]
	}
	result := l.V - f.V
	if isCounter {
		prev := f.V
		for _, seg := range segs {
			for _, p := range seg {
				if p.V < prev {
					result += prev
				}
				prev = p.V
			}
		}
	}
	durationToStart := float64(f.T-rangeStart) / 1e9
	durationToEnd := float64(rangeEnd-l.T) / 1e9
	sampledInterval := float64(l.T-f.T) / 1e9
	avg := sampledInterval / float64(count-1)
	threshold := avg * 1.1
	if durationToStart >= threshold {
		durationToStart = avg / 2
	}
	if isCounter && result > 0 && f.V >= 0 {
		if durationToZero := sampledInterval * (f.V / result); durationToZero < durationToStart {
			durationToStart = durationToZero
		}
	}
	if durationToEnd >= threshold {
		durationToEnd = avg / 2
	}
	factor := (sampledInterval + durationToStart + durationToEnd) / sampledInterval
	if isRate {
		factor /= float64(rng) / 1e9
	}
	return result * factor
}

// WindowFuncs returns the names of the windowed functions rule expressions
// may call, for documentation and tools.
func WindowFuncs() []string { return slices.Clone(windowFuncs[:]) }

// durationLiterals rewrites the bare duration arguments of windowed calls,
// rate(5m), into the string constants expr can parse, rate("5m"). It
// returns the rewritten source and the rune offsets, in src, before which a
// quote was inserted, ascending, so that positions in the result can be
// mapped back (see origOffset). String literals and comments are skipped.
func durationLiterals(src string) (string, []int) {
	var b strings.Builder
	var ins []int
	rs := []rune(src)
	isIdent := func(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) }
	for i := 0; i < len(rs); {
		r := rs[i]
		switch {
		case r == '"' || r == '\'' || r == '`':
			j := i + 1
			for j < len(rs) && rs[j] != r {
				if rs[j] == '\\' && r != '`' {
					j++
				}
				j++
			}
			j = min(j+1, len(rs))
			b.WriteString(string(rs[i:j]))
			i = j
			continue
		case r == '/' && i+1 < len(rs) && (rs[i+1] == '/' || rs[i+1] == '*'):
			j := i + 2
			if rs[i+1] == '/' {
				for j < len(rs) && rs[j] != '\n' {
					j++
				}
			} else {
				for j+1 < len(rs) && !(rs[j] == '*' && rs[j+1] == '/') {
					j++
				}
				j = min(j+2, len(rs))
			}
			b.WriteString(string(rs[i:j]))
			i = j
			continue
		case r == '_' || unicode.IsLetter(r):
			j := i
			for j < len(rs) && isIdent(rs[j]) {
				j++
			}
			name := string(rs[i:j])
			b.WriteString(name)
			prevDot := i > 0 && rs[i-1] == '.'
			i = j
			if _, ok := windowFunc(name); !ok || prevDot {
				continue
			}
			k := i
			for k < len(rs) && (rs[k] == ' ' || rs[k] == '\t' || rs[k] == '\n' || rs[k] == '\r') {
				k++
			}
			if k >= len(rs) || rs[k] != '(' {
				continue
			}
			// Each argument that is a duration literal (digits and unit
			// letters, starting with a digit and holding a letter) is
			// quoted, the first and any after it, so that a call with too
			// many is refused for its arguments, not for their syntax.
			for k < len(rs) && (rs[k] == '(' || rs[k] == ',') {
				k++
				for k < len(rs) && (rs[k] == ' ' || rs[k] == '\t' || rs[k] == '\n' || rs[k] == '\r') {
					k++
				}
				d := k
				letter := false
				for d < len(rs) && rs[d] < utf8.RuneSelf && (rs[d] >= '0' && rs[d] <= '9' || rs[d] >= 'a' && rs[d] <= 'z') {
					letter = letter || rs[d] >= 'a'
					d++
				}
				if d == k || rs[k] < '0' || rs[k] > '9' || !letter {
					break
				}
				b.WriteString(string(rs[i:k]))
				b.WriteByte('"')
				b.WriteString(string(rs[k:d]))
				b.WriteByte('"')
				ins = append(ins, k, d)
				i = d
				for k = d; k < len(rs) && (rs[k] == ' ' || rs[k] == '\t' || rs[k] == '\n' || rs[k] == '\r'); k++ {
				}
			}
			continue
		}
		b.WriteRune(r)
		i++
	}
	return b.String(), ins
}

// origOffset maps a rune offset of durationLiterals' result back to src.
func origOffset(off int, ins []int) int {
	for i, at := range ins {
		// The quote inserted before src offset at sits at at+i in the
		// result.
		if off <= at+i {
			return max(off-i, 0)
		}
	}
	return max(off-len(ins), 0)
}

// windowGuard checks the windowed calls of an expression as written, and
// collects them: each must have a constant duration (previous() none).
type windowGuard struct {
	g   *guard
	max int64
}

func (w *windowGuard) call(n *ast.CallNode) {
	id, ok := n.Callee.(*ast.IdentifierNode)
	if !ok {
		return
	}
	fn, ok := windowFunc(id.Value)
	if !ok {
		return
	}
	if fn == winPrevious {
		if len(n.Arguments) != 0 {
			w.g.fail(n, "previous() takes no argument: it is the value of the sample before this one")
		}
		return
	}
	if len(n.Arguments) != 1 {
		w.g.fail(n, "%s takes one argument, a duration, as in %s(5m)", id.Value, id.Value)
		return
	}
	s, ok := n.Arguments[0].(*ast.StringNode)
	if !ok {
		w.g.fail(n.Arguments[0], "the window of %s must be a constant duration, as in %s(5m)", id.Value, id.Value)
		return
	}
	d, err := yamlfile.ParseDuration(s.Value)
	switch {
	case err != nil:
		w.g.fail(n.Arguments[0], "%s: %v", id.Value, err)
	case d <= 0:
		w.g.fail(n.Arguments[0], "%s: the window must be positive", id.Value)
	case d > MaxWindow:
		w.g.fail(n.Arguments[0], "%s: the window %v is longer than the longest allowed, %v", id.Value, d, MaxWindow)
	default:
		w.max = max(w.max, int64(d))
	}
}

// windowPatcher rewrites each windowed call into __window(k) and records
// it in calls, at index k.
type windowPatcher struct {
	calls *[]windowCall
	err   error
}

func (p *windowPatcher) Visit(node *ast.Node) {
	n, ok := (*node).(*ast.CallNode)
	if !ok {
		return
	}
	id, ok := n.Callee.(*ast.IdentifierNode)
	if !ok {
		return
	}
	fn, ok := windowFunc(id.Value)
	if !ok {
		return
	}
	c := windowCall{fn: fn}
	if fn != winPrevious {
		if len(n.Arguments) != 1 {
			return // refused by windowGuard
		}
		s, ok := n.Arguments[0].(*ast.StringNode)
		if !ok {
			return
		}
		d, _ := yamlfile.ParseDuration(s.Value)
		c.rng = int64(d)
	}
	k := slices.Index(*p.calls, c)
	if k < 0 {
		if len(*p.calls) >= maxWindowCalls {
			p.err = fmt.Errorf("an expression may call at most %d different windowed functions", maxWindowCalls)
			return
		}
		k = len(*p.calls)
		*p.calls = append(*p.calls, c)
	}
	ast.Patch(node, &ast.CallNode{
		Callee:    &ast.IdentifierNode{Value: fnWindow},
		Arguments: []ast.Node{&ast.IntegerNode{Value: k}},
	})
}

// window is the runtime of __window(k): windowed call k of the rule being
// evaluated, over the history given to EvalHistory. The result is boxed in
// the Evaluator's box for call k, so returning it does not allocate.
func (e *Evaluator) window(k any) any {
	i, _ := k.(int)
	e.winOut[i] = e.calls[i].eval(e.hist)
	return e.winBox[i]
}
