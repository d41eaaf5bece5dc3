package bench

import (
	"syscall"
	"time"
)

// cpuTime is the process's CPU time, user and system, of every thread: the
// work measured and the garbage collector's share of it. On a shared
// machine it moves far less than wall time when other tenants take the
// cores, since time spent waiting for a core is not counted.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuOf returns the process CPU time f takes.
func cpuOf(f func()) time.Duration {
	c := cpuTime()
	f()
	return cpuTime() - c
}
