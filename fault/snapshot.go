package fault

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/faultline-go/faultline/dedup"
	"github.com/faultline-go/faultline/internal/frame"
	"github.com/faultline-go/faultline/rules"
	"github.com/faultline-go/faultline/stream"
)

// Crash-safe state: the frame of a snapshot and the order of its
// sections. Each component encodes, decodes and checks its own section,
// beside its state.
//
// Format, version 7: a frame (package frame) of magic "FLTSNAP\x00"
// whose body is the sections in the order of appendState; counts and
// lengths are uvarints, each checked against the bytes left before
// anything is allocated for it. A snapshot that is truncated, corrupted,
// of another version or inconsistent is refused with an error wrapping
// ErrBadSnapshot; Restore never returns a half-restored engine, and never
// panics on bad input. Version 6, the release before the room of dead
// cohorts was reused, is read too, so that an upgrade keeps the open
// alerts and learned cadences: it lacks only, for each series of a cohort
// rule, whether it is in the rule's overflow, which its cohorts' keys
// imply (see readCohorts); restored, the engine snapshots as version 7.
// Versions before 6 are refused as such: version 3 came before the engine
// was split into components, version 4 before the ingest lag detector
// learned each source's jitter. The last section, the events queued for
// the sink and not given to it yet, is there only in a snapshot the sink
// takes (see the package doc).

// Errors of Restore, matchable with errors.Is.
var (
	// ErrBadSnapshot means the snapshot cannot be read: it is truncated,
	// corrupted, inconsistent or of a version this build does not know.
	ErrBadSnapshot = errors.New("fault: unreadable snapshot")
	// ErrSnapshotMismatch means the snapshot was taken under another
	// ruleset or other detection settings than the Config given to
	// Restore.
	ErrSnapshotMismatch = errors.New("fault: snapshot taken under another configuration")
)

const (
	snapMagic   = "FLTSNAP\x00"
	snapVersion = 7
	// snapOldest is the oldest version Restore reads: version 6 lacks only
	// what readCohorts derives.
	snapOldest = 6
	// maxSnapshot bounds what Restore reads: 64 GiB.
	maxSnapshot = 1 << 36
)

// Snapshot writes the engine's complete state to w (see Restore). It may be
// called between any two calls of the engine; it does not change the
// engine. After Close it returns an error matching ErrClosed: Close ends
// the input for good, so a live host takes its last snapshot at shutdown
// without closing (see Shutdown in the package doc). Like the engine's other methods it must not run at
// the same time as another call. The deduper's state passes through a
// temporary directory (see dedup.Deduper.AppendState).
//
// Snapshot builds the snapshot in memory, then writes it with one Write;
// a host that needs it on disk atomically writes it to a temporary file and
// renames it, as faultline replay --state does.
func (e *Engine) Snapshot(w io.Writer) error {
	b, err := e.AppendSnapshot(nil)
	if err != nil {
		return err
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("fault: snapshot: %w", err)
	}
	return nil
}

// AppendSnapshot appends the snapshot Snapshot writes to b and returns the
// extended slice.
func (e *Engine) AppendSnapshot(b []byte) ([]byte, error) {
	if e.closed {
		return b, errSnapshotClosed
	}
	w := frame.Begin(b, snapMagic, snapVersion)
	if err := e.appendState(w); err != nil {
		return b, err
	}
	return w.Finish(), nil
}

// Restore returns an engine configured by cfg with the state of the engine
// whose snapshot r holds: it continues exactly where that one stopped, with
// the same events (and event IDs) and Stats for the same further input.
//
// The rules are not in a snapshot: they come from cfg, and the snapshot
// records a fingerprint of the ruleset it was taken under (every rule's
// group, alert, expression, for, selector, labels and annotations, and every
// series entry, in order; not their files and lines). A snapshot taken under
// another ruleset, or other OnTimeBudget, Lateness, DefaultCadence,
// AbsentAfter, SourceLabel, DisableDedup, Dedup, MaxHistory,
// MaxHistoryPoints or MaxCohorts settings, is refused with an error wrapping
// ErrSnapshotMismatch: state learned under other rules would not mean what
// it says, so a host whose rules changed restores under the old rules and
// moves to the new ones with Update, or starts a fresh engine. After
// Update, a snapshot records the new ruleset's fingerprint. MaxSeries,
// MaxSources, MaxFutureSkew, MaxArrivalLag, Instance, Sink, Logger,
// Explain and Explainer may differ. The deduper is part of the snapshot
// and is rebuilt with cfg.Dedup.
//
// Restore reads r to its end (at most 64 GiB). A snapshot that is
// truncated, corrupted (its CRC-32C does not match), of a version this
// build does not read (it reads version 7 and the previous release's 6) or
// inconsistent gives an error wrapping ErrBadSnapshot. Either way no engine
// is returned: never a half-restored one.
func Restore(cfg Config, r io.Reader) (*Engine, error) {
	raw, err := io.ReadAll(io.LimitReader(r, maxSnapshot+1))
	if err != nil {
		return nil, fmt.Errorf("fault: restore: %w", err)
	}
	if len(raw) > maxSnapshot {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrBadSnapshot, maxSnapshot)
	}
	version, body, err := frame.Open(raw, snapMagic)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrBadSnapshot, err)
	case version < snapOldest || version > snapVersion:
		return nil, fmt.Errorf("%w: version %d, this build reads versions %d to %d", ErrBadSnapshot, version, snapOldest, snapVersion)
	}
	built := cfg
	built.DisableDedup = true // the deduper comes from the snapshot
	e, err := New(built)
	if err != nil {
		return nil, err
	}
	e.cfg.DisableDedup = cfg.DisableDedup
	if err := e.readState(body, version); err != nil {
		if dd := e.Deduper(); dd != nil {
			dd.Reset()
		}
		if errors.Is(err, ErrSnapshotMismatch) {
			return nil, err
		}
		if errors.Is(err, dedup.ErrConfigMismatch) {
			return nil, fmt.Errorf("%w: %w", ErrSnapshotMismatch, err)
		}
		return nil, fmt.Errorf("%w: %w", ErrBadSnapshot, err)
	}
	e.disarm() // the deadlines are the snapshot's
	return e, nil
}

// appendState appends the body of a snapshot: the sections in order.
func (e *Engine) appendState(w *frame.Writer) error {
	e.appendSettings(w)
	w.I64(e.now)
	w.Bool(e.started)
	w.Bool(e.closed)
	w.I64(e.horizon)
	e.appendEvict(w)
	e.appendSeries(w)
	e.appendSideTables(w)
	e.gaps.AppendTo(w)
	appendAlerts(w, e.al.alerts)
	e.appendWarned(w)
	e.appendHistories(w)
	e.appendCohorts(w)
	e.loop.appendTo(w)
	e.src.AppendTo(w)
	e.bad.appendTo(w)
	e.fleet.AppendTo(w)
	st := e.Stats()
	for _, p := range statsFields(&st) {
		w.Uv(*p)
	}
	for _, p := range statsFields(&e.stats.local) { // counted outside a call (BadInput)
		w.Uv(*p)
	}
	dd := e.Deduper()
	w.Bool(dd != nil)
	if dd != nil {
		ds, err := dd.AppendState(nil)
		if err != nil {
			return fmt.Errorf("fault: snapshot: %w", err)
		}
		w.Bytes(ds)
	}
	e.out.appendTo(w)
	return nil
}

// readState restores the sections appendState wrote into e, a new engine,
// in a snapshot of version (snapOldest to snapVersion).
func (e *Engine) readState(r *frame.Reader, version uint32) error {
	if err := e.readSettings(r); err != nil {
		return err
	}
	e.now = r.I64()
	e.started = r.Bool()
	if r.Bool() { // AppendSnapshot refuses a closed engine: no snapshot says closed
		r.Fail("the state of a closed engine")
	}
	e.horizon = r.I64()
	e.readEvict(r)
	e.readSeries(r)
	e.readSideTables(r)
	e.gaps.ReadFrom(r, len(e.st.series))
	e.al.alerts = readAlerts(r, len(e.st.series), e.seriesRules)
	e.readWarned(r)
	e.readHistories(r)
	e.readCohorts(r, version)
	e.loop.readFrom(r)
	e.src.ReadFrom(r)
	e.bad.readFrom(r)
	e.fleet.ReadFrom(r)
	var st, local Stats
	for _, p := range statsFields(&st) {
		*p = r.Uv()
	}
	for _, p := range statsFields(&local) {
		*p = r.Uv()
	}
	hasDedup := r.Bool()
	if r.Err() == nil && hasDedup == e.cfg.DisableDedup {
		return errors.New("dedup state does not match the settings")
	}
	var ds []byte
	if hasDedup {
		ds = r.Bytes()
	}
	e.out.readFrom(r)
	if err := r.Done(); err != nil {
		return err
	}
	if err := e.checkState(); err != nil {
		return err
	}
	if hasDedup {
		dd, err := dedup.LoadState(ds, e.cfg.Dedup)
		if err != nil {
			return err
		}
		e.dd = dd
	}
	e.stats.shared, e.stats.local = st, local
	// Stats.Cohorts is derived: snapshots by earlier versions counted dead
	// cohorts too.
	e.stats.shared.Cohorts = e.liveCohorts() - local.Cohorts // wraps: the sum published is right
	return nil
}

// appendSettings records what the snapshot's state depends on besides
// itself: the detection settings and the ruleset's fingerprint.
func (e *Engine) appendSettings(w *frame.Writer) {
	for _, v := range e.settings() {
		w.U64(v)
	}
}

func (e *Engine) settings() [10]uint64 {
	dd := uint64(0)
	if !e.cfg.DisableDedup {
		dd = 1
	}
	return [10]uint64{
		uint64(e.cfg.OnTimeBudget), uint64(e.cfg.Lateness), uint64(e.cfg.DefaultCadence),
		uint64(e.cfg.AbsentAfter), xxhash.Sum64String(e.cfg.SourceLabel), dd,
		rulesetFingerprint(e.cfg.Rules),
		uint64(e.cfg.MaxHistory), uint64(e.cfg.MaxHistoryPoints), uint64(e.cfg.MaxCohorts),
	}
}

func (e *Engine) readSettings(r *frame.Reader) error {
	names := [...]string{"OnTimeBudget", "Lateness", "DefaultCadence", "AbsentAfter", "SourceLabel", "dedup", "ruleset", "MaxHistory", "MaxHistoryPoints", "MaxCohorts"}
	want := e.settings()
	for i := range want {
		got := r.U64()
		if r.Err() != nil {
			return r.Err()
		}
		if got == want[i] {
			continue
		}
		if i < 4 {
			return fmt.Errorf("%w: %s was %v, is %v", ErrSnapshotMismatch, names[i], time.Duration(got), time.Duration(want[i]))
		}
		if i >= 7 {
			return fmt.Errorf("%w: %s was %d, is %d", ErrSnapshotMismatch, names[i], got, want[i])
		}
		return fmt.Errorf("%w: %s differs", ErrSnapshotMismatch, names[i])
	}
	return nil
}

// rulesetFingerprint hashes what Ruleset.Equal compares, and each rule's
// window: every rule and series entry, in order, without their positions in
// the files. (A field added to rules.Rule must be added here;
// TestRulesetFingerprintFields checks the list.)
func rulesetFingerprint(rs *rules.Ruleset) uint64 {
	w := frame.NewWriter(nil)
	for _, r := range rs.Rules() {
		w.Str(r.Group)
		w.Str(r.Alert)
		w.Str(r.Expr)
		w.Str(r.Resolve)
		w.Uv(uint64(len(r.Levels)))
		for _, l := range r.Levels {
			w.Str(l.Severity)
			w.Str(l.Expr)
			w.Str(l.Resolve)
		}
		w.I64(int64(r.For))
		w.I64(int64(r.ForTolerance))
		w.I64(int64(r.KeepFiringFor))
		w.U8(uint8(r.NoData))
		w.F64(r.Flapping.Low)
		w.F64(r.Flapping.High)
		w.I64(int64(r.Window))
		w.Bool(r.Cohort != nil)
		if r.Cohort != nil {
			w.Uv(uint64(len(r.Cohort.By)))
			for _, b := range r.Cohort.By {
				w.Str(b)
			}
			w.I64(int64(r.Cohort.Window))
		}
		w.Str(r.Match.String())
		putLabels(w, r.Labels)
		putLabels(w, r.Annotations)
	}
	w.U8(0xff)
	for _, s := range rs.SeriesSpecs() {
		w.Str(s.Match.String())
		w.I64(int64(s.Cadence))
		w.I64(int64(s.AbsentAfter))
	}
	return xxhash.Sum64(w.Data())
}

func putLabels(w *frame.Writer, ls stream.Labels) {
	w.Uv(uint64(len(ls)))
	for _, l := range ls {
		w.Str(l.Name)
		w.Str(l.Value)
	}
}

func readLabels(r *frame.Reader) stream.Labels {
	n := r.Count(2)
	if n == 0 {
		return nil
	}
	ls := make(stream.Labels, n)
	for i := range ls {
		ls[i].Name, ls[i].Value = r.Str(), r.Str()
	}
	return ls
}
