package mqtt_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/clock"
	"github.com/faultline-go/faultline/contrib/mqtt"
	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/pipeline"
	"github.com/faultline-go/faultline/sink"
	"github.com/faultline-go/faultline/stream"
)

func event(kind fault.Kind, id string, labels stream.Labels) fault.Event {
	return fault.Event{ID: id, Episode: id, Kind: kind, Rule: string(kind), State: fault.StateFiring,
		At: t0.UnixNano(), Labels: labels, Value: math.NaN()}
}

// The publisher's queue is bounded: when it is full the oldest event goes,
// counted; what is still queued when Close's context ends is counted as
// undelivered and reported; nothing is lost uncounted.
func TestPublisherQueueIsBounded(t *testing.T) {
	c, err := mqtt.New(mqtt.Config{Broker: "tcp://127.0.0.1:1", ClientID: "never-connected", Publish: mqtt.Publish{QueueSize: 4}})
	require.NoError(t, err)
	p := c.Publisher()
	for i := range 10 {
		err := p.Emit(context.Background(), event(fault.KindAbsence, string(rune('a'+i)), nil))
		if i < 4 {
			require.NoError(t, err)
		} else {
			require.ErrorIs(t, err, sink.ErrQueueFull)
		}
	}
	require.NoError(t, p.Start())
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = p.Close(ctx)
	require.ErrorIs(t, err, sink.ErrUndelivered)
	require.ErrorIs(t, p.Close(ctx), sink.ErrUndelivered, "idempotent")
	require.ErrorIs(t, p.Emit(context.Background(), event(fault.KindAbsence, "late", nil)), sink.ErrClosed)
	require.ErrorIs(t, p.Start(), sink.ErrClosed)
	st := p.Stats()
	require.Equal(t, uint64(11), st.Events)
	require.Equal(t, uint64(6), st.Dropped[sink.ReasonQueueFull])
	require.Equal(t, uint64(4), st.Dropped[sink.ReasonUndelivered])
	require.Equal(t, uint64(1), st.Dropped[sink.ReasonClosed])
	require.Equal(t, st.Events, st.Sent+st.DroppedTotal()+uint64(st.Queued))
}

// Events go out as JSON, not retained, one topic per kind and bad_input
// to the errors topic, each carrying OriginLabel (added if missing), and
// are counted as sent once the broker acknowledged them.
func TestPublisherTopicsAndOrigin(t *testing.T) {
	b := startBroker(t, brokerOpts{})
	bus := dial(t, b.url(), "observer", true, "ops/#")
	c, err := mqtt.New(mqtt.Config{Broker: b.url(), ClientID: "pub", Backoff: backoff,
		Publish: mqtt.Publish{EventsTopic: "ops/faults/", ErrorsTopic: "ops/errors", Instance: "edge-7"}})
	require.NoError(t, err)
	p := c.Publisher()
	require.NoError(t, p.Emit(context.Background(), event(fault.KindAbsence, "a1", stream.NewLabels("host", "h1"))))
	require.NoError(t, p.Emit(context.Background(), event(fault.KindBadInput, "b1", stream.NewLabels(fault.InputLabel, "x", fault.OriginLabel, "faultline"))))
	require.NoError(t, p.Start())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, nil) }()
	waitFor(t, 10*time.Second, func() bool { return len(bus.received()) == 2 }, "both events on the bus")
	require.NoError(t, p.Close(context.Background()))
	cancel()
	require.NoError(t, <-done)

	got := map[string]busEvent{}
	for i, ev := range events(t, bus.received()) {
		require.False(t, bus.received()[i].retained)
		got[ev.Topic] = ev
	}
	require.Equal(t, "a1", got["ops/faults/absence"].ID)
	require.Equal(t, map[string]string{"host": "h1", fault.OriginLabel: "edge-7"}, got["ops/faults/absence"].Labels)
	require.Equal(t, "b1", got["ops/errors"].ID)
	require.Equal(t, "faultline", got["ops/errors"].Labels[fault.OriginLabel], "an origin is kept")
	st := p.Stats()
	require.Equal(t, uint64(2), st.Sent)
	require.Zero(t, st.DroppedTotal())
}

// lostAck is a paho client whose publishes of a payload holding lose are
// never acknowledged (the message and its PUBACK went astray).
type lostAck struct {
	paho.Client
	lose []byte
}

func (l lostAck) Publish(topic string, qos byte, retained bool, payload any) paho.Token {
	if b, _ := payload.([]byte); bytes.Contains(b, l.lose) {
		return pendingToken{make(chan struct{})}
	}
	return l.Client.Publish(topic, qos, retained, payload)
}

// pendingToken is a token that never completes.
type pendingToken struct{ done chan struct{} }

func (t pendingToken) Wait() bool { <-t.done; return true }
func (t pendingToken) WaitTimeout(d time.Duration) bool {
	select {
	case <-t.done:
		return true
	case <-time.After(d):
		return false
	}
}
func (t pendingToken) Done() <-chan struct{} { return t.done }
func (pendingToken) Error() error            { return nil }

// When Close gives up while the publisher waits for an acknowledgement,
// the events of the batch that the broker did acknowledge are sent, and
// only the one still waiting is undelivered.
func TestPublisherCloseCountsWhatWasAcknowledged(t *testing.T) {
	b := startBroker(t, brokerOpts{})
	bus := dial(t, b.url(), "observer", true, "ops/#")
	c, err := mqtt.New(mqtt.Config{Broker: b.url(), ClientID: "pub", Backoff: backoff,
		Publish: mqtt.Publish{EventsTopic: "ops/faults/"}})
	require.NoError(t, err)
	mqtt.WrapPaho(c, func(pc paho.Client) paho.Client { return lostAck{pc, []byte(`"id":"b"`)} })
	p := c.Publisher()
	for _, id := range []string{"a", "b", "c"} {
		require.NoError(t, p.Emit(context.Background(), event(fault.KindAbsence, id, nil)))
	}
	require.NoError(t, p.Start())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, nil) }()
	waitFor(t, 10*time.Second, func() bool { return len(bus.received()) == 2 }, "a and c on the bus")
	cctx, ccancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer ccancel()
	err = p.Close(cctx)
	require.ErrorIs(t, err, sink.ErrUndelivered)
	require.ErrorContains(t, err, "1 in sink")
	cancel()
	require.NoError(t, <-done)
	st := p.Stats()
	require.Equal(t, uint64(2), st.Sent, "a and c were acknowledged")
	require.Equal(t, uint64(1), st.Dropped[sink.ReasonUndelivered])
	require.Equal(t, st.Events, st.Sent+st.DroppedTotal()+uint64(st.Queued))
}

// lostSubAck is a paho client whose first subscription is never
// acknowledged (the SUBACK went astray); the next ones go to the broker.
type lostSubAck struct {
	paho.Client
	calls *atomic.Int32
}

func (l lostSubAck) SubscribeMultiple(filters map[string]byte, cb paho.MessageHandler) paho.Token {
	if l.calls.Add(1) == 1 {
		return pendingToken{make(chan struct{})}
	}
	return l.Client.SubscribeMultiple(filters, cb)
}

// A subscription the broker does not acknowledge in time is tried again
// while the connection lasts: the client would otherwise stay connected
// and receive nothing until the connection dropped.
func TestUnacknowledgedSubscriptionIsTriedAgain(t *testing.T) {
	b := startBroker(t, brokerOpts{})
	c, err := mqtt.New(mqtt.Config{Broker: b.url(), ClientID: "sub", Backoff: backoff, ConnectTimeout: 300 * time.Millisecond,
		Subscriptions: []mqtt.Subscription{{Filter: "lp/#", Format: mqtt.LineProtocol}}})
	require.NoError(t, err)
	calls := &atomic.Int32{}
	mqtt.WrapPaho(c, func(pc paho.Client) paho.Client { return lostSubAck{pc, calls} })
	rt, err := pipeline.New(pipeline.Config{Clock: clock.NewFake(t0)})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	rtDone, cDone := make(chan error, 1), make(chan error, 1)
	go func() { rtDone <- rt.Run(ctx) }()
	go func() { cDone <- c.Run(ctx, rt) }()
	waitFor(t, 10*time.Second, func() bool { return c.Stats().Subscribed > 0 }, "subscribed on the second attempt")
	st := c.Stats()
	require.EqualValues(t, 1, st.SubscribeErrs)
	require.EqualValues(t, 1, st.Connects, "on the same connection")
	require.EqualValues(t, 2, calls.Load())
	dial(t, b.url(), "device", true).publish("lp/a", 1, fmt.Sprintf("up,host=a value=1 %d", t0.UnixNano()))
	waitFor(t, 10*time.Second, func() bool { return c.Stats().Samples == 1 }, "the data comes in")
	cancel()
	require.NoError(t, <-cDone)
	require.NoError(t, <-rtDone)
}
