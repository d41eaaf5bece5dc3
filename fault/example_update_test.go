package fault_test

import (
	"context"
	"fmt"
	"time"

	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/rules"
	"github.com/faultline-go/faultline/stream"
)

// A host reloads its rule file while an alert is pending. The first new
// version does not parse: Update is not called, and the old rules keep
// running. The second keeps the pending rule as it was and adds one: the
// pending alert fires when it would have without the reload, and the new
// rule applies to the series already known.
func ExampleEngine_Update() {
	const v1 = `
groups:
  - name: disks
    rules:
      - alert: DiskAlmostFull
        match: disk_used_ratio
        expr: value > 0.9
        for: 2m
`
	rs, err := rules.Parse("disks.yaml", []byte(v1))
	if err != nil {
		panic(err)
	}
	eng, err := fault.New(fault.Config{
		Rules: rs,
		Sink: fault.SinkFunc(func(_ context.Context, ev fault.Event) error {
			fmt.Println(fault.FormatTime(ev.At)[11:19], ev.Rule, ev.State)
			return nil
		}),
	})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	// reload is what a host does on SIGHUP: parse, and update only if the
	// file parsed.
	reload := func(src string) {
		rs, err := rules.Parse("disks.yaml", []byte(src))
		if err != nil {
			fmt.Println("reload failed, the old rules keep running")
			return
		}
		if err := eng.Update(ctx, rs); err != nil {
			panic(err)
		}
		fmt.Println("reloaded")
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	for s := int64(0); s < 700; s += 30 {
		switch s {
		case 450:
			reload(v1 + "      - alert: DiskFull\n        match: disk_used_ratio\n        expr: value >\n") // a typo
		case 480:
			reload(v1 + "      - alert: DiskFull\n        match: disk_used_ratio\n        expr: value > 0.94\n")
		}
		ts := start + s*int64(time.Second)
		used := 0.8 + float64(s)/4000 // crosses 0.9 at 400 s, 0.94 at 560 s
		batch := []stream.Sample{stream.NewSample("disk_used_ratio", stream.NewLabels("host", "db1"), ts, used, ts)}
		if err := eng.Process(ctx, batch); err != nil {
			panic(err)
		}
	}
	eng.Deduper().Reset()

	// Output:
	// 00:07:00 DiskAlmostFull pending
	// reload failed, the old rules keep running
	// reloaded
	// 00:09:00 DiskAlmostFull firing
	// 00:09:30 DiskFull firing
}
