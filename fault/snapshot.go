package fault

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/faultline-go/faultline/alert"
	"github.com/faultline-go/faultline/dedup"
	"github.com/faultline-go/faultline/rules"
	"github.com/faultline-go/faultline/stream"
)

// Crash-safe state.
//
// Snapshot writes everything an Engine holds: its clock, every series
// (identity, name and labels, arrival tracking, miss list, place in the
// timing wheel), the side tables of series learning their cadence, absent or
// in a periodic gap, the rules' alert states, histories and cohorts, the
// fleet detector (phase bins, burst CUSUM, bursts, tracks, folds, open
// episodes), the per-source detectors, the bad-input episodes, the loop
// guard, the counters and the deduper. Restore builds an
// engine that continues exactly as the one snapshotted would have: the same
// events, with the same IDs, and the same Stats, for the same input.
//
// The rules are not in the snapshot: they come from Config, and a snapshot
// records a fingerprint of the ruleset and of the settings it was taken
// under; see Restore.
//
// Format, version 3, little-endian: the magic "FLTSNAP\x00", u32 version,
// u64 length of the body, the body, then a u32 CRC-32C (Castagnoli) of all
// that precedes it. The body is a sequence of sections in a fixed order
// (see appendState); counts and lengths are uvarints, and each is checked
// against the bytes left before anything is allocated for it. A snapshot
// that is truncated, corrupted, of another version or inconsistent is
// refused with an error wrapping ErrBadSnapshot; Restore never returns a
// half-restored engine, and never panics on bad input.

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
	snapVersion = 3
	// maxSnapshot bounds what Restore reads: 64 GiB.
	maxSnapshot = 1 << 36
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Snapshot writes the engine's complete state to w (see Restore). It may be
// called between any two calls of the engine, including after Close; it does
// not change the engine. Like the engine's other methods it must not run at
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
	start := len(b)
	w := enc{b: append(b, snapMagic...)}
	w.u32(snapVersion)
	lenAt := len(w.b)
	w.u64(0) // the body's length, set below
	bodyAt := len(w.b)
	if err := e.appendState(&w); err != nil {
		return b[:start], err
	}
	binary.LittleEndian.PutUint64(w.b[lenAt:], uint64(len(w.b)-bodyAt))
	w.u32(crc32.Checksum(w.b[start:], castagnoli))
	return w.b, nil
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
// Explain and Explainer may differ. cfg.Deduper must be nil: the deduper is
// part of the snapshot and is rebuilt with cfg.Dedup.
//
// Restore reads r to its end (at most 64 GiB). A snapshot that is
// truncated, corrupted (its CRC-32C does not match), of another version or
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
	body, err := checkSnapshot(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSnapshot, err)
	}
	if cfg.Deduper != nil {
		return nil, errors.New("fault: restore: Config.Deduper must be nil: the deduper is restored from the snapshot")
	}
	built := cfg
	built.DisableDedup = true // the deduper comes from the snapshot
	e, err := New(built)
	if err != nil {
		return nil, err
	}
	e.cfg.DisableDedup = cfg.DisableDedup
	d := dec{b: body}
	if err := e.readState(&d); err != nil {
		if e.dd != nil {
			e.dd.Reset()
		}
		if errors.Is(err, ErrSnapshotMismatch) || errors.Is(err, dedup.ErrConfigMismatch) {
			return nil, fmt.Errorf("%w: %w", ErrSnapshotMismatch, err)
		}
		return nil, fmt.Errorf("%w: %w", ErrBadSnapshot, err)
	}
	return e, nil
}

// checkSnapshot checks the frame of a snapshot and returns its body.
func checkSnapshot(raw []byte) ([]byte, error) {
	const head = len(snapMagic) + 4 + 8
	if len(raw) < head+4 || string(raw[:len(snapMagic)]) != snapMagic {
		if len(raw) < len(snapMagic) && string(raw) == snapMagic[:len(raw)] {
			return nil, errTruncated
		}
		return nil, errors.New("not a faultline snapshot")
	}
	r := dec{b: raw[len(snapMagic):]}
	if v := r.u32(); v != snapVersion {
		return nil, fmt.Errorf("version %d, this build reads version %d", v, snapVersion)
	}
	n := r.u64()
	if n != uint64(len(raw)-head-4) {
		if n > uint64(len(raw)-head-4) {
			return nil, errTruncated
		}
		return nil, fmt.Errorf("%d trailing bytes", uint64(len(raw)-head-4)-n)
	}
	if crc32.Checksum(raw[:len(raw)-4], castagnoli) != binary.LittleEndian.Uint32(raw[len(raw)-4:]) {
		return nil, errors.New("checksum mismatch")
	}
	return raw[head : len(raw)-4], nil
}

// appendState appends the body of a snapshot: the sections in order.
func (e *Engine) appendState(w *enc) error {
	e.appendSettings(w)
	w.i64(e.now)
	w.bool(e.started)
	w.bool(e.closed)
	w.i64(e.horizon)
	e.appendEvict(w)
	e.appendSeries(w)
	e.appendSideTables(w)
	appendAlerts(w, e.alerts)
	e.appendHistories(w)
	e.appendCohorts(w)
	e.appendLoop(w)
	e.appendSources(w)
	e.appendBadInputs(w)
	e.fleet.appendTo(w)
	st := e.Stats()
	for _, p := range statsFields(&st) {
		w.uv(*p)
	}
	for _, p := range statsFields(&e.stats.local) { // counted outside a call (BadInput)
		w.uv(*p)
	}
	w.bool(e.dd != nil)
	if e.dd != nil {
		ds, err := e.dd.AppendState(nil)
		if err != nil {
			return fmt.Errorf("fault: snapshot: %w", err)
		}
		w.uv(uint64(len(ds)))
		w.b = append(w.b, ds...)
	}
	return nil
}

// readState restores the sections appendState wrote into e, a new engine.
func (e *Engine) readState(r *dec) error {
	if err := e.readSettings(r); err != nil {
		return err
	}
	e.now = r.i64()
	e.started = r.bool()
	e.closed = r.bool()
	e.horizon = r.i64()
	e.readEvict(r)
	e.readSeries(r)
	e.readSideTables(r)
	e.alerts = readAlerts(r, len(e.series), e.seriesRules)
	e.readHistories(r)
	e.readCohorts(r)
	e.readLoop(r)
	e.readSources(r)
	e.readBadInputs(r)
	e.fleet.readFrom(r, len(e.series))
	var st, local Stats
	for _, p := range statsFields(&st) {
		*p = r.uv()
	}
	for _, p := range statsFields(&local) {
		*p = r.uv()
	}
	hasDedup := r.bool()
	if r.err == nil && hasDedup == e.cfg.DisableDedup {
		return errors.New("dedup state does not match the settings")
	}
	var ds []byte
	if hasDedup {
		ds = r.bytes()
	}
	if r.err != nil {
		return r.err
	}
	if len(r.b) != 0 {
		return fmt.Errorf("%d bytes left over", len(r.b))
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
	return nil
}

// appendSettings records what the snapshot's state depends on besides
// itself: the detection settings and the ruleset's fingerprint.
func (e *Engine) appendSettings(w *enc) {
	for _, v := range e.settings() {
		w.u64(v)
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

func (e *Engine) readSettings(r *dec) error {
	names := [...]string{"OnTimeBudget", "Lateness", "DefaultCadence", "AbsentAfter", "SourceLabel", "dedup", "ruleset", "MaxHistory", "MaxHistoryPoints", "MaxCohorts"}
	want := e.settings()
	for i := range want {
		got := r.u64()
		if r.err != nil {
			return r.err
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
	var w enc
	for _, r := range rs.Rules() {
		w.str(r.Group)
		w.str(r.Alert)
		w.str(r.Expr)
		w.str(r.Resolve)
		w.uv(uint64(len(r.Levels)))
		for _, l := range r.Levels {
			w.str(l.Severity)
			w.str(l.Expr)
			w.str(l.Resolve)
		}
		w.i64(int64(r.For))
		w.i64(int64(r.ForTolerance))
		w.i64(int64(r.KeepFiringFor))
		w.u8(uint8(r.NoData))
		w.f64(r.Flapping.Low)
		w.f64(r.Flapping.High)
		w.i64(int64(r.Window))
		w.bool(r.Cohort != nil)
		if r.Cohort != nil {
			w.uv(uint64(len(r.Cohort.By)))
			for _, b := range r.Cohort.By {
				w.str(b)
			}
			w.i64(int64(r.Cohort.Window))
		}
		w.str(r.Match.String())
		putLabels(&w, r.Labels)
		putLabels(&w, r.Annotations)
	}
	w.u8(0xff)
	for _, s := range rs.SeriesSpecs() {
		w.str(s.Match.String())
		w.i64(int64(s.Cadence))
		w.i64(int64(s.AbsentAfter))
	}
	return xxhash.Sum64(w.b)
}

func putLabels(w *enc, ls stream.Labels) {
	w.uv(uint64(len(ls)))
	for _, l := range ls {
		w.str(l.Name)
		w.str(l.Value)
	}
}

func readLabels(r *dec) stream.Labels {
	n := r.count(2)
	if n == 0 {
		return nil
	}
	ls := make(stream.Labels, n)
	for i := range ls {
		ls[i].Name, ls[i].Value = r.str(), r.str()
	}
	return ls
}

// appendSeries appends every series: identity, key, evaluation state,
// tracker and miss list, then the timing wheel.
func (e *Engine) appendSeries(w *enc) {
	w.uv(uint64(len(e.series)))
	for i := range e.series {
		if e.free(uint32(i)) {
			continue // listed in the eviction section
		}
		s := &e.series[i]
		name, labels := e.keys.get(s.key)
		w.u64(uint64(s.id))
		w.str(name)
		putLabels(w, labels)
		w.i64(s.lastTs)
		w.u16(s.alerts)
		w.u32(s.gapMark)
		w.u32(s.src)
		w.u32(s.seen)
		appendTracker(w, &e.trackers[i])
		for _, m := range e.misses[i] {
			w.u16(m)
		}
	}
	wh := e.wheel
	w.i64(wh.next)
	w.uv(uint64(wh.n))
	var heads int
	for _, h := range wh.heads {
		if h != 0 {
			heads++
		}
	}
	w.uv(uint64(heads))
	for b, h := range wh.heads {
		if h != 0 {
			w.u32(uint32(b))
			w.u32(h)
		}
	}
}

// readSeries restores the series as lookup would create them, in the same
// order, so the key arena, the index and the rule lists come out the same,
// then their saved state.
func (e *Engine) readSeries(r *dec) {
	// A series takes at least 8+1+1+8+2+4+4+4+tracker+miss list bytes; a
	// free slot none (the eviction section lists them).
	n64 := r.uv()
	if r.err != nil {
		return
	}
	if n64 > maxSeriesLimit || n64 < uint64(len(e.evict.free)) || n64-uint64(len(e.evict.free)) > uint64(len(r.b)/(32+trackerBytes+2*missRing)) {
		r.fail("%d series (%d free) do not fit the %d bytes left", n64, len(e.evict.free), len(r.b))
		return
	}
	n := int(n64)
	e.series = make([]series, 0, n)
	e.trackers = make([]tracker, n)
	e.misses = make([]missList, n)
	for _, idx := range e.evict.free {
		if int(idx) >= n || e.trackers[idx].flags&flagFree != 0 {
			r.fail("bad free slot %d of %d", idx, n)
			return
		}
		e.trackers[idx].flags = flagFree
	}
	for i := 0; i < n && r.err == nil; i++ {
		if e.free(uint32(i)) {
			e.series = append(e.series, series{})
			continue
		}
		id := stream.SeriesID(r.u64())
		name := r.str()
		labels := readLabels(r)
		if r.err != nil {
			return
		}
		if _, dup := e.index.get(id); dup {
			r.fail("series %x twice", id)
			return
		}
		idx := uint32(i)
		e.index.put(id, idx)
		s := series{id: id, key: e.keys.put(name, labels)}
		s.lastTs = r.i64()
		s.alerts = r.u16()
		s.gapMark = r.u32()
		s.src = r.u32()
		s.seen = r.u32()
		e.bindRules(&s, idx, name, labels)
		e.series = append(e.series, s)
		e.attachRules(idx, labels) // its cohorts and history, as lookup gives them
		readTracker(r, &e.trackers[i])
		for j := range e.misses[i] {
			e.misses[i][j] = r.u16()
		}
	}
	wh := e.wheel
	wh.next = r.i64()
	wh.n = int(min(r.uv(), maxSeriesLimit))
	heads := r.count(8)
	for range heads {
		b, h := r.u32(), r.u32()
		if r.err != nil {
			return
		}
		if int(b) >= len(wh.heads) || h == 0 || int(h) > n || wh.heads[b] != 0 {
			r.fail("bad wheel bucket %d → %d", b, h)
			return
		}
		wh.heads[b] = h
	}
}

// seriesRules returns the rules that select series idx.
func (e *Engine) seriesRules(idx uint32) []uint32 {
	s := &e.series[idx]
	return e.ruleIdx[s.rulesOff : s.rulesOff+uint32(s.rulesN)]
}

// trackerBytes is the size of a tracker in a snapshot.
const trackerBytes = 8*3 + 4*5 + 4 + 8 + 2 + 1*4

func appendTracker(w *enc, t *tracker) {
	w.i64(t.anchorTs)
	w.u64(t.recv)
	w.u64(t.onTime)
	w.i32(t.cad)
	w.i32(t.anchorK)
	w.i32(t.nextK)
	w.i32(t.lateK)
	w.i32(t.lag)
	w.f32(t.pLong)
	w.u32(t.link.prev)
	w.u32(t.link.next)
	w.u16(t.lostRun)
	w.u8(t.missHead)
	w.u8(t.run)
	w.u8(t.flags)
	w.u8(t.learnN)
}

func readTracker(r *dec, t *tracker) {
	t.anchorTs = r.i64()
	t.recv = r.u64()
	t.onTime = r.u64()
	t.cad = r.i32()
	t.anchorK = r.i32()
	t.nextK = r.i32()
	t.lateK = r.i32()
	t.lag = r.i32()
	t.pLong = r.f32()
	t.link.prev = r.u32()
	t.link.next = r.u32()
	t.lostRun = r.u16()
	t.missHead = r.u8()
	t.run = r.u8()
	t.flags = r.u8()
	t.learnN = r.u8()
}

// appendSideTables appends the side tables of series in a transient state,
// each in ascending series order.
func (e *Engine) appendSideTables(w *enc) {
	w.uv(uint64(len(e.learning)))
	for _, idx := range slices.Sorted(maps.Keys(e.learning)) {
		l := e.learning[idx]
		w.u32(idx)
		w.i64(l.lastArrival)
		for _, d := range l.diffs {
			w.i64(d)
		}
	}
	w.uv(uint64(len(e.absences)))
	for _, idx := range slices.Sorted(maps.Keys(e.absences)) {
		a := e.absences[idx]
		w.u32(idx)
		w.i64(a.since)
		w.u32(a.inhibitedBy)
	}
	w.uv(uint64(len(e.gaps)))
	for _, idx := range slices.Sorted(maps.Keys(e.gaps)) {
		g := e.gaps[idx]
		w.u32(idx)
		w.i64(g.period)
		w.i32(g.m)
		w.i32(g.bin)
		w.i64(g.since)
		w.i64(g.phase)
		w.bool(g.confirmed)
		w.u8(uint8(g.hits))
		w.str(g.firingID)
		w.str(g.linkedTo)
		w.u32(g.linkMark)
	}
	w.uv(uint64(len(e.warned)))
	for _, ri := range slices.Sorted(maps.Keys(e.warned)) {
		w.uv(uint64(ri))
	}
}

func (e *Engine) readSideTables(r *dec) {
	n := len(e.series)
	for range r.count(4 + 8 + 24) {
		idx := r.u32()
		l := learning{lastArrival: r.i64()}
		for j := range l.diffs {
			l.diffs[j] = r.i64()
		}
		e.learning[idx] = l
		if int(idx) >= n {
			r.fail("learning series %d of %d", idx, n)
		}
	}
	for range r.count(4 + 8 + 4) {
		idx := r.u32()
		e.absences[idx] = absence{since: r.i64(), inhibitedBy: r.u32()}
		if int(idx) >= n {
			r.fail("absent series %d of %d", idx, n)
		}
	}
	for range r.count(4 + 8 + 4 + 4 + 8 + 8 + 1 + 1 + 1 + 1 + 4) {
		idx := r.u32()
		g := &seriesGap{period: r.i64(), m: r.i32(), bin: r.i32(), since: r.i64(), phase: r.i64(),
			confirmed: r.bool(), hits: int8(r.u8()), firingID: r.str(), linkedTo: r.str(), linkMark: r.u32()}
		e.gaps[idx] = g
		if int(idx) >= n || g.m < 2 || g.period <= 0 || g.bin < 0 || g.bin >= g.m {
			r.fail("bad periodic gap of series %d", idx)
		}
	}
	for range r.count(1) {
		e.warned[r.index(len(e.rules))] = true
	}
}

// appendAlerts appends the rule alert states, in (series, rule) order,
// each as alert.State.AppendBinary encodes it. It is the only part of the
// format that knows the alert state machine.
func appendAlerts(w *enc, alerts map[alertKey]alert.State) {
	keys := slices.SortedFunc(maps.Keys(alerts), func(a, b alertKey) int {
		return cmp.Or(cmp.Compare(a.series, b.series), cmp.Compare(a.rule, b.rule))
	})
	w.uv(uint64(len(keys)))
	for _, k := range keys {
		st := alerts[k]
		w.u32(k.series)
		w.u32(k.rule)
		w.b = st.AppendBinary(w.b)
	}
}

// readAlerts reads what appendAlerts wrote, for an engine of n series whose
// series select the rules rulesOf returns.
func readAlerts(r *dec, n int, rulesOf func(uint32) []uint32) map[alertKey]alert.State {
	alerts := make(map[alertKey]alert.State)
	for range r.count(4 + 4 + 7) {
		k := alertKey{series: r.u32(), rule: r.u32()}
		if r.err != nil {
			break
		}
		st, rest, err := alert.DecodeState(r.b)
		if err != nil {
			r.fail("alert of series %d, rule %d: %v", k.series, k.rule, err)
			break
		}
		r.b = rest
		if int(k.series) >= n || !slices.Contains(rulesOf(k.series), k.rule) {
			r.fail("bad alert of series %d, rule %d", k.series, k.rule)
			break
		}
		if _, dup := alerts[k]; dup {
			r.fail("alert of series %d, rule %d twice", k.series, k.rule)
			break
		}
		alerts[k] = st
	}
	return alerts
}

func (e *Engine) appendLoop(w *enc) {
	g := &e.loop
	w.bool(g.open)
	w.i64(g.since)
	w.i64(g.last)
	w.u64(g.count)
	w.str(g.origin)
	w.str(g.name)
}

func (e *Engine) readLoop(r *dec) {
	g := &e.loop
	g.open, g.since, g.last, g.count, g.origin, g.name = r.bool(), r.i64(), r.i64(), r.u64(), r.str(), r.str()
}

func (e *Engine) appendSources(w *enc) {
	s := &e.src
	w.u32(s.overflow)
	w.i64(s.minute)
	w.i64(s.next)
	w.uv(uint64(len(s.list)))
	for i := range s.list {
		x := &s.list[i]
		w.str(s.names[i])
		w.uv(x.fresh)
		w.uv(x.redelivered)
		var used int
		for _, c := range x.lags {
			if c != 0 {
				used++
			}
		}
		w.uv(uint64(used))
		for j, c := range x.lags {
			if c != 0 {
				w.uv(uint64(j))
				w.uv(uint64(c))
			}
		}
		w.u8(x.ratioN)
		w.f64(x.normFresh)
		w.f64(x.normRedeliv)
		w.u8(x.stormRun)
		w.u8(x.stormCalm)
		w.bool(x.stormOpen)
		w.i64(x.stormSince)
		w.i64(x.stormPending)
		w.u8(x.lagN)
		w.u8(x.lagRun)
		w.u8(x.lagCalm)
		w.bool(x.lagOpen)
		w.bool(x.lagPrevOK)
		w.f64(x.lagNormal)
		w.i64(x.lagPrev)
		w.i64(x.lagRunFrom)
		w.i64(x.lagSince)
	}
}

func (e *Engine) readSources(r *dec) {
	s := &e.src
	s.overflow = r.u32()
	s.minute = r.i64()
	s.next = r.i64()
	n := r.count(1 + 2 + 1 + 2*8 + 5 + 2*8 + 5 + 4*8)
	if n > maxSourcesLimit+1 {
		r.fail("%d sources", n)
		return
	}
	for i := 0; i < n && r.err == nil; i++ {
		name := r.str()
		var x source
		x.fresh = r.uv()
		x.redelivered = r.uv()
		for range r.count(2) {
			j := r.index(lagBuckets)
			x.lags[j] = uint32(r.uv())
		}
		x.ratioN = r.u8()
		x.normFresh = r.f64()
		x.normRedeliv = r.f64()
		x.stormRun = r.u8()
		x.stormCalm = r.u8()
		x.stormOpen = r.bool()
		x.stormSince = r.i64()
		x.stormPending = r.i64()
		x.lagN = r.u8()
		x.lagRun = r.u8()
		x.lagCalm = r.u8()
		x.lagOpen = r.bool()
		x.lagPrevOK = r.bool()
		x.lagNormal = r.f64()
		x.lagPrev = r.i64()
		x.lagRunFrom = r.i64()
		x.lagSince = r.i64()
		s.list = append(s.list, x)
		s.names = append(s.names, name)
		if uint32(i) != s.overflow {
			if _, dup := s.byName[name]; dup {
				r.fail("source %q twice", name)
			}
			s.byName[name] = uint32(i)
		}
	}
	if r.err == nil && s.overflow != noSource && int(s.overflow) >= n {
		r.fail("overflow source %d of %d", s.overflow, n)
	}
}

// checkState checks the invariants the engine relies on that the sections
// cannot check alone, so that a restored engine cannot index out of range.
func (e *Engine) checkState() error {
	n := uint32(len(e.series))
	if e.evict.cursor != 0 && e.evict.cursor >= n {
		return fmt.Errorf("sweep cursor %d of %d series", e.evict.cursor, n)
	}
	buckets := uint32(len(e.wheel.heads))
	linked := 0
	for i := range e.series {
		s := &e.series[i]
		if int(s.src) >= len(e.src.list) {
			return fmt.Errorf("series %d: source %d of %d", i, s.src, len(e.src.list))
		}
		if e.free(uint32(i)) {
			_, learning := e.learning[uint32(i)]
			_, absent := e.absences[uint32(i)]
			if learning || absent {
				return fmt.Errorf("free slot %d: in a side table", i)
			}
		}
		t := &e.trackers[i]
		l := t.link
		switch {
		case l.prev == 0 && l.next != 0,
			l.prev&headBit != 0 && l.prev&^headBit >= buckets,
			l.prev&headBit == 0 && l.prev > n,
			l.next > n:
			return fmt.Errorf("series %d: bad wheel link", i)
		}
		if l.prev != 0 {
			linked++
		}
		if t.missHead >= missRing || t.lattice() && t.cad <= 0 || t.cad < 0 {
			return fmt.Errorf("series %d: bad tracker", i)
		}
		_, gap := e.gaps[uint32(i)]
		if gap != (t.flags&flagGap != 0) {
			return fmt.Errorf("series %d: periodic gap flag and table disagree", i)
		}
	}
	if linked != e.wheel.n {
		return fmt.Errorf("wheel holds %d series, %d linked", e.wheel.n, linked)
	}
	// Every bucket's list runs forward and back consistently and ends:
	// together they hold every linked series once.
	walked := 0
	for b, h := range e.wheel.heads {
		prev := headBit | uint32(b)
		for s := h; s != 0; s = e.trackers[s-1].link.next {
			if walked++; walked > linked || e.trackers[s-1].link.prev != prev {
				return fmt.Errorf("wheel bucket %d: bad list", b)
			}
			prev = s
		}
	}
	if walked != linked {
		return fmt.Errorf("wheel lists hold %d series, %d linked", walked, linked)
	}
	open := make(map[uint32]uint16)
	for k := range e.alerts {
		open[k.series]++
	}
	for i := range e.series {
		if e.series[i].alerts != open[uint32(i)] {
			return fmt.Errorf("series %d: %d alerts open, %d recorded", i, open[uint32(i)], e.series[i].alerts)
		}
	}
	return nil
}

// statsFields lists every counter of s, in a fixed order
// (TestSnapshotStatsFields checks that none is missing).
func statsFields(s *Stats) []*uint64 {
	return []*uint64{
		&s.Samples, &s.Fresh, &s.Duplicates, &s.Conflicts, &s.TooLate, &s.Future, &s.BadArrival,
		&s.Looped, &s.OutOfOrder, &s.Series, &s.SeriesOverflow, &s.Sources, &s.SourceOverflow,
		&s.SlotsExpected, &s.SlotsMissed, &s.SlotsLate, &s.SlotsLost, &s.AfterLateness,
		&s.SlotShared, &s.Reanchors, &s.Absences, &s.AbsencesInhibited, &s.FleetGaps,
		&s.DuplicateStorms, &s.IngestLags, &s.GapSuspects, &s.GapsConfirmed, &s.Events,
		&s.EvalErrors, &s.SinkErrors, &s.BadInput, &s.HistorySeries, &s.HistoryPoints,
		&s.HistoryEvicted, &s.Cohorts, &s.CohortOverflow, &s.CohortLate, &s.CohortFaults,
		&s.SeriesEvicted, &s.Alerts, &s.AlertOverflow, &s.DedupOverflow,
	}
}

// appendTo appends the fleet detector's state: the bins that hold anything,
// the concurrent miss rate, the burst CUSUM, bursts, tracks, folds and open
// episodes.
func (f *fleet) appendTo(w *enc) {
	var used int
	for i := range f.bins {
		if f.bins[i] != (fleetBin{}) {
			used++
		}
	}
	w.uv(uint64(used))
	for i := range f.bins {
		if bn := &f.bins[i]; *bn != (fleetBin{}) {
			w.uv(uint64(i))
			w.uv(uint64(bn.e))
			w.uv(uint64(bn.m))
			w.uv(uint64(bn.late))
			w.uv(uint64(bn.lost))
			w.bool(bn.burst)
		}
	}
	w.i64(f.done)
	w.bool(f.started)
	w.i64(f.startAt)
	for i := range f.rateE {
		w.uv(uint64(f.rateE[i]))
		w.uv(uint64(f.rateM[i]))
	}
	w.u64(f.rateSumE)
	w.u64(f.rateSumM)
	w.f64(f.s)
	w.bool(f.inSeg)
	w.bool(f.inBurst)
	w.i64(f.hotFirst)
	w.i64(f.hotLast)
	w.u32(f.segM)
	w.u32(f.segE)
	w.f64(f.segMT)

	w.uv(uint64(len(f.bursts)))
	for _, b := range f.bursts {
		w.i64(b.start)
		w.i64(b.end)
		w.i64(b.at)
		w.u32(b.m)
		w.u32(b.e)
	}
	w.uv(uint64(len(f.tracks)))
	for _, tr := range f.tracks {
		w.f64(tr.period)
		w.i64(tr.first)
		w.i64(tr.last)
		w.i64(tr.since)
		w.i64(int64(tr.n))
		w.i64(int64(tr.span))
		for i := range tr.starts {
			w.i64(tr.starts[i])
			w.i64(tr.ends[i])
			w.u32(tr.misses[i])
		}
		var mark uint32
		if tr.episode != nil {
			mark = tr.episode.mark
		}
		w.u32(mark)
	}
	w.uv(uint64(len(f.folds)))
	for _, fd := range f.folds {
		w.i64(fd.period)
		w.i64(fd.cur)
		w.i64(fd.end)
		w.bool(fd.init)
		var hot int
		for j := range fd.s {
			if fd.s[j] != 0 || fd.last[j] {
				hot++
			}
		}
		// A bin's rise time matters only while its CUSUM is above zero,
		// and is set whenever it leaves zero: bins at zero are left out.
		w.uv(uint64(hot))
		for j := range fd.s {
			if fd.s[j] != 0 || fd.last[j] {
				w.uv(uint64(j))
				w.f32(fd.s[j])
				w.i32(fd.rose[j])
				w.bool(fd.last[j])
			}
		}
	}
	w.uv(uint64(len(f.episodes)))
	for _, ep := range f.episodes {
		appendEpisode(w, ep)
	}
	w.u32(f.nextMark)
	keys := slices.SortedFunc(maps.Keys(f.tooFew), func(a, b [2]int64) int {
		return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1]))
	})
	w.uv(uint64(len(keys)))
	for _, k := range keys {
		w.i64(k[0])
		w.i64(k[1])
		w.i64(f.tooFew[k])
	}
}

func appendEpisode(w *enc, ep *gapEpisode) {
	w.u32(ep.mark)
	w.u8(uint8(ep.state))
	w.i64(ep.since)
	w.i64(ep.period)
	w.i64(ep.phaseStart)
	w.i64(ep.phaseEnd)
	w.i64(ep.firedAt)
	w.str(ep.firingID)
	w.i64(ep.lastBurst)
	w.i64(int64(ep.seriesEst))
	w.i64(int64(ep.distinct))
	w.u64(ep.late)
	w.u64(ep.lost)
	w.i64(int64(ep.clean))
	w.i64(int64(ep.silent))
	w.i64(int64(ep.peakSilent))
	w.u64(ep.lossE)
	w.u64(ep.lossM)
	w.i64(ep.nextCheck)
	w.i64(ep.nextSettle)
	w.uv(uint64(len(ep.inhibited)))
	for _, idx := range ep.inhibited {
		w.u32(idx)
	}
}

func readEpisode(r *dec, series int) *gapEpisode {
	ep := &gapEpisode{
		mark: r.u32(), state: State(r.u8()), since: r.i64(), period: r.i64(),
		phaseStart: r.i64(), phaseEnd: r.i64(), firedAt: r.i64(), firingID: r.str(),
		lastBurst: r.i64(), seriesEst: int(r.i64()), distinct: int(r.i64()),
		late: r.u64(), lost: r.u64(), clean: int(r.i64()), silent: int(r.i64()),
		peakSilent: int(r.i64()), lossE: r.u64(), lossM: r.u64(),
		nextCheck: r.i64(), nextSettle: r.i64(),
	}
	if n := r.count(4); n > 0 {
		ep.inhibited = make([]uint32, n)
		for i := range ep.inhibited {
			if ep.inhibited[i] = r.u32(); int(ep.inhibited[i]) >= series {
				r.fail("episode %d: series %d of %d", ep.mark, ep.inhibited[i], series)
			}
		}
	}
	switch {
	case ep.mark == 0,
		ep.state != StatePending && ep.state != StateFiring,
		ep.period < 0,
		ep.state == StateFiring && ep.period == 0:
		r.fail("bad fleet episode %d", ep.mark)
	}
	return ep
}

// readFrom restores what appendTo wrote into a new fleet of an engine of
// series series.
func (f *fleet) readFrom(r *dec, series int) {
	for range r.count(6) {
		i := r.index(ringBins)
		if f.bins == nil {
			f.alloc()
		}
		f.bins[i] = fleetBin{e: uint32(r.uv()), m: uint32(r.uv()), late: uint32(r.uv()), lost: uint32(r.uv()), burst: r.bool()}
	}
	f.done = r.i64()
	f.started = r.bool()
	f.startAt = r.i64()
	for i := range f.rateE {
		f.rateE[i] = uint32(r.uv())
		f.rateM[i] = uint32(r.uv())
	}
	f.rateSumE = r.u64()
	f.rateSumM = r.u64()
	f.s = r.f64()
	f.inSeg = r.bool()
	f.inBurst = r.bool()
	f.hotFirst = r.i64()
	f.hotLast = r.i64()
	f.segM = r.u32()
	f.segE = r.u32()
	f.segMT = r.f64()

	n := r.count(32)
	if n > maxBursts {
		r.fail("%d bursts", n)
		return
	}
	for range n {
		f.bursts = append(f.bursts, burst{start: r.i64(), end: r.i64(), at: r.i64(), m: r.u32(), e: r.u32()})
	}
	n = r.count(8 * 6)
	if n > maxTracks {
		r.fail("%d tracks", n)
		return
	}
	marks := make([]uint32, 0, n)
	for range n {
		tr := &track{period: r.f64(), first: r.i64(), last: r.i64(), since: r.i64(), n: int(r.i64()), span: int(r.i64())}
		for i := range tr.starts {
			tr.starts[i], tr.ends[i], tr.misses[i] = r.i64(), r.i64(), r.u32()
		}
		marks = append(marks, r.u32())
		if !(tr.period >= 1 && tr.period < 1<<62) || tr.n < 2 || tr.span < 1 {
			r.fail("bad track")
		}
		f.tracks = append(f.tracks, tr)
	}
	if nf := r.count(8); nf != len(f.folds) {
		r.fail("%d folds, want %d", nf, len(f.folds))
		return
	}
	for _, fd := range f.folds {
		if p := r.i64(); p != fd.period {
			r.fail("fold period %d, want %d", p, fd.period)
			return
		}
		fd.cur = r.i64()
		fd.end = r.i64()
		fd.init = r.bool()
		if fd.init && f.bins == nil {
			f.alloc() // the fleet has completed bins: it was allocated
		}
		for range r.count(8) {
			j := r.index(int(fd.nb))
			if f.bins == nil {
				f.alloc()
			}
			fd.s[j], fd.rose[j], fd.last[j] = r.f32(), r.i32(), r.bool()
		}
	}
	n = r.count(8)
	for range n {
		ep := readEpisode(r, series)
		if r.err != nil {
			return
		}
		if f.episodeByMark(ep.mark) != nil {
			r.fail("fleet episode %d twice", ep.mark)
			return
		}
		f.episodes = append(f.episodes, ep)
	}
	// A track keeps the episode it confirmed only to know that it did;
	// one that has since resolved is no longer open.
	for i, m := range marks {
		if m == 0 {
			continue
		}
		if ep := f.episodeByMark(m); ep != nil {
			f.tracks[i].episode = ep
		} else {
			f.tracks[i].episode = &gapEpisode{mark: m}
		}
	}
	f.nextMark = r.u32()
	for range r.count(24) {
		k := [2]int64{r.i64(), r.i64()}
		f.tooFew[k] = r.i64()
	}
}

// appendHistories appends every series' history ring: its capacity, then
// its points as history.appendBinary writes them. Which series have one,
// and how far back each reads, readSeries rebuilds from the rules.
//
// They are written in the order of the series' slots, the order readSeries
// gives them, which evicted series may have made differ from e.hists'.
func (e *Engine) appendHistories(w *enc) {
	n := 0
	for i := range e.series {
		if e.series[i].hist != 0 {
			n++
		}
	}
	w.uv(uint64(n))
	for i := range e.series {
		if hi := e.series[i].hist; hi != 0 {
			h := &e.hists[hi-1]
			w.uv(uint64(len(h.pts)))
			w.b = h.appendBinary(w.b)
		}
	}
}

func (e *Engine) readHistories(r *dec) {
	if n := r.count(3); r.err == nil && n != len(e.hists) {
		r.fail("%d histories, the rules give %d", n, len(e.hists))
		return
	}
	e.histPoints = 0
	for i := range e.hists {
		c := r.uv()
		if r.err != nil {
			return
		}
		if c < minHistory || c > uint64(e.cfg.MaxHistory) && c > minHistory {
			r.fail("history of capacity %d", c)
			return
		}
		h, rest, err := decodeHistory(r.b, int(c))
		if err != nil {
			r.fail("history %d: %v", i, err)
			return
		}
		r.b = rest
		if len(h.pts) != int(c) { // decoded to fit its points: give it its capacity
			pts := make([]rules.Point, c)
			copy(pts, h.pts[:h.n])
			h.pts, h.head = pts, 0
		}
		e.hists[i] = h
		e.histPoints += int(c)
	}
}

func appendCohortAcc(w *enc, a *cohortAcc) {
	w.uv(uint64(a.series))
	w.uv(uint64(a.samples))
	w.f64(a.sum)
	w.f64(a.inc)
	w.f64(a.min)
	w.f64(a.max)
}

func readCohortAcc(r *dec) cohortAcc {
	return cohortAcc{series: int(min(r.uv(), 1<<40)), samples: int(min(r.uv(), 1<<62)), sum: r.f64(), inc: r.f64(), min: r.f64(), max: r.f64()}
}

// appendCohorts appends the cohort rules' windows and episodes and each
// series' last window. The cohorts themselves (their keys and labels) and
// the series' memberships readSeries rebuilds from the rules, in the order
// the series came.
func (e *Engine) appendCohorts(w *enc) {
	c := &e.coh
	w.i64(c.next)
	w.uv(uint64(len(c.rules)))
	for i := range c.rules {
		cr := &c.rules[i]
		w.i64(cr.k)
		w.bool(cr.started)
		appendCohortAcc(w, &cr.over[0])
		appendCohortAcc(w, &cr.over[1])
		w.uv(uint64(len(cr.cohorts)))
		for j := range cr.cohorts {
			co := &cr.cohorts[j]
			appendCohortAcc(w, &co.acc[0])
			appendCohortAcc(w, &co.acc[1])
			w.u8(uint8(co.state))
			w.i64(co.since)
		}
	}
	// The members in the order of the series' slots and their rules, the
	// order readSeries gives them (evicted series may have made it differ
	// from c.members').
	n := 0
	if len(c.rules) > 0 {
		for i := range e.series {
			for _, m := range e.coh.aux[e.series[i].rulesOff : e.series[i].rulesOff+uint32(e.series[i].rulesN)] {
				if m != 0 {
					n++
				}
			}
		}
	}
	w.uv(uint64(n))
	for i := range e.series {
		if len(c.rules) == 0 {
			break
		}
		for _, m := range e.coh.aux[e.series[i].rulesOff : e.series[i].rulesOff+uint32(e.series[i].rulesN)] {
			if m != 0 {
				w.i64(c.members[m-1].last)
			}
		}
	}
}

func (e *Engine) readCohorts(r *dec) {
	c := &e.coh
	c.next = r.i64()
	if n := r.count(9); r.err == nil && n != len(c.rules) {
		r.fail("%d cohort rules, the rules give %d", n, len(c.rules))
		return
	}
	for i := range c.rules {
		cr := &c.rules[i]
		cr.k = r.i64()
		cr.started = r.bool()
		cr.over[0], cr.over[1] = readCohortAcc(r), readCohortAcc(r)
		if n := r.count(9); r.err == nil && n != len(cr.cohorts) {
			r.fail("cohort rule %d: %d cohorts, the series give %d", i, n, len(cr.cohorts))
			return
		}
		for j := range cr.cohorts {
			co := &cr.cohorts[j]
			co.acc[0], co.acc[1] = readCohortAcc(r), readCohortAcc(r)
			co.state, co.since = State(r.u8()), r.i64()
			if co.state > StateFiring {
				r.fail("cohort state %d", co.state)
			}
		}
	}
	if n := r.count(8); r.err == nil && n != len(c.members) {
		r.fail("%d cohort members, the series give %d", n, len(c.members))
		return
	}
	for i := range c.members {
		c.members[i].last = r.i64()
	}
}

// appendBadInputs appends the bad-input episodes, per input.
func (e *Engine) appendBadInputs(w *enc) {
	b := &e.bad
	w.i64(int64(b.overflow))
	w.i64(b.next)
	w.uv(uint64(len(b.list)))
	for i := range b.list {
		in := &b.list[i]
		w.str(b.names[i])
		w.bool(in.open)
		w.bool(in.reported)
		w.i64(in.since)
		w.i64(in.last)
		w.u64(in.interval)
		w.u64(in.total)
		w.uv(uint64(len(in.examples)))
		for _, x := range in.examples {
			w.str(x)
		}
	}
}

func (e *Engine) readBadInputs(r *dec) {
	b := &e.bad
	b.overflow = int(r.i64())
	b.next = r.i64()
	n := r.count(1 + 2 + 8*4 + 1)
	if n > maxBadInputs+1 {
		r.fail("%d bad inputs", n)
		return
	}
	for i := 0; i < n && r.err == nil; i++ {
		name := r.str()
		in := badInput{open: r.bool(), reported: r.bool(), since: r.i64(), last: r.i64(), interval: r.u64(), total: r.u64()}
		k := r.count(1)
		if k > badInputExamples {
			r.fail("%d examples", k)
			return
		}
		for range k {
			in.examples = append(in.examples, r.str())
		}
		b.list = append(b.list, in)
		b.names = append(b.names, name)
		if i != b.overflow {
			if _, dup := b.byName[name]; dup {
				r.fail("bad input %q twice", name)
			}
			b.byName[name] = i
		}
	}
	if r.err == nil && b.overflow != -1 && (b.overflow < 0 || b.overflow >= n) {
		r.fail("overflow input %d of %d", b.overflow, n)
	}
}
