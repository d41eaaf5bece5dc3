package fault

import (
	"time"

	"github.com/faultline-go/faultline/internal/align"
	"github.com/faultline-go/faultline/internal/fleetgap"
)

// Observer receives what the engine's detectors saw, as they saw it: the
// material of reports and live views (faultline replay --report, the /ui
// of faultline run). Its methods are called from the goroutine that calls
// the engine, in order of engine time; they must be fast and must not call
// back into the engine. Without one (Config.Observer nil), nothing is
// spent on it.
type Observer interface {
	// PhaseBin receives each bin of expected arrivals in which a slot was
	// expected, once every slot of it is judged for lateness.
	PhaseBin(PhaseBin)
	// SourceMinute receives each minute of each source that counted
	// something, when the per-source detectors judge it.
	SourceMinute(SourceMinute)
}

// PhaseBinWidth is the width of a PhaseBin: the fleet detector's bin.
const PhaseBinWidth = time.Duration(fleetgap.BinRes)

// PhaseBin is one bin of the fleet detector: the slots of every series
// expected to arrive within PhaseBinWidth of Start (Unix ns, arrival
// time). Missed of the Expected slots were not filled on time; of those,
// Late were filled within the lateness allowance and Lost never were.
type PhaseBin struct {
	Start                        int64
	Expected, Missed, Late, Lost uint32
}

// SourceMinute is what a source delivered in one minute of engine time:
// its fresh samples, its redeliveries (duplicates and conflicts), and the
// median lag (arrival − sample time) of the fresh ones.
type SourceMinute struct {
	Source             string // its Config.SourceLabel value ("" for none)
	Overflow           bool   // the overflow source (Config.MaxSources)
	Start              int64
	Fresh, Redelivered uint64
	Lag                time.Duration
}

// observing is the observer and the next bin it is owed.
type observing struct {
	Observer
	next int64 // the next bin to report; 0 before the first report
}

// observeBins reports the bins settled by now.
func (e *Engine) observeBins(now int64) {
	o := &e.obs
	last := align.FloorDiv(now-e.fleet.LateLag(), fleetgap.BinRes) // bins before it are settled
	if o.next == 0 {
		o.next = last // what was settled before the first report, or a restore, is not owed
		return
	}
	for b := max(o.next, last-4*int64(time.Hour)/fleetgap.BinRes); b < last; b++ {
		if ex, m, late, lost := e.fleet.BinAt(b); ex > 0 {
			o.PhaseBin(PhaseBin{Start: b * fleetgap.BinRes, Expected: ex, Missed: m, Late: late, Lost: lost})
		}
	}
	o.next = max(o.next, last)
}
