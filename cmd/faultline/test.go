package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/ruletest"
)

// test runs rule unit test files (see package ruletest), as promtool test
// rules does: for each file, SUCCESS or every failed assertion with its
// file:line:col. It exits 0 when every test passes, 1 when one fails or a
// test file or rule file is invalid, 2 on a usage error.
func test(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: faultline test FILE...\n\n"+
			"Runs rule unit tests (promtool's test file format, plus delivery\n"+
			"and transition_test; see README.md).\n"+
			"Exit status: 0 all tests pass, 1 a test fails or a file is invalid, 2 usage.\n")
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return exitUsage
	}
	failed := false
	for _, path := range fs.Args() {
		fmt.Fprintf(stdout, "Unit testing: %s\n", path)
		res, err := ruletest.RunFile(context.Background(), path, fault.Config{})
		if err != nil {
			failed = true
			fmt.Fprintln(stdout, "  INVALID:")
			var b strings.Builder
			printRuleErrors(&b, err)
			printIndented(stdout, b.String())
			continue
		}
		if !res.Failed() {
			fmt.Fprintf(stdout, "  SUCCESS (%d tests)\n", len(res.Tests))
			continue
		}
		failed = true
		fmt.Fprintln(stdout, "  FAILED:")
		for _, t := range res.Tests {
			for _, f := range t.Failures {
				printIndented(stdout, f)
			}
		}
	}
	if failed {
		return exitFail
	}
	return exitOK
}

// printIndented prints s indented by four spaces, each line ended.
func printIndented(w io.Writer, s string) {
	for line := range strings.Lines(s) {
		fmt.Fprintf(w, "    %s", strings.TrimSuffix(line, "\n")+"\n")
	}
}
