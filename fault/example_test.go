package fault_test

import (
	"context"
	"fmt"
	"time"

	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/rules"
	"github.com/faultline-go/faultline/stream"
)

// A rule with `for: 2m` on one series, and a second series that stops
// reporting: the engine raises the threshold episode and the absence, in
// virtual time.
func ExampleEngine() {
	rs, err := rules.Parse("example.yaml", []byte(`
groups:
  - name: disks
    rules:
      - alert: DiskAlmostFull
        match: 'disk_used_ratio{mount="/"}'
        expr: value > 0.9
        for: 2m
        labels: {severity: ticket}
`))
	if err != nil {
		panic(err)
	}
	eng, err := fault.New(fault.Config{
		Rules: rs,
		Sink: fault.SinkFunc(func(_ context.Context, ev fault.Event) error {
			fmt.Println(fault.FormatTime(ev.At)[11:19], ev.Kind, ev.Rule, ev.State, ev.Labels.Get("host"))
			return nil
		}),
	})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	for s := int64(0); s < 900; s += 30 {
		ts := start + s*int64(time.Second)
		used := 0.5 + float64(s)/1000 // crosses 0.9 at 400 s
		batch := []stream.Sample{
			stream.NewSample("disk_used_ratio", stream.NewLabels("host", "db1", "mount", "/"), ts, used, ts),
		}
		if s < 300 { // web1 stops reporting at 300 s
			batch = append(batch, stream.NewSample("up", stream.NewLabels("host", "web1"), ts, 1, ts))
		}
		if err := eng.Process(ctx, batch); err != nil {
			panic(err)
		}
	}
	if err := eng.Close(ctx); err != nil {
		panic(err)
	}
	// web1's cadence is learned as 30 s, so its absence needs five missed
	// slots (the default, 2m30s of silence): the fifth, expected at 420 s,
	// is missed at its on-time deadline, 1 s later.

	// Output:
	// 00:07:00 threshold DiskAlmostFull pending db1
	// 00:07:01 absence absence firing web1
	// 00:09:00 threshold DiskAlmostFull firing db1
}
