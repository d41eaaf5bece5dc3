package ruletest_test

import (
	"context"
	"fmt"

	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/ruletest"
)

// Run a rule test file, as faultline test does, and print each test's
// outcome.
func ExampleRunFile() {
	res, err := ruletest.RunFile(context.Background(), "testdata/pass.test.yaml", fault.Config{})
	if err != nil {
		panic(err)
	}
	for _, t := range res.Tests {
		fmt.Printf("%s: %d failures\n", t.Name, len(t.Failures))
	}
	// Output:
	// disk fills: 0 failures
	// nothing fires below the threshold: 0 failures
	// four copies, lag, a sample out of order: 0 failures
}
