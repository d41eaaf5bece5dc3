package yamlfile

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDuration(t *testing.T) {
	good := map[string]time.Duration{
		"0":         0,
		"0s":        0,
		"90s":       90 * time.Second,
		"2m":        2 * time.Minute,
		"1h30m":     90 * time.Minute,
		"1d":        24 * time.Hour,
		"1w":        7 * 24 * time.Hour,
		"1y":        365 * 24 * time.Hour,
		"250ms":     250 * time.Millisecond,
		"1h0m1s5ms": time.Hour + time.Second + 5*time.Millisecond,
		"1y2w3d4h5m6s7ms": 365*24*time.Hour + 14*24*time.Hour + 3*24*time.Hour +
			4*time.Hour + 5*time.Minute + 6*time.Second + 7*time.Millisecond,
	}
	for s, want := range good {
		d, err := ParseDuration(s)
		require.NoError(t, err, s)
		require.Equal(t, want, d, s)
	}
	bad := map[string]string{
		"":                       "empty",
		"-5m":                    "must not be negative",
		"5":                      "missing unit",
		"1.5m":                   `unexpected "."`,
		"5 minutes":              `unexpected " "`,
		"5M":                     `unexpected "M"`,
		"1m1h":                   "from largest to smallest",
		"1s1s":                   "from largest to smallest",
		"3x":                     `unknown unit "x"`,
		"m":                      "want a number followed by a unit",
		"+5m":                    "want a number followed by a unit",
		"99999999999999999999s":  "too long",
		"300000y":                "too long",
		"106751d23h47m16s854ms1": "missing unit",
	}
	for s, want := range bad {
		_, err := ParseDuration(s)
		require.ErrorIs(t, err, ErrDuration, s)
		require.ErrorContains(t, err, want, s)
	}
}
