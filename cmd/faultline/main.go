// Command faultline lints rule files and replays metric streams through the
// engine offline.
//
//	faultline check [--lint=all|none] FILE...
//	faultline test FILE...
//	faultline replay [--rules FILE]... [--capture] [flags] [FILE ... | -]
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
package main

import (
	"fmt"
	"io"
	"os"
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

Run "faultline replay -h" for replay's flags.
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
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "faultline: unknown command %q\n%s", args[0], usage)
	return exitUsage
}
