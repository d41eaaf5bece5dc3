package kafka

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/faultline-go/faultline/clock"
	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/internal/tlsfiles"
	"github.com/faultline-go/faultline/rules"
)

// Config configures a Worker. Every field that is not required says what
// its zero value means. The workers of one group must share Topic,
// EventsTopic, StateTopic, FleetTopic, MaxPartitions, Engine's detection
// settings and Rules.
type Config struct {
	// Brokers are the seed brokers, host:port. Required.
	Brokers []string
	// Group is the consumer group the workers share. Required.
	Group string
	// Topic is the input topic: records of Influx line protocol (one or
	// more lines each), keyed by series or device so that a series always
	// lands on one partition. Required.
	Topic string
	// EventsTopic receives the events, keyed by episode ID, as JSON (the
	// replay command's format). By default "faultline-events".
	EventsTopic string
	// StateTopic keeps each partition's state: create it with
	// cleanup.policy=compact and max.message.bytes of at least
	// MaxSnapshot. Partition p's state goes to its partition p modulo its
	// partition count, so give it as many partitions as Topic. By default
	// "faultline-state".
	StateTopic string
	// FleetTopic carries the fleet-wide events of every partition to the
	// aggregation stage (see the package doc); create it with one
	// partition. By default "faultline-fleet".
	FleetTopic string
	// Name names the worker: its client ID, and the header
	// "faultline-worker" of every record it produces. By default the host
	// name.
	Name string

	// Engine is the template of every partition's engine. Its Rules and
	// Sink are not used: the rules come from Rules, events go to
	// EventsTopic. Its Instance names the group in every event.
	Engine fault.Config
	// Rules are the rule files' text. By default none: only the built-in
	// detectors run. Each state record keeps the rules it was taken under.
	Rules []rules.Source
	// Precision is the unit of the line-protocol timestamps. By default
	// nanoseconds. A line without a timestamp is dated by its arrival.
	Precision time.Duration

	// CheckpointEvery is how often every partition's state is written and
	// its offsets committed. By default 1m. Between checkpoints a crash
	// costs re-processing, never a lost event.
	CheckpointEvery time.Duration
	// Tick is how often the engines are advanced to the clock without
	// data, so that silence is judged. By default 250ms.
	Tick time.Duration
	// MaxPollRecords bounds the records taken from the client at once:
	// the records in flight in the worker. By default 10,000.
	MaxPollRecords int
	// MaxPendingEvents bounds the records produced and not yet
	// acknowledged (events, fleet evidence and state). Past it, producing
	// waits, and so does consuming: the brokers hold the backlog. By
	// default 100,000.
	MaxPendingEvents int
	// MaxSnapshot bounds a partition's state record in bytes. A larger one
	// is not written (counted and logged), so that partition's offsets
	// are not committed until its state fits again. By default 64 MiB.
	MaxSnapshot int
	// MaxPartitions bounds the partitions of Topic one worker holds, and
	// so its engines: memory stays under MaxPartitions times an engine's
	// bounds (Engine.MaxSeries, Engine.Dedup.MaxBytes) when the group's
	// other workers die and Kafka would give every partition to the
	// survivors. The group's leader assigns no member more; the partitions
	// left over have no owner (their records wait in the brokers, nothing
	// detects their faults) until a worker joins. They are logged at error
	// level and counted (faultline_kafka_partitions_unassigned, on the
	// leader). By default 64.
	MaxPartitions int
	// MaxFetchBytes bounds what one fetch brings back, and what the
	// client buffers per broker. By default 16 MiB (and at least
	// MaxSnapshot, so that a state record can be read back).
	MaxFetchBytes int

	// SASL authenticates to the brokers. By default none.
	SASL SASL
	// TLS configures TLS to the brokers. By default plain TCP.
	TLS TLS

	// Clock stamps arrivals, ticks and times the checkpoints. By default
	// the system's.
	Clock clock.Clock
	// Logger receives assignments, checkpoints and failures. By default
	// nothing is logged.
	Logger *slog.Logger
	// Options are more franz-go client options, applied after the
	// worker's own: session timeouts, a dialer, hooks, a logger. Not the
	// topics, the group, its balancers or its callbacks, which the worker
	// sets. By default none.
	Options []kgo.Opt
}

// SASL configures SASL authentication, as franz-go offers it.
type SASL struct {
	// Mechanism is "PLAIN", "SCRAM-SHA-256" or "SCRAM-SHA-512". By default
	// none: no authentication.
	Mechanism string
	// User and Password are the credentials.
	User, Password string
}

// TLS configures the client's side of TLS. Files are read by New.
type TLS struct {
	// Enable turns TLS on; setting any other field does too.
	Enable bool
	// CAFile holds the PEM certificates the brokers' must chain to. By
	// default the system's roots.
	CAFile string
	// CertFile and KeyFile hold the client's PEM certificate and key, for
	// brokers that require one. By default none.
	CertFile, KeyFile string
	// ServerName is the name the brokers' certificates must carry. By
	// default each broker's host.
	ServerName string
	// InsecureSkipVerify accepts any certificate. Tests only.
	InsecureSkipVerify bool
}

// Defaults of Config.
const (
	DefaultEventsTopic      = "faultline-events"
	DefaultStateTopic       = "faultline-state"
	DefaultFleetTopic       = "faultline-fleet"
	DefaultCheckpointEvery  = time.Minute
	DefaultTick             = 250 * time.Millisecond
	DefaultMaxPollRecords   = 10_000
	DefaultMaxPendingEvents = 100_000
	DefaultMaxSnapshot      = 64 << 20
	DefaultMaxPartitions    = 64
	DefaultMaxFetchBytes    = 16 << 20
)

// settle checks cfg and fills in its defaults.
func (cfg Config) settle() (Config, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(cfg.Brokers) == 0 {
		bad("Brokers is required")
	}
	if cfg.Group == "" {
		bad("Group is required")
	}
	if cfg.Topic == "" {
		bad("Topic is required")
	}
	if cfg.CheckpointEvery < 0 || cfg.Tick < 0 || cfg.MaxPollRecords < 0 || cfg.MaxPendingEvents < 0 ||
		cfg.MaxSnapshot < 0 || cfg.MaxFetchBytes < 0 || cfg.Precision < 0 || cfg.MaxPartitions < 0 {
		bad("negative settings are not allowed")
	}
	if cfg.MaxSnapshot > 1<<30 {
		bad("MaxSnapshot %d is above 1 GiB, the most a Kafka record can hold", cfg.MaxSnapshot)
	}
	or := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	or(&cfg.EventsTopic, DefaultEventsTopic)
	or(&cfg.StateTopic, DefaultStateTopic)
	or(&cfg.FleetTopic, DefaultFleetTopic)
	topics := map[string]string{}
	for _, t := range [][2]string{{"Topic", cfg.Topic}, {"EventsTopic", cfg.EventsTopic}, {"StateTopic", cfg.StateTopic}, {"FleetTopic", cfg.FleetTopic}} {
		if other, dup := topics[t[1]]; dup && t[1] != "" {
			bad("%s and %s are both %q: each needs its own topic", other, t[0], t[1])
		}
		topics[t[1]] = t[0]
	}
	switch strings.ToUpper(cfg.SASL.Mechanism) {
	case "", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
	default:
		bad("SASL.Mechanism %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", cfg.SASL.Mechanism)
	}
	if len(errs) > 0 {
		return cfg, fmt.Errorf("kafka: invalid configuration: %w", errors.Join(errs...))
	}
	if cfg.Name == "" {
		cfg.Name, _ = os.Hostname()
		or(&cfg.Name, "faultline")
	}
	if cfg.CheckpointEvery == 0 {
		cfg.CheckpointEvery = DefaultCheckpointEvery
	}
	if cfg.Tick == 0 {
		cfg.Tick = DefaultTick
	}
	if cfg.MaxPollRecords == 0 {
		cfg.MaxPollRecords = DefaultMaxPollRecords
	}
	if cfg.MaxPendingEvents == 0 {
		cfg.MaxPendingEvents = DefaultMaxPendingEvents
	}
	if cfg.MaxSnapshot == 0 {
		cfg.MaxSnapshot = DefaultMaxSnapshot
	}
	if cfg.MaxFetchBytes == 0 {
		cfg.MaxFetchBytes = DefaultMaxFetchBytes
	}
	if cfg.MaxPartitions == 0 {
		cfg.MaxPartitions = DefaultMaxPartitions
	}
	cfg.MaxFetchBytes = max(cfg.MaxFetchBytes, cfg.MaxSnapshot+stateOverhead)
	if cfg.Clock == nil {
		cfg.Clock = clock.Real()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg, nil
}

// connOpts are the client options that reach the brokers: seeds, client
// ID, SASL and TLS.
func (cfg *Config) connOpts() ([]kgo.Opt, error) {
	opts := []kgo.Opt{kgo.SeedBrokers(cfg.Brokers...), kgo.ClientID(cfg.Name)}
	if m := cfg.SASL.mechanism(); m != nil {
		opts = append(opts, kgo.SASL(m))
	}
	if cfg.TLS != (TLS{}) {
		tc, err := cfg.TLS.load()
		if err != nil {
			return nil, fmt.Errorf("kafka: TLS: %w", err)
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	return opts, nil
}

func (s SASL) mechanism() sasl.Mechanism {
	switch strings.ToUpper(s.Mechanism) {
	case "PLAIN":
		return plain.Auth{User: s.User, Pass: s.Password}.AsMechanism()
	case "SCRAM-SHA-256":
		return scram.Auth{User: s.User, Pass: s.Password}.AsSha256Mechanism()
	case "SCRAM-SHA-512":
		return scram.Auth{User: s.User, Pass: s.Password}.AsSha512Mechanism()
	}
	return nil
}

// load builds the tls.Config.
func (t TLS) load() (*tls.Config, error) {
	return tlsfiles.Client(t.CAFile, t.CertFile, t.KeyFile, t.ServerName, t.InsecureSkipVerify)
}
