// Package episode is the vocabulary the engine's detectors share: the
// state of an episode and the transition a detector returns when an
// episode moves, as a value. The engine (package fault) turns transitions
// into events; detectors never emit anything themselves.
//
// This package must not know about series, rules, labels or events.
package episode

// State is where an episode stands, or, in a Transition, where it moved.
// The values are those of fault.State.
type State uint8

// The states.
const (
	Idle     State = iota // no episode open
	Pending               // opened, not confirmed yet
	Firing                // confirmed
	Resolved              // ended (in a Transition only)
)

// Kind says which detector a transition comes from. The engine maps each
// to its public fault.Kind.
type Kind uint8

// The kinds of the built-in detectors.
const (
	Absence Kind = iota + 1
	PeriodicGap
	SeriesPeriodicGap
	FeedbackLoop
	DuplicateStorm
	IngestLag
	BadInput
	PeriodicDeliveryLoss
)

// Gap describes a periodic gap, in nanoseconds: its period, its lossy
// window into the period, the series it affects, and the fraction of its
// lost samples that arrived late (NaN while unknown).
type Gap struct {
	Period, PhaseStart, PhaseEnd int64
	Series                       int
	LateFraction                 float64
}

// Transition is one episode of a detector moving to State at time At.
type Transition struct {
	Kind  Kind
	State State
	// Subject is what the episode is about, as the detector numbers it: a
	// series slot, a source, an input; 0 for the fleet.
	Subject uint32
	// Since is when the episode began, At when it moved.
	Since, At int64
	// Value is the figure that decided it (NaN for none).
	Value float64
	// Gap describes a periodic gap (PeriodicGap, SeriesPeriodicGap) or
	// a periodic loss of deliveries (PeriodicDeliveryLoss).
	Gap *Gap
	// Linked says that a fleet gap episode explains this one; By is when
	// that episode began: the engine links the event to its.
	Linked bool
	By     int64
}

// Run opens an episode after a condition holds for Open consecutive steps
// (minutes, windows) and closes it after it fails for Close consecutive
// steps while open. The episode starts at the start of its run's first
// step.
type Run struct {
	Open    bool
	Since   int64 // start of the open episode
	run     uint8 // consecutive steps holding, while closed
	calm    uint8 // consecutive steps failing, while open
	pending int64 // start of the run's first step
}

// Step records one step, starting at start, in which the condition held
// or not; open and close are the run lengths. It returns Firing or
// Resolved when the episode moved, Idle otherwise.
func (r *Run) Step(held bool, start int64, open, close uint8) State {
	switch {
	case held && r.Open:
		r.calm = 0
	case held:
		if r.run == 0 {
			r.pending = start
		}
		r.run++
		if r.run >= open {
			r.Open, r.run, r.calm, r.Since = true, 0, 0, r.pending
			return Firing
		}
	case r.Open:
		r.calm++
		if r.calm >= close {
			r.Open, r.calm = false, 0
			return Resolved
		}
	default:
		r.run = 0
	}
	return Idle
}

// Idle reports whether the run holds nothing: no episode open, no run
// under way.
func (r *Run) Idle() bool { return !r.Open && r.run == 0 }

// Fields returns the run's state for encoding: open, since, the run
// length (held steps while closed, failed ones while open) and the
// pending start.
func (r *Run) Fields() (open bool, since int64, count uint8, pending int64) {
	if r.Open {
		return true, r.Since, r.calm, r.pending
	}
	return false, r.Since, r.run, r.pending
}

// SetFields restores what Fields returned.
func (r *Run) SetFields(open bool, since int64, count uint8, pending int64) {
	*r = Run{Open: open, Since: since, pending: pending}
	if open {
		r.calm = count
	} else {
		r.run = count
	}
}
