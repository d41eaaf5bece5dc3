package yamlfile

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// durationUnits are the units of a Prometheus duration, in the order they
// must appear.
var durationUnits = []struct {
	name string
	d    time.Duration
}{
	{"y", 365 * 24 * time.Hour},
	{"w", 7 * 24 * time.Hour},
	{"d", 24 * time.Hour},
	{"h", time.Hour},
	{"m", time.Minute},
	{"s", time.Second},
	{"ms", time.Millisecond},
}

// ParseDuration parses a duration in Prometheus syntax: "0", or a sequence
// of <integer><unit> with units y, w, d, h, m, s, ms, each at most once and
// from the largest to the smallest ("1h30m", "90s", "1d", "250ms"). A year
// is 365 days. Signs, fractions and spaces are rejected. The error wraps
// ErrDuration.
func ParseDuration(s string) (time.Duration, error) {
	if s == "0" {
		return 0, nil
	}
	if s == "" {
		return 0, fmt.Errorf("%w: empty", ErrDuration)
	}
	if s[0] == '-' {
		return 0, fmt.Errorf("%w %q: must not be negative", ErrDuration, s)
	}
	var total time.Duration
	next := 0 // index into durationUnits of the smallest unit still allowed
	rest := s
	for rest != "" {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("%w %q: want a number followed by a unit (y, w, d, h, m, s, ms), as in 1h30m", ErrDuration, s)
		}
		digits := rest[:i]
		rest = rest[i:]
		j := 0
		for j < len(rest) && rest[j] >= 'a' && rest[j] <= 'z' {
			j++
		}
		unit := rest[:j]
		rest = rest[j:]
		k := -1
		for u := next; u < len(durationUnits); u++ {
			if durationUnits[u].name == unit {
				k = u
				break
			}
		}
		if k < 0 {
			if unit == "" && rest == "" {
				return 0, fmt.Errorf("%w %q: missing unit (y, w, d, h, m, s, ms)", ErrDuration, s)
			}
			if unit == "" {
				return 0, fmt.Errorf("%w %q: unexpected %q; write durations as in 1h30m, 90s or 250ms", ErrDuration, s, rest[:1])
			}
			if isDurationUnit(unit) {
				return 0, fmt.Errorf("%w %q: units must go from largest to smallest, each once", ErrDuration, s)
			}
			return 0, fmt.Errorf("%w %q: unknown unit %q (want y, w, d, h, m, s, ms)", ErrDuration, s, unit)
		}
		next = k + 1
		var n int64
		for _, c := range digits {
			if n > (math.MaxInt64-9)/10 {
				return 0, fmt.Errorf("%w %q: too long", ErrDuration, s)
			}
			n = n*10 + int64(c-'0')
		}
		unitD := durationUnits[k].d
		if n > int64(math.MaxInt64/unitD) || total > math.MaxInt64-time.Duration(n)*unitD {
			return 0, fmt.Errorf("%w %q: too long", ErrDuration, s)
		}
		total += time.Duration(n) * unitD
	}
	return total, nil
}

func isDurationUnit(u string) bool {
	for _, du := range durationUnits {
		if du.name == u {
			return true
		}
	}
	return false
}

// FormatDuration formats d as a Prometheus duration (1h30m; 90s is 1m30s;
// 8d is 1w1d), which ParseDuration reads back for whole milliseconds. Below a millisecond it appends Go's form
// (1d1ns).
func FormatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	var b strings.Builder
	for _, u := range durationUnits {
		if n := d / u.d; n > 0 {
			b.WriteString(strconv.FormatInt(int64(n), 10))
			b.WriteString(u.name)
			d -= n * u.d
		}
	}
	if d > 0 { // below a millisecond: not from a file
		b.WriteString(d.String())
	}
	return b.String()
}
