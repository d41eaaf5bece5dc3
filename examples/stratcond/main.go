// Command stratcond replays the Circonus incident of 2017-01-12 in virtual
// time and shows what faultline makes of it.
//
// A queued command crashed an aggregation component every 60 s; each crash
// cost about 1.5 s of the real-time stream. Checks run every 60 s at a fixed
// offset, so the same ~2.5 % of them lost every sample, every minute, for 31
// minutes. Customers were paged for hundreds of absent checks; flap detection
// saw nothing. faultline names it as one fleet fault within three periods,
// with its period, phase window and the checks it hits, and links every
// absence it explains to it instead of paging.
//
//	go run ./examples/stratcond                # the lost samples never arrive: data loss
//	go run ./examples/stratcond -replay 30s    # they are replayed 30 s later: a delivery gap
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/faultline-go/faultline/bench/scenario"
	"github.com/faultline-go/faultline/bench/score"
	"github.com/faultline-go/faultline/fault"
)

func main() {
	checks := flag.Int("checks", 10000, "checks in the fleet")
	replay := flag.Duration("replay", 0, "re-deliver lost samples this much later (0: they are lost for good)")
	seed := flag.Uint64("seed", 1, "simulation seed")
	flag.Parse()
	if err := run(os.Stdout, *checks, *replay, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "stratcond:", err)
		os.Exit(1)
	}
}

// run simulates the fleet and writes the timeline to w.
func run(w io.Writer, checks int, replay time.Duration, seed uint64) error {
	spec := scenario.MustNamed("B01").WithN(checks)
	spec.Replay = replay
	ds, err := scenario.Generate(spec, seed)
	if err != nil {
		return err
	}
	start := scenario.Origin
	clock := func(t int64) string {
		d := time.Duration(t - start)
		return fmt.Sprintf("%02d:%02d:%05.2f", int(d.Hours()), int(d.Minutes())%60, d.Seconds()-60*float64(int(d.Minutes())))
	}
	fmt.Fprintf(w, "%d checks report every %v, each sample delivered %d× within %v.\n",
		checks, spec.Cadences[0].Every, spec.Copies, spec.CopySpread)
	fmt.Fprintf(w, "From %s an aggregator crashes every %v and loses %v of the stream, %v into the minute, for %v;",
		clock(start+int64(spec.Onset)), spec.Period, spec.Width, spec.Phase, spec.Duration)
	if replay > 0 {
		fmt.Fprintf(w, " the lost samples are replayed %v later.\n\n", replay)
	} else {
		fmt.Fprintf(w, " the lost samples never arrive.\n\n")
	}

	var (
		explained, paged int
		shown            int
	)
	eng, err := fault.New(fault.Config{Sink: fault.SinkFunc(func(_ context.Context, ev fault.Event) error {
		switch {
		case ev.Kind == fault.KindPeriodicGap && ev.State == fault.StatePending:
			fmt.Fprintf(w, "%s  loss burst: checks missed at %s, across the fleet at once  [suspect]\n",
				clock(ev.At), clock(ev.Since))
		case ev.Kind == fault.KindPeriodicGap && ev.State == fault.StateFiring:
			fmt.Fprintf(w, "%s  FLEET FAULT: periodic gap every %v, %.2f–%.2f s into each period, ~%d checks  (id %s)\n",
				clock(ev.At), ev.Gap.Period, ev.Gap.PhaseStart.Seconds(), ev.Gap.PhaseEnd.Seconds(), ev.Gap.Series, ev.ID)
			fmt.Fprintf(w, "%14s %s\n", "", verdict(ev.Gap.LateFraction))
		case ev.Kind == fault.KindPeriodicGap && ev.State == fault.StateResolved && ev.Gap != nil:
			fmt.Fprintf(w, "%s  fleet fault resolved: %d checks were hit; %s\n",
				clock(ev.At), ev.Gap.Series, verdict(ev.Gap.LateFraction))
		case ev.Kind == fault.KindAbsence && ev.State == fault.StateFiring && ev.InhibitedBy != "":
			explained++
			if shown < 3 {
				shown++
				fmt.Fprintf(w, "%s  absence of %s explained by the fleet fault, not paged\n", clock(ev.At), ev.Labels.Get("check"))
			} else if shown == 3 {
				shown++
				fmt.Fprintf(w, "%14s … and the other absences it explains\n", "")
			}
		case ev.Kind == fault.KindAbsence && ev.State == fault.StateFiring:
			paged++
			fmt.Fprintf(w, "%s  absence of %s: paged\n", clock(ev.At), ev.Labels.Get("check"))
		}
		return nil
	})})
	if err != nil {
		return err
	}
	ctx := context.Background()
	for batch := range ds.Batches(4096) {
		if err := eng.Process(ctx, batch); err != nil {
			return err
		}
	}
	if err := eng.Close(ctx); err != nil {
		return err
	}
	st := eng.Stats()
	fmt.Fprintf(w, "\n%d deliveries, %d duplicates absorbed; %d slots missed in real time, %d filled late, %d lost.\n",
		st.Samples, st.Duplicates, st.SlotsMissed, st.SlotsLate, st.SlotsLost)
	fmt.Fprintf(w, "Absences: %d explained by the fleet fault, %d paged. A 5-minute absence rule per check would have paged %d.\n",
		explained, paged, explained+paged)
	return nil
}

// verdict says in words what score.LateVerdict decides.
func verdict(late float64) string {
	switch score.LateVerdict(late) {
	case "-": // NaN: nothing settled yet
		return "whether the lost samples arrive later is not known yet"
	case "delivery gap":
		return fmt.Sprintf("%.0f %% of the lost samples arrived later: a delivery gap, not data loss", 100*late)
	case "data loss":
		return "the lost samples never arrived: data loss"
	}
	return fmt.Sprintf("%.0f %% of the lost samples arrived later: part delivery gap, part data loss", 100*late)
}
