package kafka

import (
	"bytes"
	"context"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestUnreadableFleetRecordIsNamed feeds the fleet stage records that are
// not a partition's events (a key that is no partition, a value that is
// no event): each is counted and skipped, and logged with its partition
// and offset, so that an operator can find it. They used to be counted
// only.
func TestUnreadableFleetRecordIsNamed(t *testing.T) {
	var log bytes.Buffer
	w, err := New(Config{Brokers: []string{"x:9092"}, Group: "g", Topic: "t",
		Logger: slog.New(slog.NewTextHandler(&log, nil))})
	require.NoError(t, err)
	p := w.open(tp{topic: w.cfg.FleetTopic, partition: 0}, nil, t0.UnixNano())
	evs, err := p.process(context.Background(), []*kgo.Record{
		{Topic: w.cfg.FleetTopic, Key: []byte("3"), Value: []byte("not an event"), Offset: 41},
		{Topic: w.cfg.FleetTopic, Key: []byte("x"), Value: []byte(`{}`), Offset: 42},
	}, t0.UnixNano())
	require.NoError(t, err)
	require.Empty(t, evs)
	require.Equal(t, uint64(2), p.ctr.fleetBad.Load())
	require.Equal(t, int64(43), p.next, "skipped")
	require.Contains(t, log.String(), "offset=41")
	require.Contains(t, log.String(), "offset=42")
	require.Contains(t, log.String(), "topic="+w.cfg.FleetTopic)
}
