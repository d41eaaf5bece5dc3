package stream

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
)

// benchCapture builds a Telegraf-like capture: rounds scrapes of hosts
// hosts, from round first on, each a cpu, mem, disk, net and system line with 3 to 6 numeric
// fields (system also has a string field), 22 samples per host and round, in
// arrival order. Capture lines are 167 to 209 bytes long.
func benchCapture(hosts, first, rounds int, capture bool) (input []byte, samples int) {
	var b bytes.Buffer
	for r := first; r < first+rounds; r++ {
		ts := int64(1_700_000_000_000_000_000) + int64(r)*10_000_000_000
		for h := range hosts {
			arrival := ts + int64(h%1000)*1_000_000
			tags := fmt.Sprintf("host=web-%05d.prod.example.com,dc=eu-west-%d,region=eu,team=payments", h, h%3)
			lines := []string{
				fmt.Sprintf("cpu,cpu=cpu-total,%s usage_user=%d.25,usage_system=3.5,usage_idle=%d.5,usage_iowait=0.125 %d", tags, h%90, 90-h%90, ts),
				fmt.Sprintf("mem,%s used=%di,free=%di,cached=1048576i,available_percent=42.5 %d", tags, h*1024, h*2048, ts),
				fmt.Sprintf("disk,device=nvme0n1p1,fstype=ext4,path=/var/lib,%s used=%di,free=%di,used_percent=%d.5 %d", tags, h, h*3, h%100, ts),
				fmt.Sprintf("net,interface=eth0,%s bytes_recv=%du,bytes_sent=%du,packets_recv=%du,packets_sent=%du,err_in=0u %d", tags, r*h, r*h*2, r+h, r*3+h, ts),
				fmt.Sprintf("system,%s load1=%d.01,load5=0.5,load15=0.25,n_cpus=16i,uptime=%du,uptime_format=\"%d days\",n_users=3i %d", tags, h%8, r*10+h, r, ts),
			}
			for _, l := range lines {
				if capture {
					fmt.Fprintf(&b, "%d ", arrival)
				}
				b.WriteString(l)
				b.WriteByte('\n')
			}
			samples += 4 + 4 + 3 + 5 + 6
		}
	}
	return b.Bytes(), samples
}

func benchmarkDecoder(b *testing.B, format Format, reuse bool) {
	input, perOp := benchCapture(2000, 0, 3, format == Capture)
	b.SetBytes(int64(len(input)))
	b.ReportAllocs()
	d := NewDecoder(bytes.NewReader(input), DecoderOptions{Format: format})
	dst := make([]Sample, 0, 64)
	run := func() {
		if reuse {
			d.Reset(bytes.NewReader(input))
		} else {
			d = NewDecoder(bytes.NewReader(input), DecoderOptions{Format: format})
		}
		n := 0
		for {
			var err error
			dst, err = d.Next(dst[:0])
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n += len(dst)
		}
		if n != perOp {
			b.Fatalf("decoded %d samples, want %d", n, perOp)
		}
	}
	if reuse {
		run() // warm the intern table
	}
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	b.ResetTimer()
	for b.Loop() {
		run()
	}
	b.StopTimer()
	runtime.ReadMemStats(&ms1)
	samples := float64(perOp) * float64(b.N)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/samples, "ns/sample")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/samples, "allocs/sample")
}

// BenchmarkDecoder decodes 3 rounds of 2000 hosts (30000 lines, 132000
// samples, 44000 series in 10000 tag sets). "warm" reuses one decoder with Reset, as a
// receiver does for each delivery, so every series is interned; "cold"
// starts a new decoder for each pass.
func BenchmarkDecoder(b *testing.B) {
	b.Run("capture/warm", func(b *testing.B) { benchmarkDecoder(b, Capture, true) })
	b.Run("capture/cold", func(b *testing.B) { benchmarkDecoder(b, Capture, false) })
	b.Run("lineprotocol/warm", func(b *testing.B) { benchmarkDecoder(b, LineProtocol, true) })
}

// BenchmarkLineProtocolBaseline measures the bare line-protocol parser on
// the same input, reading every section and value but building no samples:
// the floor under BenchmarkDecoder/lineprotocol.
func BenchmarkLineProtocolBaseline(b *testing.B) {
	input, perOp := benchCapture(2000, 0, 3, false)
	b.SetBytes(int64(len(input)))
	b.ReportAllocs()
	for b.Loop() {
		lp := lineprotocol.NewDecoderWithBytes(input)
		for lp.Next() {
			if _, err := lp.Measurement(); err != nil {
				b.Fatal(err)
			}
			for {
				k, _, err := lp.NextTag()
				if err != nil {
					b.Fatal(err)
				}
				if k == nil {
					break
				}
			}
			for {
				k, _, err := lp.NextField()
				if err != nil {
					b.Fatal(err)
				}
				if k == nil {
					break
				}
			}
			if _, err := lp.TimeBytes(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(perOp)/float64(b.N), "ns/sample")
}

// b01Like appends to dst a capture shaped like the B01 scenario's: series
// checks "check_up,check=c000042 value=1 <ts>", each sending every 60 s at
// its own phase with ±200 ms jitter, delivered copies times (the first
// 50 ms + Exp(20 ms) after the sample time, the others within 200 ms of
// it), in arrival order. Rounds start at round first, so inputs built with
// different first rounds share no record. It returns the capture and its
// number of lines.
func b01Like(dst []byte, series, first, rounds, copies int) ([]byte, int) {
	const origin, cadence = int64(1_700_000_000_000_000_000), int64(60_000_000_000)
	rng := rand.New(rand.NewPCG(1, uint64(first)))
	phase := rand.New(rand.NewPCG(2, 2)) // the same phases for every call
	type delivery struct{ arrival, ts int64 }
	type line struct {
		delivery
		series int
	}
	var lines []line
	for i := range series {
		phi := phase.Int64N(cadence)
		for k := first; k < first+rounds; k++ {
			ts := origin + int64(k)*cadence + phi + rng.Int64N(400_000_000) - 200_000_000
			a0 := ts + 50_000_000 + int64(rng.ExpFloat64()*20_000_000)
			for c := range copies {
				a := a0
				if c > 0 {
					a += rng.Int64N(200_000_000)
				}
				lines = append(lines, line{delivery{a, ts}, i})
			}
		}
	}
	slices.SortFunc(lines, func(a, b line) int { return cmp.Compare(a.arrival, b.arrival) })
	for _, l := range lines {
		dst = strconv.AppendInt(dst, l.arrival, 10)
		dst = fmt.Appendf(dst, " check_up,check=c%06d value=1 ", l.series)
		dst = strconv.AppendInt(dst, l.ts, 10)
		dst = append(dst, '\n')
	}
	return dst, len(lines)
}

// decodePass decodes input with d and returns the samples decoded.
func decodePass(tb testing.TB, d *Decoder, input []byte, dst []Sample) int {
	d.Reset(bytes.NewReader(input))
	n := 0
	for {
		var err error
		dst, err = d.Next(dst[:0])
		if err == io.EOF {
			return n
		}
		if err != nil {
			tb.Fatal(err)
		}
		n += len(dst)
	}
}

// BenchmarkDecoderB01 decodes B01-like captures of 2,000 series with a warm
// decoder, as replay does. In each iteration it decodes, in chunks of 250
// lines, records never seen before (ns/unique-line), each chunk followed by
// 3 exact copies of it (ns/copy-line, and copy/unique, the ratio of the
// two); then the next rounds as B01 delivers them, every record 4 times
// within 200 ms (ns/line). On Linux these are CPU time of the benchmark's
// thread (see threadCPU). "repeats=off" is the baseline: the same without
// the repeat table; "parser=lp" parses every record with line-protocol/v2,
// as records outside the simple subset are (see parseSimple), and as all
// were before it; "repeats=off/parser=lp" is the decoder before both.
func BenchmarkDecoderB01(b *testing.B) {
	input := func(first, rounds, copies int) []byte {
		in, _ := b01Like(nil, 2000, first, rounds, copies)
		return in
	}
	b.Run("repeats=on", func(b *testing.B) { benchmarkCopies(b, input, 0, false) })
	b.Run("repeats=off", func(b *testing.B) { benchmarkCopies(b, input, -1, false) })
	b.Run("repeats=on/parser=lp", func(b *testing.B) { benchmarkCopies(b, input, 0, true) })
	b.Run("repeats=off/parser=lp", func(b *testing.B) { benchmarkCopies(b, input, -1, true) })
}

// BenchmarkDecoderTelegraf is BenchmarkDecoderB01 on the Telegraf-like
// records of benchCapture (250 hosts, 167–209 bytes and 3 to 6 fields a
// line), each delivered 4 times within 21 lines.
func BenchmarkDecoderTelegraf(b *testing.B) {
	input := func(first, rounds, copies int) []byte {
		in, _ := benchCapture(250, first, rounds, true)
		return withCopies(in, copies)
	}
	b.Run("repeats=on", func(b *testing.B) { benchmarkCopies(b, input, 0, false) })
	b.Run("repeats=off", func(b *testing.B) { benchmarkCopies(b, input, -1, false) })
	b.Run("repeats=on/parser=lp", func(b *testing.B) { benchmarkCopies(b, input, 0, true) })
	b.Run("repeats=off/parser=lp", func(b *testing.B) { benchmarkCopies(b, input, -1, true) })
}

// withCopies delivers each line of a capture copies times: copy k of line
// i comes after line i+7k, 1 ms later than the line.
func withCopies(capture []byte, copies int) []byte {
	lines := bytes.SplitAfter(capture, []byte("\n"))
	var out []byte
	for i := range len(lines) + 7*(copies-1) {
		for k := range copies {
			j := i - 7*k
			if j < 0 || j >= len(lines) || len(lines[j]) == 0 {
				continue
			}
			sp := bytes.IndexByte(lines[j], ' ')
			a, _ := strconv.ParseInt(string(lines[j][:sp]), 10, 64)
			out = strconv.AppendInt(out, a+int64(k)*1_000_000, 10)
			out = append(out, lines[j][sp:]...)
		}
	}
	return out
}

// benchmarkCopies measures unique lines, copies and a mix of them, made by
// input(first round, rounds, copies), as BenchmarkDecoderB01 says.
func benchmarkCopies(b *testing.B, input func(first, rounds, copies int) []byte, maxRepeats int, lpOnly bool) {
	const rounds, copies, chunk, sets = 3, 4, 250, 8
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	d := NewDecoder(bytes.NewReader(nil), DecoderOptions{Format: Capture, MaxRepeats: maxRepeats})
	d.noSimple = lpOnly
	dst := make([]Sample, 0, 16)
	decodePass(b, d, input(0, 4, 1), dst) // intern every series, fill the repeat table
	// Inputs for sets iterations, made beforehand so that making them does
	// not evict the decoder's tables from the caches. When they come round
	// again, the repeat table has long forgotten them.
	var once, four [sets][]byte
	for i := range sets {
		once[i] = input(4+2*rounds*i, rounds, 1)
		four[i] = input(4+2*rounds*i+rounds, rounds, copies)
	}
	var tUnique, tCopy, tFour time.Duration
	var nUnique, nCopy, nFour int64
	iter := 0
	records := func() int64 { return d.Stats().Records }
	b.ReportAllocs()
	for b.Loop() {
		for rest := once[iter%sets]; len(rest) > 0; {
			n := 0
			for range chunk {
				i := bytes.IndexByte(rest[n:], '\n')
				if i < 0 {
					n = len(rest)
					break
				}
				n += i + 1
			}
			part := rest[:n]
			rest = rest[n:]
			r0, t0 := records(), threadCPU()
			decodePass(b, d, part, dst)
			r1, t1 := records(), threadCPU()
			for range copies - 1 {
				decodePass(b, d, part, dst)
			}
			r2, t2 := records(), threadCPU()
			tUnique += t1 - t0
			tCopy += t2 - t1
			nUnique += r1 - r0
			nCopy += r2 - r1
		}
		r0, t0 := records(), threadCPU()
		decodePass(b, d, four[iter%sets], dst)
		tFour += threadCPU() - t0
		nFour += records() - r0
		iter++
	}
	unique := float64(tUnique.Nanoseconds()) / float64(nUnique)
	perCopy := float64(tCopy.Nanoseconds()) / float64(nCopy)
	b.ReportMetric(unique, "ns/unique-line")
	b.ReportMetric(perCopy, "ns/copy-line")
	b.ReportMetric(perCopy/unique, "copy/unique")
	b.ReportMetric(float64(tFour.Nanoseconds())/float64(nFour), "ns/line")
	st := d.Stats()
	b.ReportMetric(float64(st.RepeatHits)/float64(st.Records), "hits/record")
}
