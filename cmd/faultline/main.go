// Command faultline lints rule files, replays metric streams through the
// engine offline, and runs it live.
//
//	faultline check [--lint=all|none] FILE...
//	faultline test FILE...
//	faultline replay [--rules FILE]... [--capture] [flags] [FILE ... | -]
//	faultline run [--listen ADDR] [--rules FILE]... [--state FILE] [--alertmanager URL]... [--webhook URL]... [--stdin] [flags]
//	faultline execd [--rules FILE]... [--state FILE] [flags]
//	faultline --version
//
// check exits 0 when every file is valid and clean, 1 with every error
// listed as file:line:col, and 3 when the files are valid but lints find
// something (rules that can never match, duplicate names, a `for` below
// twice the declared cadence), as promtool does. test runs rule unit tests
// (promtool's format, plus delivery faults and transition tests) and exits
// 0 when all pass, 1 otherwise. replay prints one JSON object per event on
// stdout and a summary on stderr; it exits 0 when it ran (bad input records are reported,
// counted and skipped), 1 when the rules are invalid or a file cannot be
// read, and 2 on a usage error. See README.md for the replay contract.
//
// run serves InfluxDB's write APIs (and, on request, a TCP line-protocol
// listener and standard input), GET /metrics, GET /healthz and POST
// /-/reload, prints events as JSON Lines on stdout and sends them to
// Alertmanagers and webhooks; SIGHUP reloads the rules, SIGTERM flushes,
// checkpoints and exits 0. execd is a processor for Telegraf's
// processors.execd: every line in passes through on stdout, events are
// added as line protocol. Both exit 1 when they cannot start (invalid
// rules, a checkpoint that cannot be read or written, an address in use,
// a --state in use) and 2 on a usage error.
//
// A --state (of run, execd or replay) is used by one process at a time:
// each holds an exclusive flock(2) on FILE.lock, beside it, for its life,
// and writes its PID there. A second process on the same state (Telegraf
// restarting execd while the old one still stops, a manual run beside the
// service's) refuses to start, exit 1, naming the state, the lock file and
// the PID that holds it, instead of overwriting the first's checkpoints.
// The system releases the lock when its process ends, even by SIGKILL, so
// no stale lock is left; the lock file stays, and must not be removed
// while a process may hold it. Holding the lock, the process removes the
// temporary files (FILE.tmp-NUMBER) that checkpoint writes killed before
// their rename left beside the state. Where package syscall has no flock
// (Windows, AIX, Solaris), the state is not locked, and those files stay.
package main

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

const usage = `usage:
  faultline check [--lint=all|none] FILE...
  faultline test FILE...
  faultline replay [--rules FILE]... [--capture] [flags] [FILE ... | -]
  faultline run [--listen ADDR] [--rules FILE]... [--state FILE] [--alertmanager URL]... [--webhook URL]... [--stdin] [flags]
  faultline execd [--rules FILE]... [--state FILE] [flags]
  faultline --version

Run "faultline COMMAND -h" for a command's flags.
`

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "check":
		return check(args[1:], stdout, stderr)
	case "replay":
		return replay(args[1:], stdin, stdout, stderr)
	case "test":
		return test(args[1:], stdout, stderr)
	case "run":
		return runCommand(args[1:], stdin, stdout, stderr)
	case "execd":
		return execdCommand(args[1:], stdin, stdout, stderr)
	case "--version", "-version", "version":
		printVersion(stdout)
		return exitOK
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "faultline: unknown command %q\n%s", args[0], usage)
	return exitUsage
}

// parseFlags parses a command's flags and reports whether the command goes
// on; when it does not, code is its exit code: 0 when asked for help, 2
// for bad flags (the flag package has said why).
func parseFlags(fs *flag.FlagSet, args []string) (code int, ok bool) {
	switch err := fs.Parse(flagsFirst(fs, args)); {
	case err == nil:
		return exitOK, true
	case errors.Is(err, flag.ErrHelp):
		return exitOK, false
	default:
		return exitUsage, false
	}
}

// flagsFirst returns args with the flags moved before the other
// arguments, so that flags may follow file names, as promtool's do
// ("faultline check rules.yaml --lint=none"). "--" ends the flags, and "-"
// (standard input) is an argument. A flag's value is the next argument
// unless the flag is boolean or written with "="; flags fs does not know
// are left for Parse to report.
func flagsFirst(fs *flag.FlagSet, args []string) []string {
	var flags, rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			rest = append(rest, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		f := fs.Lookup(name)
		if f == nil {
			continue
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			continue
		}
		if i+1 == len(args) {
			return flags // Parse says the value is missing
		}
		flags = append(flags, args[i+1])
		i++
	}
	return append(append(flags, "--"), rest...)
}

// noArgs reports whether a command that takes only flags was given
// nothing else, saying so on stderr when it was.
func noArgs(fs *flag.FlagSet, stderr io.Writer) bool {
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "faultline %s: unexpected arguments %q\n", fs.Name(), fs.Args())
		return false
	}
	return true
}

// inRange reports whether each named flag (an int, an int64 or a
// duration) is above 0, or at least 0 when zeroOK, saying on stderr which
// is not. The libraries take 0, and some any value below it, for their
// default: set explicitly, such a value would be ignored without a word.
func inRange(fs *flag.FlagSet, stderr io.Writer, zeroOK bool, names ...string) bool {
	for _, name := range names {
		f := fs.Lookup(name)
		var sign int
		switch v := f.Value.(flag.Getter).Get().(type) {
		case int:
			sign = cmp.Compare(v, 0)
		case int64:
			sign = cmp.Compare(v, 0)
		case time.Duration:
			sign = cmp.Compare(v, 0)
		default:
			panic("inRange: --" + name + " is not a number")
		}
		switch {
		case sign < 0 && zeroOK:
			fmt.Fprintf(stderr, "faultline %s: --%s must be 0 or more, not %v\n", fs.Name(), name, f.Value)
			return false
		case sign <= 0 && !zeroOK:
			fmt.Fprintf(stderr, "faultline %s: --%s must be above 0, not %v\n", fs.Name(), name, f.Value)
			return false
		}
	}
	return true
}
