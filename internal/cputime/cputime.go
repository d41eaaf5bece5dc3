// Package cputime reads the process's CPU time for benchmarks: user and
// system time of every thread, the work measured and the garbage
// collector's share of it. On a shared machine it moves far less than wall
// time when other tenants take the cores, since time spent waiting for a
// core is not counted.
//
// This package must not know what is measured.
package cputime

import (
	"runtime"
	"syscall"
	"time"
)

// Process returns the process's CPU time so far.
func Process() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Of returns the process CPU time f takes.
func Of(f func()) time.Duration {
	c := Process()
	f()
	return Process() - c
}

// OfCollected returns the process CPU time f takes, after a collection
// (not counted): f then pays for collecting only what it leaves itself,
// not what ran before it did.
func OfCollected(f func()) time.Duration {
	runtime.GC()
	return Of(f)
}
