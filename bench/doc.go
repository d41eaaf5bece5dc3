// Package bench holds faultline's cross-package benchmarks and, in
// bench/scenario, the generator of the public periodic-gap scenarios.
//
// BENCHMARKS.md at the root of the repository says what each benchmark
// measures, against which baseline in the same run, and gives the figures;
// bench/run.sh reproduces all of them. Beside the Go benchmarks:
//
//   - ab.sh builds the benchmarks of this directory that use only the
//     public API against an earlier commit and against the working tree,
//     runs them alternately and prints medians and ratios;
//   - vm.sh runs faultline run against VictoriaMetrics through the same
//     HTTP client (vmcompare), reading each server's CPU time from /proc.
//
// The benchmarks report costs in CPU time of the process where they can
// (cpu-ns/…): on a shared machine it moves far less than wall time.
//
// This package holds measurements only; no library code depends on it.
package bench
