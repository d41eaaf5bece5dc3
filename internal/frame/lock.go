package frame

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// One process at a time on a state file (a checkpoint replaced by
// WriteFile): whoever writes it holds, for as long as it may write it, an
// exclusive lock on PATH.lock, a file beside it (the state itself is
// replaced by a rename at every write, a lock on it would go with the old
// file). Two writers on one state would overwrite each other's
// checkpoints, and the next start would restore the other's state: events
// lost or reported twice, hosts falsely absent. The second is refused,
// with a message naming the lock file and the PID written in it by the
// holder.
//
// The lock is an advisory flock(2) (on Linux, macOS, the BSDs and
// illumos): the system releases it when its file is closed, or its
// process ends however it ends, so that a process killed with SIGKILL
// leaves no stale lock. It is held by an open file, not by a process: a
// second Lock of one path in the same process is refused too. The lock
// file stays after the process: it is never removed, since a process
// could then lock a new file while another holds the removed one. Where
// the system has no flock (Windows, others), nothing is locked (Locking is
// false) and two writers on one state are the operator's mistake to
// avoid.
//
// Holding the lock, a writer knows that no write of its state is under
// way, and may remove the temporary files that writes killed before their
// rename left beside it (Lock.RemoveTemps): each crash at the wrong time
// would otherwise leak one, as large as a checkpoint.

// Lock is a held lock on a state file; a nil or zero Lock holds nothing.
type Lock struct {
	f *os.File // kept open, and referenced, as long as the lock is held
}

// ErrLocked means that another writer holds the lock.
var ErrLocked = errors.New("in use by another process")

// LockState takes the lock of the state file path, without waiting: an
// error wrapping ErrLocked says that another writer holds it; other errors
// say why the lock file cannot be opened or locked, that is, why the state
// cannot be written there. Where nothing is locked (Locking is false), it
// returns a Lock that holds nothing.
func LockState(path string) (*Lock, error) {
	if !Locking {
		return &Lock{}, nil
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
		return nil, fmt.Errorf("%w%s, which holds its lock %s: two processes on one state overwrite each other's checkpoints; stop the other first", ErrLocked, holder, name)
	}
	// The holder's PID, for the message of the next one; best effort.
	if f.Truncate(0) == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Lock{f: f}, nil
}

// Unlock releases the lock (the process's end does too). It may be called
// more than once.
func (l *Lock) Unlock() {
	if l != nil && l.f != nil {
		l.f.Close()
		l.f = nil
	}
}

// RemoveTemps removes the temporary files of the writes to path that were
// killed (the package's RemoveTemps), and returns them; only while the
// lock is held, that is, nothing where the system has no lock.
func (l *Lock) RemoveTemps(path string) ([]string, error) {
	if l == nil || l.f == nil {
		return nil, nil
	}
	return RemoveTemps(path)
}
