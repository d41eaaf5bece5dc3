// Package scenario generates the public periodic-gap benchmark scenarios of
// GAPS.md ("Public benchmark scenarios") deterministically from a seed: the
// deliveries a collector would receive from a fleet of checks, and the ground
// truth a scorer needs to judge faultline's events against them.
//
// # Units and time origin
//
// Every duration in a Spec is a time.Duration; drift is in parts per million
// and probabilities are plain fractions. Every instant in a Dataset is in Unix
// nanoseconds. Time 0 of a scenario is Origin, 2026-01-01T00:00:00Z
// (1,767,225,600 s after the Unix epoch). Outage windows are aligned to the
// Unix epoch, not to Origin: window n of a periodic outage is
// [n·P + phase, n·P + phase + w) in absolute Unix time, so "phase 12 s" means
// 12 s into each minute of Unix time, exactly the arrival phase faultline
// reports (arrival time modulo the period from the Unix epoch). Origin is a
// multiple of every round period up to a day, so for the named scenarios the
// windows also sit at the stated phase relative to Origin; for other periods
// (P = 7 s, 4,000 s, ...) the epoch alignment still holds. Generated instants
// (sample times and arrivals) are rounded to whole microseconds.
//
// # Generator contract
//
// One PRNG, math/rand/v2's PCG seeded with NewPCG(seed, Salt), is consumed in
// a fixed order: outage windows first, then series i = 0…N−1, each series'
// parameters followed by its samples k = 0, 1, …, each sample's draws followed
// by its copies' draws. The distributions are derived from PCG.Uint64 by fixed
// formulas (so the stream does not depend on the algorithms behind
// rand.Rand's methods): u = (x>>11)·2⁻⁵³ is U[0, 1); u° = (x>>11 + ½)·2⁻⁵³ is
// U(0, 1); an exponential is −ln u°; a standard normal is √2·erfinv(2u° − 1).
// The same (spec, seed) gives the same dataset byte for byte on a given
// architecture. math.Log and math.Erfinv are pure Go, but where the compiler
// fuses multiply-adds (arm64, ppc64le, s390x, riscv64) a value may differ in
// its last bit, which the µs rounding almost always absorbs; the pinned
// digest test runs on amd64.
//
// Windows. ModePeriodic: for each n with n·P + phase in the incident, in
// order, one u (skip when u < SkipProb) and one u (start shifted by
// (2u − 1)·PhaseJitter) are drawn, each only when its feature is on; the
// canonical scenarios draw nothing here. ModeAperiodic: windows of width w
// start at onset + Σ(w + Exp(P − w)), so their mean spacing is P and they
// never overlap.
//
// Series i (five draws, always): u picks Δ from the cadence mix (cumulative
// weights); φ = u·Δ; skew = σ_s·z; drift = σ_d·10⁻⁶·z; dead when
// u < DeadFraction.
//
// Sample k, for every k with φ + kΔ(1+drift) < horizon (3 + Copies draws,
// always, whether or not the sample is then sent, lost or dropped): jitter u,
// loss u, delay e, fault u, then one u per copy c = 1…d−1. The sample is sent
// at send = φ + kΔ(1+drift) + (2u − 1)·J with timestamp send + skew. A dead
// series sends nothing at or after onset. The sample is lost for good (no
// copy, no replay) when its loss u < Loss. Copy 0 arrives at
// arrival = send + BaseDelay + DelayMean·e; copy c ≥ 1 arrives u·CopySpread
// after copy 0 (all copies within CopySpread of the first).
//
// Faults, during the incident [onset, onset + duration) clipped to the
// horizon:
//   - ModePeriodic, ModeAperiodic: each copy whose arrival falls in a window
//     is dropped.
//   - ModeRandomPhase (C02): a sample whose copy-0 arrival is in the incident
//     has all its copies dropped when its fault u < w/P.
//   - ModePerSeriesRandom (C05): a series with m = round(P/Δ) ≥ 2 draws, at
//     each k that is a multiple of m, j = ⌊u·m⌋ from that sample's fault u;
//     slot k + j loses all its copies if its copy-0 arrival is in the
//     incident. One random slot per P, at a random phase.
//
// With Replay > 0 every dropped copy is re-delivered Replay after the arrival
// it was dropped at (flagged Replayed); replays are never dropped again. A
// sample lost to the random loss is never replayed. Deliveries are sorted by
// (arrival, series, sample time, copy).
//
// # Ground truth
//
// Truth holds the windows, the incident, every sample dropped in real time
// (all its copies dropped by the fault, so its slot is empty at its expected
// arrival) with whether it was replayed, and summary counts. Each Series holds
// its Δ, offset, skew, drift, whether it is dead, its slot counts and drop
// counts. For a periodic fault a series is affected when Δ < P and it had ≥ 2
// real-time drops, and core when affected and dropped in at least half the
// windows. Counts per series and per window cover real-time drops only; a
// copy dropped while another copy of the same sample got through leaves the
// slot on time and is counted only as a dropped copy.
//
// # Memory
//
// A Delivery is 16 bytes (arrival, arrival − sample time in µs, and series,
// copy and replay flag packed in 32 bits); the delivery slice is allocated at
// its exact size by a counting pass over the same PRNG stream, then bucket
// sorted by arrival second. Names, labels and series identities are built
// once per series; Dataset.Sample materialises a stream.Sample on demand.
//
// This package holds scenario generation and scoring; the library must not
// depend on it.
package scenario
