package stream

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Tests of what a live collector needs: timestamp precision, arrival times
// stamped as input is read, read timeouts, raw lines.

func TestParsePrecision(t *testing.T) {
	f := func(name string, want time.Duration) {
		t.Helper()
		got, err := ParsePrecision(name)
		require.NoError(t, err, name)
		require.Equal(t, want, got, name)
	}
	// API v2.
	f("ns", time.Nanosecond)
	f("us", time.Microsecond)
	f("ms", time.Millisecond)
	f("s", time.Second)
	// API v1.
	f("n", time.Nanosecond)
	f("u", time.Microsecond)
	f("m", time.Minute)
	f("h", time.Hour)
	// Default.
	f("", time.Nanosecond)
	for _, bad := range []string{"x", "NS", "1s", "s ", "min", "d"} {
		_, err := ParsePrecision(bad)
		require.ErrorContains(t, err, "unknown precision", bad)
	}
}

func TestDecoderPrecision(t *testing.T) {
	for _, c := range []struct {
		name string
		unit int64
	}{
		{"n", 1}, {"ns", 1},
		{"u", 1e3}, {"us", 1e3},
		{"ms", 1e6},
		{"s", 1e9},
		{"m", 60e9},
		{"h", 3600e9},
	} {
		p, err := ParsePrecision(c.name)
		require.NoError(t, err)
		input := "m v=1 1000000\nm v=2 -3\nm v=3 0\n"
		got := samplesOf(t, input, DecoderOptions{Precision: p})
		require.Equal(t, []Sample{
			sample("m_v", 1000000*c.unit, 1000000*c.unit, 1),
			sample("m_v", -3*c.unit, -3*c.unit, 2),
			sample("m_v", 0, 0, 3),
		}, got, c.name)

		// The arrival prefix of a capture is in nanoseconds whatever the
		// precision of the record's timestamp.
		got = samplesOf(t, "5 m v=1 7\n6 m v=2\n", DecoderOptions{Format: Capture, Precision: p})
		require.Equal(t, []Sample{sample("m_v", 7*c.unit, 5, 1), sample("m_v", 6, 6, 2)}, got, c.name)
	}

	// Timestamps out of range at the precision are errors at the
	// timestamp's column; the limits themselves are not.
	input := strings.Join([]string{
		"m v=1 9223372036",  // 1: the largest whole second
		"m v=1 9223372037",  // 2: out of range
		"m v=1 -9223372036", // 3
		"m v=1 -9223372037", // 4: out of range
		"m v=1 9223372036854775807",
	}, "\n")
	res, _ := decodeAll(t, strings.NewReader(input), DecoderOptions{Precision: time.Second})
	check(t, res, []want{
		{samples: []Sample{sample("m_v", 9223372036e9, 9223372036e9, 1)}},
		{record: 2, column: 7, is: ErrInvalidTimestamp, msg: `"9223372037": out of range at precision 1s`},
		{samples: []Sample{sample("m_v", -9223372036e9, -9223372036e9, 1)}},
		{record: 4, column: 7, is: ErrInvalidTimestamp, msg: "out of range"},
		{record: 5, column: 7, is: ErrInvalidTimestamp, msg: "out of range"},
	})
	res, _ = decodeAll(t, strings.NewReader("m v=1 -9223372036854775808\nm v=1 -9223372036854775807\n"), DecoderOptions{Precision: 2})
	check(t, res, []want{
		{record: 1, column: 7, is: ErrInvalidTimestamp},
		{record: 2, column: 7, is: ErrInvalidTimestamp},
	})
	require.Equal(t, []Sample{sample("m_v", math.MinInt64, math.MinInt64, 1)},
		samplesOf(t, "m v=1 -4611686018427387904", DecoderOptions{Precision: 2}))

	// A negative precision is a configuration error; SetPrecision refuses
	// it and keeps the one in force.
	d := NewDecoder(strings.NewReader("m v=1 1\n"), DecoderOptions{Precision: -time.Second})
	_, err := d.Next(nil)
	require.ErrorContains(t, err, "negative precision")
	d = NewDecoder(strings.NewReader("m v=1 1\nm v=1 2\nm v=1 3\n"), DecoderOptions{Precision: time.Millisecond})
	got, err := d.Next(nil)
	require.NoError(t, err)
	require.ErrorContains(t, d.SetPrecision(-1), "negative precision")
	got, err = d.Next(got)
	require.NoError(t, err)
	require.NoError(t, d.SetPrecision(0), "0 is nanoseconds")
	got, err = d.Next(got)
	require.NoError(t, err)
	require.Equal(t, []Sample{sample("m_v", 1e6, 1e6, 1), sample("m_v", 2e6, 2e6, 1), sample("m_v", 3, 3, 1)}, got)
}

// chunkReader returns its chunks, one per Read (a chunk larger than the
// buffer is split), and counts the reads that returned data.
type chunkReader struct {
	chunks []string
	reads  int64
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.chunks[0])
	c.chunks[0] = c.chunks[0][n:]
	if c.chunks[0] == "" {
		c.chunks = c.chunks[1:]
	}
	c.reads++
	return n, nil
}

func TestDecoderArrivalClock(t *testing.T) {
	// The clock says which read it is: 1000, 2000, ...
	r := &chunkReader{chunks: []string{
		"a v=1 5\nb v=2\n", // read 1: two lines
		"c v=3",            // read 2: half a line
		" 7\r\nd v=4\n# c", // read 3: completes it, one more, a comment
		"\nlast v=5",       // read 4: the last line, without a line ending
	}}
	var calls int
	clock := func() int64 { calls++; return r.reads * 1000 }
	var got []Sample
	d := NewDecoder(r, DecoderOptions{Arrival: clock})
	for {
		var err error
		got, err = d.Next(got)
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
	}
	require.Equal(t, []Sample{
		sample("a_v", 5, 1000, 1),
		sample("b_v", 1000, 1000, 2), // no timestamp: it arrived at 1000
		sample("c_v", 7, 3000, 3),    // completed by read 3
		sample("d_v", 3000, 3000, 4),
		sample("last_v", 4000, 4000, 5),
	}, got)
	require.Equal(t, 4, calls, "one call per read that returned data")

	// A request body received at one time: a fixed arrival, set after
	// Reset, with the request's precision.
	d.Reset(strings.NewReader("x v=1 1700000000\ny v=2\n"))
	d.SetArrival(func() int64 { return 1700000000_500000000 })
	require.NoError(t, d.SetPrecision(time.Second))
	got, err := d.Next(got[:0])
	require.NoError(t, err)
	got, err = d.Next(got)
	require.NoError(t, err)
	require.Equal(t, []Sample{
		sample("x_v", 1700000000_000000000, 1700000000_500000000, 1),
		sample("y_v", 1700000000_500000000, 1700000000_500000000, 2),
	}, got)

	// Without a clock again, a record needs its timestamp.
	d.Reset(strings.NewReader("y v=2\n"))
	d.SetArrival(nil)
	_, err = d.Next(got[:0])
	require.ErrorIs(t, err, ErrMissingTimestamp)

	// Capture ignores the clock: its lines carry their arrival.
	got = samplesOf(t, "10 m v=1 5\n20 m v=2\n", DecoderOptions{Format: Capture, Arrival: func() int64 { return -1 }})
	require.Equal(t, []Sample{sample("m_v", 5, 10, 1), sample("m_v", 20, 20, 2)}, got)
}

// TestSetArrivalDatesBufferedRecords: records a decoder without a clock
// had already read into its buffer when SetArrival gave it one are dated
// by that clock, not by a stale or zero arrival time: they took Unix time
// 0, as their sample time too when they had no timestamp.
func TestSetArrivalDatesBufferedRecords(t *testing.T) {
	const input = "a v=1 5\nb v=2\nc v=3 9\n"
	for _, stale := range []bool{false, true} {
		d := NewDecoder(strings.NewReader(input), DecoderOptions{})
		if stale { // the time a clock gave for an earlier input
			d = NewDecoder(strings.NewReader("x v=1\n"), DecoderOptions{Arrival: func() int64 { return 3 }})
			_, err := d.Next(nil)
			require.NoError(t, err)
			d.Reset(strings.NewReader(input))
			d.SetArrival(nil)
		}
		got, err := d.Next(nil) // reads all three lines
		require.NoError(t, err)
		d.SetArrival(func() int64 { return 7 })
		for range 2 {
			got, err = d.Next(got)
			require.NoError(t, err)
		}
		require.Equal(t, []Sample{sample("a_v", 5, 5, 1), sample("b_v", 7, 7, 2), sample("c_v", 9, 7, 3)}, got)
	}

	// A clock replaced by another: lines already read keep the time the
	// first gave for the read that brought them.
	d := NewDecoder(strings.NewReader("a v=1\nb v=2\n"), DecoderOptions{Arrival: func() int64 { return 4 }})
	got, err := d.Next(nil)
	require.NoError(t, err)
	d.SetArrival(func() int64 { return 7 })
	got, err = d.Next(got)
	require.NoError(t, err)
	require.Equal(t, []Sample{sample("a_v", 4, 4, 1), sample("b_v", 4, 4, 2)}, got)
}

// timeoutErr is a timeout as net.Conn read deadlines give, or not.
type timeoutErr struct{ timeout bool }

func (e timeoutErr) Error() string   { return fmt.Sprintf("timeout %v", e.timeout) }
func (e timeoutErr) Timeout() bool   { return e.timeout }
func (e timeoutErr) Temporary() bool { return e.timeout }

// scriptReader plays a script of reads: data, an error, or both.
type scriptReader struct {
	steps []scriptStep
}

type scriptStep struct {
	data string
	err  error
}

func (s *scriptReader) Read(p []byte) (int, error) {
	if len(s.steps) == 0 {
		return 0, io.EOF
	}
	st := s.steps[0]
	s.steps = s.steps[1:]
	return copy(p, st.data), st.err
}

// TestDecoderTimeoutScript checks timeouts at every place a read can end:
// between lines, inside a line, with data, inside an overlong line, and
// that an error that is not a timeout is still sticky.
func TestDecoderTimeoutScript(t *testing.T) {
	to := timeoutErr{timeout: true}
	wrapped := fmt.Errorf("read tcp: %w", os.ErrDeadlineExceeded)
	d := NewDecoder(&scriptReader{steps: []scriptStep{
		{data: "a v=1 1\n"},
		{err: to},                      // between lines
		{data: "b v=2 ", err: wrapped}, // inside a line, with data
		{data: "2\nc,h=" + strings.Repeat("x", 40)},
		{err: to}, // inside an overlong line
		{data: strings.Repeat("y", 10) + " v=3 3\nd v=4 4\n"},
		{err: timeoutErr{timeout: false}}, // not a timeout: sticky
		{data: "e v=5 5\n"},
	}}, DecoderOptions{MaxLineBytes: 32})
	var got []Sample
	var errs []error
	for range 20 {
		var err error
		got, err = d.Next(got)
		if err != nil {
			errs = append(errs, err)
			if !isTimeout(err) && !errors.Is(err, ErrLineTooLong) {
				break
			}
		}
	}
	require.Equal(t, []Sample{sample("a_v", 1, 1, 1), sample("b_v", 2, 2, 2), sample("d_v", 4, 4, 4)}, got)
	require.Len(t, errs, 5)
	require.Equal(t, to, errs[0])
	require.ErrorIs(t, errs[1], os.ErrDeadlineExceeded)
	var re *RecordError
	require.ErrorAs(t, errs[2], &re, "the line is known to be too long before its end is read")
	require.ErrorIs(t, re, ErrLineTooLong)
	require.Equal(t, int64(3), re.Record)
	require.Equal(t, to, errs[3], "while its rest is discarded")
	require.Equal(t, timeoutErr{timeout: false}, errs[4])
	_, err := d.Next(nil)
	require.Equal(t, timeoutErr{timeout: false}, err, "other errors are sticky")
	st := d.Stats()
	require.Equal(t, int64(4), st.Records)
	require.Equal(t, int64(1), st.Errors)
}

// TestDecoderDeadlineNetPipe reads from a real connection with a read
// deadline used to detect idleness: each timeout is returned once, and the
// next call goes on with the same connection, the partial line kept.
func TestDecoderDeadlineNetPipe(t *testing.T) {
	for name, pair := range map[string]func(t *testing.T) (net.Conn, net.Conn){
		"pipe": func(*testing.T) (net.Conn, net.Conn) { return net.Pipe() },
		"tcp":  tcpPair,
	} {
		t.Run(name, func(t *testing.T) {
			server, client := pair(t)
			defer server.Close()
			defer client.Close()
			writes := make(chan string)
			done := make(chan error, 1)
			go func() {
				for w := range writes {
					if _, err := client.Write([]byte(w)); err != nil {
						done <- fmt.Errorf("write %q: %w", w, err)
						return
					}
				}
				done <- client.Close()
			}()

			var reads int64
			d := NewDecoder(server, DecoderOptions{Arrival: func() int64 { reads++; return reads }})
			next := func() ([]Sample, error) {
				t.Helper()
				require.NoError(t, server.SetReadDeadline(time.Now().Add(30*time.Millisecond)))
				return d.Next(nil)
			}
			idle := func() {
				t.Helper()
				_, err := next()
				require.ErrorIs(t, err, os.ErrDeadlineExceeded)
				require.True(t, isTimeout(err))
			}

			idle() // nothing sent yet
			idle() // and again: the decoder is not poisoned
			writes <- "cpu,host=a v=1 10\ncpu,host=a v=2"
			got, err := next()
			require.NoError(t, err)
			require.Equal(t, []Sample{sample("cpu_v", 10, 1, 1, "host", "a")}, got)
			idle() // half a line is waiting
			writes <- " 20\n"
			got, err = next()
			require.NoError(t, err)
			require.Equal(t, []Sample{sample("cpu_v", 20, 2, 2, "host", "a")}, got, "the partial line was kept")
			writes <- "mem v=3\n"
			got, err = next()
			require.NoError(t, err)
			require.Equal(t, []Sample{sample("mem_v", 3, 3, 3)}, got)
			require.NoError(t, server.SetReadDeadline(time.Time{}))
			close(writes)
			require.NoError(t, <-done)
			_, err = d.Next(nil)
			require.ErrorIs(t, err, io.EOF)
		})
	}
}

// tcpPair returns the two ends of a TCP connection on the loopback.
func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	client, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	server, ok := <-accepted
	require.True(t, ok, "accept failed")
	return server, client
}

func TestDecoderRaw(t *testing.T) {
	input := "# head\r\na v=1 1\r\n\nb v=2\n  c v=3 3  \n" + strings.Repeat("x", 40) + "\nd v=4 4"
	d := NewDecoder(strings.NewReader(input), DecoderOptions{MaxLineBytes: 32})
	require.Nil(t, d.Raw())
	var raws []string
	for {
		_, err := d.Next(nil)
		if err == io.EOF {
			require.Nil(t, d.Raw(), "no record, no raw line")
			break
		}
		raws = append(raws, string(d.Raw()))
	}
	require.Equal(t, []string{
		"a v=1 1\r\n",
		"b v=2\n", // rejected: no timestamp
		"  c v=3 3  \n",
		strings.Repeat("x", 32), // too long: its first MaxLineBytes bytes
		"d v=4 4",               // the last line, without a line ending
	}, raws)

	// Passing records through: the raw lines of an input of records only
	// are the input, byte for byte, whatever the reads.
	var b bytes.Buffer
	for i := range 500 {
		fmt.Fprintf(&b, "cpu,host=h%d usage=%d.5,s=\"a\\\"b\" %d\n", i%7, i, i)
		if i%3 == 0 {
			fmt.Fprintf(&b, "cpu,host=h%d usage=%d.5 %d\r\n", i%7, i, i) // and copies
			fmt.Fprintf(&b, "cpu,host=h%d usage=%d.5 %d\r\n", i%7, i, i)
		}
		if i%100 == 0 {
			b.WriteString("bad line\n")
		}
	}
	b.WriteString("tail v=1 1")
	for _, r := range []io.Reader{bytes.NewReader(b.Bytes()), &chunkReader{chunks: strings.SplitAfter(b.String(), " ")}} {
		d := NewDecoder(r, DecoderOptions{})
		var out bytes.Buffer
		for {
			_, err := d.Next(nil)
			if err == io.EOF {
				break
			}
			out.Write(d.Raw())
		}
		require.Equal(t, b.String(), out.String())
		require.Positive(t, d.Stats().RepeatHits)
	}
}

// TestDecoderWriteRequest decodes a request body as an InfluxDB write
// handler does: the good lines are kept, and each bad line is named by its
// line and column, with its text.
func TestDecoderWriteRequest(t *testing.T) {
	body := "cpu,host=a usage=1 1700000000\ncpu,host=a usage= 1700000001\ncpu,host=b usage=2\nmem,host=a used=1 17x\n"
	d := NewDecoder(strings.NewReader(body), DecoderOptions{Precision: time.Second, Arrival: func() int64 { return 42e9 }})
	var good []Sample
	var bad []string
	for {
		var err error
		good, err = d.Next(good)
		var re *RecordError
		switch {
		case errors.As(err, &re):
			bad = append(bad, fmt.Sprintf("%d:%d %q: %v", re.Record, re.Column, bytes.TrimRight(d.Raw(), "\r\n"), re.Err))
			continue
		case err == io.EOF:
		case err != nil:
			t.Fatal(err)
		default:
			continue
		}
		break
	}
	require.Equal(t, []Sample{
		sample("cpu_usage", 1700000000e9, 42e9, 1, "host", "a"),
		sample("cpu_usage", 42e9, 42e9, 2, "host", "b"),
	}, good)
	require.Equal(t, []string{
		`2:18 "cpu,host=a usage= 1700000001": field value has unrecognized type`,
		`4:19 "mem,host=a used=1 17x": invalid timestamp ("17x")`,
	}, bad)
}
