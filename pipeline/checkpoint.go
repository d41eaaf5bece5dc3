package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/faultline-go/faultline/internal/frame"
	"github.com/faultline-go/faultline/rules"
)

// A checkpoint is a frame (package frame) of magic "FLTRUNT\x00", version
// 2, whose body is: i64 the time it was taken (Unix ns); the rule files it
// was taken under (count, then each file's name and text); the engines'
// snapshots, one per shard in shard order (count, then each); the
// Merger's state (length, then Merger.AppendState's bytes). Version 1 held
// the merger's groups in a format of its own, without the gaps' start
// times: it is refused.
const (
	ckptMagic   = "FLTRUNT\x00"
	ckptVersion = 2
)

type checkpoint struct {
	taken     int64
	sources   []rules.Source
	snapshots [][]byte
	merger    []byte // Merger.AppendState's
}

// readCheckpoint reads the store's checkpoint: nil without one.
func readCheckpoint(store Store) (*checkpoint, error) {
	if store == nil {
		return nil, nil
	}
	raw, err := store.Load(context.Background())
	if err != nil {
		return nil, fmt.Errorf("pipeline: reading the checkpoint: %w", err)
	}
	if raw == nil {
		return nil, nil
	}
	ck, err := decodeCheckpoint(raw)
	if err != nil {
		return nil, fmt.Errorf("pipeline: the checkpoint (%v) is not readable (remove it to start afresh): %w", store, err)
	}
	return ck, nil
}

func decodeCheckpoint(raw []byte) (*checkpoint, error) {
	version, r, err := frame.Open(raw, ckptMagic)
	if err != nil {
		return nil, err
	}
	if version != ckptVersion {
		return nil, fmt.Errorf("version %d, this build reads version %d", version, ckptVersion)
	}
	ck := &checkpoint{taken: r.I64()}
	for range r.Count(2) {
		ck.sources = append(ck.sources, rules.Source{Name: r.Str(), Data: r.Bytes()})
	}
	n := r.Count(1)
	if n > MaxShards {
		r.Fail("%d shards", n)
	}
	for range n {
		ck.snapshots = append(ck.snapshots, r.Bytes())
	}
	if n == 0 && r.Err() == nil {
		r.Fail("no shard")
	}
	ck.merger = r.Bytes()
	if err := r.Done(); err != nil {
		return nil, err
	}
	return ck, nil
}

func (ck *checkpoint) encode() []byte {
	w := frame.Begin(nil, ckptMagic, ckptVersion)
	w.I64(ck.taken)
	w.Uv(uint64(len(ck.sources)))
	for _, s := range ck.sources {
		w.Str(s.Name)
		w.Bytes(s.Data)
	}
	w.Uv(uint64(len(ck.snapshots)))
	for _, s := range ck.snapshots {
		w.Bytes(s)
	}
	w.Bytes(ck.merger)
	return w.Finish()
}

// Sync returns once every sample ingested, and every bad record reported,
// before it was called has been processed, the engines have been advanced
// to the wall clock, and their events handed to the sinks (which deliver
// from their own queues). It waits for the shards' queues; ctx bounds the
// wait. Once Run has taken its last checkpoint it returns ErrStopped.
func (rt *Runtime) Sync(ctx context.Context) error {
	_, err := rt.pauseAll(ctx, false)
	return err
}

// checkpoint pauses the shards as Sync does, takes their snapshots and,
// with Config.State, writes the checkpoint, within limit if it is not 0:
// the last checkpoint, at shutdown, must not wait for ever on a Store that
// hangs (the pause is bounded by the queues already).
func (rt *Runtime) checkpoint(ctx context.Context, limit time.Duration) error {
	ck, err := rt.pauseAll(ctx, rt.cfg.Store != nil)
	if rt.cfg.Store == nil {
		return err
	}
	if err != nil {
		rt.ctr.checkpointErrs.Add(1)
		return fmt.Errorf("pipeline: checkpoint: %w", err)
	}
	if limit > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, limit)
		defer cancel()
	}
	start := time.Now() // how long the write takes, for the log only
	// The write is the runtime's own work, on the ticker's goroutine:
	// however long it takes, the runtime is not stalled. Inputs that come
	// meanwhile move the engines on; without them, the next tick judges
	// the span as it is.
	rt.writing.Store(true)
	err = rt.cfg.Store.Save(ctx, ck.encode())
	storeMax(&rt.lastSeen, rt.cfg.Clock.Now().UnixNano())
	rt.writing.Store(false)
	if err != nil {
		rt.ctr.checkpointErrs.Add(1)
		return fmt.Errorf("pipeline: checkpoint: %w", err)
	}
	rt.ctr.checkpoints.Add(1)
	rt.cfg.Logger.Debug("checkpoint written", "store", rt.cfg.Store, "took", time.Since(start))
	return nil
}

// pauseAll pauses every shard at the wall clock's time, once each has
// processed what was queued before; the merger then releases everything
// they emitted; with snapshot, the engines' snapshots and the merger's
// state are taken meanwhile. Then the shards resume.
func (rt *Runtime) pauseAll(ctx context.Context, snapshot bool) (*checkpoint, error) {
	select {
	case <-rt.done:
		return nil, ErrStopped
	default:
	}
	rt.noticeStall(rt.cfg.Clock.Now()) // before the pause advances the engines across it
	if err := rt.lockPause(ctx); err != nil {
		return nil, err
	}
	defer rt.unlockPause()
	now := rt.cfg.Clock.Now().UnixNano()
	replies := make(chan pauseReply, len(rt.shards))
	resume := make(chan struct{})
	defer close(resume)
	inputs := rt.bad.unqueued() // bad records reported before, too
	for k, input := range inputs {
		i := xxhash.Sum64String(input) % uint64(len(rt.shards))
		select {
		case rt.shards[i].queue <- work{kind: workBadInput, input: input, bad: &rt.bad}:
		case <-ctx.Done():
			for _, input := range inputs[k:] { // marked queued, and not
				rt.bad.requeue(input)
			}
			return nil, ctx.Err()
		}
	}
	for _, s := range rt.shards {
		select {
		case s.queue <- work{kind: workPause, to: now, snapshot: snapshot, paused: replies, resume: resume}:
		case <-ctx.Done(): // the shards that pause resume at once: replies has room for them
			return nil, ctx.Err()
		}
	}
	ck := &checkpoint{taken: now, snapshots: make([][]byte, len(rt.shards))}
	var errs []error
	for range rt.shards {
		var r pauseReply
		select {
		case r = <-replies:
		case <-ctx.Done(): // the shards that pause later resume at once
			return nil, ctx.Err()
		case <-rt.done:
			return nil, ErrStopped
		}
		if r.err != nil {
			errs = append(errs, fmt.Errorf("shard %d: %w", r.shard, r.err))
		}
		ck.snapshots[r.shard] = r.snap
	}
	if err := flushMerger(ctx, rt.flush, rt.done); err != nil {
		// The merger may still be at work: its state is not to be read.
		return nil, errors.Join(append(errs, err)...)
	}
	if !snapshot {
		return ck, errors.Join(errs...)
	}
	rt.mu.Lock()
	ck.sources = rt.sources
	rt.mu.Unlock()
	ck.merger = rt.merge.group.AppendState(nil)
	return ck, errors.Join(errs...)
}
