//go:build race

package rules

// raceEnabled tells whether the race detector is on. Under it, sync.Pool
// drops some of what is put in it, so the scratch space regexp keeps in one
// is allocated again and again.
const raceEnabled = true
