package stream

import (
	"strings"
	"testing"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
	"github.com/stretchr/testify/require"
)

// spyReader records the largest buffer a reader was asked to fill.
type spyReader struct {
	f   *feeder
	max int
}

func (s *spyReader) Read(p []byte) (int, error) {
	s.max = max(s.max, len(p))
	return s.f.Read(p)
}

// TestFeederBoundsLineProtocolBuffer pins down why the feeder serves one
// byte first: served in one piece, records longer than 256 bytes pile up in
// the line-protocol decoder's buffer, which doubles again and again and ends
// up about as large as the whole input.
func TestFeederBoundsLineProtocolBuffer(t *testing.T) {
	line := []byte("disk,host=a,path=/" + strings.Repeat("d", 400) + " used=1i 5")
	f := func(first bool) int {
		feed := &feeder{}
		spy := &spyReader{f: feed}
		lp := lineprotocol.NewDecoder(spy)
		for range 20_000 {
			feed.load(line)
			feed.first = first
			ok := lp.Next()
			ts, err := lp.TimeBytes()
			if !ok || err != nil || string(ts) != "5" || feed.pending() {
				require.FailNow(t, "bad decode", "next %v, err %v, ts %q", ok, err, ts)
			}
		}
		return spy.max
	}
	require.LessOrEqual(t, f(true), 8192)
	require.Greater(t, f(false), 1<<20, "the line-protocol decoder's behaviour changed; the one-byte trick may be unneeded")
}

func TestFeederReadPastRecord(t *testing.T) {
	feed := &feeder{}
	lp := lineprotocol.NewDecoder(feed)
	feed.load([]byte(`m s="open`))
	require.True(t, lp.Next())
	_, err := lp.Measurement()
	require.NoError(t, err)
	_, _, err = lp.NextField()
	require.ErrorContains(t, err, "closing quote")
	require.True(t, feed.dead)
}
