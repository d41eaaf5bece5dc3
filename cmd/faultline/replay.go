package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/faultline-go/faultline/dedup"
	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/internal/frame"
	"github.com/faultline-go/faultline/report"
	"github.com/faultline-go/faultline/rules"
	"github.com/faultline-go/faultline/stream"
)

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

// precisionFlag is a timestamp unit flag, named as InfluxDB's precision
// parameters name it (stream.ParsePrecision).
type precisionFlag time.Duration

func (p *precisionFlag) String() string {
	if *p == 0 {
		return "ns"
	}
	return time.Duration(*p).String()
}

func (p *precisionFlag) Set(s string) error {
	d, err := stream.ParsePrecision(s)
	if err != nil {
		return err
	}
	*p = precisionFlag(d)
	return nil
}

// replay runs records through the engine: JSON Lines events on stdout, a
// summary on stderr.
func replay(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		ruleFiles stringList
		capture   = fs.Bool("capture", false, "input lines are <arrival_unix_ns> <line protocol> captures; # starts a comment") // no `quotes`: the flag package would show them as a value
		batch     = fs.Int("batch", 4096, "samples per engine batch")
		maxErrors = fs.Int("max-errors", 100, "input errors printed one by one; the rest are counted")
		tau       = fs.Duration("on-time-budget", fault.DefaultOnTimeBudget, "τ: how late after its expected arrival a sample still counts as on time")
		lateness  = fs.Duration("lateness", fault.DefaultLateness, "L: how long a slot may stay empty before it is judged lost")
		window    = fs.Duration("dedup-window", 0, "dedup window in sample time (0: dedup's default)")
		absent    = fs.Duration("absent-after", 0, "absence threshold for series the rules don't declare (0: five slots, at least 2m)")
		state     = fs.String("state", "", "checkpoint `FILE`: resume from it if it exists (the records it covers are skipped, and must be the same: another input is refused), and checkpoint to it atomically every --checkpoint-every of engine time; locked while in use (FILE.lock): another process on it refuses to start")
		every     = fs.Duration("checkpoint-every", 60*time.Second, "engine (arrival) time between checkpoints, with --state")
		source    = fs.String("source-label", "", "label naming each sample's source (host, agent, collector) for the duplicate_storm and ingest_lag detectors (default: the input is one source)")
		reportTo  = fs.String("report", "", "write an HTML report to `FILE.html` at the end: for each fleet periodic gap its miss rate by phase and a phase × time heatmap, a timeline, delivery over time and the affected series (one self-contained file); not with a --state to resume from, which does not hold it")
		explain   = fs.String("explain", "", "explain on stderr every rule evaluation of the series this `selector` matches (as 'disk_used_ratio{host=\"a\"}'): each condition's value, the alert's state before and after, the events caused")
	)
	var precision precisionFlag
	fs.Var(&precision, "precision", "`unit` of the input's line-protocol timestamps: ns, us, ms, s, m or h (capture arrival times are always ns)")
	fs.Var(&ruleFiles, "rules", "rule `FILE` (repeatable); without it the built-in detectors run alone")
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: faultline replay [--rules FILE]... [--capture] [flags] [FILE ... | -]\n\nflags:\n")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *batch < 1 || *maxErrors < 0 || *every <= 0 {
		fmt.Fprintln(stderr, "faultline replay: --batch must be ≥ 1, --max-errors ≥ 0 and --checkpoint-every > 0")
		return exitUsage
	}
	if !inRange(fs, stderr, false, "on-time-budget", "lateness") || !inRange(fs, stderr, true, "dedup-window", "absent-after") {
		return exitUsage
	}

	var rs *rules.Ruleset
	if len(ruleFiles) > 0 {
		var err error
		if rs, err = rules.ParseFiles(ruleFiles...); err != nil {
			printRuleErrors(stderr, err)
			return exitFail
		}
	}
	var explainSel *rules.Selector
	if *explain != "" {
		var err error
		if explainSel, err = rules.ParseSelector(*explain); err != nil {
			fmt.Fprintf(stderr, "faultline replay: --explain: %v\n", err)
			return exitUsage
		}
	}
	inputs := fs.Args()
	if len(inputs) == 0 {
		inputs = []string{"-"}
	}
	for _, in := range inputs { // fail before any output if a file cannot be read
		if in == "-" {
			continue
		}
		// A named pipe is not opened here: closing it would end its
		// writer's stream before it is read. A directory opens, and fails
		// only at its read.
		fi, err := os.Stat(in)
		switch {
		case err == nil && fi.Mode()&os.ModeNamedPipe != 0:
			continue
		case err == nil && fi.IsDir():
			fmt.Fprintf(stderr, "faultline replay: %s: is a directory\n", in)
			return exitFail
		}
		f, err := os.Open(in)
		if err != nil {
			fmt.Fprintf(stderr, "faultline replay: %v\n", err)
			return exitFail
		}
		f.Close()
	}
	// Nor when an output is a directory: the report would fail only at
	// its rename, after the whole input, and the state at its first read.
	outputs := [...]struct{ flag, path string }{{"--report", *reportTo}, {"--state", *state}}
	for _, o := range outputs {
		if o.path == "" {
			continue
		}
		if fi, err := os.Stat(o.path); err == nil && fi.IsDir() {
			fmt.Fprintf(stderr, "faultline replay: %s %s: is a directory\n", o.flag, o.path)
			return exitFail
		}
	}
	// Nor before it holds the state's lock (frame.LockState, as
	// pipeline.New takes it for run and execd): another process on it
	// would checkpoint over its checkpoints. Holding it, it removes the
	// temporary files of killed checkpoint writes.
	if *state != "" {
		lock, err := frame.LockState(*state)
		if err != nil {
			fmt.Fprintf(stderr, "faultline replay: --state %s: %v\n", *state, err)
			return exitFail
		}
		defer lock.Unlock()
		// Silently: stderr holds the summary. What cannot be removed is
		// said, and left.
		if _, err := lock.RemoveTemps(*state); err != nil {
			fmt.Fprintf(stderr, "faultline replay: --state %s: leftover temporary files: %v\n", *state, err)
		}
	}
	// Nor does it read before it knows its outputs can be written: the
	// report is written at the end, the first checkpoint after a while.
	for _, o := range outputs {
		if o.path == "" {
			continue
		}
		if err := frame.CanWrite(o.path); err != nil {
			fmt.Fprintf(stderr, "faultline replay: %s %s: cannot be written there: %v\n", o.flag, o.path, err)
			return exitFail
		}
	}

	out := bufio.NewWriterSize(stdout, 64<<10)
	sum := newSummary()
	// With --explain: the explanations printed, and the samples read that
	// the selector matches, to say why when nothing is explained.
	var explained, matched int64
	hinted := false // said that the input looks like a capture
	var rep *report.Builder
	if *reportTo != "" {
		rep, _ = report.New(report.Options{Title: "faultline replay " + strings.Join(inputs, " ")}) // the defaults are valid
	}
	var line []byte
	sink := fault.SinkFunc(func(ctx context.Context, ev fault.Event) error {
		sum.event(ev)
		if rep != nil {
			_ = rep.Emit(ctx, ev) // never fails
		}
		line = ev.AppendJSON(line[:0])
		line = append(line, '\n')
		_, err := out.Write(line)
		return err
	})
	cfg := fault.Config{
		Rules:        rs,
		Sink:         sink,
		Dedup:        dedup.Config{Window: *window},
		OnTimeBudget: *tau,
		Lateness:     *lateness,
		AbsentAfter:  *absent,
		SourceLabel:  *source,
		Explain:      explainSel,
		Explainer:    explainer(*explain != "", stderr, &explained),
	}
	if rep != nil {
		cfg.Observer = rep
	}
	var eng *fault.Engine
	var skip int64 // records already processed, by the run that checkpointed
	ck, err := errNoCheckpoint, error(nil)
	var saved checkpoint
	if *state != "" {
		saved, ck = readCheckpoint(*state)
	}
	switch {
	case errors.Is(ck, errNoCheckpoint):
		if eng, err = fault.New(cfg); err != nil {
			fmt.Fprintf(stderr, "faultline replay: %v\n", err)
			return exitUsage
		}
	case ck != nil:
		fmt.Fprintf(stderr, "faultline replay: %v\n", ck)
		return exitFail
	case rep != nil:
		// The report is drawn from what the engine observes as it runs,
		// and a checkpoint does not hold it: resumed, it would show only
		// the records after the checkpoint, a gap the run had as none.
		fmt.Fprintf(stderr, "faultline replay: --report: resuming from the checkpoint %s would draw only the records after it; remove it to replay afresh with --report, or resume without --report\n", *state)
		return exitFail
	default:
		if eng, err = fault.Restore(cfg, bytes.NewReader(saved.snapshot)); err != nil {
			fmt.Fprintf(stderr, "faultline replay: resuming from %s: %v\n", *state, err)
			if errors.Is(err, fault.ErrSnapshotMismatch) {
				fmt.Fprintln(stderr, "faultline replay: the state was saved with other rules or flags; remove it to start afresh")
			}
			return exitFail
		}
		skip = saved.position
		maps.Copy(sum.events, saved.events)
	}
	if dd := eng.Deduper(); dd != nil {
		defer dd.Reset()
	}

	ctx := context.Background()
	format := stream.LineProtocol
	if *capture {
		format = stream.Capture
	}
	buf := make([]stream.Sample, 0, *batch)
	flush := func() error {
		err := eng.Process(ctx, buf)
		buf = buf[:0]
		if oe := (*fault.OverloadError)(nil); errors.As(err, &oe) && err == error(oe) {
			return nil // what a bound refused is counted in the summary
		}
		return err
	}
	// Checkpoints. position counts the records read, across inputs; the
	// engine has been given the first position of them whenever buf is
	// empty. A checkpoint flushes the batch to the engine and the events to
	// stdout before it is committed, so none printed before it is lost, and
	// the ones after it are printed again, identically, on resuming.
	var position int64
	// digest hashes the records read, so that a checkpoint can tell the
	// input it covers from another one.
	digest := xxhash.New()
	newline := []byte{'\n'}
	var last int64 // engine time of the last checkpoint (or of the start)
	started := false
	if skip > 0 {
		last, started = eng.Now(), true
	}
	checkpointDue := func() bool {
		if *state == "" || len(buf) == 0 {
			return false
		}
		arr := buf[len(buf)-1].Arrival
		if !started {
			last, started = arr, true
		}
		return arr >= last+int64(*every)
	}
	commit := func() error {
		if err := flush(); err != nil {
			return err
		}
		if eng.Now() < last+int64(*every) {
			return nil // the arrival was rejected: the clock did not move
		}
		if err := out.Flush(); err != nil {
			return fmt.Errorf("writing events: %w", err)
		}
		snap, err := eng.AppendSnapshot(nil)
		if err != nil {
			return err
		}
		if err := writeCheckpoint(*state, checkpoint{position: position, digest: digest.Sum64(), events: sum.events, snapshot: snap}); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
		last = eng.Now()
		return nil
	}
	for _, in := range inputs {
		r, name, closeIn, err := open(in, stdin)
		if err != nil {
			fmt.Fprintf(stderr, "faultline replay: %v\n", err)
			return exitFail
		}
		dec := stream.NewDecoder(r, stream.DecoderOptions{Format: format, Precision: time.Duration(precision)})
		for {
			before := len(buf)
			buf, err = dec.Next(buf)
			var rerr *stream.RecordError
			skipped := false
			if *capture && len(buf) > before {
				sum.arrival(name, buf[before].Arrival, dec)
			}
			if err == nil || errors.As(err, &rerr) {
				digest.Write(bytes.TrimRight(dec.Raw(), "\r\n"))
				digest.Write(newline)
				if position++; position <= skip {
					buf = buf[:before] // processed before the checkpoint
					skipped = true
				}
				if explainSel != nil && !skipped {
					for i := range buf[before:] {
						if smp := &buf[before+i]; explainSel.Matches(smp.Name, smp.Labels) {
							matched++
						}
					}
				}
				if position == skip && digest.Sum64() != saved.digest {
					closeIn()
					fmt.Fprintf(stderr, "faultline replay: the input does not match the checkpoint %s: its first %d records differ from those the checkpoint covers; remove it to start afresh\n", *state, skip)
					return exitFail
				}
			}
			switch {
			case errors.As(err, &rerr):
				sum.inputError(stderr, name, rerr, *maxErrors)
				if !*capture && !hinted && looksLikeCapture(dec.Raw()) {
					// The parser reads the arrival time as a measurement
					// and fails on what follows, which does not say why.
					hinted = true
					fmt.Fprintf(stderr, "faultline replay: %s:%d: this looks like a capture (<arrival_unix_ns> <line protocol>): replay it with --capture\n", name, rerr.Record)
				}
				if skipped {
					continue // the engine was told before the checkpoint
				}
				// Dated by the engine clock: flush first, so that it is
				// the arrival of the good record before it, whatever the
				// batch size.
				if perr := flush(); perr != nil {
					fmt.Fprintf(stderr, "faultline replay: %v\n", perr)
					return exitFail
				}
				eng.BadInput(name, rerr)
				continue
			case errors.Is(err, io.EOF):
			case err != nil:
				closeIn()
				fmt.Fprintf(stderr, "faultline replay: %s: %v\n", name, err)
				return exitFail
			}
			if checkpointDue() {
				if cerr := commit(); cerr != nil {
					closeIn()
					fmt.Fprintf(stderr, "faultline replay: %v\n", cerr)
					return exitFail
				}
			}
			if len(buf) >= *batch || err != nil {
				if perr := flush(); perr != nil {
					fmt.Fprintf(stderr, "faultline replay: %v\n", perr)
					return exitFail
				}
			}
			if err != nil {
				break
			}
		}
		closeIn()
		sum.records += dec.Stats().Records
		sum.stringFields += dec.Stats().StringFields
	}
	if position < skip {
		fmt.Fprintf(stderr, "faultline replay: the input does not match the checkpoint %s: it ended at record %d, before the %d records the checkpoint covers; remove it to start afresh\n", *state, position, skip)
		return exitFail
	}
	if err := eng.Close(ctx); err != nil {
		fmt.Fprintf(stderr, "faultline replay: %v\n", err)
		return exitFail
	}
	if err := out.Flush(); err != nil {
		fmt.Fprintf(stderr, "faultline replay: writing events: %v\n", err)
		return exitFail
	}
	if explainSel != nil && explained == 0 {
		nothingExplained(stderr, *explain, matched, rs != nil, skip > 0)
	}
	sum.print(stderr, eng.Stats())
	if rep != nil {
		if err := writeReport(*reportTo, rep); err != nil {
			fmt.Fprintf(stderr, "faultline replay: --report: %v\n", err)
			return exitFail
		}
	}
	return exitOK
}

// writeReport writes the report to a file beside path and renames it into
// place, so a reader never sees half a report.
func writeReport(path string, rep *report.Builder) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o644); err != nil { // an attachment, not a secret
		f.Close()
		return err
	}
	if err := rep.WriteHTML(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

func open(in string, stdin io.Reader) (r io.Reader, name string, closeFn func(), err error) {
	if in == "-" {
		return stdin, "<stdin>", func() {}, nil
	}
	f, err := os.Open(in)
	if err != nil {
		return nil, "", nil, err
	}
	return f, in, func() { f.Close() }, nil
}

// summary accumulates what replay reports on stderr.
type summary struct {
	records      int64
	stringFields int64
	inputErrors  int64
	errorLines   []string // file:line of the first input errors
	events       map[string]int
	// Capture arrivals: the latest so far, the records that went back
	// before it, and where and by how much the first did.
	latest    int64
	arrived   bool // latest is set
	back      int64
	firstBack string
}

func newSummary() *summary { return &summary{events: map[string]int{}} }

func (s *summary) event(ev fault.Event) {
	s.events[string(ev.Kind)+" "+ev.State.String()]++
}

// arrival notes the arrival time of the record dec has just decoded,
// from input name: a capture is in arrival order, and the engine clock does
// not go back, so a record that arrives before the latest is judged at the
// latest; it is replayed as it always was, and the summary says how many
// did and where the first is.
func (s *summary) arrival(name string, arr int64, dec *stream.Decoder) {
	if !s.arrived || arr >= s.latest {
		s.latest, s.arrived = arr, true
		return
	}
	if s.back++; s.back == 1 {
		s.firstBack = fmt.Sprintf("%s:%d, %v", name, dec.Stats().Lines, time.Duration(s.latest-arr))
	}
}

// inputError reports one bad record: in full for the first max, then only
// counted, so a flood of bad input cannot flood stderr.
func (s *summary) inputError(w io.Writer, name string, e *stream.RecordError, max int) {
	s.inputErrors++
	if int(s.inputErrors) <= max {
		fmt.Fprintf(w, "%s:%d:%d: %v\n", name, e.Record, e.Column, e.Err)
		s.errorLines = append(s.errorLines, fmt.Sprintf("%s:%d", name, e.Record))
	}
}

func (s *summary) print(w io.Writer, st fault.Stats) {
	fmt.Fprintf(w, "records %d, samples %d: fresh %d, duplicates %d, conflicts %d, too late %d, future %d, out of order %d\n",
		s.records, st.Samples, st.Fresh, st.Duplicates, st.Conflicts, st.TooLate, st.Future, st.OutOfOrder)
	fmt.Fprintf(w, "series %d; slots expected %d, missed on time %d, late %d, lost %d\n",
		st.Series, st.SlotsExpected, st.SlotsMissed, st.SlotsLate, st.SlotsLost)
	if s.stringFields > 0 {
		fmt.Fprintf(w, "string fields skipped %d\n", s.stringFields)
	}
	fmt.Fprintf(w, "input errors %d", s.inputErrors)
	if len(s.errorLines) > 0 {
		fmt.Fprintf(w, " (%s", strings.Join(s.errorLines, ", "))
		if n := s.inputErrors - int64(len(s.errorLines)); n > 0 {
			fmt.Fprintf(w, ", and %d more", n)
		}
		fmt.Fprint(w, ")")
	}
	fmt.Fprintln(w)
	if s.back > 0 {
		fmt.Fprintf(w, "records arriving before the latest arrival read %d (the first %s behind it): a capture is in arrival order, and the engine clock stayed at the latest\n", s.back, s.firstBack)
	}
	keys := make([]string, 0, len(s.events))
	for k := range s.events {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, s.events[k]))
	}
	if len(parts) == 0 {
		parts = append(parts, "none")
	}
	fmt.Fprintf(w, "events: %s\n", strings.Join(parts, ", "))
	if st.DuplicateStorms > 0 || st.IngestLags > 0 || st.SourceOverflow > 0 {
		fmt.Fprintf(w, "sources %d: duplicate storms %d, ingest lag %d", st.Sources, st.DuplicateStorms, st.IngestLags)
		if st.SourceOverflow > 0 {
			fmt.Fprintf(w, ", samples of sources over the limit %d", st.SourceOverflow)
		}
		fmt.Fprintln(w)
	}
	if st.BadArrival > 0 { // replay leaves Config.MaxArrivalLag at its default
		fmt.Fprintf(w, "rejected %d samples that arrived more than %v after their sample time and the engine clock\n", st.BadArrival, fault.DefaultMaxArrivalLag)
	}
	if st.Looped > 0 {
		fmt.Fprintf(w, "rejected %d samples carrying %s: faultline's own output fed back in\n", st.Looped, fault.OriginLabel)
	}
	if st.EvalErrors > 0 || st.SinkErrors > 0 || st.SeriesOverflow > 0 {
		fmt.Fprintf(w, "rule evaluation errors %d, sink errors %d, series over the limit %d\n", st.EvalErrors, st.SinkErrors, st.SeriesOverflow)
	}
	if st.SeriesEvicted > 0 || st.AlertOverflow > 0 {
		fmt.Fprintf(w, "series evicted after SeriesTTL %d, alerts over the limit %d\n", st.SeriesEvicted, st.AlertOverflow)
	}
}

// looksLikeCapture reports whether a line reads as a capture record, an
// arrival time in decimal and a space before the line protocol.
func looksLikeCapture(line []byte) bool {
	digits, rest, ok := bytes.Cut(line, []byte{' '})
	if !ok || len(digits) == 0 || len(rest) == 0 || rest[0] == ' ' {
		return false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// explainer prints explanations to w, counting them in n, or is nil when
// off.
func explainer(on bool, w io.Writer, n *int64) func(fault.Explanation) {
	if !on {
		return nil
	}
	return func(x fault.Explanation) {
		*n++
		fmt.Fprintf(w, "explain %s\n", x)
	}
}

// nothingExplained says why --explain sel printed nothing, given how many
// samples read it matched (after the checkpoint when resumed): silence
// would not tell a selector that matches nothing (a typo) from a series no
// rule evaluates. Only rule evaluations are explained, of the samples the
// engine takes as fresh and in order.
func nothingExplained(w io.Writer, sel string, matched int64, haveRules, resumed bool) {
	fmt.Fprintf(w, "faultline replay: --explain %s: nothing explained: ", sel)
	switch {
	case matched == 0 && resumed:
		fmt.Fprintln(w, "no sample of the input after the checkpoint matches it")
	case matched == 0:
		fmt.Fprintln(w, "no sample of the input matches it")
	case !haveRules:
		fmt.Fprintf(w, "%d samples match it, but no rule evaluated them: without --rules there are none (the built-in detectors are not explained)\n", matched)
	default:
		fmt.Fprintf(w, "%d samples match it, but no rule evaluated them: no rule of --rules selects their series (or the engine took none of those samples as fresh and in order: see the summary)\n", matched)
	}
}
