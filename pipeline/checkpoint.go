package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/internal/frame"
	"github.com/faultline-go/faultline/rules"
)

// A checkpoint is a frame (package frame) of magic "FLTRUNT\x00", version
// 1, whose body is: i64 the time it was taken (Unix ns); the rule files it
// was taken under (count, then each file's name and text); the engines'
// snapshots, one per shard in shard order (count, then each); the
// merger's state (mergerState).
const (
	ckptMagic   = "FLTRUNT\x00"
	ckptVersion = 1
)

type checkpoint struct {
	taken     int64
	sources   []rules.Source
	snapshots [][]byte
	merger    mergerState
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
	if n > maxShards {
		r.Fail("%d shards", n)
	}
	for range n {
		ck.snapshots = append(ck.snapshots, r.Bytes())
	}
	if n == 0 && r.Err() == nil {
		r.Fail("no shard")
	}
	ck.merger.readFrom(r, n)
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
	ck.merger.appendTo(w)
	return w.Finish()
}

// Sync returns once every sample ingested, and every bad record reported,
// before it was called has been processed, the engines have been advanced
// to the wall clock, and their events handed to the sinks (which deliver
// from their own queues). It waits for the shards' queues; ctx bounds the
// wait.
func (rt *Runtime) Sync(ctx context.Context) error {
	_, err := rt.pauseAll(ctx, false)
	return err
}

// checkpoint pauses the shards as Sync does, takes their snapshots and,
// with Config.State, writes the checkpoint.
func (rt *Runtime) checkpoint(ctx context.Context) error {
	ck, err := rt.pauseAll(ctx, rt.cfg.Store != nil)
	if rt.cfg.Store == nil {
		return err
	}
	if err != nil {
		rt.ctr.checkpointErrs.Add(1)
		return fmt.Errorf("pipeline: checkpoint: %w", err)
	}
	start := time.Now() // how long the write takes, for the log only
	if err := rt.cfg.Store.Save(ctx, ck.encode()); err != nil {
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
	rt.pause.Lock()
	defer rt.pause.Unlock()
	now := rt.cfg.Clock.Now().UnixNano()
	replies := make(chan pauseReply, len(rt.shards))
	resume := make(chan struct{})
	defer close(resume)
	for _, input := range rt.bad.unqueued() { // bad records reported before, too
		i := xxhash.Sum64String(input) % uint64(len(rt.shards))
		select {
		case rt.shards[i].queue <- work{kind: workBadInput, input: input, bad: &rt.bad}:
		case <-ctx.Done():
			rt.bad.requeue(input)
			return nil, ctx.Err()
		}
	}
	sent := 0
	for _, s := range rt.shards {
		select {
		case s.queue <- work{kind: workPause, to: now, snapshot: snapshot, paused: replies, resume: resume}:
			sent++
		case <-ctx.Done():
			for range sent {
				<-replies
			}
			return nil, ctx.Err()
		}
	}
	ck := &checkpoint{taken: now, snapshots: make([][]byte, len(rt.shards))}
	var errs []error
	for range rt.shards {
		r := <-replies
		if r.err != nil {
			errs = append(errs, fmt.Errorf("shard %d: %w", r.shard, r.err))
		}
		ck.snapshots[r.shard] = r.snap
	}
	flushMerger(ctx, rt.flush)
	if !snapshot {
		return ck, errors.Join(errs...)
	}
	rt.mu.Lock()
	ck.sources = rt.sources
	rt.mu.Unlock()
	ck.merger = rt.merge.state()
	return ck, errors.Join(errs...)
}

// mergerState is what a checkpoint keeps of the merger: its open groups
// and its links. It holds no queued event: a checkpoint is taken once the
// merger has released all.
type mergerState struct {
	groups []group
	links  [][2]string
}

func (m *merger) state() mergerState {
	var st mergerState
	for _, g := range m.groups {
		st.groups = append(st.groups, *g)
	}
	for _, from := range m.links.ring {
		if to, ok := m.links.m[from]; ok && from != "" {
			st.links = append(st.links, [2]string{from, to})
		}
	}
	return st
}

func (m *merger) restore(st mergerState) {
	for i := range st.groups {
		g := st.groups[i]
		m.groups = append(m.groups, &g)
	}
	for _, l := range st.links {
		m.links.add(l[0], l[1])
	}
}

func (st *mergerState) appendTo(w *frame.Writer) {
	w.Uv(uint64(len(st.groups)))
	for _, g := range st.groups {
		w.Str(string(g.kind))
		w.Str(g.key)
		w.Str(g.episode)
		w.U8(uint8(g.state))
		w.Str(g.firing)
		w.Bool(g.gap != nil)
		if g.gap != nil {
			w.I64(int64(g.gap.Period))
			w.I64(int64(g.gap.PhaseStart))
			w.I64(int64(g.gap.PhaseEnd))
			w.I64(int64(g.gap.Series))
			w.F64(g.gap.LateFraction)
		}
		w.Uv(uint64(len(g.members)))
		for _, mb := range sortedMembers(g.members) {
			w.Uv(uint64(mb.shard))
			w.Str(mb.episode)
			w.U8(uint8(g.members[mb]))
		}
	}
	w.Uv(uint64(len(st.links)))
	for _, l := range st.links {
		w.Str(l[0])
		w.Str(l[1])
	}
}

func (st *mergerState) readFrom(r *frame.Reader, shards int) {
	for range r.Count(5) {
		g := group{kind: fault.Kind(r.Str()), key: r.Str(), episode: r.Str(), state: fault.State(r.U8()), firing: r.Str(), members: map[member]fault.State{}}
		if r.Bool() {
			g.gap = &fault.Gap{Period: time.Duration(r.I64()), PhaseStart: time.Duration(r.I64()), PhaseEnd: time.Duration(r.I64()),
				Series: int(r.I64()), LateFraction: r.F64()}
		}
		for range r.Count(3) {
			mb := member{shard: r.Index(max(shards, 1)), episode: r.Str()}
			g.members[mb] = fault.State(r.U8())
		}
		if g.state != fault.StatePending && g.state != fault.StateFiring {
			r.Fail("group %q in state %d", g.episode, g.state)
		}
		st.groups = append(st.groups, g)
	}
	for range r.Count(2) {
		st.links = append(st.links, [2]string{r.Str(), r.Str()})
	}
}
