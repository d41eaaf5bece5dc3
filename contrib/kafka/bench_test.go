package kafka

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/rules"
	"github.com/faultline-go/faultline/stream"
)

// BenchmarkWorker measures the records one worker processes per second
// through kfake, in-process: each iteration produces one sample of each
// of 1,000 devices (one record each, keyed by device, over 6 partitions),
// arriving at once, and waits until the worker has processed them. The
// producer and the cluster run in the same process, on the same cores.
// Beside it, in the same run, the engine's own cost: the same records
// decoded and processed by six engines directly, with the same arrival
// times. Reported: worker-records/s, engine-records/s and their ratio
// (engine-records/s ÷ worker-records/s: what the transport costs, as a
// multiple of the engine).
//
//	cd contrib/kafka && go test -run '^$' -bench Worker -benchtime 1000x -count 3
func BenchmarkWorker(b *testing.B) {
	const devices = 1000
	r := newRig(b)
	ts := r.topics("bench", 6)
	cfg := r.config(ts, "bench", "w1", deviceRules)
	cfg.CheckpointEvery = time.Hour
	rn := r.start(cfg)
	r.balanced(ts, rn.w)
	step := func(i int) []*kgo.Record {
		at := t0.Add(time.Duration(i+1) * 10 * time.Second)
		recs := make([]*kgo.Record, devices)
		for d := range recs {
			dev := fmt.Sprintf("d%04d", d)
			recs[d] = &kgo.Record{Topic: ts.in, Key: []byte(dev), Value: fmt.Appendf(nil, "temp,device=%s value=%d %d", dev, 20+i%7, at.UnixNano())}
		}
		return recs
	}
	end := map[int32]int64{}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		r.clock.Set(t0.Add(time.Duration(i+1) * 10 * time.Second))
		r.produce(step(i), end)
		r.caughtUp(ts.in, end, rn.w)
	}
	worker := b.Elapsed()
	b.StopTimer()

	// The engine alone, on the same records.
	rs, err := rules.ParseSources(deviceRules...)
	require.NoError(b, err)
	var engs [6]*fault.Engine
	var decs [6]*stream.Decoder
	var rd [6]bytes.Reader
	var now int64
	for p := range engs {
		engs[p], err = fault.New(fault.Config{Rules: rs})
		require.NoError(b, err)
		decs[p] = stream.NewDecoder(&rd[p], stream.DecoderOptions{Arrival: func() int64 { return now }})
		b.Cleanup(func() { engs[p].Deduper().Reset() })
	}
	ctx := context.Background()
	var batch [6][]stream.Sample
	start := time.Now()
	for i := range b.N {
		now = t0.Add(time.Duration(i+1) * 10 * time.Second).UnixNano()
		for d, rec := range step(i) {
			p := d % 6
			rd[p].Reset(rec.Value)
			decs[p].Reset(&rd[p])
			for {
				batch[p], err = decs[p].Next(batch[p])
				if err == io.EOF {
					break
				}
				require.NoError(b, err)
			}
		}
		for p := range engs {
			require.NoError(b, engs[p].Process(ctx, batch[p]))
			batch[p] = batch[p][:0]
		}
	}
	engine := time.Since(start)
	n := float64(b.N * devices)
	b.ReportMetric(n/worker.Seconds(), "worker-records/s")
	b.ReportMetric(n/engine.Seconds(), "engine-records/s")
	b.ReportMetric(worker.Seconds()/engine.Seconds(), "worker/engine")
}
