package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/faultline-go/faultline/rules"
)

// check lints rule files: every error of every file, one per line.
func check(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, "usage: faultline check FILE...\n")
		return exitUsage
	}
	failed := false
	for _, path := range args {
		rs, err := rules.ParseFiles(path)
		if err != nil {
			failed = true
			printRuleErrors(stderr, err)
			continue
		}
		fmt.Fprintf(stdout, "%s: ok (%d rules)\n", path, len(rs.Rules()))
	}
	if failed {
		return exitFail
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
