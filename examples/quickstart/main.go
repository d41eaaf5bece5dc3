// Command quickstart embeds the faultline engine in a few lines: it
// simulates a small fleet of checks delivered at least once (every sample
// four times, in a jumbled order), feeds it to the engine in virtual time and
// prints the faults it raises. One check dies, one gets slow for a while;
// the duplicates change nothing.
package main

import (
	"cmp"
	"context"
	_ "embed"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"time"

	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/rules"
	"github.com/faultline-go/faultline/stream"
)

//go:embed rules.yaml
var ruleFile []byte

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// run simulates the fleet and writes the timeline to w.
func run(w io.Writer) error {
	rs, err := rules.Parse("rules.yaml", ruleFile)
	if err != nil {
		return err
	}
	start := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC).UnixNano()
	eng, err := fault.New(fault.Config{
		Rules: rs,
		Sink: fault.SinkFunc(func(_ context.Context, ev fault.Event) error {
			at := time.Duration(ev.At - start).Round(time.Second)
			fmt.Fprintf(w, "+%-8v %-9s %-10s %-8s check=%s", at, ev.Kind, ev.Rule, ev.State, ev.Labels.Get("check"))
			if s := ev.Annotations.Get("summary"); s != "" {
				fmt.Fprintf(w, "  %q", s)
			}
			fmt.Fprintln(w)
			return nil
		}),
	})
	if err != nil {
		return err
	}

	deliveries := simulate(start)
	ctx := context.Background()
	for batch := range slices.Chunk(deliveries, 500) {
		if err := eng.Process(ctx, batch); err != nil {
			return err
		}
	}
	if err := eng.Close(ctx); err != nil {
		return err
	}
	st := eng.Stats()
	fmt.Fprintf(w, "\n%d deliveries: %d fresh, %d duplicates; %d series; %d events\n",
		st.Samples, st.Fresh, st.Duplicates, st.Series, st.Events)
	return nil
}

// simulate returns an hour of a 20-check fleet, each sample delivered four
// times within 200 ms, sorted by arrival. Check c07 dies at 30 min; check
// c12 is slow from 10 to 20 min.
func simulate(start int64) []stream.Sample {
	rng := rand.New(rand.NewPCG(2026, 3))
	var out []stream.Sample
	for c := range 20 {
		name := fmt.Sprintf("c%02d", c)
		labels := stream.NewLabels("check", name, "env", "prod")
		offset := rng.Float64() * 60
		for s := offset; s < 3600; s += 60 {
			if name == "c07" && s > 1800 {
				break
			}
			latency := 0.2 + rng.Float64()
			if name == "c12" && s > 600 && s < 1200 {
				latency = 3 + rng.Float64()
			}
			ts := start + int64(s*float64(time.Second))
			arrival := ts + int64(50*time.Millisecond)
			for range 4 {
				out = append(out, stream.NewSample("check_latency", labels, ts, latency, arrival))
				arrival += int64(rng.Float64() * float64(200*time.Millisecond))
			}
		}
	}
	slices.SortStableFunc(out, func(a, b stream.Sample) int { return cmp.Compare(a.Arrival, b.Arrival) })
	return out
}
