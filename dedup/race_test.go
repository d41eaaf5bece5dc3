//go:build race

package dedup

// raceEnabled reports whether the race detector is on. fastcache takes a
// lock and updates atomic counters on every lookup, which costs microseconds
// under the race detector, so the largest stream tests shrink under it.
const raceEnabled = true
