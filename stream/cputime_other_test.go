//go:build !linux

package stream

import "time"

var start = time.Now()

// threadCPU returns the time since the tests started: elsewhere than on
// Linux, benchmarks measure wall time.
func threadCPU() time.Duration { return time.Since(start) }
