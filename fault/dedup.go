package fault

import "github.com/faultline-go/faultline/dedup"

// Deduper returns the engine's deduper, or nil with Config.DisableDedup.
//
// The engine holds the deduper as a concrete pointer, nil when dedup is
// off, rather than behind an interface with an off implementation: it is
// asked about every delivery, and a nil check costs less than a call
// through an interface. With dedup off, a copy of a series' newest sample
// is still recognised by the series store (see Engine.sample).
func (e *Engine) Deduper() *dedup.Deduper { return e.dd }
