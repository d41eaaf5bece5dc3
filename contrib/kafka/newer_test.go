package kafka

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/internal/frame"
	"github.com/faultline-go/faultline/rules"
)

// newerFrame returns a frame of b's magic (a frame this build wrote) one
// version newer than b's, with an empty body: what a newer build writes.
func newerFrame(t *testing.T, b []byte) []byte {
	t.Helper()
	magic := string(b[:frame.MagicLen])
	version, _, err := frame.Open(b, magic)
	require.NoError(t, err)
	return frame.Begin(nil, magic, version+1).Finish()
}

// TestNewerStateIsKept gives a partition a state written by a newer build
// (a state record of a newer version, one whose engine snapshot is of a
// newer version, or one whose rules this build cannot parse), as after a
// rollback. The worker must not take the partition, and so must never
// replace that state: it counts and logs each attempt and tries again, as
// for a state it cannot read, and takes the partition afresh once the
// record is deleted. It used to take such a
// state for a corrupt one, start the partition afresh and replace the
// state at its first checkpoint: the rollback lost it for good.
func TestNewerStateIsKept(t *testing.T) {
	t.Parallel()
	eng, err := fault.New(fault.Config{Rules: must(rules.ParseSources(deviceRules...))})
	require.NoError(t, err)
	snap, err := eng.AppendSnapshot(nil)
	require.NoError(t, err)
	cur := state{kind: stageEngine, next: 5, epoch: 0, taken: t0.UnixNano(), sources: deviceRules, snapshot: snap}
	newerSnap := cur
	newerSnap.snapshot = newerFrame(t, snap)
	// Rules of a newer rule syntax (a field this build does not know),
	// which the newer build parsed and took its snapshot under.
	newerRules := cur
	newerRules.sources = []rules.Source{{Name: "devices.yaml",
		Data: bytes.Replace(deviceRules[0].Data, []byte("for: 20s\n"), []byte("for: 20s\n        flap_guard: 3\n"), 1)}}
	_, err = rules.ParseSources(newerRules.sources...)
	require.ErrorIs(t, err, rules.ErrUnknownField)
	for _, c := range []struct {
		name string
		raw  []byte
	}{
		{"record", newerFrame(t, cur.encode())},
		{"snapshot", newerSnap.encode()},
		{"rules", newerRules.encode()},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t)
			group := "newer-" + c.name
			ts := r.topics(group, 1)
			key := stateKey(group, ts.in, 0)
			res := r.prod.ProduceSync(context.Background(), &kgo.Record{Topic: ts.state, Partition: 0, Key: []byte(key), Value: c.raw})
			require.NoError(t, res.FirstErr())
			end := map[int32]int64{}
			r.produce([]*kgo.Record{{Topic: ts.in, Partition: 0, Key: []byte("d00"),
				Value: []byte("temp,device=d00 value=20 1767225600000000000")}}, end)

			rn := r.start(r.config(ts, group, "w1", deviceRules))
			deadline := time.Now().Add(30 * time.Second)
			for metric(rn.w, "faultline_kafka_state_newer_total") < 2 {
				if _, ok := rn.w.progress()[tp{ts.in, 0}]; ok {
					break // taken: the test fails below
				}
				require.True(t, time.Now().Before(deadline), "no attempt to read the state")
				if r.clock.Waiters() > 1 {
					r.clock.Advance(loadBackoffMax)
				}
				time.Sleep(time.Millisecond)
			}
			_, taken := rn.w.progress()[tp{ts.in, 0}]
			rn.stop(t)
			if got := r.stateRecord(ts.state, 0, key); !bytes.Equal(c.raw, got) {
				t.Fatalf("a newer build's state was replaced (%d bytes, now %d)", len(c.raw), len(got))
			}
			require.False(t, taken, "the partition was taken")
			require.Zero(t, metric(rn.w, "faultline_kafka_state_unreadable_total"))

			// The operator gives up the state: the partition starts afresh.
			res = r.prod.ProduceSync(context.Background(), &kgo.Record{Topic: ts.state, Partition: 0, Key: []byte(key)})
			require.NoError(t, res.FirstErr())
			w2 := r.start(r.config(ts, group, "w2", deviceRules))
			r.caughtUp(ts.in, end, w2.w)
			require.Zero(t, metric(w2.w, "faultline_kafka_state_newer_total"))
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestCorruptStateIsNotNewer: a state record that is truncated or fails
// its checksum, even in its version, is no newer build's: newerState lets
// it through, and the partition starts afresh (ErrBadState), as before.
func TestCorruptStateIsNotNewer(t *testing.T) {
	w, err := New(Config{Brokers: []string{"x:9092"}, Group: "g", Topic: "t", Rules: deviceRules})
	require.NoError(t, err)
	eng, err := fault.New(fault.Config{Rules: w.rs})
	require.NoError(t, err)
	snap, err := eng.AppendSnapshot(nil)
	require.NoError(t, err)
	raw := (&state{kind: stageEngine, next: 5, taken: t0.UnixNano(), sources: deviceRules, snapshot: snap}).encode()
	require.NoError(t, w.newerState(raw))
	require.ErrorIs(t, w.newerState(newerFrame(t, raw)), ErrNewerState)
	for i := range raw {
		bad := bytes.Clone(raw)
		bad[i] ^= 0x41
		require.NoError(t, w.newerState(bad), "byte %d flipped", i)
		_, err := decodeState(bad)
		require.ErrorIs(t, err, ErrBadState, "byte %d flipped", i)
	}
	require.NoError(t, w.newerState(raw[:len(raw)-1]))
	p := w.open(tp{topic: "t", partition: 0}, raw[:len(raw)-1], t0.UnixNano())
	require.Equal(t, int64(-1), p.next, "afresh")
	require.Equal(t, 1.0, metric(w, "faultline_kafka_state_unreadable_total"))
}
