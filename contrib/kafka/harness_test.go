package kafka

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/faultline-go/faultline/clock"
	"github.com/faultline-go/faultline/rules"
)

// The test rig: an in-process kfake cluster, topic sets, workers that can
// be killed, and a fake clock the test steps. Arrival times are the fake
// clock's: a test sets the clock, produces the records that arrive then,
// and waits until the workers have processed everything produced, so
// every record is stamped with the time the test meant, whichever worker
// takes it. Rebalances and crashes happen while the clock stands still.

// t0 is the start of virtual time: 2026-01-01T00:00:00Z.
var t0 = time.Unix(1767225600, 0).UTC()

type rig struct {
	t     testing.TB
	c     *kfake.Cluster
	adm   *kadm.Client
	prod  *kgo.Client
	clock *clock.Fake
}

func newRig(t testing.TB, opts ...kfake.Opt) *rig {
	t.Helper()
	opts = append([]kfake.Opt{kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(100 * time.Millisecond)}, opts...)
	c, err := kfake.NewCluster(opts...)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	admCl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	require.NoError(t, err)
	t.Cleanup(admCl.Close)
	prod, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ProducerLinger(0))
	require.NoError(t, err)
	t.Cleanup(prod.Close)
	return &rig{t: t, c: c, adm: kadm.NewClient(admCl), prod: prod, clock: clock.NewFake(t0)}
}

// topics are the topics of one deployment.
type topics struct {
	in, events, state, fleet string
	partitions               int32
}

// topics creates a deployment's topics: the input with n partitions, the
// events with 3, the state compacted with n, the fleet with 1.
func (r *rig) topics(prefix string, n int32) topics {
	r.t.Helper()
	ts := topics{in: prefix + "-in", events: prefix + "-events", state: prefix + "-state", fleet: prefix + "-fleet", partitions: n}
	compact := "compact"
	ctx := context.Background()
	for _, c := range []struct {
		topic string
		n     int32
		cfg   map[string]*string
	}{{ts.in, n, nil}, {ts.events, 3, nil}, {ts.state, n, map[string]*string{"cleanup.policy": &compact}}, {ts.fleet, 1, nil}} {
		resp, err := r.adm.CreateTopic(ctx, c.n, 1, c.cfg, c.topic)
		require.NoError(r.t, err)
		require.NoError(r.t, resp.Err)
	}
	return ts
}

// config is a worker's configuration on the rig: fast group timeouts,
// checkpoints every 30 s of virtual time.
func (r *rig) config(ts topics, group, name string, rs []rules.Source) Config {
	return Config{
		Brokers: r.c.ListenAddrs(), Group: group, Name: name,
		Topic: ts.in, EventsTopic: ts.events, StateTopic: ts.state, FleetTopic: ts.fleet,
		Rules: rs, CheckpointEvery: 30 * time.Second, Clock: r.clock,
		Options: []kgo.Opt{
			kgo.SessionTimeout(time.Second), kgo.HeartbeatInterval(100 * time.Millisecond),
			kgo.RebalanceTimeout(10 * time.Second), kgo.FetchMaxWait(200 * time.Millisecond),
			kgo.ProducerLinger(0),
		},
	}
}

// runner is a running worker whose network can be cut.
type runner struct {
	w      *Worker
	net    *netSwitch
	cancel context.CancelFunc
	done   chan error
}

// start starts a worker; prepare, if any, may set its hooks first.
func (r *rig) start(cfg Config, prepare ...func(*Worker)) *runner {
	r.t.Helper()
	ns := &netSwitch{}
	cfg.Options = append(cfg.Options, kgo.Dialer(ns.dial))
	w, err := New(cfg)
	require.NoError(r.t, err)
	for _, f := range prepare {
		f(w)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rn := &runner{w: w, net: ns, cancel: cancel, done: make(chan error, 1)}
	go func() { rn.done <- w.Run(ctx) }()
	r.t.Cleanup(func() { rn.stop(r.t) })
	return rn
}

// stop stops the worker gracefully (a crashed one is already gone).
func (rn *runner) stop(t testing.TB) {
	if rn.done == nil {
		return
	}
	rn.cancel()
	select {
	case err := <-rn.done:
		if !errors.Is(err, errCrashed) {
			require.NoError(t, err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("worker did not stop")
	}
	rn.done = nil
}

// kill kills the worker as a crash would: its connections are cut (no
// heartbeat, no leave) and it stops at once, writing and committing
// nothing. The group notices when its session times out.
func (rn *runner) kill(t testing.TB) {
	rn.net.cut()
	rn.w.crash()
	select {
	case err := <-rn.done:
		require.ErrorIs(t, err, errCrashed)
	case <-time.After(30 * time.Second):
		t.Fatal("killed worker did not stop")
	}
	rn.done = nil
}

// netSwitch dials the brokers until cut; then it closes every connection
// and refuses new ones.
type netSwitch struct {
	mu    sync.Mutex
	conns []net.Conn
	dead  bool
}

func (s *netSwitch) dial(ctx context.Context, network, host string) (net.Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dead {
		return nil, errors.New("network cut")
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, network, host)
	if err == nil {
		s.conns = append(s.conns, c)
	}
	return c, err
}

func (s *netSwitch) cut() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dead = true
	for _, c := range s.conns {
		_ = c.Close()
	}
}

// progress returns the next offset of each partition the worker holds.
func (w *Worker) progress() map[tp]int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[tp]int64{}
	for t, p := range w.parts {
		out[t] = p.next
	}
	return out
}

// produce produces records and raises end to each partition's end offset
// past them.
func (r *rig) produce(recs []*kgo.Record, end map[int32]int64) {
	r.t.Helper()
	if len(recs) == 0 {
		return
	}
	res := r.prod.ProduceSync(context.Background(), recs...)
	require.NoError(r.t, res.FirstErr())
	for _, pr := range res {
		end[pr.Record.Partition] = max(end[pr.Record.Partition], pr.Record.Offset+1)
	}
}

// ends returns the end offset of each of a topic's partitions.
func (r *rig) ends(topic string) map[int32]int64 {
	r.t.Helper()
	lo, err := r.adm.ListEndOffsets(context.Background(), topic)
	require.NoError(r.t, err)
	out := map[int32]int64{}
	lo.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out
}

// caughtUp waits until every partition of topic is held by one of the
// workers and processed up to end.
func (r *rig) caughtUp(topic string, end map[int32]int64, ws ...*Worker) {
	r.t.Helper()
	r.caughtUpUnless(nil, topic, end, ws...)
}

// caughtUpUnless is caughtUp that gives up once stop, if any, reports
// true.
func (r *rig) caughtUpUnless(stop func() bool, topic string, end map[int32]int64, ws ...*Worker) {
	r.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for stop == nil || !stop() {
		done := true
		for p, e := range end {
			held := false
			for _, w := range ws {
				if n, ok := w.progress()[tp{topic, p}]; ok && (n >= e || e == 0) {
					held = true
				}
			}
			done = done && held
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			prog := map[string]map[tp]int64{}
			for _, w := range ws {
				prog[w.cfg.Name] = w.progress()
			}
			r.t.Fatalf("workers did not catch up with %s %v: %v", topic, end, prog)
		}
		time.Sleep(time.Millisecond)
	}
}

// settle waits until the workers have caught up with ts's input, every
// event they produced is acknowledged, and the fleet stage has read what
// was sent to it and produced what it found.
func (r *rig) settle(ts topics, ws ...*Worker) {
	r.t.Helper()
	r.caughtUp(ts.in, r.ends(ts.in), ws...)
	for range 2 {
		for _, w := range ws {
			r.flushed(w)
		}
		r.caughtUp(ts.fleet, r.ends(ts.fleet), ws...)
	}
}

// flushed waits until nothing the worker produced is unacknowledged.
func (r *rig) flushed(w *Worker) {
	r.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		cl := w.clv.Load()
		if cl == nil || cl.BufferedProduceRecords() == 0 {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%s: records stay unacknowledged", w.cfg.Name)
		}
		time.Sleep(time.Millisecond)
	}
}

// record is one record of the events topic.
type record struct {
	id, worker, key string
	value           []byte
	offset          int64
	partition       int32
}

// events reads the whole events topic.
func (r *rig) events(topic string) []record {
	r.t.Helper()
	end := r.ends(topic)
	from := map[int32]kgo.Offset{}
	left := 0
	for p, e := range end {
		if e > 0 {
			from[p] = kgo.NewOffset().AtStart()
			left++
		}
	}
	if left == 0 {
		return nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(r.c.ListenAddrs()...), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: from}))
	require.NoError(r.t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []record
	for left > 0 {
		fs := cl.PollFetches(ctx)
		require.NoError(r.t, ctx.Err())
		fs.EachRecord(func(rec *kgo.Record) {
			if rec.Offset >= end[rec.Partition] {
				return
			}
			ev, err := ParseEvent(rec.Value)
			require.NoError(r.t, err)
			if strings.HasSuffix(topic, "-events") {
				require.Equal(r.t, ev.Episode, string(rec.Key), "events are keyed by episode")
			}
			rc := record{id: ev.ID, key: string(rec.Key), value: rec.Value, offset: rec.Offset, partition: rec.Partition}
			for _, h := range rec.Headers {
				if h.Key == "faultline-worker" {
					rc.worker = string(h.Value)
				}
			}
			out = append(out, rc)
			if rec.Offset+1 == end[rec.Partition] {
				left--
			}
		})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].partition != out[j].partition {
			return out[i].partition < out[j].partition
		}
		return out[i].offset < out[j].offset
	})
	return out
}

// dedup returns the events by ID, as a consumer that deduplicates keeps
// them: the first copy of each (the copies of one ID share its episode,
// hence its partition and order). A copy may differ from the first only
// in "at", the engine time: a partition that re-processes its input
// after a crash takes the records later than the first time.
func dedup(t *testing.T, recs []record) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, r := range recs {
		if v, ok := out[r.id]; ok {
			require.Equal(t, withoutAt(t, []byte(v)), withoutAt(t, r.value), "two events with ID %s differ", r.id)
			continue
		}
		out[r.id] = string(r.value)
	}
	return out
}

// withoutAt returns an event's JSON without its "at".
func withoutAt(t *testing.T, b []byte) string {
	t.Helper()
	ev, err := ParseEvent(b)
	require.NoError(t, err)
	ev.At = 0
	return string(ev.AppendJSON(nil))
}

// errorResponse answers req, a Produce, ListOffsets or OffsetCommit
// request, with err for every partition it names: what a kfake control
// function returns to make the brokers refuse it.
func errorResponse(req kmsg.Request, err *kerr.Error) kmsg.Response {
	switch req := req.(type) {
	case *kmsg.ProduceRequest:
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, err.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp
	case *kmsg.ListOffsetsRequest:
		resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewListOffsetsResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewListOffsetsResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, err.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp
	case *kmsg.OffsetCommitRequest:
		resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewOffsetCommitResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewOffsetCommitResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, err.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp
	}
	panic(fmt.Sprintf("errorResponse: a %T", req))
}

// waitFor waits until cond holds, failing with why's message if it does
// not within timeout (why is asked then, to say how things stand).
func waitFor(t testing.TB, timeout time.Duration, cond func() bool, why func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		require.True(t, time.Now().Before(deadline), why())
		time.Sleep(time.Millisecond)
	}
}

// say is a waitFor message that says the same whenever asked.
func say(msg string) func() string { return func() string { return msg } }

func itoa(i int) string { return strconv.Itoa(i) }
