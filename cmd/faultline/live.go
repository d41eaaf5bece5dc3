package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/faultline-go/faultline/dedup"
	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/metrics"
	"github.com/faultline-go/faultline/pipeline"
	"github.com/faultline-go/faultline/rules"
	"github.com/faultline-go/faultline/sink"
)

// What run and execd share: the runtime's flags, the logger, rule reloads
// and signals.

// liveFlags are the flags of the runtime, its engines and its logs.
type liveFlags struct {
	cmd         string // run or execd, for messages
	ruleFiles   stringList
	state       *string
	every       *time.Duration
	shards      *int
	instance    *string
	sourceLabel *string
	tau         *time.Duration
	lateness    *time.Duration
	absent      *time.Duration
	window      *time.Duration
	logLevel    *string
	logFormat   *string
	precision   precisionFlag
}

func addLiveFlags(fs *flag.FlagSet, defaultLevel string) *liveFlags {
	f := &liveFlags{
		cmd:         fs.Name(),
		state:       fs.String("state", "", "checkpoint `FILE`: restored at start, written every --checkpoint-every and at shutdown (default: none, nothing survives a restart); locked while in use (FILE.lock): another process on it refuses to start"),
		every:       fs.Duration("checkpoint-every", pipeline.DefaultCheckpointEvery, "time between checkpoints, with --state"),
		shards:      fs.Int("shards", 0, "engines run in parallel, each on a share of the series (default: one per CPU, or the checkpoint's)"),
		instance:    fs.String("instance", "", "this faultline's name in every event's faultline_origin label (default faultline)"),
		sourceLabel: fs.String("source-label", "", "label naming each sample's source for the duplicate_storm and ingest_lag detectors"),
		tau:         fs.Duration("on-time-budget", fault.DefaultOnTimeBudget, "τ: how late after its expected arrival a sample still counts as on time"),
		lateness:    fs.Duration("lateness", fault.DefaultLateness, "L: how long a slot may stay empty before it is judged lost"),
		absent:      fs.Duration("absent-after", 0, "absence threshold for series the rules don't declare (0: five slots, at least 2m)"),
		window:      fs.Duration("dedup-window", 0, "dedup window in sample time (0: dedup's default)"),
		logLevel:    fs.String("log-level", defaultLevel, "least level logged on stderr: debug, info, warn or error"),
		logFormat:   fs.String("log-format", "text", "log format: text or json"),
	}
	fs.Var(&f.ruleFiles, "rules", "rule `FILE` (repeatable); without it the built-in detectors run alone")
	fs.Var(&f.precision, "precision", "`unit` of the line-protocol timestamps read from a stream (TCP, standard input): ns, us, ms, s, m or h; HTTP writes name theirs in the request")
	return f
}

// inRange reports whether the flags of the runtime, and more, which must
// be above 0, are in range (see inRange), saying on stderr which is not.
func (f *liveFlags) inRange(fs *flag.FlagSet, stderr io.Writer, more ...string) bool {
	return inRange(fs, stderr, false, append(more, "checkpoint-every", "on-time-budget", "lateness")...) &&
		inRange(fs, stderr, true, "shards", "absent-after", "dedup-window")
}

// logger returns the logger the flags ask for, writing to w.
func (f *liveFlags) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(*f.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch *f.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: %q is neither text nor json", *f.logFormat)
}

// config returns the runtime's configuration with the rules read, or
// prints every positioned error in the rules to stderr. The --state is
// locked by pipeline.New, which refuses one in use by another process (or
// one that cannot be written): newError says so.
func (f *liveFlags) config(stderr io.Writer, log *slog.Logger) (cfg pipeline.Config, ok bool) {
	srcs, err := rules.ReadSources(f.ruleFiles...)
	if err == nil {
		_, err = rules.ParseSources(srcs...)
	}
	if err != nil {
		printRuleErrors(stderr, err)
		return pipeline.Config{}, false
	}
	return pipeline.Config{
		Engine: fault.Config{
			Dedup:        dedup.Config{Window: *f.window},
			OnTimeBudget: *f.tau,
			Lateness:     *f.lateness,
			AbsentAfter:  *f.absent,
			SourceLabel:  *f.sourceLabel,
			Instance:     *f.instance,
		},
		Rules:           srcs,
		Shards:          *f.shards,
		State:           *f.state,
		CheckpointEvery: *f.every,
		Logger:          log,
	}, true
}

// newError prints the error of pipeline.New: one about the --state (in
// use by another process, which it names, or not writable) names the
// flag.
func (f *liveFlags) newError(stderr io.Writer, err error) {
	var se *pipeline.StateError
	if errors.As(err, &se) {
		fmt.Fprintf(stderr, "faultline %s: --state %s: %v\n", f.cmd, se.State, se.Err)
		return
	}
	printRuleErrors(stderr, err)
}

// reloader reloads the rule files into a runtime: what SIGHUP and POST
// /-/reload do. A failed reload keeps the old rules, logs every positioned
// error and is counted (by the runtime when the rules are invalid, here
// when a file cannot be read).
//
// A stop (SIGTERM, SIGINT) does not wait for a reload under way: reading
// the files may take for ever (a FIFO, a hung network file system), and
// the runtime stops with the rules it has, which its last checkpoint
// names; the next start reads the files anew. The reload is abandoned,
// which the log says (stopping), and not counted as failed: it was not
// refused, only cut short. Had it already reached the runtime, waiting
// for a checkpoint's pause, the runtime counts it as not applied
// (pipeline.Runtime.Reload).
type reloader struct {
	rt      *pipeline.Runtime
	files   []string
	log     *slog.Logger
	readErr atomic.Uint64
	busy    atomic.Int32 // reloads under way
}

// watch reloads the rules at every value of hup, one at a time, until ctx
// ends, on a goroutine of its own: the loop that waits for the stop must
// not wait for a reload.
func (r *reloader) watch(ctx context.Context, hup <-chan os.Signal) {
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				_ = r.reload(ctx)
			}
		}
	}()
}

// stopping logs that a reload under way is abandoned, if one is.
func (r *reloader) stopping() {
	if r.busy.Load() > 0 {
		r.log.Warn("stopping during a reload: it is abandoned, the old rules stay; the next start reads the rule files", "files", strings.Join(r.files, ","))
	}
}

func (r *reloader) reload(ctx context.Context) error {
	r.busy.Add(1)
	defer r.busy.Add(-1)
	srcs, err := rules.ReadSources(r.files...)
	if err != nil {
		r.readErr.Add(1)
		var errs rules.Errors
		if errors.As(err, &errs) {
			for _, e := range errs {
				r.log.Error("reload refused: the old rules stay", "err", e)
			}
		}
		return fmt.Errorf("reload refused, the old rules stay: %w", err)
	}
	if err := ctx.Err(); err != nil { // cut short while the files were read: abandoned
		return fmt.Errorf("reload abandoned, the old rules stay: %w", err)
	}
	if err := r.rt.Reload(ctx, srcs); err != nil {
		return err // logged and counted by the runtime
	}
	r.log.Info("rules reloaded", "files", strings.Join(r.files, ","))
	return nil
}

// AppendMetrics appends the reloads that failed for a file that could not
// be read.
func (r *reloader) AppendMetrics(dst []metrics.Metric) []metrics.Metric {
	return append(dst, metrics.C("faultline_reload_read_errors_total",
		"Rule reloads refused because a rule file could not be read (invalid rules are counted in faultline_runtime_reload_errors_total).", r.readErr.Load()))
}

// signals returns a context that ends at SIGTERM or SIGINT, and a channel
// of SIGHUPs. It also takes SIGPIPE: without it, a write to standard
// output once its reader is gone (Telegraf, or the command piped into,
// died) kills the process before its last checkpoint; with it, the write
// fails (EPIPE) and is handled as any failed write.
func signals() (context.Context, <-chan os.Signal, func()) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	pipe := make(chan os.Signal, 1) // never read: the signal only has to be taken
	signal.Notify(pipe, syscall.SIGPIPE)
	return ctx, hup, func() { stop(); signal.Stop(hup); signal.Stop(pipe) }
}

// stoppedCode logs what went wrong in the runtime's shutdown (err, from
// pipeline.Runtime.Run) and returns the exit code of a stop that was asked
// for: 0 if all that went wrong is events a sink could not deliver in time
// (logged here, counted by the sink: the sink's receiver was down, not
// faultline), 1 for anything else, such as a checkpoint not written.
func stoppedCode(log *slog.Logger, err error) int {
	code := exitOK
	for _, e := range leafErrors(err) {
		if errors.Is(e, sink.ErrUndelivered) {
			log.Error("events undelivered at shutdown", "err", e)
			continue
		}
		log.Error("shutdown", "err", e)
		code = exitFail
	}
	return code
}

// leafErrors returns the errors err joins (errors.Join, nested), or err.
func leafErrors(err error) []error {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		if err == nil {
			return nil
		}
		return []error{err}
	}
	var out []error
	for _, e := range j.Unwrap() {
		out = append(out, leafErrors(e)...)
	}
	return out
}

// buildInfo is the faultline_build_info gauge.
func buildInfo(dst []metrics.Metric) []metrics.Metric {
	return append(dst, metrics.G("faultline_build_info", "Always 1; the version of faultline and of Go it was built with.", 1).
		With("version", version()).With("goversion", goVersion()))
}
