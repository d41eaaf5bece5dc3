package rules

import (
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/faultline-go/faultline/internal/yamlfile"
	"github.com/faultline-go/faultline/stream"
)

// Cohort makes a rule a cohort rule: the series its match selects are
// grouped by the values of the By labels, and once per Window of sample
// time (windows aligned to the Unix epoch) its expression is evaluated for
// each cohort that reported in the window, against aggregates of that
// cohort (cohort), of every other series the rule selects (others) and of
// all of them (fleet). See the package documentation, "Cohort rules".
type Cohort struct {
	// By are the labels whose values name a cohort, in file order; a
	// series without one of them has it empty.
	By []string
	// Window is the length of the windows, positive, at most MaxWindow.
	Window time.Duration
}

// Equal reports whether c and o group and window alike.
func (c *Cohort) Equal(o *Cohort) bool {
	if c == nil || o == nil {
		return c == o
	}
	return slices.Equal(c.By, o.By) && c.Window == o.Window
}

// Aggregate is what a cohort rule's expression reads about a set of
// series over one window: as cohort, others and fleet.
type Aggregate struct {
	// Series is the number of series that reported in the window.
	Series int `expr:"series"`
	// Samples is the number of samples they reported.
	Samples int `expr:"samples"`
	// Sum, Avg, Min and Max are over the values of those samples (Avg,
	// Min and Max are NaN when there are none).
	Sum float64 `expr:"sum"`
	Avg float64 `expr:"avg"`
	Min float64 `expr:"min"`
	Max float64 `expr:"max"`
	// Increase is the sum over the series of their counter increase in the
	// window: the difference of consecutive samples of a series, a value
	// below its predecessor counting as a reset to zero (as in
	// Prometheus), from the series' last sample before the window on if
	// that is at most a window older (a series back from a longer silence
	// starts afresh, as a new one does). No extrapolation: a cohort sums
	// integers of integer counters.
	Increase float64 `expr:"increase"`
	// Rate is Increase per second of the window.
	Rate float64 `expr:"rate"`
}

// EvalCohort evaluates the expression of cohort rule r for one cohort:
// labels are the cohort's By labels (what labels.x reads), cohort, others
// and fleet the aggregates of the window. It allocates a little (expr
// reads the aggregates' fields by reflection), once per cohort and
// window, not per sample.
func (e *Evaluator) EvalCohort(r *Rule, labels stream.Labels, cohort, others, fleet *Aggregate) (bool, error) {
	if r.Cohort == nil || r.program == nil {
		return false, r.errorf("%w: not a cohort rule", ErrExpr)
	}
	*e.cohort, *e.others, *e.fleet = *cohort, *others, *fleet
	return e.runBool(r, r.program, labels)
}

var cohortFields = []string{"by", "window"}

// maxCohortBy bounds the labels of a cohort's by.
const maxCohortBy = 8

// cohort reads a rule's cohort field.
func (p *fileParser) cohort(f yamlfile.Field) (*Cohort, bool) {
	if yamlfile.IsNull(f.Val) {
		return nil, true
	}
	fields, ok := p.Fields(f.Val, "a cohort", cohortFields)
	if !ok {
		return nil, false
	}
	c := &Cohort{}
	good := true
	if b, ok := fields["by"]; !ok {
		p.Reportf(f.Val, "%w %q in cohort: name the labels that make a cohort, as in by: [firmware]", ErrMissing, "by")
		good = false
	} else {
		items := p.List(b.Val, "cohort by")
		if len(items) == 0 && b.Val.Kind == yaml.SequenceNode || yamlfile.IsNull(b.Val) {
			p.Reportf(b.Val, "%w %q in cohort: it is empty", ErrMissing, "by")
			good = false
		}
		if len(items) > maxCohortBy {
			p.Reportf(b.Val, "%w: a cohort is named by at most %d labels", ErrValue, maxCohortBy)
			good = false
		}
		for _, it := range items {
			switch {
			case it.Kind != yaml.ScalarNode || yamlfile.IsNull(it):
				p.Reportf(it, "%w: labels in cohort by must be strings, not %s", ErrType, yamlfile.KindName(it))
				good = false
			case !isLabelName(it.Value) || strings.HasPrefix(it.Value, "__"):
				p.Reportf(it, "%w %q in cohort by: want [a-zA-Z_][a-zA-Z0-9_]*, not starting with __", ErrLabelName, it.Value)
				good = false
			case slices.Contains(c.By, it.Value):
				p.Reportf(it, "%w label %q in cohort by", ErrDuplicate, it.Value)
				good = false
			default:
				c.By = append(c.By, it.Value)
			}
		}
	}
	if w, ok := fields["window"]; !ok {
		p.Reportf(f.Val, "%w %q in cohort, as in window: 5m", ErrMissing, "window")
		good = false
	} else if d, ok := p.Duration(fields, "window"); ok {
		switch {
		case d <= 0:
			p.Reportf(w.Val, "window: %w %q: must be positive", ErrDuration, w.Val.Value)
			good = false
		case d > MaxWindow:
			p.Reportf(w.Val, "window: %w %q: longer than %v", ErrDuration, w.Val.Value, MaxWindow)
			good = false
		default:
			c.Window = d
		}
	} else {
		good = false
	}
	if !good {
		return nil, false
	}
	return c, true
}
