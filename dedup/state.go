package dedup

import (
	"errors"
	"fmt"
)

// AppendState appends d's complete state (what Save persists, in the same
// frame) to b and returns the extended slice, for hosts that embed the
// deduper's state in a larger snapshot of their own (fault.Engine.Snapshot
// does). d is not changed. The state is canonical: a Deduper restored by
// LoadState appends the very same bytes, so a host can compare snapshots
// byte for byte. The error is always nil; it is there for hosts that
// treat every section alike.
func (d *Deduper) AppendState(b []byte) ([]byte, error) {
	return d.appendFrame(b), nil
}

// LoadState restores a Deduper from state appended by AppendState, under
// the same rules as Load: cfg must match the saved Window and table size
// (else an error wrapping ErrConfigMismatch), and bad, truncated or
// older-version state gives an error wrapping ErrBadSnapshot.
func LoadState(state []byte, cfg Config) (*Deduper, error) {
	ncfg, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	d := newDeduper(ncfg)
	if err := d.decode(state); err != nil {
		if errors.Is(err, ErrConfigMismatch) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: state: %w", ErrBadSnapshot, err)
	}
	return d, nil
}
