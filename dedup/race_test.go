//go:build race

package dedup

// raceEnabled reports whether the race detector is on, which makes every
// memory access cost far more, so the largest stream tests shrink under it.
const raceEnabled = true
