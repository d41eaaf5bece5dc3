package sink_test

import (
	"bytes"
	"context"
	"math"
	"testing"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/sink"
	"github.com/faultline-go/faultline/stream"
)

type point struct {
	measurement string
	tags        map[string]string
	tagOrder    []string
	fields      map[string]any
	time        time.Time
}

// decodePoints decodes line protocol with the library's decoder.
func decodePoints(t *testing.T, b []byte) []point {
	t.Helper()
	dec := lineprotocol.NewDecoderWithBytes(b)
	var out []point
	for dec.Next() {
		m, err := dec.Measurement()
		require.NoError(t, err)
		p := point{measurement: string(m), tags: map[string]string{}, fields: map[string]any{}}
		for {
			k, v, err := dec.NextTag()
			require.NoError(t, err)
			if k == nil {
				break
			}
			p.tags[string(k)] = string(v)
			p.tagOrder = append(p.tagOrder, string(k))
		}
		for {
			k, v, err := dec.NextField()
			require.NoError(t, err)
			if k == nil {
				break
			}
			p.fields[string(k)] = v.Interface()
		}
		p.time, err = dec.Time(lineprotocol.Nanosecond, time.Time{})
		p.time = p.time.UTC()
		require.NoError(t, err)
		out = append(out, p)
	}
	return out
}

func TestLineProtocolEncodesEventsAsMetrics(t *testing.T) {
	var buf bytes.Buffer
	s := sink.NewLineProtocol(&buf, nil)
	at := t0.Add(12*time.Second + 500*time.Millisecond)
	gap := fault.Event{
		ID: "g1", Episode: "gep", Kind: fault.KindPeriodicGap, Rule: "periodic_gap", State: fault.StateFiring,
		At: at.UnixNano(), Since: t0.UnixNano(),
		Labels: stream.NewLabels(fault.OriginLabel, "collector-1", "team", "ops"),
		Value:  math.NaN(), InhibitedBy: "",
		Gap: &fault.Gap{Period: time.Minute, PhaseStart: 12 * time.Second, PhaseEnd: 13500 * time.Millisecond, Series: 250, LateFraction: 0},
	}
	thr := fault.Event{
		ID: "t1", Episode: "tep", Kind: fault.KindThreshold, Rule: "SlowCheck", State: fault.StateResolved,
		At: at.UnixNano(), Since: t0.UnixNano(),
		Labels: stream.NewLabels("__name__", "check_latency", "check", "c1", "empty", "", fault.OriginLabel, "collector-1"),
		Value:  2.75, InhibitedBy: "g1",
	}
	require.NoError(t, s.Emit(context.Background(), gap))
	require.NoError(t, s.Emit(context.Background(), thr))
	require.NoError(t, s.Close(context.Background()))

	ps := decodePoints(t, buf.Bytes())
	require.Len(t, ps, 2)
	require.Equal(t, point{
		measurement: "faultline_event",
		tags: map[string]string{
			"faultline_origin": "collector-1", "team": "ops",
			"faultline_kind": "periodic_gap", "faultline_rule": "periodic_gap", "faultline_state": "firing",
		},
		tagOrder: []string{"faultline_kind", "faultline_origin", "faultline_rule", "faultline_state", "team"},
		fields: map[string]any{
			"id": "g1", "episode": "gep", "since": t0.UnixNano(),
			"period_s": 60.0, "phase_start_s": 12.0, "phase_end_s": 13.5, "series": int64(250), "late_fraction": 0.0,
		},
		time: at,
	}, ps[0])
	require.Equal(t, map[string]string{
		"faultline_metric": "check_latency", "check": "c1", "faultline_origin": "collector-1",
		"faultline_kind": "threshold", "faultline_rule": "SlowCheck", "faultline_state": "resolved",
	}, ps[1].tags, "__name__ is renamed, empty labels are left out")
	require.Equal(t, map[string]any{"id": "t1", "episode": "tep", "since": t0.UnixNano(), "value": 2.75, "inhibited_by": "g1"}, ps[1].fields)
}

func TestLineProtocolDropsWhatItCannotEncode(t *testing.T) {
	var buf bytes.Buffer
	s := sink.NewLineProtocol(&buf, nil)
	evs := events(3)
	evs[1].Labels = stream.NewLabels("host", "a\nb", fault.OriginLabel, "x")
	evs[2].Labels = stream.NewLabels("host", `trailing\`, fault.OriginLabel, "x")
	evs = append(evs, events(4)[3])
	for _, ev := range evs {
		require.NoError(t, s.Emit(context.Background(), ev))
	}
	require.NoError(t, s.Close(context.Background()))
	ps := decodePoints(t, buf.Bytes())
	require.Len(t, ps, 2, "the lines after a bad one are intact")
	require.Equal(t, "e00", ps[0].fields["id"])
	require.Equal(t, "e03", ps[1].fields["id"])
	st := s.Stats()
	require.Equal(t, uint64(2), st.Dropped[sink.ReasonUnencodable])
	require.Equal(t, uint64(2), st.Sent)
	require.Equal(t, st.Events, st.Sent+st.DroppedTotal())
}
