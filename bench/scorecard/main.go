// Command scorecard runs the public periodic-gap scenarios of GAPS.md and
// the hard classes of bench/scenario (H01…H05 and their null controls
// N01…N04) through faultline's engine and prints, per scenario, detection
// latency in periods, precision, recall, false alarms, ns per sample and
// bytes per series; then, per hard class, the episodes per run, the period
// reported against the truth, the latency and the false alarms; followed by
// one PASS/FAIL line per target of the issues.
//
// Usage:
//
//	go run ./bench/scorecard [-scenarios B01,B02,B04,B06,B11,C01,C02,C03,C05,H01,…,N04]
//	    [-seeds 5] [-n 10000] [-control-hours 6] [-quick] [-batch 4096]
//	    [-episodes 5] [-cpuprofile FILE]
//
// Each scenario runs once per seed 1…seeds, sequentially: the dataset is
// generated (controls C01 C02 C03 C05 N01…N04 run for -control-hours hours
// with the incident from 30 min to the end, Spec.Long), fed in arrival
// order, in batches, to a fresh fault.New(fault.Config{Sink: …}) whose clock
// follows the arrivals, closed, and scored with scenario.Score; then the
// dataset is dropped. Only the engine's Process and Close calls are timed.
// -n sets N for every scenario but B11 and H04, which keep their 500 and 150
// series (or fewer, if -n is smaller). -quick is a smoke run: N = 1,000,
// one seed, 1-hour controls and a 1-hour B06 incident, unless those flags
// are given explicitly.
//
// Memory per series is measured with runtime.MemStats after a GC: B/series
// is the Go heap the engine holds at the end of the run (its series state,
// timing wheel and the deduper's tables) divided by N; "state B" leaves out
// the deduper (measured by resetting it); "dedup MiB" is the deduper's
// tables.
//
// The exit status is 0 when every target evaluated passed, 1 when one failed
// and 2 on a usage or run error. Targets whose scenarios were not run are
// skipped; a target measured on a smaller protocol than the (fewer
// seeds, fewer series, shorter controls) is evaluated as measured and marked
// "reduced protocol".
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
)

func main() {
	os.Exit(mainErr(os.Args[1:]))
}

func mainErr(args []string) int {
	fs := flag.NewFlagSet("scorecard", flag.ContinueOnError)
	var (
		scenarios  = fs.String("scenarios", strings.Join(defaultScenarios, ","), "comma-separated scenario ids")
		seeds      = fs.Int("seeds", 5, "seeds per scenario (1…seeds)")
		n          = fs.Int("n", 10_000, "series per scenario (B11 keeps 500, H04 150)")
		hours      = fs.Float64("control-hours", 6, "horizon of the controls C01 C02 C03 C05 N01…N04, in hours (> 0.5)")
		quick      = fs.Bool("quick", false, "smoke run: N=1000, 1 seed, 1-h controls, short B06 (explicit flags win)")
		batch      = fs.Int("batch", 4096, "samples per Process call")
		episodes   = fs.Int("episodes", 5, "fired fleet episodes to list per scenario")
		cpuprofile = fs.String("cpuprofile", "", "write a CPU profile of the whole run to `file`")
	)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "scorecard: unexpected arguments %q\n", fs.Args())
		return 2
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	o := options{
		Scenarios:    splitIDs(*scenarios),
		Seeds:        *seeds,
		N:            *n,
		ControlHours: *hours,
		Quick:        *quick,
		Batch:        *batch,
		Episodes:     *episodes,
	}
	if *quick {
		if !set["n"] {
			o.N = 1000
		}
		if !set["seeds"] {
			o.Seeds = 1
		}
		if !set["control-hours"] {
			o.ControlHours = 1
		}
	}
	if err := o.validate(); err != nil {
		fmt.Fprintf(os.Stderr, "scorecard: %v\n", err)
		return 2
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintf(os.Stderr, "scorecard: %v\n", err)
			return 2
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(os.Stderr, "scorecard: %v\n", err)
			return 2
		}
		defer pprof.StopCPUProfile()
	}
	pass, err := run(o, os.Stdout, os.Stderr)
	switch {
	case err != nil:
		fmt.Fprintf(os.Stderr, "scorecard: %v\n", err)
		return 2
	case !pass:
		return 1
	}
	return 0
}

func splitIDs(s string) []string {
	var ids []string
	for _, id := range strings.Split(s, ",") {
		if id = strings.ToUpper(strings.TrimSpace(id)); id != "" && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids
}
