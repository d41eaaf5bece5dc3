package stream_test

import (
	"bytes"
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

// A handler of InfluxDB's write API decodes each request body with a
// decoder it reuses: the precision named by the request, the time the
// request was received as the arrival time of its records (and the sample
// time of those without a timestamp), and for a partial write, each bad
// line by number, column and text.
func ExampleDecoder_writeRequest() {
	d := stream.NewDecoder(nil, stream.DecoderOptions{})
	received := int64(1700000000_250000000)
	body := "cpu,host=a usage=1.5 1700000000\ncpu,host=b usage=oops 1700000000\nmem,host=a used=3i\n"

	precision, err := stream.ParsePrecision("s") // ?precision=s
	if err != nil {
		panic(err) // a 400 for the client
	}
	d.Reset(strings.NewReader(body))
	if err := d.SetPrecision(precision); err != nil {
		panic(err)
	}
	d.SetArrival(func() int64 { return received })
	var batch []stream.Sample
	for {
		var err error
		batch, err = d.Next(batch)
		var re *stream.RecordError
		if errors.As(err, &re) {
			fmt.Printf("line %d, column %d: %q: %v\n", re.Record, re.Column, bytes.TrimRight(d.Raw(), "\r\n"), re.Err)
			continue
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			panic(err) // reading the body failed
		}
	}
	for _, s := range batch {
		fmt.Printf("%s%s %g at %d, arrived %d\n", s.Name, s.Labels, s.Value, s.Time, s.Arrival)
	}
	// Output:
	// line 2, column 18: "cpu,host=b usage=oops 1700000000": field value has unrecognized type
	// cpu_usage{host="a"} 1.5 at 1700000000000000000, arrived 1700000000250000000
	// mem_used{host="a"} 3 at 1700000000250000000, arrived 1700000000250000000
}

func ExampleParsePrecision() {
	for _, name := range []string{"ns", "us", "ms", "s", "m", "h", "x"} {
		p, err := stream.ParsePrecision(name)
		fmt.Println(name, p, err)
	}
	// Output:
	// ns 1ns <nil>
	// us 1µs <nil>
	// ms 1ms <nil>
	// s 1s <nil>
	// m 1m0s <nil>
	// h 1h0m0s <nil>
	// x 0s stream: unknown precision "x" (want ns, us, ms, s, or n, u, m, h)
}
