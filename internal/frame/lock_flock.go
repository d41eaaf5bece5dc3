//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd || illumos

package frame

import (
	"errors"
	"os"
	"syscall"
)

// Locking: the state is locked with flock(2) (see lock.go).
const Locking = true

// tryLock takes an exclusive flock on f without waiting; false if another
// open file holds one.
func tryLock(f *os.File) (bool, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return false, err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) {
		ferr = syscall.Flock(int(fd), syscall.LOCK_EX|syscall.LOCK_NB)
	}); err != nil {
		return false, err
	}
	if errors.Is(ferr, syscall.EWOULDBLOCK) {
		return false, nil
	}
	return ferr == nil, ferr
}
