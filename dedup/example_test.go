package dedup_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/faultline-go/faultline/dedup"
	"github.com/faultline-go/faultline/stream"
)

func Example() {
	d, err := dedup.New(dedup.Config{Window: 10 * time.Minute})
	if err != nil {
		panic(err)
	}

	cpu := stream.Hash("cpu_usage", stream.NewLabels("host", "a"))
	t0 := time.Date(2018, 4, 19, 12, 0, 0, 0, time.UTC).UnixNano()
	minute := time.Minute.Nanoseconds()

	fmt.Println(d.Admit(cpu, t0, 0.5))           // first delivery
	fmt.Println(d.Admit(cpu, t0, 0.5))           // redelivery
	fmt.Println(d.Admit(cpu, t0, 0.7))           // same key, another value: the first wins
	fmt.Println(d.Admit(cpu, t0+20*minute, 0.6)) // moves the watermark 20 min on
	fmt.Println(d.Admit(cpu, t0+5*minute, 0.6))  // 15 min behind it: older than the window

	s := d.Stats()
	fmt.Printf("fresh=%d duplicate=%d conflict=%d too_late=%d overflow=%d\n",
		s.Fresh, s.Duplicate, s.Conflict, s.TooLate, s.Overflow)
	// Output:
	// fresh
	// duplicate
	// conflict
	// fresh
	// too_late
	// fresh=2 duplicate=1 conflict=1 too_late=1 overflow=0
}

// A shard saves its Deduper when it stops and loads it when it starts again,
// so a replay after the restart is still recognised.
func ExampleLoad() {
	dir, err := os.MkdirTemp("", "dedup-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "shard-0")
	cfg := dedup.Config{Window: 15 * time.Minute}

	open := func() *dedup.Deduper {
		d, err := dedup.Load(path, cfg)
		if errors.Is(err, fs.ErrNotExist) {
			fmt.Println("no snapshot: starting empty")
			d, err = dedup.New(cfg)
		}
		if err != nil {
			panic(err)
		}
		return d
	}

	ts := time.Date(2018, 4, 19, 12, 0, 0, 0, time.UTC).UnixNano()
	d := open()
	fmt.Println(d.Admit(42, ts, 1))
	if err := d.Save(path); err != nil {
		panic(err)
	}
	d.Reset()

	d = open() // after a restart
	defer d.Reset()
	fmt.Println(d.Admit(42, ts, 1))
	// Output:
	// no snapshot: starting empty
	// fresh
	// duplicate
}
