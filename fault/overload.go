package fault

import (
	"errors"
	"fmt"
	"strings"
)

// ErrOverloaded is matched (errors.Is) by the error Process and Advance
// return when a bound refused something during the call: samples of new
// series past Config.MaxSeries, alerts not opened past Config.MaxAlerts.
// Everything else in the call was processed; the error is the signal to
// apply backpressure or raise an alarm. The details are in an
// *OverloadError.
var ErrOverloaded = errors.New("fault: overloaded")

// OverloadError says what a call refused because a bound was reached. It
// wraps ErrOverloaded.
type OverloadError struct {
	// Series is how many samples of new series were rejected because
	// Config.MaxSeries series were tracked (Stats.SeriesOverflow).
	Series uint64
	// Alerts is how many alerts were not opened because Config.MaxAlerts
	// alert states were kept (Stats.AlertOverflow).
	Alerts uint64
	// MaxSeries and MaxAlerts are the bounds in force.
	MaxSeries, MaxAlerts int
}

// Error says what was refused and by which bound.
func (o *OverloadError) Error() string {
	var b strings.Builder
	b.WriteString("fault: overloaded:")
	if o.Series > 0 {
		fmt.Fprintf(&b, " %d samples of new series rejected (MaxSeries %d reached)", o.Series, o.MaxSeries)
	}
	if o.Alerts > 0 {
		if o.Series > 0 {
			b.WriteByte(';')
		}
		fmt.Fprintf(&b, " %d alerts not opened (MaxAlerts %d reached)", o.Alerts, o.MaxAlerts)
	}
	return b.String()
}

// Unwrap returns ErrOverloaded.
func (o *OverloadError) Unwrap() error { return ErrOverloaded }

// overloaded returns the OverloadError of the call ending, or nil. The
// local counters hold exactly what the call counted.
func (e *Engine) overloaded() error {
	l := &e.stats.local
	if l.SeriesOverflow == 0 && l.AlertOverflow == 0 {
		return nil
	}
	return &OverloadError{Series: l.SeriesOverflow, Alerts: l.AlertOverflow, MaxSeries: e.cfg.MaxSeries, MaxAlerts: e.cfg.MaxAlerts}
}
