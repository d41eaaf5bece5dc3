// Package align places instants in windows aligned to the Unix epoch:
// window i of width w is [i·w, (i+1)·w), for negative instants too.
//
// This package must not know what the windows are for.
package align

// FloorDiv returns ⌊a/b⌋ for b ≠ 0: the index of the window of width b
// holding a.
func FloorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// FloorMod returns a mod b in [0, b) for b > 0: where a falls in its
// window of width b.
func FloorMod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

// NearestMinute rounds a fleet gap's start to the nearest whole minute
// (from the Unix epoch) for its IDs (package fault). Its start is where
// the detector first saw the outage's loss, which the arrivals' jitter
// moves by a bin or two between replicas; rounded, they agree unless the
// outage began within that jitter of half past a minute. A gap set off by
// a clock (cron, a timer on the minute) begins near the minute, far from
// the half.
func NearestMinute(t int64) int64 {
	const m = int64(60e9)
	return FloorDiv(t+m/2, m) * m
}
