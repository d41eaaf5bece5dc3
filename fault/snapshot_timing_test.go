package fault

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/faultline-go/faultline/stream"
)

// BenchmarkSnapshot measures Snapshot and Restore of an engine tracking
// 100,000 series (ten minutes of one sample a minute each), dedup included.
func BenchmarkSnapshot(b *testing.B) {
	const n = 100_000
	e, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Deduper().Reset()
	batch := make([]stream.Sample, n)
	for i := range batch {
		batch[i] = stream.NewSample("up", stream.NewLabels("host", fmt.Sprintf("h%06d", i)), 0, 1, 0)
	}
	for m := range int64(10) {
		for i := range batch {
			ts := t0 + m*int64(time.Minute) + int64(i)*int64(time.Minute)/n
			batch[i].Time, batch[i].Arrival = ts, ts+int64(time.Millisecond)
		}
		if err := e.Process(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	snap, err := e.AppendSnapshot(nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("Snapshot", func(b *testing.B) {
		b.SetBytes(int64(len(snap)))
		for b.Loop() {
			if _, err := e.AppendSnapshot(snap[:0]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Restore", func(b *testing.B) {
		b.SetBytes(int64(len(snap)))
		for b.Loop() {
			r, err := Restore(Config{}, bytes.NewReader(snap))
			if err != nil {
				b.Fatal(err)
			}
			r.Deduper().Reset()
		}
	})
}
