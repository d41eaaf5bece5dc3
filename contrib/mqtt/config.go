package mqtt

import (
	"cmp"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/faultline-go/faultline/clock"
	"github.com/faultline-go/faultline/internal/tlsfiles"
	"github.com/faultline-go/faultline/sink"
)

// Config configures a Client. Every field that is not required says what
// its zero value means.
type Config struct {
	// Broker is the broker's URL: tcp://host:1883, or ssl://host:8883
	// (also tls:// and mqtts://) for TLS. Required.
	Broker string
	// ClientID names the client's session at the broker. Required: the
	// session outlives the connection (see CleanStart), so two collectors
	// must not share an ID, and a restarted collector must keep its own.
	ClientID string
	// CleanStart discards the session at every connect. By default false:
	// the broker keeps the subscriptions and the QoS 1 messages not yet
	// acknowledged while the client is away, and a reconnect resumes them.
	CleanStart bool
	// Username and Password are sent with every connect; by default none.
	Username string
	Password string
	// TLS configures TLS for ssl://, tls:// and mqtts:// brokers.
	TLS TLS
	// KeepAlive is the MQTT keep-alive interval. By default 30s.
	KeepAlive time.Duration
	// ConnectTimeout bounds one connection attempt, handshake included,
	// and the wait for the broker to acknowledge the subscriptions: one it
	// does not acknowledge in time is tried again after Backoff, on the
	// same connection (counted in SubscribeErrs).
	// By default 10s.
	ConnectTimeout time.Duration
	// Backoff says how long to wait between connection attempts: the first
	// waits Backoff.Initial, each next one twice as long, up to Backoff.Max,
	// with jitter. By default 500ms up to 30s.
	Backoff sink.Retry
	// Subscriptions are the topic filters read, each with its format. A
	// message whose topic several filters match is decoded by the first.
	// By default none: the client only publishes.
	Subscriptions []Subscription
	// Publish configures the Publisher.
	Publish Publish
	// MaxPayload bounds a message's payload in bytes; a larger one is bad
	// input. By default 1 MiB.
	MaxPayload int
	// Drain bounds how long Run waits, once its context has ended, for
	// the Publisher to be closed (the runtime closes it at its shutdown,
	// after handing it its last events). By default 30s.
	Drain time.Duration
	// Clock times the backoff and the publishes' timeouts. By default the
	// system's. Arrival times come from the runtime's clock, not this one.
	Clock clock.Clock
	// Logger receives connection changes and delivery failures. By
	// default nothing is logged.
	Logger *slog.Logger
}

// TLS configures the client's side of TLS. Files are read by New.
type TLS struct {
	// CAFile holds the PEM certificates that the broker's certificate
	// must chain to. By default the system's roots.
	CAFile string
	// CertFile and KeyFile hold the client's PEM certificate and key,
	// for brokers that require one. By default none.
	CertFile string
	KeyFile  string
	// ServerName is the name the broker's certificate must carry. By
	// default the broker URL's host.
	ServerName string
	// InsecureSkipVerify accepts any certificate the broker presents.
	// Tests only.
	InsecureSkipVerify bool
}

// Subscription is one topic filter the client subscribes to, with QoS 1.
type Subscription struct {
	// Filter is an MQTT topic filter ("sensors/#", "+/+/+/+/data.json").
	// Required.
	Filter string
	// Format says how payloads are decoded. By default Auto.
	Format Format
	// Topic is a template of the topics' segments naming the labels they
	// give every sample of a message, such as
	// "{realm}/{network}/{gateway}/{node}/data.json" (see Template). By
	// default none: the topic gives no labels.
	Topic string
	// Precision is the unit of line-protocol timestamps. By default
	// nanoseconds.
	Precision time.Duration
}

// Format is a payload format.
type Format uint8

// The payload formats.
const (
	// Auto decodes a payload whose first byte other than white space is
	// '{' as KotoriJSON and any other as LineProtocol.
	Auto Format = iota
	// LineProtocol is Influx line protocol, one record per line.
	LineProtocol
	// KotoriJSON is a flat JSON object of fields, as Kotori reads it.
	KotoriJSON
)

// String returns "auto", "line protocol" or "kotori json".
func (f Format) String() string {
	switch f {
	case Auto:
		return "auto"
	case LineProtocol:
		return "line protocol"
	case KotoriJSON:
		return "kotori json"
	}
	return fmt.Sprintf("Format(%d)", uint8(f))
}

// Publish configures how the Publisher sends events.
type Publish struct {
	// EventsTopic is the prefix of the events' topics: an event of kind k
	// goes to EventsTopic/k. By default "faultline/events".
	EventsTopic string
	// ErrorsTopic is where bad_input events go, the coalesced reports of
	// undecodable messages. By default "faultline/errors".
	ErrorsTopic string
	// QoS0 publishes the events with QoS 0: a publish counts as sent
	// once written, and is never sent again. By default QoS 1: a publish
	// counts as sent when the broker acknowledges it, and is sent again
	// when no acknowledgement came within Timeout.
	QoS0 bool
	// QueueSize bounds the events waiting to be published. When it is
	// full the oldest is dropped and counted. By default 10000.
	QueueSize int
	// MaxInflight bounds the events published and not yet acknowledged.
	// By default 32.
	MaxInflight int
	// Timeout is how long a publish may wait for its acknowledgement
	// before it is sent again. By default 10s.
	Timeout time.Duration
	// Retry says how publishes that failed are retried. By default as
	// package sink's sinks do (500ms doubling up to 30s, until Close's
	// context ends).
	Retry sink.Retry
	// Instance is the OriginLabel value added to events that lack one. By
	// default "faultline". (The engine's events always carry it.)
	Instance string
}

// Defaults of Config.
const (
	DefaultKeepAlive      = 30 * time.Second
	DefaultConnectTimeout = 10 * time.Second
	DefaultMaxPayload     = 1 << 20
	DefaultDrain          = 30 * time.Second
	DefaultEventsTopic    = "faultline/events"
	DefaultErrorsTopic    = "faultline/errors"
	DefaultQueueSize      = 10000
	DefaultMaxInflight    = 32
	DefaultPublishTimeout = 10 * time.Second
)

// settings are a Config checked and completed, with its TLS configuration
// loaded and its templates parsed.
type settings struct {
	Config
	tls  *tls.Config
	subs []subscription
}

type subscription struct {
	Subscription
	tmpl *Template
}

func (cfg Config) settle() (*settings, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	u, err := url.Parse(cfg.Broker)
	switch {
	case cfg.Broker == "":
		bad("Broker is required")
	case err != nil:
		bad("Broker: %v", err)
	case u.Host == "":
		bad("Broker %q has no host (write tcp://host:1883 or ssl://host:8883)", cfg.Broker)
	default:
		switch u.Scheme {
		case "tcp", "mqtt", "ssl", "tls", "mqtts", "tcps", "ws", "wss":
		default:
			bad("Broker %q: unknown scheme %q (want tcp, ssl, tls, mqtts, ws or wss)", cfg.Broker, u.Scheme)
		}
	}
	if cfg.ClientID == "" {
		bad("ClientID is required: the broker keeps the session under it")
	}
	if cfg.KeepAlive < 0 || cfg.ConnectTimeout < 0 || cfg.MaxPayload < 0 || cfg.Drain < 0 ||
		cfg.Publish.QueueSize < 0 || cfg.Publish.MaxInflight < 0 || cfg.Publish.Timeout < 0 {
		bad("negative settings are not allowed")
	}
	s := &settings{Config: cfg}
	for i, sub := range cfg.Subscriptions {
		if err := validFilter(sub.Filter); err != nil {
			bad("Subscriptions[%d]: %v", i, err)
		}
		if sub.Format > KotoriJSON {
			bad("Subscriptions[%d]: unknown format %d", i, sub.Format)
		}
		if sub.Precision < 0 {
			bad("Subscriptions[%d]: negative precision", i)
		}
		ps := subscription{Subscription: sub}
		if sub.Topic != "" {
			t, err := ParseTemplate(sub.Topic)
			if err != nil {
				bad("Subscriptions[%d]: %v", i, err)
			}
			ps.tmpl = t
		}
		s.subs = append(s.subs, ps)
	}
	for _, t := range []struct{ name, topic string }{{"EventsTopic", cfg.Publish.EventsTopic}, {"ErrorsTopic", cfg.Publish.ErrorsTopic}} {
		if strings.ContainsAny(t.topic, "+#\x00") {
			bad("Publish.%s %q: a topic to publish to has no wildcards", t.name, t.topic)
		}
	}
	if len(errs) == 0 && isTLS(u.Scheme) {
		if s.tls, err = cfg.TLS.load(u.Hostname()); err != nil {
			bad("TLS: %v", err)
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("mqtt: invalid configuration: %w", errors.Join(errs...))
	}
	s.defaults()
	return s, nil
}

func (s *settings) defaults() {
	or := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	or(&s.KeepAlive, DefaultKeepAlive)
	or(&s.ConnectTimeout, DefaultConnectTimeout)
	or(&s.Drain, DefaultDrain)
	or(&s.Backoff.Initial, 500*time.Millisecond)
	or(&s.Backoff.Max, 30*time.Second)
	s.Backoff.Max = max(s.Backoff.Max, s.Backoff.Initial)
	if s.MaxPayload == 0 {
		s.MaxPayload = DefaultMaxPayload
	}
	if s.Clock == nil {
		s.Clock = clock.Real()
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	p := &s.Publish
	if p.EventsTopic == "" {
		p.EventsTopic = DefaultEventsTopic
	}
	p.EventsTopic = strings.TrimSuffix(p.EventsTopic, "/")
	if p.ErrorsTopic == "" {
		p.ErrorsTopic = DefaultErrorsTopic
	}
	if p.QueueSize == 0 {
		p.QueueSize = DefaultQueueSize
	}
	if p.MaxInflight == 0 {
		p.MaxInflight = DefaultMaxInflight
	}
	or(&p.Timeout, DefaultPublishTimeout)
	or(&p.Retry.Initial, 500*time.Millisecond)
	or(&p.Retry.Max, 30*time.Second)
	p.Retry.Max = max(p.Retry.Max, p.Retry.Initial)
	if p.Instance == "" {
		p.Instance = "faultline"
	}
}

func isTLS(scheme string) bool {
	switch scheme {
	case "ssl", "tls", "mqtts", "tcps", "wss":
		return true
	}
	return false
}

// load builds the tls.Config.
func (t TLS) load(host string) (*tls.Config, error) {
	return tlsfiles.Client(t.CAFile, t.CertFile, t.KeyFile, cmp.Or(t.ServerName, host), t.InsecureSkipVerify)
}

// validFilter checks an MQTT topic filter: '#' only as the last level, '+'
// only as a whole level.
func validFilter(f string) error {
	if f == "" {
		return errors.New("empty topic filter")
	}
	if strings.ContainsRune(f, 0) {
		return fmt.Errorf("topic filter %q holds a NUL", f)
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		if strings.Contains(l, "#") && (l != "#" || i != len(levels)-1) {
			return fmt.Errorf("topic filter %q: '#' must be the last level, alone", f)
		}
		if strings.Contains(l, "+") && l != "+" {
			return fmt.Errorf("topic filter %q: '+' must be a level alone", f)
		}
	}
	return nil
}

// matchFilter reports whether topic matches the filter, as MQTT 3.1.1
// (4.7) says: '+' matches one level, '#' this level and all below, and
// wildcards in the first level do not match topics starting with '$'.
func matchFilter(filter, topic string) bool {
	if strings.HasPrefix(topic, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	for {
		f, frest, fmore := strings.Cut(filter, "/")
		if f == "#" {
			return true
		}
		t, trest, tmore := strings.Cut(topic, "/")
		if f != "+" && f != t {
			return false
		}
		if !fmore || !tmore {
			// "a/#" matches "a" as well.
			return fmore == tmore || (fmore && frest == "#")
		}
		filter, topic = frest, trest
	}
}
