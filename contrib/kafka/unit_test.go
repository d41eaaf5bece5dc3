package kafka

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/pipeline"
	"github.com/faultline-go/faultline/rules"
	"github.com/faultline-go/faultline/stream"
)

func TestStateRecord(t *testing.T) {
	st := state{kind: stageEngine, next: 1234, epoch: 7, taken: t0.UnixNano(),
		sources: []rules.Source{{Name: "a.yaml", Data: []byte("groups: []")}}, snapshot: []byte("snapshot bytes")}
	raw := st.encode()
	got, err := decodeState(raw)
	require.NoError(t, err)
	require.Equal(t, st, *got)

	// Every corruption is refused with ErrBadState, never a panic.
	for i := range raw {
		bad := append([]byte(nil), raw...)
		bad[i] ^= 0x41
		_, err := decodeState(bad)
		require.ErrorIs(t, err, ErrBadState, "byte %d flipped", i)
	}
	for n := range len(raw) {
		_, err := decodeState(raw[:n])
		require.ErrorIs(t, err, ErrBadState, "truncated to %d", n)
	}
	require.Equal(t, "g:metrics/3", stateKey("g", "metrics", 3))
	require.Equal(t, int32(1), statePartition(7, 6))
}

// The fleet stage's state goes through a state record and back (a
// pipeline.Merger's, with the group it holds); one that cannot be read,
// such as the format of the stage's own before it used pipeline.Merger,
// makes the partition start afresh with ErrBadState.
func TestFleetStageState(t *testing.T) {
	w, err := New(Config{Brokers: []string{"x:9092"}, Group: "g", Topic: "t"})
	require.NoError(t, err)
	fleet := tp{topic: w.cfg.FleetTopic, partition: 0}
	since := t0.Add(12 * time.Minute).UnixNano()
	id, episode := fault.EventIDs(fault.KindPeriodicGap, "periodic_gap", 0, since, fault.StateFiring)
	gap := fault.Event{ID: id, Episode: episode, Kind: fault.KindPeriodicGap, Rule: "periodic_gap", State: fault.StateFiring,
		At: since + int64(2*time.Minute), Since: since, Value: math.NaN(),
		Gap: &fault.Gap{Period: time.Minute, PhaseStart: 12 * time.Second, PhaseEnd: 13500 * time.Millisecond, Series: 8}}

	p := w.open(fleet, nil, t0.UnixNano())
	require.Len(t, p.fleet.Add(nil, 1, gap), 1)
	raw, err := p.snapshot(t0.UnixNano())
	require.NoError(t, err)
	q := w.open(fleet, raw, t0.UnixNano())
	require.Equal(t, p.fleet.AppendState(nil), q.fleet.AppendState(nil))
	require.Empty(t, q.fleet.Add(nil, 2, gap), "another partition's episode of the restored group's gap")

	old := state{kind: stageFleet, next: 10, epoch: 1, taken: t0.UnixNano(), snapshot: []byte{0, 0, 0}} // no group, link or member
	err = w.restore(&partition{kind: stageFleet}, old.encode(), t0.UnixNano())
	require.ErrorIs(t, err, ErrBadState)
	require.ErrorContains(t, err, "the fleet stage's: pipeline: merger state")
	require.Equal(t, pipeline.NewMerger().AppendState(nil), w.open(fleet, old.encode(), t0.UnixNano()).fleet.AppendState(nil), "afresh")
	require.Equal(t, 1.0, metric(w, "faultline_kafka_state_unreadable_total"))
	require.Equal(t, 1.0, metric(w, "faultline_kafka_restored_total"))
}

func TestParseEvent(t *testing.T) {
	ev := fault.Event{ID: "0123456789abcdef", Episode: "fedcba9876543210", Kind: fault.KindPeriodicGap, Rule: "periodic_gap",
		State: fault.StateFiring, At: t0.Add(1500 * time.Millisecond).UnixNano(), Since: t0.UnixNano(),
		Labels:      stream.NewLabels("faultline_origin", "faultline", "z", "last"),
		Annotations: stream.Labels{{Name: "summary", Value: "a \"quoted\"\nline"}, {Name: "a", Value: "after"}},
		Value:       0.25, InhibitedBy: "1111111111111111",
		Gap: &fault.Gap{Period: time.Minute, PhaseStart: 12250 * time.Millisecond, PhaseEnd: 13750 * time.Millisecond, Series: 195, LateFraction: 0.5}}
	b := ev.AppendJSON(nil)
	got, err := ParseEvent(b)
	require.NoError(t, err)
	require.Equal(t, string(b), string(got.AppendJSON(nil)))
	require.Equal(t, ev.Annotations, got.Annotations, "order kept")

	ev.Gap, ev.Value, ev.InhibitedBy = nil, math.NaN(), ""
	got, err = ParseEvent(ev.AppendJSON(nil))
	require.NoError(t, err)
	require.Nil(t, got.Gap)
	require.True(t, math.IsNaN(got.Value))

	for _, bad := range []string{``, `[]`, `{"id":1}`, `{"id":"x","kind":"absence"}`, `{"id":"x","kind":"absence","state":"gone"}`,
		`{"id":"x","kind":"absence","state":"firing","at":"yesterday"}`, `{"id":"x","labels":{"a":1}}`} {
		_, err := ParseEvent([]byte(bad))
		require.Error(t, err, bad)
	}
}

func TestConfig(t *testing.T) {
	_, err := New(Config{})
	require.ErrorContains(t, err, "Brokers is required")
	require.ErrorContains(t, err, "Group is required")
	require.ErrorContains(t, err, "Topic is required")
	_, err = New(Config{Brokers: []string{"x:9092"}, Group: "g", Topic: "t", EventsTopic: "t"})
	require.ErrorContains(t, err, `Topic and EventsTopic are both "t"`)
	_, err = New(Config{Brokers: []string{"x:9092"}, Group: "g", Topic: "t", SASL: SASL{Mechanism: "GSSAPI"}})
	require.ErrorContains(t, err, "SASL.Mechanism")
	_, err = New(Config{Brokers: []string{"x:9092"}, Group: "g", Topic: "t", Tick: -time.Second})
	require.ErrorContains(t, err, "negative")
	_, err = New(Config{Brokers: []string{"x:9092"}, Group: "g", Topic: "t", MaxPartitions: -1})
	require.ErrorContains(t, err, "negative")
	_, err = New(Config{Brokers: []string{"x:9092"}, Group: "g", Topic: "t", TLS: TLS{CAFile: "/nonexistent"}})
	require.ErrorContains(t, err, "TLS")
	_, err = New(Config{Brokers: []string{"x:9092"}, Group: "g", Topic: "t", Rules: []rules.Source{{Name: "r.yaml", Data: []byte("groups: [")}}})
	require.Error(t, err)
	require.True(t, strings.HasPrefix(err.Error(), "kafka: "), err.Error())
	w, err := New(Config{Brokers: []string{"x:9092"}, Group: "g", Topic: "t"})
	require.NoError(t, err)
	require.Equal(t, DefaultEventsTopic, w.cfg.EventsTopic)
	require.Equal(t, DefaultMaxSnapshot+stateOverhead, w.cfg.MaxFetchBytes)
	require.Equal(t, DefaultMaxPartitions, w.cfg.MaxPartitions)
}
