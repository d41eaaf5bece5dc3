package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/faultline-go/faultline/internal/frame"
)

// One process at a time on a --state: run, execd and replay hold, for
// their life, an exclusive lock on STATE.lock, a file beside the state (the
// state itself is replaced by a rename at every checkpoint, a lock on it
// would go with the old file). Two processes on one state would overwrite
// each other's checkpoints, and the next start would restore the other's
// state: events lost or reported twice, hosts falsely absent. The second
// refuses to start, naming the state, the lock file and the PID written in
// it by the holder.
//
// The lock is an advisory flock(2) (on Linux, macOS, the BSDs and
// illumos): the system releases it when its process ends, however it
// ends, so that a process killed with SIGKILL leaves no stale lock. The
// lock file stays after the process: it is never removed, since a process
// could then lock a new file while another holds the removed one. Where
// the system has no flock (Windows, others), nothing is locked
// (stateLocking is false) and running two processes on one state is the
// operator's mistake to avoid.
//
// Holding the lock, a process knows that no checkpoint of its state is
// being written, and removes at start the temporary files that writes
// killed before their rename left beside it (frame.RemoveTemps): each
// crash at the wrong time would otherwise leak one, as large as a
// checkpoint. Where nothing is locked, they stay.

// stateLock is a held lock on a state; its zero value holds nothing.
type stateLock struct {
	f *os.File // kept open, and referenced, as long as the lock is held
}

// errStateInUse: another process holds the state's lock.
var errStateInUse = errors.New("in use by another process")

// lockState takes the lock of the state file path, without waiting: an
// error wrapping errStateInUse says that another process holds it.
func lockState(path string) (*stateLock, error) {
	if !stateLocking {
		return &stateLock{}, nil
	}
	name := path + ".lock"
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if errors.Is(err, os.ErrPermission) {
		// A lock file left by another user (root) can still be locked,
		// read-only: only the PID is not written.
		var rerr error
		if f, rerr = os.Open(name); rerr == nil {
			err = nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("a checkpoint cannot be written there: %w", err)
	}
	held, err := tryLock(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("cannot be locked: %s: %w", name, err)
	}
	if !held {
		f.Close()
		holder := ""
		if b, err := os.ReadFile(name); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
				holder = fmt.Sprintf(" (PID %d)", pid)
			}
		}
		return nil, fmt.Errorf("%w%s, which holds its lock %s: two processes on one state overwrite each other's checkpoints; stop the other first", errStateInUse, holder, name)
	}
	// The holder's PID, for the message of the next one; best effort.
	if f.Truncate(0) == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &stateLock{f: f}, nil
}

// unlock releases the lock (the process's end does too).
func (l *stateLock) unlock() {
	if l != nil && l.f != nil {
		l.f.Close()
		l.f = nil
	}
}

// removeTemps removes the temporary files of the checkpoint writes to path
// that were killed (frame.RemoveTemps), and returns them; only while the
// lock is held, that is, nothing where the system has no lock.
func (l *stateLock) removeTemps(path string) ([]string, error) {
	if l.f == nil {
		return nil, nil
	}
	return frame.RemoveTemps(path)
}
