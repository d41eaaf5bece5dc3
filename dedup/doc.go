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
// Keys are stored in fastcache caches (github.com/VictoriaMetrics/fastcache),
// one per generation, so memory is bounded in bytes and lives off the Go heap.
// The byte budget (Config.MaxBytes) is split into G generations, 2 <= G <= 16.
// Generation g holds the keys whose sample time lies in [g·w, (g+1)·w), where
// w = ceil(Window/(G-1)). The admissible range [watermark-Window, watermark]
// is Window long, so it meets at most ceil(Window/w)+1 <= G generations: all
// of them fit in the G caches at once, generation g in cache g mod G.
//
// When a Fresh delivery moves the watermark into a new generation, the cache
// of the generation it replaces (g-G) is reset and reused. That generation
// ends before watermark-Window, so every key in it is already TooLate: no key
// inside the window is forgotten by rotation (no false admits while under the
// byte budget), and no key older than the window can come back as Fresh. A
// jump of G or more generations resets every cache.
//
// Every lookup is one fastcache HasGet; a key is Set only when it is Fresh
// and never set again, so duplicated deliveries cost no space.
//
// # Overflow policy
//
// A fastcache cache is 512 buckets, each a ring of 64 KiB chunks. Each key
// takes 28 bytes there (a 4-byte header, the 16-byte key and the 8-byte
// value), about 2340 keys per chunk. When more keys land in one generation
// than a bucket can hold, fastcache overwrites that bucket's oldest keys. A
// delivery of an overwritten key is admitted as Fresh again: a false admit,
// never a false drop. The Deduper mirrors fastcache's write position in
// every bucket and counts each Fresh admit that overwrote an older key of its
// generation in Stats.Overflow ("admits that may have evicted a key still
// inside the window"). Overflow above zero means MaxBytes is too small for
// the key rate: with the default 64 MiB (two generations of 32 MiB) the first
// overwrite comes after about 1.1 million keys in one Window.
//
// Two keys of one generation whose 64-bit xxhash collide also replace one
// another; for n keys this happens with probability about n²/2⁶⁵ and is not
// counted.
//
// # Persistence
//
// Save writes the whole state (every live generation, the watermark, the
// counters and the overflow mirrors) under one directory, and Load restores
// it, so a restart does not re-admit what was admitted before it. The
// metadata file is versioned and checksummed, and it is written last and
// renamed into place: a crash during Save leaves the previous snapshot
// intact. Load of a directory with no snapshot returns an error wrapping
// fs.ErrNotExist, so callers can fall back to New.
//
// AppendState and LoadState do the same in memory, for a host that embeds
// the deduper in a snapshot of its own (fault.Engine.Snapshot does): the
// state is canonical, so a restored Deduper appends the very same bytes.
//
// # Concurrency
//
// A Deduper is used by one goroutine at a time; an engine shard owns one. It
// starts no goroutines of its own.
//
// This package holds the deduper's windows and their persistence; it must
// not know what a sample means, nor about rules, engines or events.
package dedup
