//go:build !race

package rules

// raceEnabled tells whether the race detector is on (see race_test.go).
const raceEnabled = false
