package mqtt_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/contrib/mqtt"
)

// syncBuffer is a bytes.Buffer safe for concurrent writes, for a logger.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A broker that grants QoS 0 where the client asked for QoS 1 (Mosquitto's
// max_qos 0) makes delivery at most once: a message lost between broker
// and client is never sent again. The client logs it and reports the
// subscriptions granted so; it went unnoticed.
func TestSubscriptionGrantedAtQoS0IsReported(t *testing.T) {
	b := startBroker(t, brokerOpts{maxQoS0: true})
	logs := &syncBuffer{}
	r := newRig(t, rigConfig{broker: b, logger: slog.New(slog.NewTextHandler(logs, nil)),
		subs: []mqtt.Subscription{{Filter: "a/#"}, {Filter: "b/#"}}})
	require.EqualValues(t, 2, r.c.Stats().AtMostOnce)
	require.Equal(t, 2.0, r.metric("faultline_mqtt_at_most_once_subscriptions"))
	require.Contains(t, logs.String(), "at most once")
	// The data still comes in (published at QoS 0: this listener refuses more).
	dial(t, b.url(), "device", true).publish("a/x", 0, fmt.Sprintf("up,host=a value=1 %d", t0.UnixNano()))
	waitFor(t, 10*time.Second, func() bool { return r.c.Stats().Samples == 1 }, "the data comes in")

	full := newRig(t, rigConfig{broker: startBroker(t, brokerOpts{}), subs: []mqtt.Subscription{{Filter: "a/#"}}})
	require.Zero(t, full.c.Stats().AtMostOnce, "granted QoS 1")
}
