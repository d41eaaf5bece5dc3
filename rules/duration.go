package rules

import (
	"time"

	"github.com/faultline-go/faultline/internal/yamlfile"
)

// FormatDuration formats d as a Prometheus duration, as rule files write
// them (1h30m; 90s is 1m30s; 8d is 1w1d), which rule files read back
// for whole milliseconds. Below a millisecond it appends Go's form
// (1d1ns).
func FormatDuration(d time.Duration) string { return yamlfile.FormatDuration(d) }
