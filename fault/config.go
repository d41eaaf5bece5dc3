package fault

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/faultline-go/faultline/dedup"
	"github.com/faultline-go/faultline/internal/persource"
	"github.com/faultline-go/faultline/rules"
)

// Config configures an Engine. The zero value is valid: every field says
// what it defaults to. The package doc explains what the settings do.
type Config struct {
	// Rules are the user's rules. By default none: only the built-in
	// detectors run. Engine.Update replaces them.
	Rules *rules.Ruleset
	// Sink receives the events. By default they are counted and dropped.
	Sink Sink
	// Dedup configures the deduper. By default dedup's defaults.
	Dedup dedup.Config
	// DisableDedup turns dedup off, for input deduplicated upstream: a
	// redelivery with another value is then not told from a fresh sample.
	DisableDedup bool

	// OnTimeBudget (τ) is how long after its expected arrival a sample is
	// still on time. By default 1s; set it near the p99.9 delivery delay.
	OnTimeBudget time.Duration
	// Lateness (L) is how long a slot may stay empty before it is lost;
	// filled within L it is late. By default 60s; at most 48 cadences.
	Lateness time.Duration
	// DefaultCadence is a series' cadence until it is learned or declared.
	// By default 60s.
	DefaultCadence time.Duration
	// AbsentAfter is how long a series may miss its deliveries before its
	// absence fires, unless its series entry says otherwise. By default
	// five slots, at least 2m; at most 65,535 slots.
	AbsentAfter time.Duration
	// SourceLabel names the label that says where a sample came from, for
	// the per-source detectors. By default none: the input is one source.
	SourceLabel string
	// Instance names this engine in every event's OriginLabel. By default
	// "faultline".
	Instance string

	// MaxSeries bounds the series tracked (see Bounds in the package doc).
	// By default 4,194,304; at most 2³¹−1.
	MaxSeries int
	// SeriesTTL is how long a series may go without a delivery (a fresh
	// sample or a copy) before it is evicted. By default 24h; negative:
	// never.
	SeriesTTL time.Duration
	// MaxAlerts bounds the alert states kept over all rules and series. By
	// default 1,048,576.
	MaxAlerts int
	// MaxFutureSkew rejects samples whose time is further ahead of their
	// arrival than this. By default 10m.
	MaxFutureSkew time.Duration
	// MaxArrivalLag rejects samples whose arrival is further ahead than
	// this of both their time and the engine clock. By default 1h.
	MaxArrivalLag time.Duration
	// MaxSources bounds the sources tracked; further ones share an
	// overflow source. By default 4,096; at most 1,048,576.
	MaxSources int
	// MaxHistory bounds the points of history kept per series for
	// windowed functions and cohort rules. By default 1,024.
	MaxHistory int
	// MaxHistoryPoints bounds the points of history kept in all. By
	// default 4,194,304 (64 MiB).
	MaxHistoryPoints int
	// MaxCohorts bounds the cohorts of each cohort rule. By default 1,024.
	// The series of a cohort past it count only towards the others and
	// the fleet. A cohort whose series were all evicted (SeriesTTL), once
	// its episode is closed and its windows judged, gives its room to the
	// next new cohort: the bound is on the cohorts alive, not on all the
	// values a `by` label ever took.
	MaxCohorts int

	// Observer receives what the detectors saw, for reports and live
	// views. By default none, at no cost.
	Observer Observer
	// Explain selects the series whose evaluations are explained to
	// Explainer; nil selects every series. It costs: use it on a few.
	Explain *rules.Selector
	// Explainer receives the explanations. By default nothing is explained.
	Explainer func(Explanation)
	// Logger receives rare diagnostics (a rule's evaluation error, once
	// per rule). By default nothing is logged.
	Logger *slog.Logger
}

// Defaults for Config fields.
const (
	DefaultOnTimeBudget   = time.Second
	DefaultLateness       = 60 * time.Second
	DefaultCadence        = 60 * time.Second
	DefaultAbsentSlots    = 5
	DefaultMinAbsentAfter = 2 * time.Minute
	DefaultMaxSeries      = 1 << 22
	DefaultMaxAlerts      = 1 << 20
	DefaultMaxFutureSkew  = 10 * time.Minute
	DefaultMaxArrivalLag  = time.Hour
)

// maxSeriesLimit is the most series an engine can index: the timing wheel
// marks bucket heads with the top bit of a series index.
const maxSeriesLimit = headBit - 1

// withDefaults returns cfg with its defaults filled in, or why it is
// invalid.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.OnTimeBudget < 0 || cfg.Lateness < 0 || cfg.DefaultCadence < 0 || cfg.AbsentAfter < 0 || cfg.MaxSeries < 0 || cfg.MaxFutureSkew < 0 || cfg.MaxArrivalLag < 0 || cfg.MaxSources < 0 || cfg.MaxHistory < 0 || cfg.MaxHistoryPoints < 0 || cfg.MaxCohorts < 0 || cfg.MaxAlerts < 0 {
		return cfg, errors.New("fault: negative durations and limits are not allowed")
	}
	cfg.OnTimeBudget = orDefault(cfg.OnTimeBudget, DefaultOnTimeBudget)
	cfg.Lateness = orDefault(cfg.Lateness, DefaultLateness)
	cfg.DefaultCadence = orDefault(cfg.DefaultCadence, DefaultCadence)
	cfg.MaxFutureSkew = orDefault(cfg.MaxFutureSkew, DefaultMaxFutureSkew)
	cfg.MaxArrivalLag = orDefault(cfg.MaxArrivalLag, DefaultMaxArrivalLag)
	cfg.SeriesTTL = orDefault(cfg.SeriesTTL, DefaultSeriesTTL)
	cfg.MaxSeries = orDefault(cfg.MaxSeries, DefaultMaxSeries)
	cfg.MaxSources = orDefault(cfg.MaxSources, DefaultMaxSources)
	cfg.MaxAlerts = orDefault(cfg.MaxAlerts, DefaultMaxAlerts)
	cfg.MaxHistory = max(orDefault(cfg.MaxHistory, DefaultMaxHistory), minHistory)
	cfg.MaxHistoryPoints = orDefault(cfg.MaxHistoryPoints, DefaultMaxHistoryPoints)
	cfg.MaxCohorts = orDefault(cfg.MaxCohorts, DefaultMaxCohorts)
	cfg.Instance = orDefault(cfg.Instance, "faultline")
	switch {
	case cfg.MaxSources > persource.MaxSourcesLimit:
		return cfg, fmt.Errorf("fault: MaxSources %d is above the limit of %d", cfg.MaxSources, persource.MaxSourcesLimit)
	case cfg.MaxSeries > maxSeriesLimit:
		return cfg, fmt.Errorf("fault: MaxSeries %d is above the limit of %d", cfg.MaxSeries, maxSeriesLimit)
	case cfg.Lateness < cfg.OnTimeBudget:
		return cfg, fmt.Errorf("fault: lateness allowance %v is shorter than the on-time budget %v", cfg.Lateness, cfg.OnTimeBudget)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg, nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
