package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/faultline-go/faultline/rules"
)

// exitLint is check's exit code when every file is valid but the lints
// found something, as promtool check rules exits with --lint-fatal.
const exitLint = 3

// check validates and lints rule files, each on its own: every error of
// every file, one per line on stderr, then the lint findings of the valid
// files. It exits 1 if any file has errors, else 3 if there are findings,
// else 0.
func check(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	lint := fs.String("lint", "all", "lints to run: `all|none`")
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: faultline check [--lint=all|none] FILE...\n\n"+
			"Exit status: 0 all files valid and no lint findings, 1 errors,\n"+
			"3 lint findings only (warnings: the rules load), 2 usage.\n\nflags:\n")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *lint != "all" && *lint != "none" {
		fmt.Fprintf(stderr, "faultline check: --lint must be all or none, not %q\n", *lint)
		return exitUsage
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return exitUsage
	}
	failed, linted := false, false
	for _, path := range fs.Args() {
		rs, err := rules.ParseFiles(path)
		if err != nil {
			failed = true
			printRuleErrors(stderr, err)
			continue
		}
		var findings []rules.Finding
		if *lint == "all" {
			findings = rs.Lint()
		}
		if len(findings) == 0 {
			fmt.Fprintf(stdout, "%s: ok (%d rules)\n", path, rs.Len())
			continue
		}
		linted = true
		for _, f := range findings {
			fmt.Fprintln(stderr, f)
		}
		fmt.Fprintf(stdout, "%s: %d rules, %d lint findings\n", path, rs.Len(), len(findings))
	}
	switch {
	case failed:
		return exitFail
	case linted:
		return exitLint
	}
	return exitOK
}

// printRuleErrors prints each error of a parse on its own line.
func printRuleErrors(w io.Writer, err error) {
	var errs rules.Errors
	if errors.As(err, &errs) {
		for _, e := range errs {
			fmt.Fprintln(w, e)
		}
		return
	}
	fmt.Fprintln(w, err)
}
