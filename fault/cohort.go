package fault

import (
	"math"
	"slices"
	"strings"

	"github.com/cespare/xxhash/v2"

	"github.com/faultline-go/faultline/internal/align"
	"github.com/faultline-go/faultline/internal/frame"
	"github.com/faultline-go/faultline/rules"
	"github.com/faultline-go/faultline/stream"
)

// Cohort rules.
//
// A cohort rule (rules.Cohort) groups the series it selects by the values
// of its `by` labels. Each series is assigned its cohort once, when the
// series is first seen, so a sample costs an array index and a few
// additions. Samples are counted in windows of sample time aligned to the
// Unix epoch, [k·W, (k+1)·W). Window k is judged when the engine clock
// passes (k+1)·W + grace, grace being Config.Lateness capped at half a
// window: until then samples of window k (and of k+1) are still counted;
// later ones are counted in Stats.CohortLate and left out. At judgment the
// rule's expression is evaluated for every cohort that reported in the
// window, against that cohort's aggregates, the others' (every other
// series the rule selects, cohorts past MaxCohorts included) and the
// fleet's. A cohort that did not report keeps its episode as it is: no
// data is not a recovery. At Close, windows that end after the last
// arrival are not judged: the end of input is not a quiet window.
//
// A cohort whose series have all been evicted (evict.go) will never
// report again, so its open episode resolves, annotated reason="evicted"
// (EvictedReason), Value NaN: at the eviction of its last series, or, if
// samples of the cohort are still in windows to judge (a SeriesTTL
// shorter than the window), at the judgment of the last of those windows.
// Downstream the episode would otherwise stay open for ever. A series of
// the cohort that comes later is counted in the cohort again, and its
// episode is a new one.
//
// Such a cohort, once its episode is closed and its windows judged, is
// dead, and its room is reused: a new cohort that finds MaxCohorts taken
// takes the dead one of lowest index (the dead one keeps its key until
// then, so a series of its own that comes back first revives it). Without
// that, a `by` label that churns (pods, nodes, versions) would fill
// MaxCohorts with cohorts gone long ago, and every new one would overflow
// for the life of the process. Stats.Cohorts counts the cohorts alive, as
// Stats.Series the series: a dead one is not counted, though it keeps its
// room (and key) until a new cohort takes it. A series that overflowed
// stays in the overflow, even once a cohort of its own has room; a cohort
// that comes back is judged afresh, and its next episode is a new one (a
// later Since, so a new ID).
//
// Episodes run as for threshold rules, in window time: a condition that
// starts to hold opens a pending episode (firing without `for`) whose
// Since is the end of the window; it fires at the first window ending at
// least `for` later, and resolves at the first window of the cohort where
// it does not hold. Events are fleet-like: Kind cohort, Series 0, labels
// the cohort's `by` labels (those set) and the rule's labels, At the
// judgment time, Value the cohort's rate (Aggregate.Rate) in the deciding
// window.

// DefaultMaxCohorts bounds the cohorts of one cohort rule by default.
const DefaultMaxCohorts = 1024

// noCohort marks a series whose cohort was past MaxCohorts.
const noCohort = math.MaxUint32

// cohortAcc accumulates a cohort's samples in one window.
type cohortAcc struct {
	series, samples int
	sum, inc        float64
	min, max        float64
}

func (a *cohortAcc) add(v, inc float64, newSeries bool) {
	if newSeries {
		a.series++
	}
	if a.samples == 0 {
		a.min, a.max = math.Inf(1), math.Inf(-1)
	}
	a.samples++
	if math.IsNaN(v) {
		return
	}
	a.sum += v
	a.inc += inc
	a.min = min(a.min, v)
	a.max = max(a.max, v)
}

func (a *cohortAcc) plus(o *cohortAcc) {
	if o.samples == 0 {
		return
	}
	if a.samples == 0 {
		a.min, a.max = math.Inf(1), math.Inf(-1)
	}
	a.series += o.series
	a.samples += o.samples
	a.sum += o.sum
	a.inc += o.inc
	a.min = min(a.min, o.min)
	a.max = max(a.max, o.max)
}

// aggregate turns an accumulator into what expressions read.
func (a *cohortAcc) aggregate(win int64) rules.Aggregate {
	g := rules.Aggregate{Series: a.series, Samples: a.samples, Sum: a.sum, Increase: a.inc,
		Rate: a.inc / (float64(win) / 1e9), Avg: math.NaN(), Min: math.NaN(), Max: math.NaN()}
	if a.samples > 0 {
		g.Avg = a.sum / float64(a.samples)
		if !math.IsInf(a.min, 1) {
			g.Min, g.Max = a.min, a.max
		}
	}
	return g
}

// cohort is one cohort of a cohort rule.
type cohort struct {
	labels stream.Labels // its by labels that are set, sorted
	id     uint64        // hash of its key, the subject of its event IDs
	acc    [2]cohortAcc  // windows k and k+1, by parity
	state  State         // of its episode; 0 when none is open
	since  int64
	live   int // series that are members (derived: Restore and Update rejoin them)
}

// cohortRule is the state of one cohort rule.
type cohortRule struct {
	ri      uint32 // index in Engine.rules
	win     int64  // window, ns
	grace   int64
	k       int64 // the oldest open window
	started bool
	keys    map[string]uint32 // cohort key → index in cohorts
	cohorts []cohort
	over    [2]cohortAcc // series past MaxCohorts
	// noneDead says that no cohort was dead at the last look for room,
	// and none has lost its last series or its windows since, so that a
	// series past MaxCohorts does not look again (derived: false after
	// Restore, and a look costs only time).
	noneDead bool
}

// cohortMember is a series' membership of a cohort rule.
type cohortMember struct {
	rule   uint32 // index in cohorts.rules
	cohort uint32 // index in its cohorts, or noCohort
	last   int64  // the last window the series was counted in, plus one
}

// cohorts is the engine's cohort rule state.
type cohorts struct {
	rules   []cohortRule
	byRule  map[uint32]uint32 // Engine.rules index → index in rules
	members []cohortMember
	aux     []uint32 // parallel to Engine.ruleIdx: member index + 1, or 0
	next    int64    // the earliest judgment due
}

func (e *Engine) initCohorts() {
	e.al.coh.next = math.MaxInt64
	for i, r := range e.al.rules {
		if r.Cohort == nil {
			continue
		}
		if e.al.coh.byRule == nil {
			e.al.coh.byRule = make(map[uint32]uint32)
		}
		e.al.coh.byRule[uint32(i)] = uint32(len(e.al.coh.rules))
		e.al.coh.rules = append(e.al.coh.rules, e.newCohortRule(uint32(i), r))
	}
}

// newCohortRule returns the fresh state of cohort rule r at index ri: its
// window, and the grace a window waits for late samples.
func (e *Engine) newCohortRule(ri uint32, r *rules.Rule) cohortRule {
	win := int64(r.Cohort.Window)
	return cohortRule{ri: ri, win: win, grace: min(e.late(), win/2), keys: make(map[string]uint32)}
}

// attachRules gives a new series what its rules need besides evaluation:
// a history if one of them reads it, its cohort in each cohort rule. A
// restored series (restoring) joins the cohort of its key if there is one
// and none else: readCohorts then puts it in the overflow if it was there.
func (e *Engine) attachRules(idx uint32, labels stream.Labels, restoring bool) {
	s := &e.st.series[idx]
	keep, need := int64(0), false
	for _, ri := range e.al.ruleIdx[s.rulesOff : s.rulesOff+uint32(s.rulesN)] {
		r := e.al.rules[ri]
		member := uint32(0)
		if r.Cohort != nil {
			need = true
			member = e.joinCohort(e.al.coh.byRule[ri], labels, restoring)
		} else if r.UsesHistory() {
			need = true
			keep = max(keep, int64(r.Window))
		}
		if len(e.al.coh.rules) > 0 {
			e.al.coh.aux = append(e.al.coh.aux, member)
		}
	}
	if need {
		e.al.hists = append(e.al.hists, e.newHistory(keep))
		s.hist = uint32(len(e.al.hists))
	}
}

// cohortKey returns the key of the cohort of labels under the by labels.
// The labels of a cohort give its own key.
func cohortKey(by []string, labels stream.Labels) string {
	var b strings.Builder
	for _, name := range by {
		b.WriteString(labels.Get(name))
		b.WriteByte(0xff)
	}
	return b.String()
}

// joinCohort returns the member index + 1 of a new series in cohort rule
// c, creating its cohort if there is room, or reusing a dead one's. A
// restored series (restoring) creates none.
func (e *Engine) joinCohort(c uint32, labels stream.Labels, restoring bool) uint32 {
	cr := &e.al.coh.rules[c]
	by := e.al.rules[cr.ri].Cohort.By
	key := cohortKey(by, labels)
	ci, ok := cr.keys[key]
	switch {
	case ok:
		if cr.cohorts[ci].dead() {
			e.stats.local.Cohorts++ // it comes back
		}
	case restoring:
		ci = noCohort // its cohort is in the snapshot if it had one
	case len(cr.cohorts) < e.cfg.MaxCohorts:
		ci = uint32(len(cr.cohorts))
		cr.cohorts = append(cr.cohorts, cohort{})
		e.stats.local.Cohorts++
	default:
		if ci = cr.deadCohort(); ci != noCohort {
			delete(cr.keys, cohortKey(by, cr.cohorts[ci].labels))
			e.stats.local.Cohorts++
		} else {
			e.stats.local.CohortOverflow++
		}
	}
	if !ok && ci != noCohort {
		cr.keys[key] = ci
		var ls stream.Labels
		for _, name := range by {
			if v := labels.Get(name); v != "" {
				ls = append(ls, stream.Label{Name: name, Value: v})
			}
		}
		ls.Sort()
		cr.cohorts[ci] = cohort{labels: ls, id: xxhash.Sum64String(key)}
	}
	if ci != noCohort {
		cr.cohorts[ci].live++
	}
	e.al.coh.members = append(e.al.coh.members, cohortMember{rule: c, cohort: ci})
	return uint32(len(e.al.coh.members))
}

// deadCohort returns the index of the first dead cohort of cr, one with no
// series, no open episode and no sample in its windows, whose room a new
// cohort may take, or noCohort if there is none.
func (cr *cohortRule) deadCohort() uint32 {
	if cr.noneDead {
		return noCohort
	}
	for i := range cr.cohorts {
		if cr.cohorts[i].dead() {
			return uint32(i)
		}
	}
	cr.noneDead = true
	return noCohort
}

// dead reports whether the cohort is dead: no series, no open episode and
// no sample in its windows.
func (c *cohort) dead() bool {
	return c.live == 0 && c.state == 0 && c.acc[0].samples == 0 && c.acc[1].samples == 0
}

// liveCohorts returns how many cohorts are alive, over all cohort rules:
// Stats.Cohorts.
func (e *Engine) liveCohorts() uint64 {
	n := uint64(0)
	for i := range e.al.coh.rules {
		for j := range e.al.coh.rules[i].cohorts {
			if !e.al.coh.rules[i].cohorts[j].dead() {
				n++
			}
		}
	}
	return n
}

// cohortSample counts a fresh, newest sample of a series in the cohort rule
// whose membership is at aux[pos]. The series' history already holds it.
func (e *Engine) cohortSample(idx uint32, pos uint32, smp *stream.Sample) {
	mi := e.al.coh.aux[pos]
	if mi == 0 {
		return
	}
	m := &e.al.coh.members[mi-1]
	cr := &e.al.coh.rules[m.rule]
	w := align.FloorDiv(smp.Time, cr.win)
	if !cr.started {
		cr.started, cr.k = true, w
		d, _ := cr.due(cr.k)
		e.al.coh.next = min(e.al.coh.next, d)
		e.disarm()
	}
	if w < cr.k {
		e.stats.local.CohortLate++
		return
	}
	for w > cr.k+1 {
		e.judgeWindow(cr)
	}
	inc := 0.0
	if hi := e.st.series[idx].hist; hi != 0 {
		// From the previous sample, unless it is more than a window old: a
		// series back from a silence would otherwise put all it counted
		// while away into one window.
		if h := &e.al.hists[hi-1]; h.n >= 2 {
			if prev := h.at(h.n - 2); smp.Time-prev.T <= cr.win {
				if inc = smp.Value - prev.V; inc < 0 {
					inc = smp.Value // a counter reset: it restarted from zero
				}
			}
		}
	}
	acc := &cr.over[w&1]
	if m.cohort != noCohort {
		acc = &cr.cohorts[m.cohort].acc[w&1]
	}
	acc.add(smp.Value, inc, m.last != w+1)
	m.last = w + 1
}

// cohortsDue judges the cohort windows due by engine time now.
func (e *Engine) cohortsDue(now int64) {
	next := int64(math.MaxInt64)
	for i := range e.al.coh.rules {
		cr := &e.al.coh.rules[i]
		if !cr.started {
			continue
		}
		for {
			if d, ok := cr.due(cr.k); !ok || now < d {
				break
			}
			if e.closed && (cr.k+1)*cr.win > e.horizon {
				break // the input ended within the window: it is not complete
			}
			if cr.empty(0) && cr.empty(1) {
				// Nothing to judge: skip to the window now is in.
				cr.k = max(cr.k+1, align.FloorDiv(now-cr.grace, cr.win))
				continue
			}
			e.judgeWindow(cr)
		}
		d, _ := cr.due(cr.k)
		next = min(next, d)
	}
	e.al.coh.next = next
}

// due returns when window k is judged, its end plus the grace, and false
// when that falls past the int64 range: such a window never ends, and
// math.MaxInt64 is returned.
func (cr *cohortRule) due(k int64) (int64, bool) {
	if k >= (math.MaxInt64-cr.grace)/cr.win { // (k+1)·win + grace > math.MaxInt64
		return math.MaxInt64, false
	}
	return (k+1)*cr.win + cr.grace, true
}

// empty reports whether window slot p holds no sample.
func (cr *cohortRule) empty(p int64) bool {
	if cr.over[p].samples > 0 {
		return false
	}
	for i := range cr.cohorts {
		if cr.cohorts[i].acc[p].samples > 0 {
			return false
		}
	}
	return true
}

// judgeWindow evaluates the rule for each cohort that reported in window
// cr.k, moves their episodes, and opens window k+2 in its slot.
func (e *Engine) judgeWindow(cr *cohortRule) {
	r := e.al.rules[cr.ri]
	p := cr.k & 1
	end := (cr.k + 1) * cr.win
	at := end + cr.grace
	var fleet cohortAcc
	fleet.plus(&cr.over[p])
	for i := range cr.cohorts {
		fleet.plus(&cr.cohorts[i].acc[p])
	}
	fleetAgg := fleet.aggregate(cr.win)
	// The two lowest minima and highest maxima, and whose (−1: the
	// overflow), so that the others' are known without going over the
	// others for each cohort.
	lo, hi := extremes{v1: math.Inf(1), v2: math.Inf(1), who: -2}, extremes{v1: math.Inf(-1), v2: math.Inf(-1), who: -2}
	if o := &cr.over[p]; o.samples > 0 {
		lo.note(-1, o.min, false)
		hi.note(-1, o.max, true)
	}
	for i := range cr.cohorts {
		if a := &cr.cohorts[i].acc[p]; a.samples > 0 {
			lo.note(i, a.min, false)
			hi.note(i, a.max, true)
		}
	}
	for i := range cr.cohorts {
		c := &cr.cohorts[i]
		a := &c.acc[p]
		if a.samples == 0 {
			continue
		}
		// The others: the fleet less this cohort.
		others := cohortAcc{series: fleet.series - a.series, samples: fleet.samples - a.samples,
			sum: fleet.sum - a.sum, inc: fleet.inc - a.inc, min: lo.except(i), max: hi.except(i)}
		cAgg, oAgg := a.aggregate(cr.win), others.aggregate(cr.win)
		holds, err := e.al.eval.EvalCohort(r, c.labels, &cAgg, &oAgg, &fleetAgg)
		if err != nil {
			e.evalFailed(cr.ri, r, err)
			continue
		}
		switch {
		case holds && c.state == 0:
			c.state, c.since = StatePending, end
			if r.For <= 0 {
				c.state = StateFiring
			}
			e.emitCohort(r, c, c.state, at, cAgg.Rate, "")
		case holds && c.state == StatePending && end-c.since >= int64(r.For):
			c.state = StateFiring
			e.emitCohort(r, c, c.state, at, cAgg.Rate, "")
		case !holds && c.state != 0:
			c.state = 0
			e.emitCohort(r, c, StateResolved, at, cAgg.Rate, "")
		}
	}
	cr.over[p] = cohortAcc{}
	for i := range cr.cohorts {
		c := &cr.cohorts[i]
		was := c.dead()
		c.acc[p] = cohortAcc{}
		e.endGoneCohort(cr, c, at)
		if c.live == 0 {
			cr.noneDead = false // it may be dead now
		}
		if !was && c.dead() {
			e.stats.local.Cohorts-- // wraps: the sum published is right
		}
	}
	cr.k++
}

// leaveCohort takes the evicted series whose membership is m out of its
// cohort at engine time at, and ends the cohort's episode if it was the
// last.
func (e *Engine) leaveCohort(m *cohortMember, at int64) {
	if m.cohort == noCohort {
		return
	}
	cr := &e.al.coh.rules[m.rule]
	c := &cr.cohorts[m.cohort]
	if c.live--; c.live == 0 {
		cr.noneDead = false // it may be dead now
	}
	e.endGoneCohort(cr, c, at)
	if c.dead() { // it had a series: it dies now
		e.stats.local.Cohorts-- // wraps: the sum published is right
	}
}

// endGoneCohort resolves the open episode of cohort c at time at, as
// evicted, when it has no series left and no sample in a window still to
// judge: nothing could ever resolve it.
func (e *Engine) endGoneCohort(cr *cohortRule, c *cohort, at int64) {
	if c.state == 0 || c.live > 0 || c.acc[0].samples > 0 || c.acc[1].samples > 0 {
		return
	}
	c.state = 0
	e.emitCohort(e.al.rules[cr.ri], c, StateResolved, at, math.NaN(), EvictedReason)
}

// emitCohort emits an event about a cohort, for reason if it is closed
// for one.
func (e *Engine) emitCohort(r *rules.Rule, c *cohort, state State, at int64, value float64, reason string) {
	if state == StateFiring {
		e.stats.local.CohortFaults++
	}
	// The rule's labels are templates over the cohort's labels; an empty
	// one removes the label, as for threshold rules.
	labels, err := r.ApplyLabels(slices.Clone(c.labels), value)
	if err != nil {
		e.stats.local.EvalErrors++
	}
	labels = e.withOrigin(labels)
	annotations, err := r.ExpandAnnotations(labels, value)
	if err != nil {
		e.stats.local.EvalErrors++
	}
	ev := Event{
		Kind:        KindCohort,
		Rule:        r.Alert,
		State:       state,
		At:          at,
		Since:       c.since,
		Labels:      labels,
		Annotations: annotations,
		Value:       value,
	}
	e.emit(ev, c.id, 0, 0, reason)
}

// extremes keeps the two most extreme values of a set of cohorts and which
// cohort has the first, so that the extreme of all cohorts but one is
// known in constant time.
type extremes struct {
	v1, v2 float64
	who    int
}

func (x *extremes) note(who int, v float64, high bool) {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return // an accumulator of NaN values only
	}
	if high && v > x.v1 || !high && v < x.v1 {
		x.v1, x.v2, x.who = v, x.v1, who
	} else if high && v > x.v2 || !high && v < x.v2 {
		x.v2 = v
	}
}

// except returns the extreme over every cohort but who.
func (x *extremes) except(who int) float64 {
	if x.who == who {
		return x.v2
	}
	return x.v1
}

func appendCohortAcc(w *frame.Writer, a *cohortAcc) {
	w.Uv(uint64(a.series))
	w.Uv(uint64(a.samples))
	w.F64(a.sum)
	w.F64(a.inc)
	w.F64(a.min)
	w.F64(a.max)
}

func readCohortAcc(r *frame.Reader) cohortAcc {
	return cohortAcc{series: int(min(r.Uv(), 1<<40)), samples: int(min(r.Uv(), 1<<62)), sum: r.F64(), inc: r.F64(), min: r.F64(), max: r.F64()}
}

// appendCohorts appends the cohort rules' windows and episodes and each
// series' last window and whether it is in the overflow. The cohorts
// themselves (their keys and labels) appendCohortKeys writes, and
// readSeries rebuilds the series' memberships from them: a series joins
// the cohort of its key. That is not enough for one that overflowed and
// whose cohort took a dead one's room later: it stays in the overflow,
// and the snapshot says so.
func (e *Engine) appendCohorts(w *frame.Writer) {
	c := &e.al.coh
	w.I64(c.next)
	w.Uv(uint64(len(c.rules)))
	for i := range c.rules {
		cr := &c.rules[i]
		w.I64(cr.k)
		w.Bool(cr.started)
		appendCohortAcc(w, &cr.over[0])
		appendCohortAcc(w, &cr.over[1])
		w.Uv(uint64(len(cr.cohorts)))
		for j := range cr.cohorts {
			co := &cr.cohorts[j]
			appendCohortAcc(w, &co.acc[0])
			appendCohortAcc(w, &co.acc[1])
			w.U8(uint8(co.state))
			w.I64(co.since)
		}
	}
	// The members in the order of the series' slots and their rules, the
	// order readSeries gives them (evicted series may have made it differ
	// from c.members').
	n := 0
	if len(c.rules) > 0 {
		for i := range e.st.series {
			for _, m := range e.al.coh.aux[e.st.series[i].rulesOff : e.st.series[i].rulesOff+uint32(e.st.series[i].rulesN)] {
				if m != 0 {
					n++
				}
			}
		}
	}
	w.Uv(uint64(n))
	for i := range e.st.series {
		if len(c.rules) == 0 {
			break
		}
		for _, m := range e.al.coh.aux[e.st.series[i].rulesOff : e.st.series[i].rulesOff+uint32(e.st.series[i].rulesN)] {
			if m != 0 {
				w.I64(c.members[m-1].last)
				w.Bool(c.members[m-1].cohort == noCohort)
			}
		}
	}
}

// readCohorts reads what appendCohorts wrote, in a snapshot of version
// (see Restore). Version 6 did not say whether a member is in the
// overflow, and needed not: its cohorts were never freed, so a rule whose
// cohorts were full stayed full, and a series that overflowed (no cohort
// had its key when it came) found none with its key ever after, across
// restores and updates too. So its key decides, as readSeries gave it: a
// member of the cohort of its key, or in the overflow if none has it.
func (e *Engine) readCohorts(r *frame.Reader, version uint32) {
	c := &e.al.coh
	c.next = r.I64()
	if n := r.Count(9); r.Err() == nil && n != len(c.rules) {
		r.Fail("%d cohort rules, the rules give %d", n, len(c.rules))
		return
	}
	for i := range c.rules {
		cr := &c.rules[i]
		cr.k = r.I64()
		cr.started = r.Bool()
		cr.over[0], cr.over[1] = readCohortAcc(r), readCohortAcc(r)
		if n := r.Count(9); r.Err() == nil && n != len(cr.cohorts) {
			r.Fail("cohort rule %d: %d cohorts, the series give %d", i, n, len(cr.cohorts))
			return
		}
		for j := range cr.cohorts {
			co := &cr.cohorts[j]
			co.acc[0], co.acc[1] = readCohortAcc(r), readCohortAcc(r)
			co.state, co.since = State(r.U8()), r.I64()
			if co.state > StateFiring {
				r.Fail("cohort state %d", co.state)
			}
		}
	}
	size := 9 // last and whether in the overflow
	if version < 7 {
		size = 8 // last only
	}
	if n := r.Count(size); r.Err() == nil && n != len(c.members) {
		r.Fail("%d cohort members, the series give %d", n, len(c.members))
		return
	}
	for i := range c.members {
		m := &c.members[i]
		m.last = r.I64()
		over := m.cohort == noCohort // version 6: as its key gave it
		if version >= 7 {
			over = r.Bool()
		}
		switch {
		case r.Err() != nil:
			return
		case over && m.cohort != noCohort:
			cr := &c.rules[m.rule]
			cr.cohorts[m.cohort].live--
			cr.noneDead = false
			m.cohort = noCohort
		case !over && m.cohort == noCohort:
			r.Fail("cohort member %d: in a cohort its labels have none", i)
			return
		}
	}
}
