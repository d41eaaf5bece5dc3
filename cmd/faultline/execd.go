package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/faultline-go/faultline/input"
	"github.com/faultline-go/faultline/pipeline"
	"github.com/faultline-go/faultline/sink"
)

// execdCommand is faultline execd: a processor for Telegraf's
// processors.execd. Telegraf writes every metric to its standard input in
// line protocol and reads its standard output back as metrics; what it
// writes on standard error goes to Telegraf's log. To stop it, Telegraf
// closes its standard input, then after 5 s sends SIGTERM.
//
// Every line read is written back to stdout unchanged, byte for byte, as
// soon as it is read (whole lines: an event is never written in the middle
// of one), and its samples go to the runtime; the events are written to
// stdout as line-protocol metrics (measurement faultline_event), which
// carry faultline_origin, so that the loop guard rejects them if Telegraf
// feeds them back. At the end of input or at SIGTERM it flushes,
// checkpoints (with --state) and exits 0.
func execdCommand(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("execd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	lf := addLiveFlags(fs, "warn")
	maxLine := fs.Int("max-line", input.DefaultMaxLineBytes, "bytes of a line decoded; longer lines are passed through but not decoded (counted)")
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: faultline execd [--rules FILE]... [--state FILE] [flags]\n\n"+
			"A processor for Telegraf's processors.execd: line protocol in on stdin, every line\n"+
			"passed through on stdout, events added as faultline_event metrics.\n\nflags:\n")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if !noArgs(fs, stderr) || !lf.inRange(fs, stderr, "max-line") {
		return exitUsage
	}
	// Signals are taken before the slow part of the start, as run takes
	// them.
	ctx, hup, stopSignals := signals()
	defer stopSignals()
	log, err := lf.logger(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "faultline execd: %v\n", err)
		return exitUsage
	}
	cfg, ok := lf.config(stderr, log)
	if !ok {
		return exitFail
	}
	out := &lockedWriter{w: stdout}
	cfg.Sinks = []pipeline.Sink{sink.NewLineProtocol(out, &sink.Options{Name: "stdout", Logger: log})}
	rt, err := pipeline.New(cfg)
	if err != nil {
		lf.newError(stderr, err)
		return exitFail
	}
	rl := &reloader{rt: rt, files: lf.ruleFiles, log: log}
	in := input.NewReader(rt, input.Options{MaxLineBytes: *maxLine, Precision: time.Duration(lf.precision), Logger: log})
	rt.AddMetrics(in)

	runCtx, stopRuntime := context.WithCancel(context.Background())
	defer stopRuntime()
	ran := make(chan error, 1)
	go func() { ran <- rt.Run(runCtx) }()
	read := make(chan error, 1)
	pt := &passThrough{r: stdin, out: out}
	go func() { read <- in.Run(ctx, pt) }()

	rl.watch(ctx, hup)
	code := exitOK
loop:
	for {
		select {
		case err := <-read:
			if err != nil && ctx.Err() == nil {
				log.Error("reading standard input failed", "err", err)
				code = exitFail
			}
			break loop
		case err := <-ran:
			log.Error("the runtime stopped", "err", err)
			return exitFail
		case <-ctx.Done():
			break loop
		}
	}
	rl.stopping()
	// The reader may be blocked on stdin, or have stopped (a SIGTERM that
	// ended its wait for room in the runtime, which select may take as
	// the end of reading), in the middle of a line that holds stdout: the
	// line is ended, as at the end of input, so that the events of the
	// shutdown can be written.
	pt.end()
	stopRuntime()
	if stoppedCode(log, <-ran) != exitOK {
		return exitFail
	}
	return code
}

// lockedWriter serialises writes to stdout: the pass-through and the
// events' sink share it.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// passThrough writes everything read from r to out, unchanged, as soon as
// it is read. A read that ends in the middle of a line keeps out locked
// until the line's end is read and written, so that nothing else (an
// event) is written inside a line. Input that ends without a final
// newline gets one, for the same reason. Only one goroutine reads.
type passThrough struct {
	r      io.Reader
	out    *lockedWriter
	mu     sync.Mutex // guards locked and ended: end is called by another goroutine
	locked bool       // the last bytes written ended mid-line
	ended  bool       // end was called: nothing more is passed through
}

// errPassThroughEnded ends reading after end: the part of a line read
// after it is neither passed through nor decoded.
var errPassThroughEnded = errors.New("standard input no longer read: stopping")

func (p *passThrough) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ended {
		return 0, errPassThroughEnded
	}
	if n > 0 {
		if !p.locked {
			p.out.mu.Lock()
			p.locked = true
		}
		if _, werr := p.out.w.Write(b[:n]); werr != nil {
			p.unlock()
			return n, fmt.Errorf("writing standard output: %w", werr)
		}
		if b[n-1] == '\n' {
			p.unlock()
		}
	}
	if err != nil {
		p.endLine()
	}
	return n, err
}

// end ends a line left open on stdout, as the end of input does, and
// stops passing through, so that stdout is free for the events.
func (p *passThrough) end() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.endLine()
	p.ended = true
}

// endLine ends a line left open on stdout with a newline (with p.mu held).
func (p *passThrough) endLine() {
	if p.locked {
		_, _ = p.out.w.Write([]byte{'\n'})
		p.unlock()
	}
}

func (p *passThrough) unlock() {
	if p.locked {
		p.locked = false
		p.out.mu.Unlock()
	}
}
