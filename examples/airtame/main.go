// Command airtame replays the Airtame Cloud incident of 2020-02-08 in
// virtual time: a fleet of 1,000 devices on four firmware versions reports
// a reconnect counter every 20 s, delivered at least once; from minute 10
// the 50 devices of firmware 4.2.1 reconnect in a loop (and some crash,
// resetting their counters) until minute 25. One device of 4.1.0 on bad
// Wi-Fi reconnects as often throughout. The cohort rule of rules.yaml
// names the firmware within minutes, and nothing else.
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
	if _, err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "airtame:", err)
		os.Exit(1)
	}
}

// The fleet: firmware versions and how many devices run each.
var fleet = []struct {
	firmware string
	devices  int
}{{"4.0.3", 300}, {"4.1.0", 400}, {"4.2.0", 250}, {"4.2.1", 50}}

const (
	cadence    = 20 * time.Second
	duration   = 40 * time.Minute
	stormStart = 10 * time.Minute
	stormEnd   = 25 * time.Minute
)

// run simulates the incident, writes the events to w and returns them.
func run(w io.Writer) ([]fault.Event, error) {
	rs, err := rules.Parse("rules.yaml", ruleFile)
	if err != nil {
		return nil, err
	}
	start := time.Date(2020, 2, 8, 9, 0, 0, 0, time.UTC).UnixNano()
	var events []fault.Event
	eng, err := fault.New(fault.Config{
		Rules: rs,
		Sink: fault.SinkFunc(func(_ context.Context, ev fault.Event) error {
			events = append(events, ev)
			at := time.Duration(ev.At - start).Round(time.Second)
			fmt.Fprintf(w, "+%-7v %-7s %-23s %-9s firmware=%q", at, ev.Kind, ev.Rule, ev.State, ev.Labels.Get("firmware"))
			if s := ev.Annotations.Get("summary"); s != "" {
				fmt.Fprintf(w, "  %q", s)
			}
			fmt.Fprintln(w)
			return nil
		}),
	})
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	for batch := range slices.Chunk(simulate(start), 1000) {
		if err := eng.Process(ctx, batch); err != nil {
			return nil, err
		}
	}
	if err := eng.Close(ctx); err != nil {
		return nil, err
	}
	st := eng.Stats()
	fmt.Fprintf(w, "\n%d deliveries: %d fresh, %d duplicates; %d series in %d cohorts; %d events\n",
		st.Samples, st.Fresh, st.Duplicates, st.Series, st.Cohorts, st.Events)
	return events, nil
}

// simulate returns the deliveries of the fleet, sorted by arrival: each
// report arrives 50–500 ms after its sample time, and three in ten a
// second time within 2 s (at-least-once delivery).
func simulate(start int64) []stream.Sample {
	rng := rand.New(rand.NewPCG(2020, 208))
	var out []stream.Sample
	regions := []string{"eu-west", "us-east", "ap-south"}
	for _, f := range fleet {
		for d := range f.devices {
			dev := fmt.Sprintf("%s-%04d", f.firmware, d)
			labels := stream.NewLabels("device", dev, "firmware", f.firmware, "region", regions[d%3])
			phase := time.Duration(rng.Int64N(int64(cadence)))
			joins := stormStart + time.Duration(d%5)*time.Minute // the loop spreads over 5 minutes
			counter := 0.0
			for t := phase; t < duration+cadence; t += cadence {
				storming := f.firmware == "4.2.1" && t >= joins && t < stormEnd
				switch {
				case storming && rng.IntN(40) == 0:
					counter = 0 // out of memory: the device restarts, its counter too
				case storming:
					counter += float64(1 + rng.IntN(3))
				case f.firmware == "4.1.0" && d == 7:
					counter += 2 // bad Wi-Fi
				case rng.IntN(90) == 0:
					counter++ // about once in half an hour
				}
				ts := start + int64(t)
				arrival := ts + int64(50*time.Millisecond) + rng.Int64N(int64(450*time.Millisecond))
				out = append(out, stream.NewSample("device_reconnects_total", labels, ts, counter, arrival))
				if rng.IntN(10) < 3 {
					out = append(out, stream.NewSample("device_reconnects_total", labels, ts, counter, arrival+rng.Int64N(int64(2*time.Second))))
				}
			}
		}
	}
	slices.SortStableFunc(out, func(a, b stream.Sample) int { return cmp.Compare(a.Arrival, b.Arrival) })
	// The input ends at a moment, not after each device's last report, so
	// that no device looks as if it had stopped reporting.
	end, _ := slices.BinarySearchFunc(out, start+int64(duration), func(s stream.Sample, t int64) int { return cmp.Compare(s.Arrival, t) })
	return out[:end]
}
