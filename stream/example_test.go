package stream_test

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/faultline-go/faultline/stream"
)

func ExampleDecoder() {
	capture := `# arrival_ns line
1700000000500000000 cpu,host=a,dc=x usage_user=12.5,usage_idle=80i 1700000000000000000
1700000000600000000 cpu,host=a,dc=x usage_user=12.5,usage_idle=80i 1700000000000000000
1700000000700000000 cpu,host=a,dc=x,dc=y usage_user=1 1700000000000000000
1700000000800000000 mem,host=a value=512u,status="ok"
`
	d := stream.NewDecoder(strings.NewReader(capture), stream.DecoderOptions{Format: stream.Capture})
	var batch []stream.Sample
	for {
		var err error
		batch, err = d.Next(batch)
		var re *stream.RecordError
		if errors.As(err, &re) {
			fmt.Println("skipped:", re)
			continue
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			panic(err) // reading failed
		}
	}
	for _, s := range batch {
		fmt.Printf("%s%s %g at %d (arrived +%dms)\n", s.Name, s.Labels, s.Value, s.Time, (s.Arrival-s.Time)/1e6)
	}
	st := d.Stats()
	fmt.Printf("records %d, samples %d, errors %d, string fields %d, comments %d\n",
		st.Records, st.Samples, st.Errors, st.StringFields, st.Comments)
	// Output:
	// skipped: record 4, column 37: stream: duplicate tag "dc"
	// cpu_usage_user{dc="x", host="a"} 12.5 at 1700000000000000000 (arrived +500ms)
	// cpu_usage_idle{dc="x", host="a"} 80 at 1700000000000000000 (arrived +500ms)
	// cpu_usage_user{dc="x", host="a"} 12.5 at 1700000000000000000 (arrived +600ms)
	// cpu_usage_idle{dc="x", host="a"} 80 at 1700000000000000000 (arrived +600ms)
	// mem{host="a"} 512 at 1700000000800000000 (arrived +0ms)
	// records 4, samples 5, errors 1, string fields 1, comments 1
}

func ExampleRecordError() {
	d := stream.NewDecoder(strings.NewReader("cpu,host=a v=1\n"), stream.DecoderOptions{})
	_, err := d.Next(nil)
	var re *stream.RecordError
	if errors.As(err, &re) {
		fmt.Println(re.Record, re.Column, errors.Is(err, stream.ErrMissingTimestamp))
		fmt.Println(err)
	}
	// Output:
	// 1 15 true
	// record 1, column 15: stream: missing timestamp
}
