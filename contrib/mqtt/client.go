package mqtt

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/metrics"
	"github.com/faultline-go/faultline/pipeline"
	"github.com/faultline-go/faultline/sink"
	"github.com/faultline-go/faultline/stream"
)

// Errors of the client, for errors.Is.
var (
	// ErrRefused means the broker refused the connection or a
	// subscription: bad user name or password, not authorised, client ID
	// or protocol version rejected. Run returns it at once and does not
	// retry: retrying cannot fix it.
	ErrRefused = errors.New("mqtt: refused by the broker")
	// ErrRunning means Run was called twice.
	ErrRunning = errors.New("mqtt: Run called twice")
)

// Client is one MQTT connection (one session at the broker) that feeds a
// runtime with the messages of its subscriptions and publishes its events
// through its Publisher: see the package doc. New builds it and starts
// nothing; Run connects and runs it.
type Client struct {
	s   *settings
	pc  paho.Client
	pub *Publisher

	ran       atomic.Bool
	rt        *pipeline.Runtime
	ingestCtx context.Context // ends when Run's context does
	stopping  atomic.Bool     // Run's context ended: messages are no longer taken
	resumed   atomic.Bool     // paho has listed the stored messages it sends again on this connection
	fatal     chan error      // a refusal met while reconnecting, for Run
	connWake  chan struct{}   // a connection came up (buffer 1: wake-ups coalesce)

	// Owned by the message handler, which paho calls from one goroutine.
	dec   *decoder
	batch []stream.Sample // from the runtime's Batch, nil once handed over

	ctr clientCounters
}

type clientCounters struct {
	messages, redelivered, samples, badMessages, badRecords, own    atomic.Uint64
	empty                                                           atomic.Uint64
	unmatched, unacked, connects, lost, connectErrors, subscribeErr atomic.Uint64
	subscribed, retained                                            atomic.Uint64
	atMostOnce                                                      atomic.Uint64 // a gauge: filters granted QoS 0
	connected                                                       atomic.Bool
}

var _ metrics.Source = (*Client)(nil)

// New returns a client configured by cfg, or every problem of cfg at once.
// It reads the TLS files and starts nothing.
func New(cfg Config) (*Client, error) {
	s, err := cfg.settle()
	if err != nil {
		return nil, err
	}
	c := &Client{s: s, fatal: make(chan error, 1), connWake: make(chan struct{}, 1), dec: newDecoder(s.MaxPayload)}
	o := paho.NewClientOptions().
		AddBroker(s.Broker).
		SetClientID(s.ClientID).
		SetUsername(s.Username).
		SetPassword(s.Password).
		SetCleanSession(s.CleanStart).
		SetProtocolVersion(4). // MQTT 3.1.1; no silent fallback to 3.1
		SetKeepAlive(s.KeepAlive).
		SetPingTimeout(s.ConnectTimeout).
		SetConnectTimeout(s.ConnectTimeout).
		SetDialer(&net.Dialer{Timeout: s.ConnectTimeout}).
		SetWriteTimeout(s.Publish.Timeout).
		SetConnectRetry(false). // Run retries the first connection itself
		SetAutoReconnect(true). // paho reconnects, with backoff up to Backoff.Max
		SetMaxReconnectInterval(s.Backoff.Max).
		SetResumeSubs(false). // subscribed again on every connect
		// Not SetMaxResumePubInFlight: the Publisher keeps at most
		// Publish.MaxInflight events unacknowledged, so paho's store never
		// holds more to resume; and with it paho (v1.5.1) starts a
		// goroutine in each resume that reads its stop channel while the
		// next reconnection replaces it, a data race on every quick
		// reconnection.
		SetOrderMatters(true).    // one message at a time, in order, from one goroutine
		SetAutoAckDisabled(true). // acknowledged once the runtime has the samples
		SetDefaultPublishHandler(c.onMessage).
		SetOnConnectHandler(c.onConnect).
		SetConnectionLostHandler(c.onLost).
		SetConnectionNotificationHandler(c.onNotification).
		SetStore(resumeStore{paho.NewMemoryStore(), &c.resumed})
	if s.tls != nil {
		o.SetTLSConfig(s.tls)
	}
	c.pc = paho.NewClient(o)
	c.pub = newPublisher(c)
	return c, nil
}

// Publisher returns the client's Publisher, the pipeline.Sink that
// publishes events over this client's connection. Put it in the
// runtime's Config.Sinks.
func (c *Client) Publisher() *Publisher { return c.pub }

// Run connects to the broker, subscribes, and hands the messages to rt
// until ctx ends (rt may be nil for a client that only publishes). Then it
// stops taking messages (those that come later are not acknowledged, so
// the broker keeps them for the session), waits up to Config.Drain for the
// Publisher to be closed if it was started, and disconnects.
//
// A connection the broker refuses (see ErrRefused) and a TLS
// certificate that fails verification end Run with an error at once,
// whether on the first connection or on a reconnection; other failures to
// connect are retried with backoff (Config.Backoff), logged and counted.
// Run returns nil when ctx ends. It may be called once.
//
// Run returns once paho has stopped, with one exception. A first
// connection attempt still in flight when ctx ends is waited for: paho
// cannot abort it, and it ends within ConnectTimeout (its dial, then the
// broker's answer). A reconnection paho is making after a lost connection
// is not: paho sleeps up to Backoff.Max between its attempts, with no way
// to wake it, and Run would hold the shutdown that long while the broker
// is away. That goroutine ends within Backoff.Max and one attempt; it
// finds the client disconnecting, so it makes no connection, and the
// client ignores what it reports.
func (c *Client) Run(ctx context.Context, rt *pipeline.Runtime) error {
	if rt == nil && len(c.s.subs) > 0 {
		return errors.New("mqtt: Run needs a runtime for the subscriptions")
	}
	if c.ran.Swap(true) {
		return ErrRunning
	}
	c.rt = rt
	if rt != nil {
		rt.AddMetrics(c)
	}
	ictx, cancel := context.WithCancel(ctx)
	defer cancel()
	c.ingestCtx = ictx

	pending, err := c.connect(ctx)
	if err == nil && ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case err = <-c.fatal:
		}
	}
	c.stopping.Store(true)
	cancel()
	// Only a runtime that is shutting down (Run's context ended) closes
	// the Publisher: on a refusal it goes on running, and waiting Drain
	// for it would delay the error that should end Run at once.
	if ctx.Err() != nil && c.pub.wasStarted() {
		t := c.s.Clock.NewTimer(c.s.Drain)
		select {
		case <-c.pub.closed:
		case <-t.C():
			c.s.Logger.Warn("mqtt: the publisher was not closed within Drain; disconnecting", "drain", c.s.Drain)
		}
		t.Stop()
	}
	if pending != nil {
		// paho cannot abort a connection attempt, and Disconnect would
		// return while it goes on in paho's goroutines (for up to
		// ConnectTimeout waiting for the broker's answer): wait for it,
		// so that the client is stopped when Run returns.
		c.s.Logger.Info("mqtt: waiting for the connection attempt in flight to end", "broker", c.s.Broker, "within", c.s.ConnectTimeout)
		<-pending.Done()
	}
	c.pc.Disconnect(250)
	c.ctr.connected.Store(false)
	return err
}

// connect makes the first connection, retrying failures that retrying can
// fix until ctx ends. When ctx ends during an attempt, it returns the
// attempt's token, still pending.
func (c *Client) connect(ctx context.Context) (paho.Token, error) {
	for attempt := 1; ; attempt++ {
		tok := c.pc.Connect()
		select {
		case <-tok.Done():
		case <-ctx.Done():
			return tok, nil
		}
		err := tok.Error()
		if err == nil {
			return nil, nil
		}
		c.ctr.connectErrors.Add(1)
		if perr := c.permanent(err); perr != nil {
			return nil, perr
		}
		d := backoff(&c.s.Backoff, attempt)
		c.s.Logger.Warn("mqtt: cannot connect; retrying", "broker", c.s.Broker, "attempt", attempt, "in", d, "err", err)
		t := c.s.Clock.NewTimer(d)
		select {
		case <-t.C():
		case <-ctx.Done():
			t.Stop()
			return nil, nil
		}
	}
}

// permanent returns the error to end Run with if err is a failure to
// connect that retrying cannot fix, nil otherwise.
func (c *Client) permanent(err error) error {
	who := fmt.Sprintf("%s as client %q", c.s.Broker, c.s.ClientID)
	if c.s.Username != "" {
		who += fmt.Sprintf(", user %q", c.s.Username)
	}
	for _, refused := range []error{packets.ErrorRefusedBadUsernameOrPassword, packets.ErrorRefusedNotAuthorised,
		packets.ErrorRefusedIDRejected, packets.ErrorRefusedBadProtocolVersion} {
		if errors.Is(err, refused) {
			return fmt.Errorf("%w: connecting to %s: %w", ErrRefused, who, refused)
		}
	}
	var (
		verify *tls.CertificateVerificationError
		alert  tls.AlertError
		ua     x509.UnknownAuthorityError
		host   x509.HostnameError
		inval  x509.CertificateInvalidError
	)
	if errors.As(err, &verify) || errors.As(err, &alert) || errors.As(err, &ua) || errors.As(err, &host) || errors.As(err, &inval) {
		return fmt.Errorf("mqtt: TLS with %s failed: %w", who, err)
	}
	return nil
}

// onConnect subscribes (again: a session the broker lost has none) and
// wakes the publisher. paho calls it on its own goroutine.
func (c *Client) onConnect(paho.Client) {
	c.ctr.connects.Add(1)
	c.ctr.connected.Store(true)
	c.s.Logger.Info("mqtt: connected", "broker", c.s.Broker, "client", c.s.ClientID)
	select {
	case c.connWake <- struct{}{}:
	default:
	}
	if len(c.s.subs) == 0 {
		return
	}
	filters := make(map[string]byte, len(c.s.subs))
	for _, s := range c.s.subs {
		filters[s.Filter] = 1
	}
	// A subscription that fails, or that the broker does not acknowledge
	// within ConnectTimeout, is tried again after a backoff while this
	// connection lasts: connected without it, the client would receive
	// nothing. (paho runs this on a goroutine of its own.) The next
	// connection subscribes anew.
	conn := c.ctr.connects.Load()
	for attempt := 1; ; attempt++ {
		tok := c.pc.SubscribeMultiple(filters, nil)
		if tok.WaitTimeout(c.s.ConnectTimeout) && tok.Error() == nil {
			st, _ := tok.(*paho.SubscribeToken)
			if st != nil {
				atMostOnce := 0
				for f, q := range st.Result() {
					switch q {
					case 0x80: // SUBACK failure
						c.ctr.subscribeErr.Add(1)
						c.fail(fmt.Errorf("%w: subscribing to %q as client %q", ErrRefused, f, c.s.ClientID))
						return
					case 0:
						// Granted below what was asked (a broker's max_qos,
						// an ACL): the broker neither stores nor resends
						// these messages, so a message lost on the way, or
						// sent while disconnected, is gone.
						atMostOnce++
						c.s.Logger.Warn("mqtt: subscription granted at QoS 0, not 1: its messages are delivered at most once", "filter", f, "client", c.s.ClientID)
					}
				}
				c.ctr.atMostOnce.Store(uint64(atMostOnce))
			}
			c.ctr.subscribed.Add(1)
			return
		}
		c.ctr.subscribeErr.Add(1)
		d := backoff(&c.s.Backoff, attempt)
		err := tok.Error()
		if err == nil {
			err = fmt.Errorf("no acknowledgement within %v", c.s.ConnectTimeout)
		}
		c.s.Logger.Warn("mqtt: subscribing failed; trying again", "in", d, "err", err)
		t := c.s.Clock.NewTimer(d)
		select {
		case <-t.C():
		case <-c.ingestCtx.Done():
			t.Stop()
			return
		}
		if c.ctr.connects.Load() != conn || !c.pc.IsConnectionOpen() {
			return // lost: the next connection subscribes
		}
	}
}

func (c *Client) onLost(_ paho.Client, err error) {
	c.ctr.lost.Add(1)
	c.ctr.connected.Store(false)
	c.s.Logger.Warn("mqtt: connection lost; reconnecting", "broker", c.s.Broker, "err", err)
}

// onNotification ends Run when a reconnection is refused. paho calls it
// on its connecting goroutine for a connection attempt, before the
// attempt, so that the publisher waits for the resend of the stored
// messages (see resumeStore).
func (c *Client) onNotification(_ paho.Client, n paho.ConnectionNotification) {
	if _, ok := n.(paho.ConnectionNotificationConnecting); ok {
		c.resumed.Store(false)
		return
	}
	f, ok := n.(paho.ConnectionNotificationFailed)
	if !ok || !c.ran.Load() || c.ctr.connects.Load() == 0 || c.stopping.Load() {
		return // the first connection's failures are Run's; after Run, nobody's
	}
	c.ctr.connectErrors.Add(1)
	if err := c.permanent(f.Reason); err != nil {
		c.fail(err)
	}
}

func (c *Client) fail(err error) {
	c.s.Logger.Error("mqtt: giving up", "err", err)
	select {
	case c.fatal <- err:
	default:
	}
}

// onMessage decodes a message into a batch of the runtime's and hands it
// over (pipeline.Runtime.Hand, which with one shard queues the batch
// rather than a copy); it acknowledges the message once its samples are
// queued. paho calls it from one goroutine, in order; while it waits for
// room in the runtime's queues the connection is not read
// (back-pressure).
func (c *Client) onMessage(_ paho.Client, m paho.Message) {
	n := c.ctr.messages.Add(1)
	if m.Duplicate() {
		c.ctr.redelivered.Add(1)
	}
	if c.stopping.Load() || c.rt == nil {
		c.ctr.unacked.Add(1) // the broker keeps it for the session
		return
	}
	if m.Retained() {
		// Sent because a subscription was made (on every connection):
		// the last message on its topic, published maybe long ago. Its
		// live copy, if it was published while subscribed, came without
		// the flag; dated by its arrival it would make a dead source
		// look alive at every connection.
		c.ctr.retained.Add(1)
		m.Ack()
		return
	}
	topic := m.Topic()
	sub := c.route(topic)
	if sub == nil {
		c.ctr.unmatched.Add(1)
		m.Ack()
		return
	}
	arrival := c.rt.Now().UnixNano()
	bad := 0
	if c.batch == nil {
		c.batch = c.rt.Batch(1)
	}
	c.batch = c.dec.decode(c.batch[:0], sub, topic, m.Payload(), arrival, func(err error) {
		bad++
		c.rt.BadInput(topic, &MessageError{Message: n, Err: err})
	})
	if bad > 0 {
		c.ctr.badMessages.Add(1)
		c.ctr.badRecords.Add(uint64(bad))
	} else if len(c.batch) == 0 {
		// Valid but nothing to watch (an empty payload, strings only):
		// not bad input, which would raise bad_input faults for devices
		// that publish status text, but counted so that it shows.
		c.ctr.empty.Add(1)
	}
	if len(c.batch) > 0 {
		if c.batch[0].Labels.Get(fault.OriginLabel) != "" {
			c.ctr.own.Add(1)
		}
		// Given to the runtime, not copied (with one shard it queues this
		// very batch): never touched again, whatever Hand returns; the
		// next message takes another.
		batch := c.batch
		c.batch = nil
		if err := c.rt.Hand(c.ingestCtx, batch); err != nil {
			c.ctr.unacked.Add(1) // stopping: the broker sends it again to the resumed session
			return
		}
		c.ctr.samples.Add(uint64(len(batch)))
	}
	m.Ack()
}

// route returns the first subscription whose filter matches topic.
func (c *Client) route(topic string) *subscription {
	for i := range c.s.subs {
		if matchFilter(c.s.subs[i].Filter, topic) {
			return &c.s.subs[i]
		}
	}
	return nil
}

// ready reports whether the Publisher may publish: connected, and paho
// has listed the messages of its store it sends again.
func (c *Client) ready() bool { return c.pc.IsConnectionOpen() && c.resumed.Load() }

// resumeStore is paho's memory store, telling when paho has listed the
// stored messages it sends again after a connection (All), or cleared
// them (Reset, for a clean start). paho v1.5.1 lists them after the
// connection is reported open: a publish made in between is in the list,
// and paho's resend of it races the first send (the race detector sees
// paho write its DUP flag while it is being written out) and takes over
// its token, which then never completes. So the Publisher waits for this.
type resumeStore struct {
	paho.Store
	resumed *atomic.Bool
}

func (s resumeStore) All() []string {
	keys := s.Store.All()
	s.resumed.Store(true)
	return keys
}

func (s resumeStore) Reset() {
	s.Store.Reset()
	s.resumed.Store(true)
}

// Stats are the client's counters, as its metrics report them.
type Stats struct {
	Messages      uint64 // messages received, redeliveries included
	Redelivered   uint64 // messages received with the DUP flag: the broker sent them before
	Samples       uint64 // samples queued on the runtime
	BadMessages   uint64 // messages with at least one record that could not be decoded
	BadRecords    uint64 // records that could not be decoded (each told to the runtime's BadInput)
	Empty         uint64 // messages that gave neither a sample nor a decoding error: acknowledged, nothing to watch
	Own           uint64 // messages whose samples carry OriginLabel: faultline's output come back
	Unmatched     uint64 // messages on topics no subscription matches (left in a resumed session), dropped
	Retained      uint64 // retained messages the broker sent for a subscription, not deliveries: dropped
	Unacked       uint64 // messages left unacknowledged because Run was ending: the broker keeps them
	Connects      uint64 // connections made, reconnections included
	Lost          uint64 // connections lost
	ConnectErrs   uint64 // connection attempts that failed
	SubscribeErrs uint64 // subscriptions that failed or were refused
	Subscribed    uint64 // connections on which the broker acknowledged every subscription
	AtMostOnce    uint64 // filters the broker granted at QoS 0 (QoS 1 asked) on the last subscription: delivered at most once
	Connected     bool
}

// Stats returns the client's counters.
func (c *Client) Stats() Stats {
	k := &c.ctr
	return Stats{
		Messages: k.messages.Load(), Redelivered: k.redelivered.Load(), Samples: k.samples.Load(),
		BadMessages: k.badMessages.Load(), BadRecords: k.badRecords.Load(), Empty: k.empty.Load(), Own: k.own.Load(),
		Unmatched: k.unmatched.Load(), Retained: k.retained.Load(), Unacked: k.unacked.Load(), Connects: k.connects.Load(),
		Lost: k.lost.Load(), ConnectErrs: k.connectErrors.Load(), SubscribeErrs: k.subscribeErr.Load(),
		Subscribed: k.subscribed.Load(), AtMostOnce: k.atMostOnce.Load(), Connected: k.connected.Load(),
	}
}

// AppendMetrics appends the client's self-metrics, labelled client with
// its ClientID. Run adds them to the runtime's (Runtime.AddMetrics).
func (c *Client) AppendMetrics(dst []metrics.Metric) []metrics.Metric {
	s := c.Stats()
	connected := 0.0
	if s.Connected {
		connected = 1
	}
	for _, m := range []metrics.Metric{
		metrics.C("faultline_mqtt_messages_total", "MQTT messages received, redeliveries included.", s.Messages),
		metrics.C("faultline_mqtt_redelivered_total", "MQTT messages received with the DUP flag.", s.Redelivered),
		metrics.C("faultline_mqtt_samples_total", "Samples decoded from MQTT messages and queued on the runtime.", s.Samples),
		metrics.C("faultline_mqtt_bad_messages_total", "MQTT messages with records that could not be decoded.", s.BadMessages),
		metrics.C("faultline_mqtt_bad_records_total", "Records of MQTT messages that could not be decoded.", s.BadRecords),
		metrics.C("faultline_mqtt_empty_messages_total", "MQTT messages that gave neither a sample nor a decoding error.", s.Empty),
		metrics.C("faultline_mqtt_own_messages_total", "MQTT messages carrying faultline's own output (rejected by the loop guard).", s.Own),
		metrics.C("faultline_mqtt_unmatched_total", "MQTT messages on topics no subscription matches, dropped.", s.Unmatched),
		metrics.C("faultline_mqtt_retained_total", "Retained MQTT messages sent for a subscription, not deliveries: dropped.", s.Retained),
		metrics.C("faultline_mqtt_unacked_total", "MQTT messages left unacknowledged at shutdown, kept by the broker.", s.Unacked),
		metrics.C("faultline_mqtt_connects_total", "MQTT connections made, reconnections included.", s.Connects),
		metrics.C("faultline_mqtt_connections_lost_total", "MQTT connections lost.", s.Lost),
		metrics.C("faultline_mqtt_connect_errors_total", "MQTT connection attempts that failed.", s.ConnectErrs),
		metrics.C("faultline_mqtt_subscribe_errors_total", "MQTT subscriptions that failed or were refused.", s.SubscribeErrs),
		metrics.C("faultline_mqtt_subscribed_total", "MQTT connections on which every subscription was acknowledged.", s.Subscribed),
		metrics.G("faultline_mqtt_at_most_once_subscriptions", "MQTT filters the broker granted at QoS 0, not 1: their messages are delivered at most once.", float64(s.AtMostOnce)),
		metrics.G("faultline_mqtt_connected", "1 while the MQTT connection is up.", connected),
	} {
		dst = append(dst, m.With("client", c.s.ClientID))
	}
	return dst
}

// backoff returns the wait before retry n (from 1): a random time between
// half of and all of Initial·2^(n-1), capped at Max.
func backoff(r *sink.Retry, n int) time.Duration {
	d := r.Initial
	for i := 1; i < n && d < r.Max; i++ {
		d *= 2
	}
	d = min(d, r.Max)
	jitter := rand.Float64
	if r.Rand != nil {
		jitter = r.Rand
	}
	return d/2 + time.Duration(jitter()*float64(d/2))
}
