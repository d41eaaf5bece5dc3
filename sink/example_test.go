package sink_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/sink"
	"github.com/faultline-go/faultline/stream"
)

// absence returns the firing and resolved events of one absence episode.
func absence() (fire, resolve fault.Event) {
	at := time.Date(2017, 1, 12, 0, 35, 11, 980000000, time.UTC)
	fire = fault.Event{
		ID: "9c1f0e0a5b7d2e41", Episode: "5e0d8b1c2a3f4e67", Kind: fault.KindAbsence, Rule: "absence",
		State: fault.StateFiring, At: at.UnixNano(), Since: at.Add(-5 * time.Minute).UnixNano(),
		Labels: stream.NewLabels("__name__", "check_latency", "check", "c001468", fault.OriginLabel, "collector-1"),
		Value:  math.NaN(),
	}
	resolve = fire
	resolve.ID, resolve.State, resolve.At = "0b6e2f9d8c7a1e35", fault.StateResolved, at.Add(2*time.Minute).UnixNano()
	return fire, resolve
}

func ExampleJSONLines() {
	s := sink.NewJSONLines(os.Stdout, nil)
	if err := s.Start(); err != nil {
		panic(err)
	}
	// The engine calls Emit (give it s as its fault.Sink); Emit only
	// queues.
	fire, resolve := absence()
	_ = s.Emit(context.Background(), fire)
	_ = s.Emit(context.Background(), resolve)
	// Close writes what is queued, within its context.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		panic(err)
	}
	st := s.Stats()
	fmt.Println("sent", st.Sent, "dropped", st.DroppedTotal())
	// Output:
	// {"id":"9c1f0e0a5b7d2e41","episode":"5e0d8b1c2a3f4e67","kind":"absence","rule":"absence","state":"firing","at":"2017-01-12T00:35:11.980000000Z","since":"2017-01-12T00:30:11.980000000Z","labels":{"__name__":"check_latency","check":"c001468","faultline_origin":"collector-1"}}
	// {"id":"0b6e2f9d8c7a1e35","episode":"5e0d8b1c2a3f4e67","kind":"absence","rule":"absence","state":"resolved","at":"2017-01-12T00:37:11.980000000Z","since":"2017-01-12T00:30:11.980000000Z","labels":{"__name__":"check_latency","check":"c001468","faultline_origin":"collector-1"}}
	// sent 2 dropped 0
}

func ExampleLineProtocol() {
	s := sink.NewLineProtocol(os.Stdout, nil)
	fire, _ := absence()
	_ = s.Emit(context.Background(), fire)
	if err := s.Close(context.Background()); err != nil { // Close without Start delivers too
		panic(err)
	}
	// Output:
	// faultline_event,check=c001468,faultline_kind=absence,faultline_metric=check_latency,faultline_origin=collector-1,faultline_rule=absence,faultline_state=firing id="9c1f0e0a5b7d2e41",episode="5e0d8b1c2a3f4e67",since=1484181011980000000i 1484181311980000000
}

func ExampleAlertmanager() {
	// A stand-in for Alertmanager's API that prints what it receives.
	am := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var alerts []struct {
			Labels      map[string]string
			Annotations map[string]string
			EndsAt      time.Time
		}
		_ = json.Unmarshal(body, &alerts)
		for _, a := range alerts {
			fmt.Println(r.URL.Path, a.Labels)
			fmt.Println("  summary:", a.Annotations["summary"], "| resolved:", a.EndsAt.Before(time.Now()))
		}
	}))
	defer am.Close()

	s := sink.NewAlertmanager(am.URL, nil)
	if err := s.Start(); err != nil {
		panic(err)
	}
	fire, resolve := absence()
	pending := fire
	pending.State = fault.StatePending
	_ = s.Emit(context.Background(), pending) // not sent
	_ = s.Emit(context.Background(), fire)
	for s.Stats().Sent < 1 {
		time.Sleep(time.Millisecond)
	}
	_ = s.Emit(context.Background(), resolve)
	if err := s.Close(context.Background()); err != nil {
		panic(err)
	}
	// Output:
	// /api/v2/alerts map[__name__:check_latency alertname:absence check:c001468 faultline_origin:collector-1]
	//   summary: check_latency{check="c001468"} stopped reporting | resolved: false
	// /api/v2/alerts map[__name__:check_latency alertname:absence check:c001468 faultline_origin:collector-1]
	//   summary: check_latency{check="c001468"} stopped reporting | resolved: true
}
