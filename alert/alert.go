// Package alert is faultline's alert state machine: the life of one alert
// (one rule on one series) from evaluation to evaluation, with no engine,
// expression or clock of its own. The caller evaluates the rule's
// conditions on each fresh sample, sums them up as an Outcome, and calls
// State.Step with the sample time; Step returns the transitions to emit.
//
// # The machine
//
// An alert is inactive, pending or firing, at a severity level (1 and up;
// a rule without levels has the one level 1). It combines:
//
//   - for, as in Prometheus: a condition that starts to hold makes the alert
//     pending; it fires at the first evaluation at which some level's
//     condition holds and for has passed since the episode began
//     (t − since ≥ for). Without for it fires at once.
//   - for tolerance: while pending, up to Rule.ForTolerance consecutive
//     evaluations at which no condition holds are forgiven; the for clock
//     keeps running through them, but the alert never fires on one. One
//     more ends the episode (resolved without firing). Prometheus forgives
//     none.
//   - levels with hysteresis, as Kapacitor's determineLevel: a firing alert
//     escalates to the highest level whose condition holds, if that is at
//     or above its level; otherwise it stays where it is while its level's
//     resolve condition (Kapacitor's reset, Zabbix' recovery expression)
//     does not hold; otherwise it drops to the highest level whose
//     condition holds, or resolves when none does. An alert at a level
//     without a resolve condition leaves it as soon as its condition stops
//     holding.
//   - keep_firing_for, as Prometheus' code does it: when a firing alert
//     would resolve, it keeps firing, at its level, until an evaluation
//     at least KeepFiringFor after the first one that would have resolved
//     it; a condition that holds again in between cancels the countdown.
//   - no data, as its own outcome (Outcome.NoData, decided by the caller
//     when the series goes absent), handled per rule: keep the state (the
//     default), resolve, or fire (at once, at the alert's level, or the
//     first level for an alert that was not open).
//   - flap detection, as Nagios': see Flapping.
//
// Transitions are emitted on every change of phase, and on every change of
// level of a firing alert. A pending alert follows the highest level whose
// condition holds without emitting; it fires at that level.
//
// The state is small (48 bytes) and a zero State is an inactive alert with
// an empty flap history, so a caller keeps one only while it is not Idle.
//
// This package holds one alert's state and its rules of motion; it must
// not know about expressions, series, engines or events.
package alert

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"strconv"
	"time"
)

// NoData says what an alert does when its series goes absent.
type NoData uint8

// The no-data policies. The zero value keeps the state.
const (
	NoDataKeep    NoData = iota // leave the alert as it is: no data is not a recovery
	NoDataResolve               // resolve an open alert (keep_firing_for does not apply)
	NoDataAlert                 // fire at once, skipping for
)

// String returns "keep", "resolve" or "alert", the rule-file spelling.
func (n NoData) String() string {
	switch n {
	case NoDataKeep:
		return "keep"
	case NoDataResolve:
		return "resolve"
	case NoDataAlert:
		return "alert"
	}
	return "nodata(" + strconv.Itoa(int(n)) + ")"
}

// ParseNoData parses the rule-file spelling of a no-data policy.
func ParseNoData(s string) (NoData, bool) {
	switch s {
	case "keep":
		return NoDataKeep, true
	case "resolve":
		return NoDataResolve, true
	case "alert":
		return NoDataAlert, true
	}
	return 0, false
}

// Flapping configures flap detection, as Nagios Core does it (base/
// flapping.c): every evaluation records the alert's state (firing at which
// level, or not firing) in a history of the last HistoryLen states; each of
// the 20 pairs of adjacent states that differ adds a weight rising linearly
// from 0.75 (oldest pair) to 1.25 (newest); the percent state change is the
// sum times 100/20. The alert starts flapping when the percentage reaches
// High (≥) and stops when it falls to Low (≤); between them nothing
// changes.
//
// The comparisons are exact. Pair i (1 the oldest, 20 the newest) weighs
// (55 + 2i)/76, so the percent state change is 5n/76 for an integer n
// from 0 to 1520, and it is compared with the exact value of the float64
// threshold: a history at exactly 30 % starts flapping at High 30 and one
// at exactly 20 % stops at Low 20, where a sum in floating point may come
// to 29.999999999999993. A threshold given in decimal with at most 12
// digits after the point compares as the decimal itself would, since its
// float64 is closer to it than any percentage 5n/76 that differs from it
// (the rules package refuses thresholds with more digits).
//
// While the alert flaps its transitions are held back: one FlappingStart is
// emitted instead, and at FlappingEnd the alert's current state is emitted
// if it differs from the last one emitted (the resolve or the new firing
// that Nagios and Icinga lose, nagioscore#91, icinga2#9449).
//
// The zero value turns flap detection off.
type Flapping struct {
	Low, High float64 // percent state change, 0 ≤ Low < High ≤ 100
}

// Nagios' compiled-in default thresholds, in percent.
const (
	DefaultFlapLow  = 20.0
	DefaultFlapHigh = 30.0
)

// HistoryLen is the number of states the flap history holds, as Nagios'
// MAX_STATE_HISTORY_ENTRIES.
const HistoryLen = 21

// Enabled reports whether flap detection is on.
func (f Flapping) Enabled() bool { return f.High > 0 }

// Rule is how one alerting rule's alerts behave: everything the machine
// needs besides the evaluations themselves.
type Rule struct {
	// For is how long the condition must hold before the alert fires.
	For time.Duration
	// ForTolerance is how many consecutive evaluations without the
	// condition a pending alert survives; values above 255 count as 255.
	ForTolerance int
	// KeepFiringFor keeps a firing alert firing after it would resolve.
	KeepFiringFor time.Duration
	// NoData is what the alert does when its series goes absent.
	NoData NoData
	// Flapping configures flap detection; off when zero.
	Flapping Flapping
}

// Outcome is what one evaluation found.
type Outcome struct {
	// Level is the highest level whose condition holds (levels count from
	// 1, the lowest severity), or 0 when none does.
	Level int
	// Reset reports whether the resolve condition of the alert's current
	// level holds, or that level has none. It is read only when the alert
	// fires and Level is below its level, so the caller need evaluate it
	// only then.
	Reset bool
	// NoData means the series went absent: there was no evaluation. Level
	// and Reset are ignored.
	NoData bool
}

// Phase is where an alert is in its episode.
type Phase uint8

// The phases.
const (
	Inactive Phase = iota
	Pending
	Firing
)

// String returns "inactive", "pending" or "firing".
func (p Phase) String() string {
	switch p {
	case Inactive:
		return "inactive"
	case Pending:
		return "pending"
	case Firing:
		return "firing"
	}
	return "phase(" + strconv.Itoa(int(p)) + ")"
}

// Kind is the kind of a transition.
type Kind uint8

// The kinds of transition.
const (
	KindPending       Kind = iota + 1 // an episode began, waiting for for
	KindFiring                        // the alert fires, or fires at another level
	KindResolved                      // the episode ended (fired or not)
	KindFlappingStart                 // the alert started flapping; transitions are held back
	KindFlappingEnd                   // the alert stopped flapping
)

// String returns the kind's name.
func (k Kind) String() string {
	switch k {
	case KindPending:
		return "pending"
	case KindFiring:
		return "firing"
	case KindResolved:
		return "resolved"
	case KindFlappingStart:
		return "flapping_start"
	case KindFlappingEnd:
		return "flapping_end"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Transition is one change to emit.
type Transition struct {
	Kind Kind
	// Level is the level the alert is at (pending, firing), was at
	// (resolved), or for the flapping kinds the level last emitted.
	Level int
	// Since identifies the episode: the time it began, or for the flapping
	// kinds the time flapping began.
	Since int64
}

// State is the state of one alert. The zero value is an inactive alert with
// an empty flap history.
type State struct {
	since      int64  // when the current episode began
	keepSince  int64  // the first evaluation that would have resolved it (flagKeep)
	shownSince int64  // episode of the last emitted state
	flapSince  int64  // when flapping began (flagFlapping)
	hist       uint32 // flap history: 20 change bits, bit 0 the newest pair
	phase      Phase
	level      uint8
	shown      Phase // phase last emitted
	shownLevel uint8 // level last emitted
	misses     uint8 // consecutive evaluations without the condition while pending
	flags      uint8
}

const (
	flagKeep     = 1 << iota // keep_firing_for is counting down
	flagFlapping             // the alert is flapping
	flagsKnown   = flagKeep | flagFlapping
)

const (
	histPairs = HistoryLen - 1
	histMask  = 1<<histPairs - 1
)

// MaxLevel is the highest level a State holds.
const MaxLevel = 255

// Phase returns the alert's current phase (which, while it flaps, may not
// be the last one emitted).
func (s *State) Phase() Phase { return s.phase }

// Level returns the alert's current level, 0 when inactive.
func (s *State) Level() int { return int(s.level) }

// Since returns when the current episode began; 0 when inactive.
func (s *State) Since() int64 {
	if s.phase == Inactive {
		return 0
	}
	return s.since
}

// Flapping reports whether the alert is flapping.
func (s *State) Flapping() bool { return s.flags&flagFlapping != 0 }

// Idle reports whether the state is the zero State's equivalent: inactive,
// last emitted inactive, not flapping, with no change in its flap history.
// A caller may drop an idle state and start from a zero State later.
func (s *State) Idle() bool {
	return s.phase == Inactive && s.shown == Inactive && s.flags&flagFlapping == 0 && s.hist == 0
}

// FlapPercent returns the weighted percent state change of the flap
// history, as Nagios computes it, rounded to the nearest float64 (the
// thresholds are compared with its exact value; see Flapping).
func (s *State) FlapPercent() float64 {
	return float64(5*s.flapChange()) / 76
}

// flapChange returns the weighted state change of the flap history in
// units of 1/76: pair i (1 the oldest, 20 the newest) weighs
// 0.75 + (i−1)·0.5/19 = (55 + 2i)/76. The percent state change is the sum
// times 100/20, so 5/76 of the result.
func (s *State) flapChange() int {
	n := 0
	for b := range histPairs {
		if s.hist&(1<<b) != 0 {
			n += 55 + 2*(histPairs-b) // bit 0 is the newest pair, i = 20
		}
	}
	return n
}

// cmp76 returns the sign of m − 76·h, computed exactly for an integer m
// below 2^53 and a float64 h (0 for a NaN h). The product 76·h rounds to p;
// rounding is monotonic, so a float64 m below (above) p is below (above)
// 76·h itself. When m equals p, the rounding error 76·h − p, which math.FMA
// computes exactly, decides.
func cmp76(m int, h float64) int {
	p := 76 * h
	switch x := float64(m); {
	case x < p:
		return -1
	case x > p:
		return 1
	}
	switch e := math.FMA(76, h, -p); {
	case e > 0:
		return -1
	case e < 0:
		return 1
	}
	return 0
}

// Step moves the alert by one evaluation at time t (the sample time; for a
// no-data outcome, when the data stopped) and appends the transitions to
// emit to dst, in order. Step does not allocate when dst has room for
// four transitions.
func (s *State) Step(t int64, o Outcome, r *Rule, dst []Transition) []Transition {
	before := s.recorded()
	if o.NoData {
		if !s.noData(t, r) {
			return dst
		}
	} else {
		s.eval(t, o, r)
	}
	if !r.Flapping.Enabled() {
		return s.show(dst)
	}
	s.hist <<= 1
	if s.recorded() != before {
		s.hist |= 1
	}
	s.hist &= histMask
	// The percent state change is 5n/76: compare 5n with 76·threshold.
	m := 5 * s.flapChange()
	switch flapping := s.flags&flagFlapping != 0; {
	case !flapping && cmp76(m, r.Flapping.High) >= 0: // High > 0: not NaN
		s.flags |= flagFlapping
		s.flapSince = t
		return append(dst, Transition{Kind: KindFlappingStart, Level: int(s.shownLevel), Since: t})
	case flapping && cmp76(m, r.Flapping.Low) <= 0 && !math.IsNaN(r.Flapping.Low):
		s.flags &^= flagFlapping
		dst = append(dst, Transition{Kind: KindFlappingEnd, Level: int(s.shownLevel), Since: s.flapSince})
		s.flapSince = 0
		return s.show(dst)
	case flapping:
		return dst
	}
	return s.show(dst)
}

// Forget ends the alert for good, as when the engine forgets its series,
// and appends the transitions that close what was last emitted: flapping
// end if it flaps, then resolved if an episode was shown pending or
// firing. The state is left idle (the zero State).
func (s *State) Forget(dst []Transition) []Transition {
	if s.flags&flagFlapping != 0 {
		dst = append(dst, Transition{Kind: KindFlappingEnd, Level: int(s.shownLevel), Since: s.flapSince})
	}
	if s.shown != Inactive {
		dst = append(dst, Transition{Kind: KindResolved, Level: int(s.shownLevel), Since: s.shownSince})
	}
	*s = State{}
	return dst
}

// recorded is the state the flap history records: the firing level, or 0.
func (s *State) recorded() uint8 {
	if s.phase == Firing {
		return s.level
	}
	return 0
}

func (s *State) eval(t int64, o Outcome, r *Rule) {
	lvl := uint8(min(max(o.Level, 0), MaxLevel))
	switch s.phase {
	case Inactive:
		if lvl == 0 {
			return
		}
		s.phase, s.level, s.since, s.misses = Pending, lvl, t, 0
		if r.For <= 0 {
			s.phase = Firing
		}
	case Pending:
		if lvl == 0 {
			if int(s.misses) >= min(r.ForTolerance, 255) {
				s.close()
				return
			}
			s.misses++ // at most 255: no overflow
			return
		}
		s.level, s.misses = lvl, 0
		if passed(t, s.since, r.For) {
			s.phase = Firing
		}
	case Firing:
		target := lvl
		if lvl < s.level && !o.Reset {
			target = s.level // hysteresis: its resolve condition does not hold
		}
		if target > 0 {
			s.level, s.keepSince = target, 0
			s.flags &^= flagKeep
			return
		}
		if r.KeepFiringFor > 0 {
			if s.flags&flagKeep == 0 {
				s.flags |= flagKeep
				s.keepSince = t
			}
			if !passed(t, s.keepSince, r.KeepFiringFor) {
				return
			}
		}
		s.close()
	}
}

// passed reports whether t − from ≥ d, computed exactly for any t and
// from: t − from may be past the int64 range.
func passed(t, from int64, d time.Duration) bool {
	if t >= from {
		return uint64(t)-uint64(from) >= uint64(max(d, 0)) // no wrap for t ≥ from
	}
	return d < 0 && uint64(from)-uint64(t) <= uint64(-d)
}

// noData applies the rule's no-data policy and reports whether it was an
// evaluation (false for keep, which changes nothing, not even the flap
// history).
func (s *State) noData(t int64, r *Rule) bool {
	switch r.NoData {
	case NoDataResolve:
		if s.phase != Inactive {
			s.close()
		}
	case NoDataAlert:
		if s.phase == Inactive {
			s.since, s.level = t, 1
		}
		s.phase, s.misses, s.keepSince = Firing, 0, 0
		s.flags &^= flagKeep
	default:
		return false
	}
	return true
}

func (s *State) close() {
	s.phase, s.level, s.misses, s.keepSince = Inactive, 0, 0, 0
	s.flags &^= flagKeep
}

// show appends the transitions from the last emitted state to the current
// one and makes the current one the last emitted.
func (s *State) show(dst []Transition) []Transition {
	if s.shown != Inactive && (s.phase == Inactive || s.since != s.shownSince) {
		dst = append(dst, Transition{Kind: KindResolved, Level: int(s.shownLevel), Since: s.shownSince})
		s.shown = Inactive
	}
	switch {
	case s.phase == Inactive:
	case s.shown != s.phase:
		k := KindPending
		if s.phase == Firing {
			k = KindFiring
		}
		dst = append(dst, Transition{Kind: k, Level: int(s.level), Since: s.since})
	case s.phase == Firing && s.level != s.shownLevel:
		dst = append(dst, Transition{Kind: KindFiring, Level: int(s.level), Since: s.since})
	}
	s.shown, s.shownSince = s.phase, s.since
	s.shownLevel = s.level
	if s.phase == Inactive {
		s.level, s.since, s.shownLevel, s.shownSince = 0, 0, 0, 0
	}
	return dst
}

// stateVersion is the first byte of an encoded State.
const stateVersion = 1

// ErrBadState is returned when decoding bytes that are not an encoded State.
var ErrBadState = errors.New("alert: malformed state")

// AppendBinary appends the state's encoding to b: everything Step needs to
// carry on (the pending and keep-firing timers, the flap history and
// whether the alert flaps), so that a snapshot restores alerts exactly.
// The encoding is versioned and at most 51 bytes.
func (s *State) AppendBinary(b []byte) []byte {
	b = append(b, stateVersion, byte(s.phase), s.level, byte(s.shown), s.shownLevel, s.misses, s.flags)
	b = binary.AppendUvarint(b, uint64(s.hist))
	for _, v := range [...]int64{s.since, s.keepSince, s.shownSince, s.flapSince} {
		b = binary.AppendVarint(b, v)
	}
	return b
}

// DecodeState decodes a State that AppendBinary encoded at the start of b
// and returns it with the rest of b.
func DecodeState(b []byte) (State, []byte, error) {
	var s State
	if len(b) < 7 || b[0] != stateVersion {
		return State{}, b, ErrBadState
	}
	s.phase, s.level, s.shown, s.shownLevel, s.misses, s.flags = Phase(b[1]), b[2], Phase(b[3]), b[4], b[5], b[6]
	if s.phase > Firing || s.shown > Firing || s.flags&^flagsKnown != 0 || (s.phase == Inactive) != (s.level == 0) {
		return State{}, b, ErrBadState
	}
	// Only a firing alert counts keep_firing_for down (close stops it): a
	// countdown kept into the next episode would cut its keep_firing_for
	// short.
	if s.flags&flagKeep != 0 && s.phase != Firing {
		return State{}, b, ErrBadState
	}
	rest := b[7:]
	h, n := binary.Uvarint(rest)
	if n <= 0 || h > histMask {
		return State{}, b, ErrBadState
	}
	s.hist, rest = uint32(h), rest[n:]
	for _, p := range [...]*int64{&s.since, &s.keepSince, &s.shownSince, &s.flapSince} {
		if *p, n = binary.Varint(rest); n <= 0 {
			return State{}, b, ErrBadState
		}
		rest = rest[n:]
	}
	// Varints have more than one encoding; only the one AppendBinary
	// writes is accepted, so equal states have equal encodings.
	var tmp [64]byte
	if !bytes.Equal(s.AppendBinary(tmp[:0]), b[:len(b)-len(rest)]) {
		return State{}, b, ErrBadState
	}
	return s, rest, nil
}
