package kafka_test

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/faultline-go/faultline/clock"
	"github.com/faultline-go/faultline/contrib/kafka"
	"github.com/faultline-go/faultline/rules"
)

// A worker on an in-process cluster: a device's record runs hot, and the
// event is on the events topic, keyed by its episode.
func Example() {
	c, err := kfake.NewCluster(kfake.NumBrokers(1),
		kfake.SeedTopics(6, "metrics", "faultline-state"),
		kfake.SeedTopics(3, "faultline-events"),
		kfake.SeedTopics(1, "faultline-fleet"))
	if err != nil {
		panic(err)
	}
	defer c.Close()

	w, err := kafka.New(kafka.Config{
		Brokers: c.ListenAddrs(),
		Group:   "faultline",
		Topic:   "metrics",
		Rules: []rules.Source{{Name: "hot.yaml", Data: []byte(`
groups:
  - name: devices
    rules:
      - alert: Hot
        match: temp
        expr: value > 80
`)}},
		Clock: clock.NewFake(time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC)),
	})
	if err != nil {
		panic(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()

	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics("faultline-events"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		panic(err)
	}
	defer cl.Close()
	sample := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	cl.ProduceSync(ctx, &kgo.Record{Topic: "metrics", Key: []byte("boiler-1"),
		Value: fmt.Appendf(nil, "temp,device=boiler-1 value=95 %d", sample)})
	rec := cl.PollFetches(ctx).Records()[0]
	ev, err := kafka.ParseEvent(rec.Value)
	if err != nil {
		panic(err)
	}
	fmt.Println(ev.Kind, ev.Rule, ev.State, ev.Labels.Get("device"), string(rec.Key) == ev.Episode)
	stop()
	fmt.Println(<-done)
	// Output:
	// threshold Hot firing boiler-1 true
	// <nil>
}
