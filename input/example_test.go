package input_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/faultline-go/faultline/clock"
	"github.com/faultline-go/faultline/input"
	"github.com/faultline-go/faultline/pipeline"
)

// An HTTP input in front of a runtime: a write with a bad line keeps its
// good lines and is answered as InfluxDB answers a partial write.
func ExampleHTTP() {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	rt, err := pipeline.New(pipeline.Config{Shards: 1, Clock: clk})
	if err != nil {
		panic(err)
	}
	h := input.NewHTTP(rt, input.HTTPOptions{Token: "s3cret"})
	rt.AddMetrics(h)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- rt.Run(ctx) }()

	body := "disk,host=db1,path=/ used_percent=97\ndisk,host=db2,path=/ used_percent=oops\n"
	req := httptest.NewRequest(http.MethodPost, "/api/v2/write?precision=s", strings.NewReader(body))
	req.Header.Set("Authorization", "Token s3cret")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	fmt.Println(w.Code, w.Body.String())

	if err := rt.Sync(context.Background()); err != nil {
		panic(err)
	}
	for _, m := range rt.AppendMetrics(nil) {
		switch m.Name {
		case "faultline_runtime_samples_total", "faultline_input_bad_records_total":
			fmt.Println(m.Name, m.Labels, m.Value)
		}
	}
	stop()
	fmt.Println(<-done)
	// Output:
	// 400 {"code":"invalid","message":"partial write: 1 of 2 records rejected, the others taken: line 2, column 35: field value has unrecognized type: \"disk,host=db2,path=/ used_percent=oops\" dropped=1"}
	//
	// faultline_runtime_samples_total [] 1
	// faultline_input_bad_records_total [{input http}] 1
	// <nil>
}
