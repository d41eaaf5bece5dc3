package compact_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/internal/compact"
	"github.com/faultline-go/faultline/stream"
)

// Samples gives back what it was given, in order, in any range.
func TestSamplesRoundTrip(t *testing.T) {
	var in []stream.Sample
	for i := range 50 {
		labels := stream.NewLabels("host", fmt.Sprintf("h%d", i%7))
		in = append(in, stream.NewSample(fmt.Sprintf("m%d", i%3), labels, int64(i)*10, float64(i)/4, int64(i)*10+5))
	}
	var s compact.Samples
	s.Add(in[:20]...)
	s.Add(in[20:]...)
	require.Equal(t, len(in), s.Len())
	require.Equal(t, in, s.AppendTo(nil, 0, s.Len()))
	require.Equal(t, in[13:31], s.AppendTo(nil, 13, 31))
	dst := s.AppendTo(in[:2:2], 40, 50)
	require.Equal(t, append(in[:2:2], in[40:]...), dst)
}
