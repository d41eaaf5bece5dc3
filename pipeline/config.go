package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"runtime"
	"time"

	"github.com/faultline-go/faultline/clock"
	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/internal/frame"
	"github.com/faultline-go/faultline/rules"
)

// Sink is where a Runtime delivers events: a fault.Sink whose Emit never
// blocks, with a lifecycle the runtime drives (Start when it runs, Close
// at shutdown). The sinks of package sink are Sinks.
type Sink interface {
	fault.Sink
	Start() error
	Close(ctx context.Context) error
}

// Store keeps a runtime's checkpoint: Load returns the last one saved, or
// nil and no error when there is none; Save replaces it atomically. They
// are called from one goroutine at a time.
type Store interface {
	Load(ctx context.Context) ([]byte, error)
	Save(ctx context.Context, checkpoint []byte) error
}

// FileStore is a Store in a file, replaced atomically (written beside it,
// synced, renamed over it).
type FileStore string

// Load reads the file; nil if it does not exist.
func (f FileStore) Load(context.Context) ([]byte, error) {
	b, err := os.ReadFile(string(f))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// Save replaces the file.
func (f FileStore) Save(_ context.Context, b []byte) error { return frame.WriteFile(string(f), b) }

// Config configures a Runtime. The zero value is valid: every field says
// what it defaults to.
type Config struct {
	// Engine is the template of every shard's engine. Its Rules and Sink
	// are not used: the rules come from Rules, events go to Sinks.
	Engine fault.Config
	// Rules are the rule files' text. By default none: only the built-in
	// detectors run. Checkpoints keep it (see Restarts in the package doc).
	Rules []rules.Source
	// Sinks receive every event once, in order. The runtime starts them
	// when it runs and closes them when it stops.
	Sinks []Sink
	// Shards is the number of engines. By default the number of CPUs, or
	// the checkpoint's when one is restored.
	Shards int
	// QueueLen bounds each shard's queue, in batches. By default 64.
	QueueLen int
	// Tick is how often the engines are advanced to the wall clock without
	// data. By default 250ms, the engine's own resolution.
	Tick time.Duration
	// StallAfter is how long the runtime may go without reading its clock
	// (no tick, no write, no Sync) before the span is taken for a stall of
	// the runtime itself, reported as downtime. By default 30s.
	StallAfter time.Duration
	// State is the checkpoint file (a FileStore). By default none:
	// nothing survives a restart, unless Store is set. New locks it
	// (STATE.lock beside it) until Run returns, removes the temporary
	// files of checkpoint writes that were killed, and refuses a State
	// that is in use by another runtime (ErrStateInUse) or cannot be
	// written (a StateError): see Restarts in the package doc. A Runtime
	// that New returns and that is never Run holds the lock until it is
	// garbage collected or the process ends.
	State string
	// Store keeps the checkpoints, for hosts that keep state elsewhere than
	// in a file (the OpenTelemetry Collector's storage extensions). It
	// takes precedence over State.
	Store Store
	// CheckpointEvery is how often a checkpoint is taken. By default 1m.
	CheckpointEvery time.Duration
	// Drain bounds the two waits of a shutdown, each in real time: the
	// last checkpoint's Save (one that takes longer fails and is counted),
	// then the sinks' delivery of what they hold (what they cannot deliver
	// is counted by them). By default 10s.
	Drain time.Duration
	// Clock is the wall clock. By default the system's.
	Clock clock.Clock
	// Logger receives the runtime's diagnostics. By default nothing is
	// logged.
	Logger *slog.Logger
}

// ErrStateInUse means that another runtime, in this process or another,
// holds the lock of Config.State: see Restarts in the package doc.
var ErrStateInUse = frame.ErrLocked

// StateError is New's error about Config.State itself, as opposed to the
// checkpoint it holds: in use by another runtime (it matches
// ErrStateInUse) or not writable.
type StateError struct {
	State string // Config.State
	Err   error  // what is wrong with it
}

func (e *StateError) Error() string { return "pipeline: state " + e.State + ": " + e.Err.Error() }

// Unwrap returns e.Err.
func (e *StateError) Unwrap() error { return e.Err }

// lockState locks the checkpoint file path (frame.LockState) and, holding
// the lock, removes the temporary files of the checkpoint writes that were
// killed and checks that a checkpoint can be written there: found only at
// the first checkpoint, that would leave a runtime that fails a checkpoint
// a minute and loses its state at the restart.
func lockState(path string, log *slog.Logger) (*frame.Lock, error) {
	lock, err := frame.LockState(path)
	if err != nil {
		return nil, &StateError{State: path, Err: err}
	}
	removed, err := lock.RemoveTemps(path)
	for _, p := range removed {
		log.Info("removed the temporary file of a checkpoint write that was killed", "file", p)
	}
	if err != nil {
		log.Warn("cannot remove the temporary files of checkpoint writes that were killed", "err", err)
	}
	if err := frame.CanWrite(path); err != nil {
		lock.Unlock()
		return nil, &StateError{State: path, Err: fmt.Errorf("a checkpoint cannot be written there: %w", err)}
	}
	return lock, nil
}

// Defaults of Config.
const (
	DefaultQueueLen        = 64
	DefaultTick            = 250 * time.Millisecond
	DefaultStallAfter      = 30 * time.Second
	DefaultCheckpointEvery = time.Minute
	DefaultDrain           = 10 * time.Second
	// MaxShards is the most shards New takes.
	MaxShards = 1024
)

func (cfg Config) withDefaults() (Config, error) {
	if cfg.Shards < 0 || cfg.QueueLen < 0 || cfg.Tick < 0 || cfg.StallAfter < 0 || cfg.CheckpointEvery < 0 || cfg.Drain < 0 {
		return cfg, errors.New("pipeline: negative settings are not allowed")
	}
	if cfg.Shards > MaxShards {
		return cfg, fmt.Errorf("pipeline: more than %d shards", MaxShards)
	}
	if cfg.QueueLen == 0 {
		cfg.QueueLen = DefaultQueueLen
	}
	if cfg.Tick == 0 {
		cfg.Tick = DefaultTick
	}
	if cfg.StallAfter == 0 {
		cfg.StallAfter = DefaultStallAfter
	}
	if cfg.CheckpointEvery == 0 {
		cfg.CheckpointEvery = DefaultCheckpointEvery
	}
	if cfg.Drain == 0 {
		cfg.Drain = DefaultDrain
	}
	if cfg.Store == nil && cfg.State != "" {
		cfg.Store = FileStore(cfg.State)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg, nil
}

// defaultShards is the shard count when neither the Config nor a
// checkpoint gives one.
func defaultShards() int { return max(1, min(runtime.GOMAXPROCS(0), MaxShards)) }
