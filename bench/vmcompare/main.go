// Command vmcompare posts the same line-protocol records to a running
// faultline run and a running VictoriaMetrics over HTTP, one server after
// the other (which goes first alternates with the round), with the same
// client, and prints each server's CPU time for them, read from /proc.
// bench/vm.sh starts fresh servers on 127.0.0.1 for each round, runs it
// and takes the medians; see BENCHMARKS.md.
//
// The records are B01's (2,000 checks, every sample delivered 4 times, in
// arrival order), its first 55 minutes, their sample times moved so that
// the last is a minute before the run starts: faultline stamps arrival on
// receipt, and refuses samples more than an hour behind it, while
// VictoriaMetrics would not store samples older than its retention. They
// go in bodies of 1,000 lines (Telegraf's batch), to /write (InfluxDB's
// v1 API, nanosecond timestamps), which both serve.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/faultline-go/faultline/bench/scenario"
)

func main() {
	var (
		flURL  = flag.String("faultline", "", "base `URL` of faultline run")
		flPID  = flag.Int("faultline-pid", 0, "`PID` of faultline run")
		vmURL  = flag.String("vm", "", "base `URL` of VictoriaMetrics")
		vmPID  = flag.Int("vm-pid", 0, "`PID` of VictoriaMetrics")
		round  = flag.Int("round", 1, "the round's number, for the output")
		minute = flag.Int("minutes", 55, "minutes of B01 to send")
	)
	flag.Parse()
	if *flURL == "" || *vmURL == "" || *flPID == 0 || *vmPID == 0 {
		flag.Usage()
		os.Exit(2)
	}
	bodies, lines, err := records(*minute)
	if err != nil {
		fatal(err)
	}
	fmt.Printf("records: %d lines of B01 (2,000 checks, %d min) in %d bodies\n", lines, *minute, len(bodies))
	servers := []*server{
		{name: "faultline", url: strings.TrimSuffix(*flURL, "/") + "/write", pid: *flPID},
		{name: "victoria-metrics", url: strings.TrimSuffix(*vmURL, "/") + "/write", pid: *vmPID},
	}
	if *round%2 == 0 { // even rounds post to VictoriaMetrics first: neither server always goes first
		servers[0], servers[1] = servers[1], servers[0]
	}
	client := &http.Client{Timeout: time.Minute}
	for _, s := range servers {
		cpu, wall, err := s.post(client, bodies)
		if err != nil {
			fatal(fmt.Errorf("%s: %w", s.name, err))
		}
		// bench/vm.sh reads these lines: name in field 3, CPU seconds in
		// field 5, the records in the last.
		fmt.Printf("round %d %-17s cpu %8.3f s  wall %8.3f s  %10.0f rec/cpu-s  records %d\n",
			*round, s.name, cpu.Seconds(), wall.Seconds(), float64(lines)/cpu.Seconds(), lines)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "vmcompare:", err)
	os.Exit(1)
}

// records returns B01's first minutes as bodies of 1,000 lines, moved in
// time so that the last sample time is a minute ago.
func records(minutes int) (bodies [][]byte, lines int, err error) {
	ds, err := scenario.Generate(scenario.MustNamed("B01").WithN(2000), 1)
	if err != nil {
		return nil, 0, err
	}
	end := scenario.Origin + int64(minutes)*int64(time.Minute)
	shift := time.Now().Add(-time.Minute).UnixNano() - end
	var body []byte
	for i := range ds.Len() {
		smp := ds.Sample(i)
		if smp.Time >= end {
			continue
		}
		body = append(body, scenario.Metric...)
		for _, l := range smp.Labels {
			body = append(body, ',')
			body = append(body, l.Name...)
			body = append(body, '=')
			body = append(body, l.Value...)
		}
		body = append(body, " value="...)
		body = strconv.AppendFloat(body, smp.Value, 'g', -1, 64)
		body = append(body, ' ')
		body = strconv.AppendInt(body, smp.Time+shift, 10)
		body = append(body, '\n')
		if lines++; lines%1000 == 0 {
			bodies = append(bodies, body)
			body = nil
		}
	}
	if len(body) > 0 {
		bodies = append(bodies, body)
	}
	return bodies, lines, nil
}

// server is one server under test and its CPU time per round.
type server struct {
	name string
	url  string
	pid  int
}

// post sends every body to s, then waits until s has been idle for a
// second (both servers ingest asynchronously), and returns the CPU time s
// took, less what it takes idle over as long.
func (s *server) post(client *http.Client, bodies [][]byte) (cpu, wall time.Duration, err error) {
	idle, err := s.idleRate()
	if err != nil {
		return 0, 0, err
	}
	c0, err := procCPU(s.pid)
	if err != nil {
		return 0, 0, err
	}
	start := time.Now()
	for _, b := range bodies {
		resp, err := client.Post(s.url, "text/plain; charset=utf-8", bytes.NewReader(b))
		if err != nil {
			return 0, 0, err
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return 0, 0, fmt.Errorf("%s: %s", resp.Status, msg)
		}
	}
	c1, err := s.settle()
	if err != nil {
		return 0, 0, err
	}
	wall = time.Since(start)
	return c1 - c0 - time.Duration(idle*float64(wall)), wall, nil
}

// idleRate returns the share of a CPU s takes when it receives nothing,
// measured over 2 s.
func (s *server) idleRate() (float64, error) {
	c0, err := procCPU(s.pid)
	if err != nil {
		return 0, err
	}
	time.Sleep(2 * time.Second)
	c1, err := procCPU(s.pid)
	return float64(c1-c0) / float64(2*time.Second), err
}

// settle waits until s's CPU time has moved by less than a millisecond in
// each of five 200-ms intervals (an idle server still wakes for its
// timers), and returns it.
func (s *server) settle() (time.Duration, error) {
	last, err := procCPU(s.pid)
	for still := 0; err == nil && still < 5; {
		time.Sleep(200 * time.Millisecond)
		var c time.Duration
		if c, err = procCPU(s.pid); c-last < time.Millisecond {
			still++
		} else {
			still = 0
		}
		last = c
	}
	return last, err
}

// procCPU returns the CPU time of process pid, all its threads: the sum
// of their /proc/pid/task/*/schedstat (nanoseconds; a thread that has
// exited no longer counts, which Go servers' threads seldom do), or, where
// the kernel keeps no schedstat, user and system time from /proc/pid/stat
// (in clock ticks of 10 ms, the kernel's USER_HZ on Linux: too coarse for
// a round of a few tenths of a second).
func procCPU(pid int) (time.Duration, error) {
	if d, err := schedCPU(pid); err == nil {
		return d, nil
	}
	return statCPU(pid)
}

// schedCPU returns the sum of the first field of every thread's schedstat.
func schedCPU(pid int) (time.Duration, error) {
	files, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(files) == 0 {
		return 0, fmt.Errorf("process %d: no schedstat", pid)
	}
	var sum int64
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // the thread has exited
		}
		fields := strings.Fields(string(b))
		if len(fields) == 0 {
			return 0, fmt.Errorf("%s: empty", f)
		}
		ns, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: unexpected format", f)
		}
		sum += ns
	}
	return time.Duration(sum), nil
}

// statCPU returns user and system time from /proc/pid/stat.
func statCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: fields are
	// counted after its closing parenthesis.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}
