package input_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/metrics"
	"github.com/faultline-go/faultline/stream"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// recorder is a Runtime that keeps what it is given. Its clock moves
// only when a test moves it. With hold set, Ingest waits until it is
// closed or its context ends.
type recorder struct {
	mu      sync.Mutex
	now     time.Time
	samples []stream.Sample
	calls   int
	bad     []string // input: error
	hold    chan struct{}
	ingest  chan struct{} // signalled (if not full) on every Ingest call, once it has read hold
}

func newRecorder() *recorder { return &recorder{now: t0, ingest: make(chan struct{}, 1)} }

var errBusy = errors.New("busy")

func (r *recorder) Now() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.now
}

func (r *recorder) set(t time.Time) {
	r.mu.Lock()
	r.now = t
	r.mu.Unlock()
}

func (r *recorder) Ingest(ctx context.Context, batch []stream.Sample) error {
	r.mu.Lock()
	hold := r.hold
	r.mu.Unlock()
	select { // after hold is read: a test that sees the signal may change it
	case r.ingest <- struct{}{}:
	default:
	}
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return errBusy
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	r.samples = append(r.samples, batch...)
	return nil
}

func (r *recorder) BadInput(input string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bad = append(r.bad, input+": "+err.Error())
}

func (r *recorder) got() []stream.Sample {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]stream.Sample(nil), r.samples...)
}

func (r *recorder) badInputs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.bad...)
}

// value returns the metric of src with that name and labels (name,
// value pairs), failing the test if there is none.
func value(t *testing.T, src metrics.Source, name string, labels ...string) float64 {
	t.Helper()
	for _, m := range src.AppendMetrics(nil) {
		if m.Name != name || len(m.Labels) != len(labels)/2 {
			continue
		}
		match := true
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, l := range m.Labels {
				found = found || l.Name == labels[i] && l.Value == labels[i+1]
			}
			match = match && found
		}
		if match {
			return m.Value
		}
	}
	t.Fatalf("no metric %s%v", name, labels)
	return 0
}

// eventually waits up to 10 s for cond.
func eventually(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10s for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func sec(s int64) int64 { return t0.UnixNano() + s*int64(time.Second) }

func requireSample(t *testing.T, s stream.Sample, name string, ts, arrival int64, v float64) {
	t.Helper()
	require.Equal(t, name, s.Name)
	require.Equal(t, ts, s.Time, "sample time of %s", name)
	require.Equal(t, arrival, s.Arrival, "arrival of %s", name)
	require.Equal(t, v, s.Value)
}
