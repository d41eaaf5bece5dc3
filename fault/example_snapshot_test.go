package fault_test

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/stream"
)

// An engine is snapshotted while a series is silent, and the process
// "restarts": the restored engine, given the same Config, carries on and
// raises the absence when it falls due, exactly as the first would have.
func ExampleRestore() {
	cfg := fault.Config{
		Sink: fault.SinkFunc(func(_ context.Context, ev fault.Event) error {
			fmt.Println(fault.FormatTime(ev.At)[11:19], ev.Kind, ev.State, ev.Labels.Get("host"))
			return nil
		}),
	}
	eng, err := fault.New(cfg)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	for s := int64(0); s < 300; s += 30 { // web1 stops reporting at 300 s
		ts := start + s*int64(time.Second)
		batch := []stream.Sample{stream.NewSample("up", stream.NewLabels("host", "web1"), ts, 1, ts)}
		if err := eng.Process(ctx, batch); err != nil {
			panic(err)
		}
	}
	var state bytes.Buffer
	if err := eng.Snapshot(&state); err != nil {
		panic(err)
	}
	eng.Deduper().Reset() // the old engine is gone

	restored, err := fault.Restore(cfg, &state)
	if err != nil {
		panic(err)
	}
	defer restored.Deduper().Reset()
	if err := restored.Advance(ctx, start+int64(10*time.Minute)); err != nil {
		panic(err)
	}
	fmt.Println("samples:", restored.Stats().Samples)

	// Output:
	// 00:07:01 absence firing web1
	// samples: 10
}
