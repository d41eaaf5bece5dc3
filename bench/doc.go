// Package bench holds faultline's cross-package benchmarks and, in
// bench/scenario, the generator of the public periodic-gap scenarios.
//
// Run the benchmarks with
//
//	go test -run '^$' -bench . -benchmem ./bench/
//
// Each reports ns per sample (ns/sample) beside Go's ns/op, and the
// engine benchmarks report heap bytes per series (B/series).
//
// This package holds measurements only; no library code depends on it.
package bench
