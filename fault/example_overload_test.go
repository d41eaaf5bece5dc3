package fault_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/stream"
)

// A collector applies backpressure when a bound refuses samples: the rest
// of the batch is processed, and the error says what was refused. A series
// silent for SeriesTTL is evicted, which makes room again.
func ExampleOverloadError() {
	eng, err := fault.New(fault.Config{MaxSeries: 2, SeriesTTL: time.Hour})
	if err != nil {
		panic(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	up := func(host string, at time.Duration) stream.Sample {
		t := t0 + int64(at)
		return stream.NewSample("up", stream.NewLabels("host", host), t, 1, t)
	}
	ctx := context.Background()
	err = eng.Process(ctx, []stream.Sample{up("a", 0), up("b", 0), up("c", 0)})
	var oe *fault.OverloadError
	if errors.As(err, &oe) {
		fmt.Println(errors.Is(err, fault.ErrOverloaded), oe.Series)
	}
	// a and b go silent; after an hour they are forgotten and c fits.
	err = eng.Process(ctx, []stream.Sample{up("c", 61*time.Minute)})
	st := eng.Stats()
	fmt.Println(err, st.Series, st.SeriesEvicted, st.SeriesOverflow)
	// Output:
	// true 1
	// <nil> 1 2 1
}
