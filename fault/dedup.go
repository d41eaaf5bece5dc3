package fault

import (
	"github.com/faultline-go/faultline/dedup"
	"github.com/faultline-go/faultline/stream"
)

// deduper admits each delivery once: a *dedup.Deduper, or noDedup when
// Config.DisableDedup says the input is deduplicated upstream.
type deduper interface {
	Admit(series stream.SeriesID, t int64, v float64) dedup.Verdict
	Warm(series stream.SeriesID, t int64)
	Overflow() uint64
}

// noDedup admits every delivery: dedup is off. A copy of a series' newest
// sample is still recognised by the series store (see Engine.sample).
type noDedup struct{}

func (noDedup) Admit(stream.SeriesID, int64, float64) dedup.Verdict { return dedup.Fresh }
func (noDedup) Warm(stream.SeriesID, int64)                         {}
func (noDedup) Overflow() uint64                                    { return 0 }

// Deduper returns the engine's deduper, or nil with Config.DisableDedup.
func (e *Engine) Deduper() *dedup.Deduper {
	dd, _ := e.dd.(*dedup.Deduper)
	return dd
}
