package rules

import (
	"slices"
	"strings"
)

// This file recognises PromQL in an expression that failed to compile, so
// that the error says what to write instead. Rule files are shaped like
// Prometheus', and the first thing people write in them is PromQL; the
// error expr gives for it ("bad number syntax", "unknown name up") does
// not say why.
//
// The expression is read with a small PromQL-shaped lexer, and its PromQL
// forms are collected: metric selectors (a name not in the environment,
// with {matchers} and a [range]), calls of PromQL's functions and
// aggregations, by/without, on/ignoring, group_left/group_right, bool,
// unless, offset, @ and subqueries. The first of these that applies gives
// the hint, so an expression gets one:
//
//  1. absent() or absent_over_time(): absence is built in, absent_after;
//  2. a name with a colon: a recording rule's output;
//  3. histogram_quantile(): buckets are separate series;
//  4. two metrics: no joins;
//  5. aggregations, by, without and vector matching: cohort rules;
//  6. one selector whose rewrite (sel → value, f(sel[d]) → f(d)) compiles:
//     that rewrite, as match and expr;
//  7. anything else PromQL: the general shape of a rule.
//
// A name the environment lacks is taken for a metric only with other
// evidence of PromQL, or when the expression uses nothing of the
// environment and its rewrite compiles (up == 0): "value > 1 && foo" and
// "valeu > 1" get no hint.

// promqlHintPrefix starts every hint.
const promqlHintPrefix = "this is PromQL"

// promql lexer token kinds.
const (
	pIdent = iota + 1
	pNumber
	pDuration
	pString
	pPunct
)

type ptok struct {
	kind     int
	text     string
	pos, end int // byte offsets in the source
}

// lexPromQL splits src into PromQL-shaped tokens. It never fails: a
// character it does not know is a one-character punctuation token.
func lexPromQL(src string) []ptok {
	var toks []ptok
	isIdentStart := func(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
	isDigit := func(c byte) bool { return c >= '0' && c <= '9' }
	isIdent := func(c byte) bool { return isIdentStart(c) || isDigit(c) || c == ':' }
	for i := 0; i < len(src); {
		c := src[i]
		start := i
		kind := pPunct
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
			continue
		case isIdentStart(c):
			for i < len(src) && isIdent(src[i]) {
				i++
			}
			kind = pIdent
		case isDigit(c) || c == '.' && i+1 < len(src) && isDigit(src[i+1]):
			for i < len(src) && (isDigit(src[i]) || src[i] == '.' || isIdentStart(src[i])) {
				if (src[i] == 'e' || src[i] == 'E') && i+1 < len(src) && (src[i+1] == '+' || src[i+1] == '-') {
					i++
				}
				i++
			}
			kind = pNumber
			if isPromDuration(src[start:i]) {
				kind = pDuration
			}
		case c == '"' || c == '\'' || c == '`':
			i++
			for i < len(src) && src[i] != c {
				if src[i] == '\\' && c != '`' {
					i++
				}
				i++
			}
			i = min(i+1, len(src))
			kind = pString
		default:
			i++
			if i < len(src) {
				switch src[start : i+1] {
				case "==", "!=", ">=", "<=", "=~", "!~", "&&", "||", "?.", "??", "..":
					i++
				}
			}
		}
		toks = append(toks, ptok{kind: kind, text: src[start:i], pos: start, end: i})
	}
	return toks
}

// isPromDuration reports whether s is a PromQL duration: one or more
// numbers, each with a unit (1h30m, 5m, 250ms).
func isPromDuration(s string) bool {
	if s == "" {
		return false
	}
	for s != "" {
		n := 0
		for n < len(s) && s[n] >= '0' && s[n] <= '9' {
			n++
		}
		if n == 0 {
			return false
		}
		s = s[n:]
		switch {
		case strings.HasPrefix(s, "ms"):
			s = s[2:]
		case s != "" && strings.IndexByte("smhdwy", s[0]) >= 0:
			s = s[1:]
		default:
			return false
		}
	}
	return true
}

// promAggregations are PromQL's aggregation operators.
var promAggregations = []string{
	"sum", "avg", "min", "max", "count", "group", "stddev", "stdvar",
	"topk", "bottomk", "quantile", "count_values", "limitk", "limit_ratio",
}

// promFuncs are PromQL's functions that a rule expression does not have
// (rule expressions have rate, increase, delta, changes, resets, the
// _over_time functions of windowFuncs, abs, ceil, floor, round, min, max).
var promFuncs = []string{
	"absent", "absent_over_time", "acos", "acosh", "asin", "asinh", "atan", "atanh",
	"clamp", "clamp_max", "clamp_min", "cos", "cosh", "day_of_month", "day_of_week",
	"day_of_year", "days_in_month", "deg", "deriv", "double_exponential_smoothing",
	"exp", "histogram_avg", "histogram_count", "histogram_fraction",
	"histogram_quantile", "histogram_stddev", "histogram_stdvar", "histogram_sum",
	"holt_winters", "hour", "idelta", "irate", "label_join", "label_replace", "ln",
	"log10", "log2", "mad_over_time", "minute", "month", "pi", "predict_linear",
	"present_over_time", "quantile_over_time", "rad", "scalar", "sgn", "sin", "sinh",
	"sort", "sort_by_label", "sort_by_label_desc", "sort_desc", "sqrt",
	"stdvar_over_time", "tan", "tanh", "time", "timestamp", "vector", "year",
}

// selRef is one metric selector of the expression: name{matchers}[range].
type selRef struct {
	name     string
	sel      string // the selector as written, without its range
	pos, end int    // of the selector and its range, in bytes
	rng      string // the range's duration, "" without one
	subquery bool   // the range is a subquery's [d:s]
}

// promqlShape is what an expression holds of PromQL.
type promqlShape struct {
	refs     []selRef
	calls    map[string]bool // called functions and aggregations
	by       []string        // labels of by (...)
	grouping bool            // by, without, on, ignoring, group_left, group_right
	other    []string        // further PromQL-only syntax: offset, bool, unless, @, subquery
	bools    []ptok          // bool modifiers, which a rewrite drops
	usesEnv  bool            // it names the rule environment (value, labels ...)
	// windowArg holds, by index in refs, the selectors that are the
	// argument of a windowed function of rules, f(sel[d]), so f(d).
	windowArg map[int]bool
}

// readPromQL collects the PromQL forms of src.
func readPromQL(src string, kind exprKind) promqlShape {
	toks := lexPromQL(src)
	sh := promqlShape{calls: map[string]bool{}, windowArg: map[int]bool{}}
	env := publicEnv(kind)
	// match[i] is the index of the bracket closing the one at i.
	match := make([]int, len(toks))
	var stack []int
	for i, t := range toks {
		match[i] = -1
		switch t.text {
		case "(", "[", "{":
			stack = append(stack, i)
		case ")", "]", "}":
			if n := len(stack); n > 0 {
				match[stack[n-1]] = i
				stack = stack[:n-1]
			}
		}
	}
	text := func(i int) string {
		if i >= 0 && i < len(toks) {
			return toks[i].text
		}
		return ""
	}
	isCompare := func(s string) bool {
		return s == "==" || s == "!=" || s == ">" || s == "<" || s == ">=" || s == "<="
	}
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		switch {
		case t.text == "@":
			sh.other = append(sh.other, "@")
		case t.text == "[" && text(i-1) == ")" && match[i] > 0 && slices.ContainsFunc(toks[i:match[i]], func(t ptok) bool { return t.kind == pDuration }):
			sh.other = append(sh.other, "a subquery")
		case t.text == "{" && (i == 0 || toks[i-1].kind != pIdent) && toks[min(i+1, len(toks)-1)].kind == pIdent &&
			slices.Contains([]string{"=", "!=", "=~", "!~"}, text(i+2)) && match[i] > 0:
			// A selector without a metric name: {job="x"}.
			i = sh.selector(src, toks, match, i, "", i)
		}
		if t.kind != pIdent {
			continue
		}
		prev, next := text(i-1), text(i+1)
		if prev == "." || prev == "?." {
			continue // a member: labels.job
		}
		switch t.text {
		case "by", "without", "on", "ignoring":
			if next == "(" && match[i+1] > 0 {
				if t.text == "by" {
					for _, l := range toks[i+2 : match[i+1]] {
						if l.kind == pIdent && !slices.Contains(sh.by, l.text) {
							sh.by = append(sh.by, l.text)
						}
					}
				}
				sh.grouping = true
				i = match[i+1]
			}
			continue
		case "group_left", "group_right":
			sh.grouping = true
			if next == "(" && match[i+1] > 0 {
				i = match[i+1]
			}
			continue
		case "offset", "unless", "atan2":
			sh.other = append(sh.other, t.text)
			continue
		case "bool":
			if isCompare(prev) {
				sh.bools = append(sh.bools, t)
			}
			continue
		case "and", "or", "not", "in", "matches", "contains", "startsWith", "endsWith",
			"true", "false", "nil", "let", "if", "else":
			continue
		}
		if next == "(" || slices.Contains(promAggregations, t.text) && (next == "by" || next == "without") {
			sh.calls[t.text] = true
			if w, ok := windowFunc(t.text); ok {
				// rate(5m) and previous(), the rule forms, are of the environment.
				if w == winPrevious || i+2 < len(toks) && toks[i+2].kind == pDuration {
					sh.usesEnv = true
				}
			}
			continue
		}
		if _, ok := env[t.text]; ok {
			sh.usesEnv = true
			continue
		}
		if next == ":" || prev == "?" || next == "." || next == "?." {
			continue // a map key, a ternary branch or a member access: not PromQL
		}
		n, at := len(sh.refs), i
		i = sh.selector(src, toks, match, i, t.text, i+1)
		// f(sel[d]) with f a windowed function of rules rewrites to f(d).
		if r := sh.refs[n]; r.rng != "" && !r.subquery && text(i+1) == ")" && text(at-1) == "(" {
			if w, ok := windowFunc(text(at - 2)); ok && w != winPrevious {
				sh.windowArg[n] = true
			}
		}
	}
	return sh
}

// selector records the selector whose name token (or opening brace, for a
// selector without a name) is at start; braces is where its matchers
// would open. It returns the index of its last token.
func (sh *promqlShape) selector(src string, toks []ptok, match []int, start int, name string, braces int) int {
	last := start
	if braces < len(toks) && toks[braces].text == "{" && match[braces] > 0 {
		last = match[braces]
		if name == "" {
			for k := braces + 1; k+2 < last; k++ {
				if v := toks[k+2].text; toks[k].text == nameLabel && toks[k+1].text == "=" && toks[k+2].kind == pString && len(v) >= 2 {
					name = v[1 : len(v)-1]
				}
			}
		}
	}
	r := selRef{name: name, sel: src[toks[start].pos:toks[last].end], pos: toks[start].pos}
	if last+1 < len(toks) && toks[last+1].text == "[" && match[last+1] > 0 {
		end := match[last+1]
		for _, x := range toks[last+2 : end] {
			switch {
			case x.kind == pDuration && r.rng == "":
				r.rng = x.text
			case x.text == ":":
				r.subquery = true
			}
		}
		last = end
	}
	r.end = toks[last].end
	sh.refs = append(sh.refs, r)
	return last
}

// promqlHint returns advice for src, an expression of the given kind that
// does not compile, when it looks like PromQL: the text to append to its
// error, from "; this is PromQL". It returns "" otherwise.
func promqlHint(src string, kind exprKind) string {
	sh := readPromQL(src, kind)
	names := map[string]bool{}
	var ordered []string
	for _, r := range sh.refs {
		if !names[r.name] {
			names[r.name] = true
			ordered = append(ordered, r.name)
		}
	}
	var promCalls, aggs []string
	for _, f := range promFuncs {
		if sh.calls[f] {
			promCalls = append(promCalls, f)
		}
	}
	for _, f := range promAggregations {
		// min and max are rule functions too, of two or more numbers.
		if sh.calls[f] && len(sh.refs) > 0 {
			aggs = append(aggs, f)
		}
	}
	strong := len(promCalls) > 0 || len(aggs) > 0 || sh.grouping || len(sh.other) > 0 || len(sh.bools) > 0 ||
		slices.ContainsFunc(sh.refs, func(r selRef) bool {
			return r.rng != "" || strings.Contains(r.sel, "{") || strings.Contains(r.name, ":")
		})
	rewrite, rewritten := "", false
	if len(names) == 1 && !sh.grouping && len(sh.other) == 0 && len(aggs) == 0 && kind == sampleExpr {
		rewrite, rewritten = sh.rewrite(src)
	}
	if !strong && (sh.usesEnv || !rewritten && len(names) < 2 || slices.ContainsFunc(ordered, nearEnvName)) {
		return ""
	}

	var b strings.Builder
	b.WriteString("; " + promqlHintPrefix)
	if kind == cohortExpr {
		b.WriteString(", which faultline does not evaluate: a cohort rule's match picks the series and its cohort: {by: [...]} groups them; its expr compares the aggregates cohort, others and fleet, as in cohort.rate > 5 * others.rate")
		return b.String()
	}
	first := selRef{name: "x", sel: "x"}
	if len(sh.refs) > 0 {
		first = sh.refs[0]
	}
	switch {
	case sh.calls["absent"] || sh.calls["absent_over_time"]:
		after := "5m"
		for _, r := range sh.refs {
			if r.rng != "" {
				after = r.rng
				break
			}
		}
		b.WriteString(": faultline raises absence itself, so give the series an entry with absent_after instead of a rule, as in series: [{match: " +
			yamlQuote(first.sel) + ", absent_after: " + after + "}]")
	case slices.ContainsFunc(ordered, func(n string) bool { return strings.Contains(n, ":") }):
		i := slices.IndexFunc(ordered, func(n string) bool { return strings.Contains(n, ":") })
		name := ordered[i]
		b.WriteString(", which faultline does not evaluate, and " + name + " names a recording rule's output, which it does not compute: write match for the series it is computed from")
		if parts := strings.Split(name, ":"); len(parts) == 3 && parts[1] != "" {
			b.WriteString(" (" + parts[1] + ", if the name follows level:metric:operations)")
		}
		b.WriteString(" and expr over their samples' value")
	case sh.calls["histogram_quantile"]:
		b.WriteString(", which faultline does not evaluate: a rule reads one series at a time, and a histogram's buckets are separate series; alert on a quantile exported as a series of its own, with match and an expr on its value")
	case len(names) >= 2:
		b.WriteString(", which faultline does not evaluate: a rule reads one series at a time, so an expression over " + quoteList(ordered) +
			" has no equivalent; alert on each with match and expr, or compute it upstream and match the result")
	case len(aggs) > 0 || sh.grouping:
		by := sh.by
		if len(by) == 0 {
			by = []string{"job"}
		}
		window := "1m"
		for _, r := range sh.refs {
			if r.rng != "" {
				window = r.rng
				break
			}
		}
		b.WriteString(", which faultline does not evaluate: a rule reads one series at a time, and groups of series are compared by a cohort rule, as in match: " +
			yamlQuote(first.sel) + ", cohort: {by: [" + strings.Join(by, ", ") + "], window: " + window + "} and expr: cohort.rate > 5 * others.rate")
	case rewritten:
		b.WriteString(", which faultline does not evaluate: a rule's match picks the series and its expr reads each sample; write match: " +
			yamlQuote(first.sel) + " and expr: " + rewrite)
	default:
		b.WriteString(", which faultline does not evaluate")
		switch {
		case len(promCalls) > 0:
			b.WriteString(" (" + promCalls[0] + "() has no equivalent)")
		case len(sh.other) > 0:
			b.WriteString(" (" + sh.other[0] + " has no equivalent)")
		}
		b.WriteString(": a rule's match picks the series")
		if len(sh.refs) > 0 {
			b.WriteString(" (match: " + yamlQuote(first.sel) + ")")
		}
		b.WriteString(" and its expr is a condition on each sample, over value, labels and windowed functions such as rate(5m), avg_over_time(10m) and previous()")
	}
	return b.String()
}

// rewrite turns an expression over one selector into a rule expression:
// f(sel[d]) into f(d) for the windowed functions of rules, and sel into
// value. It reports whether the result compiles.
func (sh *promqlShape) rewrite(src string) (string, bool) {
	if _, err := ParseSelector(sh.refs[0].sel); err != nil {
		return "", false
	}
	// The replacements, in order: each selector, and each bool dropped.
	type span struct {
		pos, end int
		with     string
	}
	var spans []span
	for i, r := range sh.refs {
		switch {
		case sh.windowArg[i]:
			spans = append(spans, span{r.pos, r.end, r.rng})
		case r.rng != "":
			return "", false
		default:
			spans = append(spans, span{r.pos, r.end, envValue})
		}
	}
	for _, t := range sh.bools {
		spans = append(spans, span{t.pos, t.end, ""})
	}
	slices.SortFunc(spans, func(a, b span) int { return a.pos - b.pos })
	var b strings.Builder
	at := 0
	for _, s := range spans {
		b.WriteString(src[at:s.pos])
		b.WriteString(s.with)
		at = s.end
	}
	b.WriteString(src[at:])
	out := strings.Join(strings.Fields(b.String()), " ")
	if _, err := compileExprKind(out, sampleExpr); err != nil {
		return "", false
	}
	return out, true
}

// nearEnvName reports whether name is likely a misspelling of a name of
// the rule environment (valu, lables), and so not a metric.
func nearEnvName(name string) bool {
	if len(name) < 3 {
		return false
	}
	for _, e := range []string{envValue, envName, envLabels, envCohort, envOthers, envFleet} {
		if editDistance(name, e) <= 2 {
			return true
		}
	}
	return false
}

// editDistance is the Levenshtein distance of two short ASCII strings.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// yamlQuote writes a selector as a YAML scalar: plain when it is a bare
// name, single-quoted otherwise.
func yamlQuote(s string) string {
	if isLabelName(strings.ReplaceAll(s, ":", "_")) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// quoteList joins names as "a and b" or "a, b and c".
func quoteList(names []string) string {
	if len(names) <= 1 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}
