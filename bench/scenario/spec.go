package scenario

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// Mode is the kind of fault a scenario injects during its incident.
type Mode uint8

const (
	// ModeNone injects no fault (C01, C03).
	ModeNone Mode = iota
	// ModePeriodic drops every copy arriving in a window
	// [n·P + Phase, +Width) of Unix time during the incident (B01…B11,
	// H01…H04).
	ModePeriodic
	// ModeRandomPhase drops all copies of each sample with probability
	// Width/Period during the incident: the same loss count as ModePeriodic
	// without phase concentration (C02).
	ModeRandomPhase
	// ModePerSeriesRandom makes every series with Δ < Period (precisely,
	// round(P/Δ) ≥ 2) lose one random slot per Period during the incident
	// (C05).
	ModePerSeriesRandom
	// ModeAperiodic drops every copy arriving in windows of width Width that
	// start at random times, with mean spacing Period: bursty aperiodic loss
	// (a control for overdispersion, not a public scenario).
	ModeAperiodic
	// ModeCopyLoss drops redundant copies only: in the windows of
	// ModePeriodic, each copy c ≥ 1 is dropped with probability CopyLoss,
	// and copy 0 always gets through. Every sample still arrives on time;
	// what is periodic is a loss of deliveries, not of data (H05).
	ModeCopyLoss
	// ModeRandomCopyLoss drops each redundant copy (c ≥ 1) arriving during
	// the incident with probability CopyLoss·Width/Period: the copy count of
	// ModeCopyLoss without phase concentration (N01).
	ModeRandomCopyLoss
	// ModeBacklog holds every copy arriving in the windows of ModeAperiodic
	// and delivers the backlog in order, compressed into Flood, once each
	// window ends: floods of late data at random times (N03).
	ModeBacklog

	lastMode = ModeBacklog
)

var modeNames = [...]string{"none", "periodic", "random-phase", "per-series-random", "aperiodic", "copy-loss", "random-copy-loss", "backlog"}

// String returns the mode's name, as used in capture headers.
func (m Mode) String() string {
	if int(m) < len(modeNames) {
		return modeNames[m]
	}
	return fmt.Sprintf("mode(%d)", m)
}

// Cadence is one entry of a cadence mix: a series gets period Every with
// probability proportional to Weight.
type Cadence struct {
	Every  time.Duration
	Weight float64
}

// Spec holds every parameter of the generator. Durations are
// time.Duration, drift is in ppm, probabilities are fractions in [0, 1).
// Times such as Onset are measured from Origin. See the package
// documentation for how each parameter is used.
type Spec struct {
	// ID and Name identify a named scenario ("B01", "stratcond"); they only
	// label output.
	ID, Name string

	// N is the number of series (checks), at most MaxSeries.
	N int
	// Horizon bounds nominal send times: sample k of a series exists when
	// φ + kΔ(1+drift) < Horizon. Arrivals, replays above all, may run past it.
	Horizon time.Duration
	// Cadences is the cadence mix Δ is drawn from.
	Cadences []Cadence
	// Jitter is J: each send is shifted by U(−J, +J). Must be < Δ/2.
	Jitter time.Duration
	// Skew is σ_s: each series' source clock is off by N(0, σ_s).
	Skew time.Duration
	// DriftPPM is σ_d: each series' cadence is scaled by 1 + N(0, σ_d)·10⁻⁶.
	DriftPPM float64
	// Copies is d, the number of deliveries of each sample, 1…MaxCopies.
	Copies int
	// CopySpread bounds the copies: copy c ≥ 1 arrives U(0, CopySpread)
	// after copy 0.
	CopySpread time.Duration
	// BaseDelay and DelayMean give copy 0's delivery delay,
	// BaseDelay + Exp(mean DelayMean).
	BaseDelay, DelayMean time.Duration
	// Loss is p_r, the probability that a sample is lost for good (all
	// copies, never replayed).
	Loss float64
	// Replay re-delivers each copy dropped by the fault Replay after its
	// original arrival; 0 turns replay off. Rounded to whole microseconds.
	Replay time.Duration

	// Mode is the fault injected during the incident.
	Mode Mode
	// Period, Width and Phase are P, w and the window phase (from the Unix
	// epoch, 0 ≤ Phase < P). ModeRandomPhase uses Width/Period as its drop
	// probability, ModePerSeriesRandom uses Period, ModeAperiodic uses
	// Period as the mean spacing of windows.
	Period, Width, Phase time.Duration
	// Onset and Duration place the incident at [Onset, Onset+Duration) from
	// Origin, clipped to the horizon. Dead series stop at Onset whatever the
	// mode.
	Onset, Duration time.Duration
	// DeadFraction is the probability that a series stops for good at
	// Onset (C03).
	DeadFraction float64

	// SkipProb makes a periodic outage intermittent: each window is skipped
	// with this probability (ModePeriodic only; 0 = every window).
	SkipProb float64
	// PhaseJitter shifts each periodic window's start by U(−x, +x)
	// (ModePeriodic only; at most (P − w)/2 so windows never overlap).
	PhaseJitter time.Duration

	// The fields below drive the hard classes (H01…, N01…); each draws
	// from the PRNG only when it is on, so that the scenarios above keep
	// their bytes.

	// PhaseWalk makes the phase of a periodic outage wander as a random
	// walk: each occurrence after the first starts σ·N(0, 1) away from
	// where the previous one started, one period later (ModePeriodic and
	// ModeCopyLoss; unlike PhaseJitter the offsets add up). 8σ must fit in
	// the room P − w − 2·PhaseJitter between windows.
	PhaseWalk time.Duration
	// CopyLoss is the probability that a redundant copy (c ≥ 1) in a
	// window is dropped (ModeCopyLoss); ModeRandomCopyLoss drops redundant
	// copies during the incident with probability CopyLoss·Width/Period.
	CopyLoss float64
	// LossStep raises the random loss to Loss + LossStep for samples sent
	// during the incident: a step up in random loss at Onset.
	LossStep float64
	// Flood is how long the backlog of a ModeBacklog window takes to be
	// delivered once the window ends (0: all at its end).
	Flood time.Duration
	// ClockDriftPPM is σ_c: each series' source clock runs at rate
	// 1 + N(0, σ_c)·10⁻⁶ from Origin, so its timestamps drift away from
	// arrival times (DriftPPM drifts the send cadence instead).
	ClockDriftPPM float64
}

// Limits of a Spec, set by the packed Delivery layout.
const (
	// MaxSeries is the largest N.
	MaxSeries = 1<<27 - 1
	// MaxCopies is the largest number of copies per sample.
	MaxCopies = 16
	// MaxLag bounds |arrival − sample time| of any delivery (replay
	// included): ±2³¹ µs, about 35.8 minutes.
	MaxLag = math.MaxInt32 * time.Microsecond
)

// ControlHorizon is the horizon of the long controls of GAPS.md ("at least 3
// seeds × 6 h"); see Spec.Long.
const ControlHorizon = 6 * time.Hour

// Defaults returns the defaults of GAPS.md: N = 10,000, Δ = 60 s,
// J = 0.2 s, σ_s = 0, σ_d = 20 ppm, 4 copies within 0.2 s, delay
// 50 ms + Exp(20 ms), p_r = 0.1 %, replay 30 s, onset 1,800 s, duration
// 31 min, horizon 5,400 s, no fault. The outage geometry of B01 (P = 60 s,
// w = 1.5 s, phase 12 s) is preset, so a control that only switches Mode
// (C02, C05) loses the same number of slots as B01.
func Defaults() Spec {
	return Spec{
		N:          10_000,
		Horizon:    5400 * time.Second,
		Cadences:   []Cadence{{Every: 60 * time.Second, Weight: 1}},
		Jitter:     200 * time.Millisecond,
		DriftPPM:   20,
		Copies:     4,
		CopySpread: 200 * time.Millisecond,
		BaseDelay:  50 * time.Millisecond,
		DelayMean:  20 * time.Millisecond,
		Loss:       0.001,
		Replay:     30 * time.Second,
		Mode:       ModeNone,
		Period:     60 * time.Second,
		Width:      1500 * time.Millisecond,
		Phase:      12 * time.Second,
		Onset:      1800 * time.Second,
		Duration:   31 * time.Minute,
	}
}

// mixedCadence is the cadence mix of B04 and C05.
func mixedCadence() []Cadence {
	return []Cadence{
		{Every: 10 * time.Second, Weight: 0.2},
		{Every: 30 * time.Second, Weight: 0.3},
		{Every: 60 * time.Second, Weight: 0.5},
	}
}

var ids = []string{"B01", "B02", "B04", "B06", "B11", "C01", "C02", "C03", "C05"}

// IDs returns the ids of the public scenarios, in table order.
func IDs() []string { return slices.Clone(ids) }

var hardIDs = []string{"H01", "H02", "H03", "H04", "H05", "N01", "N02", "N03", "N04"}

// HardIDs returns the ids of the hard classes (H01…H05, each with a
// periodic truth) and of their null controls (N01…N04, nothing periodic),
// in order. See the package documentation, "Hard classes".
func HardIDs() []string { return slices.Clone(hardIDs) }

// Control reports whether s holds nothing periodic to detect: its mode is
// neither ModePeriodic nor ModeCopyLoss.
func (s Spec) Control() bool { return s.Mode != ModePeriodic && s.Mode != ModeCopyLoss }

// Named returns the scenario with the given id (see IDs and HardIDs), at
// full size, and whether it exists. Use WithN, WithHorizon, WithIncident and Long
// for smaller or longer versions; the seed is Generate's argument.
//
// B06's table entry extends the incident to 3 h but not the horizon; its
// horizon here is 4 h (onset 30 min + 3 h + a 30-min tail).
func Named(id string) (Spec, bool) {
	s := Defaults()
	s.ID = id
	b01 := func() {
		s.Mode = ModePeriodic
		s.Period, s.Width, s.Phase = 60*time.Second, 1500*time.Millisecond, 12*time.Second
	}
	switch id {
	case "B01":
		s.Name = "stratcond"
		b01()
	case "B02":
		s.Name = "stratcond-clean"
		b01()
		s.Jitter, s.Copies, s.Replay = 0, 1, 0
	case "B04":
		s.Name = "mixed-cadence"
		b01()
		s.Cadences = mixedCadence()
	case "B06":
		s.Name = "period-300"
		b01()
		s.Period, s.Phase = 300*time.Second, 100*time.Second
		s.Duration = 3 * time.Hour
		s.Horizon = 4 * time.Hour
	case "B11":
		s.Name = "small-500"
		b01()
		s.N = 500
	case "C01":
		s.Name = "none"
	case "C02":
		s.Name = "random-phase"
		s.Mode = ModeRandomPhase
	case "C03":
		s.Name = "dead-checks"
		s.DeadFraction = 0.025
	case "C05":
		s.Name = "per-series-random"
		s.Mode = ModePerSeriesRandom
		s.Cadences = mixedCadence()
	case "H01":
		s.Name = "skipped-occurrences"
		b01()
		s.Cadences = mixedCadence()
		s.SkipProb = 0.3
	case "H02":
		s.Name = "wandering-phase"
		b01()
		s.PhaseWalk = 300 * time.Millisecond
	case "H03":
		s.Name = "wide-jitter"
		b01()
		s.Width, s.Jitter = 500*time.Millisecond, time.Second
	case "H04":
		s.Name = "small-fleet"
		b01()
		s.N = 150
	case "H05":
		s.Name = "redundancy-loss"
		b01()
		s.Mode = ModeCopyLoss
		s.CopyLoss = 0.5
		s.Replay = 0
	case "N01":
		s.Name = "random-copy-loss"
		s.Mode = ModeRandomCopyLoss
		s.CopyLoss = 0.5
		s.Replay = 0
	case "N02":
		s.Name = "loss-step"
		s.Cadences = mixedCadence()
		s.LossStep = 0.02
	case "N03":
		s.Name = "late-floods"
		s.Cadences = mixedCadence()
		s.Mode = ModeBacklog
		s.Period, s.Width, s.Phase = 10*time.Minute, time.Minute, 0
		s.Flood = 5 * time.Second
	case "N04":
		s.Name = "drifting-clocks"
		s.Cadences = mixedCadence()
		s.DriftPPM = 100
		s.ClockDriftPPM = 100
		s.Skew = time.Second
	default:
		return Spec{}, false
	}
	return s, true
}

// MustNamed is Named for ids known to exist; it panics on an unknown id.
func MustNamed(id string) Spec {
	s, ok := Named(id)
	if !ok {
		panic("scenario: unknown scenario " + id)
	}
	return s
}

// WithN returns s with n series.
func (s Spec) WithN(n int) Spec {
	s.N = n
	return s
}

// WithHorizon returns s with horizon h; the incident is unchanged (and
// clipped to h by the generator).
func (s Spec) WithHorizon(h time.Duration) Spec {
	s.Horizon = h
	return s
}

// WithIncident returns s with its incident (and the death of dead series)
// moved to [onset, onset+duration).
func (s Spec) WithIncident(onset, duration time.Duration) Spec {
	s.Onset, s.Duration = onset, duration
	return s
}

// Long returns s with horizon h and the incident running from its onset to
// the end of the horizon: the form of the long controls, e.g.
// MustNamed("C02").Long(ControlHorizon).
func (s Spec) Long(h time.Duration) Spec {
	s.Horizon = h
	if h > s.Onset {
		s.Duration = h - s.Onset
	}
	return s
}

// FleetDays returns the observed fleet-days, horizon ÷ 24 h: the exposure
// for false fleet alarms.
func (s Spec) FleetDays() float64 { return s.Horizon.Hours() / 24 }

// SeriesDays returns the observed series-days, N × horizon ÷ 24 h: the
// exposure for false per-series alarms (divide by 10,000 for "per 10k
// series-days").
func (s Spec) SeriesDays() float64 { return float64(s.N) * s.FleetDays() }

// Validate reports every problem with s (joined with errors.Join), or nil.
func (s Spec) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if s.N < 1 || s.N > MaxSeries {
		bad("N = %d, want 1…%d", s.N, MaxSeries)
	}
	if s.Horizon <= 0 {
		bad("horizon %v, want > 0", s.Horizon)
	}
	if len(s.Cadences) == 0 {
		bad("empty cadence mix")
	}
	for _, c := range s.Cadences {
		switch {
		case c.Every <= 0:
			bad("cadence %v, want > 0", c.Every)
		case !(c.Weight > 0) || math.IsInf(c.Weight, 0):
			bad("cadence %v has weight %v, want > 0", c.Every, c.Weight)
		case 2*s.Jitter >= c.Every:
			bad("jitter %v must be < half the cadence %v", s.Jitter, c.Every)
		}
	}
	if s.Jitter < 0 || s.Skew < 0 || s.CopySpread < 0 || s.BaseDelay < 0 || s.DelayMean < 0 || s.Replay < 0 {
		bad("negative jitter, skew, copy spread, delay or replay")
	}
	if !(s.DriftPPM >= 0) || s.DriftPPM > 1e5 {
		bad("drift %v ppm, want 0…100000", s.DriftPPM)
	}
	if s.Copies < 1 || s.Copies > MaxCopies {
		bad("copies = %d, want 1…%d", s.Copies, MaxCopies)
	}
	if !(s.Loss >= 0 && s.Loss < 1) {
		bad("loss %v, want [0, 1)", s.Loss)
	}
	if !(s.DeadFraction >= 0 && s.DeadFraction <= 1) {
		bad("dead fraction %v, want [0, 1]", s.DeadFraction)
	}
	if !(s.SkipProb >= 0 && s.SkipProb < 1) {
		bad("skip probability %v, want [0, 1)", s.SkipProb)
	}
	if !(s.LossStep >= 0 && s.Loss+s.LossStep < 1) {
		bad("loss step %v, want ≥ 0 with loss + step < 1", s.LossStep)
	}
	if !(s.ClockDriftPPM >= 0) || s.ClockDriftPPM > 1e5 {
		bad("clock drift %v ppm, want 0…100000", s.ClockDriftPPM)
	}
	if s.Flood < 0 || s.PhaseWalk < 0 {
		bad("negative flood or phase walk")
	}
	if s.Onset < 0 || s.Duration < 0 {
		bad("negative onset or duration")
	}
	if s.Mode > lastMode {
		bad("unknown mode %d", s.Mode)
	}
	if s.Mode != ModeNone {
		if s.Period <= 0 {
			bad("period %v, want > 0", s.Period)
		}
		if s.Mode != ModePerSeriesRandom && (s.Width <= 0 || s.Width > s.Period) {
			bad("width %v, want 0 < w ≤ P = %v", s.Width, s.Period)
		}
	}
	if s.Mode == ModePeriodic || s.Mode == ModeCopyLoss {
		if s.Phase < 0 || s.Phase >= s.Period {
			bad("phase %v, want 0 ≤ phase < P = %v", s.Phase, s.Period)
		}
		if s.PhaseJitter < 0 || 2*s.PhaseJitter > s.Period-s.Width {
			bad("phase jitter %v, want 0…(P − w)/2", s.PhaseJitter)
		}
		if s.PhaseWalk > 0 && 2*s.PhaseJitter+8*s.PhaseWalk > s.Period-s.Width {
			bad("phase walk %v, want 8σ ≤ P − w − 2·(phase jitter)", s.PhaseWalk)
		}
	}
	if s.Mode == ModeCopyLoss || s.Mode == ModeRandomCopyLoss {
		if s.Copies < 2 {
			bad("copy loss needs at least 2 copies, have %d", s.Copies)
		}
		if !(s.CopyLoss > 0 && s.CopyLoss <= 1) {
			bad("copy loss %v, want (0, 1]", s.CopyLoss)
		}
	}
	// The packed delivery stores arrival − sample time in int32 µs; demand
	// a wide margin over the worst case (the runtime check is exact).
	worst := s.Replay + s.BaseDelay + s.CopySpread + 40*s.DelayMean + 10*s.Skew + s.Jitter +
		time.Duration(10*s.ClockDriftPPM*1e-6*float64(s.Horizon))
	if s.Mode == ModeBacklog {
		worst += s.Width + s.Flood
	}
	if worst > MaxLag {
		bad("replay + delays + 10σ_s = %v exceeds the %v a delivery can record", worst, MaxLag)
	}
	return errors.Join(errs...)
}
