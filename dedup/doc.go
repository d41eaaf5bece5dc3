// Package dedup admits each delivery of a sample once.
//
// faultline's inputs are at-least-once streams: a sample is often delivered
// several times (four is common) and sometimes replayed long after the fact.
// A Deduper keys every delivery by its series and its sample time and judges
// it with a Verdict:
//
//   - Fresh: the key has not been admitted before. It is recorded, and if its
//     sample time is the highest admitted so far it advances the watermark.
//   - Duplicate: the key was admitted before with the same value. Values are
//     compared bit for bit, so NaN payloads and the sign of zero count.
//   - Conflict: the key was admitted before with another value. The first
//     value wins: nothing is recorded, and the delivery is counted.
//   - TooLate: the sample time is more than Window behind the watermark. The
//     Deduper no longer knows whether the key was admitted, so it says so
//     instead of guessing. TooLate deliveries are counted; the caller decides
//     what to do with them, but must not drop them silently.
//
// The guarantee that matters most is zero false drops: a sample that was
// never admitted is never reported as Duplicate or Conflict. Those verdicts
// are given only when the exact 16-byte key (series, sample time) is found in
// the store, which happens only if it was admitted earlier.
//
// # Window and watermark
//
// The window is measured in sample time, not arrival time. The watermark is
// the highest sample time admitted so far; a delivery with sample time ts is
// admissible while ts >= watermark - Window (the edge itself is admissible).
// Only Fresh deliveries move the watermark, and it never moves back except
// through Reset.
//
// The watermark trusts sample time. A single delivery with an absurd future
// timestamp is Fresh and moves the watermark there; every generation is then
// reset and every later delivery with a normal timestamp is TooLate (counted)
// until Reset is called. No arithmetic overflows, even at math.MinInt64 and
// math.MaxInt64. faultline's engine rejects samples whose time is far ahead
// of their arrival time before they reach a Deduper; other callers should do
// the same.
//
// # Memory bound and generations
//
// Keys live in 8 generations, each a table of its own. Generation g holds
// the keys whose sample time lies in [g·w, (g+1)·w), where
// w = ceil(Window/7). The admissible range [watermark-Window, watermark]
// is Window long, so it meets at most 8 generations: all of them fit at
// once, generation g in table g mod 8.
//
// When a Fresh delivery moves the watermark into a new generation, the
// table of the generation it replaces (g-8) is emptied and reused. That
// generation ends before watermark-Window, so every key in it is already
// TooLate: no key inside the window is forgotten by rotation, and no key
// older than the window can come back as Fresh. A jump of 8 or more
// generations empties every table.
//
// A table is open addressing with linear probing over a flat slice of
// 24-byte slots (series, sample time within the generation, value bits),
// without pointers, so the garbage collector never scans it. It starts at
// 1,024 slots, or at the size of the previous generation's table, and
// doubles while it is three quarters full, up to Config.MaxBytes/8; it
// keeps its size when its generation is recycled.
// A lookup hashes the key once and reads one or two neighbouring slots on
// average; a key is stored only when it is Fresh and never again, so
// duplicated deliveries cost no space. Only the engine's goroutine uses
// a Deduper, so nothing is locked.
//
// # Overflow policy
//
// A table at its bound holds three quarters of its slots. Each further
// Fresh key evicts one key of its generation: the oldest (lowest sample
// time) among the first slots of its probe run, or, when its home slot is
// empty, the key after it. A delivery of an evicted key is admitted as
// Fresh again: a false admit, never a false drop; the value it carries is
// the one later deliveries of the key are compared with. Stats.Overflow counts
// every eviction ("admits that evicted a key still inside the window").
// Overflow above zero means MaxBytes is too small for the key rate: the
// default 64 MiB holds about 1.8 million keys per Window.
//
// Keys are compared whole (series and sample time), never by hash, so
// no two keys can be confused.
//
// # Persistence
//
// Save writes the whole state (every live generation's table, the
// watermark and the counters) to one file under a directory, and Load
// restores it, so a restart does not re-admit what was admitted before
// it. The file is a versioned, checksummed frame, written beside the old
// one and renamed into place: a crash during Save leaves the previous
// snapshot intact. Load of a directory with no snapshot returns an error
// wrapping fs.ErrNotExist, so callers can fall back to New. Load checks
// that every key sits where a lookup finds it.
//
// AppendState and LoadState do the same in memory, for a host that embeds
// the deduper in a snapshot of its own (fault.Engine.Snapshot does): the
// state is canonical (keys keep their slots), so a restored Deduper
// appends the very same bytes. Snapshots of builds that kept keys in
// fastcache (version 2) are refused with an error naming both versions.
//
// # Concurrency
//
// A Deduper is used by one goroutine at a time; an engine shard owns one. It
// starts no goroutines of its own.
//
// This package holds the deduper's windows and their persistence; it must
// not know what a sample means, nor about rules, engines or events.
package dedup
