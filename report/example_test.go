package report_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/faultline-go/faultline/bench/scenario"
	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/report"
)

// A report of the stratcond incident: the Builder is the engine's observer
// and its sink; the page is drawn at the end.
func Example() {
	spec := scenario.MustNamed("B01").WithN(2000).WithIncident(10*time.Minute, 15*time.Minute).WithHorizon(35 * time.Minute)
	spec.Replay = 0 // the lost samples never arrive
	ds, err := scenario.Generate(spec, 3)
	if err != nil {
		panic(err)
	}
	b, err := report.New(report.Options{Title: "stratcond"})
	if err != nil {
		panic(err)
	}
	eng, err := fault.New(fault.Config{Observer: b, Sink: b})
	if err != nil {
		panic(err)
	}
	defer eng.Deduper().Reset()
	ctx := context.Background()
	for batch := range ds.Batches(4096) {
		if err := eng.Process(ctx, batch); err != nil {
			panic(err)
		}
	}
	if err := eng.Close(ctx); err != nil {
		panic(err)
	}
	var page bytes.Buffer // or a file, to attach to the post-mortem
	if err := b.WriteHTML(&page); err != nil {
		panic(err)
	}
	fmt.Println(b.Headline())
	// Output:
	// One fleet periodic gap: every 1m0s, 12.14–13.64 s into each period, ~71 series; the missed samples never arrived: data loss.
}

// The live view, mounted under /ui/ of a host's mux.
func ExampleLive() {
	b, err := report.New(report.Options{})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ui/", http.StripPrefix("/ui", report.Live(b, 0)))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for _, path := range []string{"/ui/", "/ui/state.json"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			panic(err)
		}
		resp.Body.Close()
		fmt.Println(path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	// Output:
	// /ui/ 200 text/html; charset=utf-8
	// /ui/state.json 200 application/json
}
