package fault_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/bench/scenario"
	"github.com/faultline-go/faultline/fault"
)

// observed records what an Observer is told.
type observed struct {
	bins    []fault.PhaseBin
	minutes []fault.SourceMinute
}

func (o *observed) PhaseBin(b fault.PhaseBin)         { o.bins = append(o.bins, b) }
func (o *observed) SourceMinute(m fault.SourceMinute) { o.minutes = append(o.minutes, m) }

// TestObserverSeesWhatTheDetectorsSaw: through a stratcond-like gap, the
// observer is told every slot judgment once, by bin, and every delivery
// once, by minute; the bins in the gap's window miss far more than the
// others.
func TestObserverSeesWhatTheDetectorsSaw(t *testing.T) {
	ds, err := scenario.Generate(small("B01", 2000, 10*time.Minute), 7)
	require.NoError(t, err)
	var obs observed
	eng, err := fault.New(fault.Config{Observer: &obs})
	require.NoError(t, err)
	defer eng.Deduper().Reset()
	for b := range ds.Batches(2048) {
		require.NoError(t, eng.Process(context.Background(), b))
	}
	require.NoError(t, eng.Close(context.Background()))
	st := eng.Stats()

	var ex, miss, late, lost uint64
	var inWindow, outWindow [2]uint64 // missed, expected
	for i, b := range obs.bins {
		if i > 0 {
			require.Greater(t, b.Start, obs.bins[i-1].Start, "in time order, each once")
		}
		ex += uint64(b.Expected)
		miss += uint64(b.Missed)
		late += uint64(b.Late)
		lost += uint64(b.Lost)
		phase := time.Duration(b.Start % int64(time.Minute))
		w := &outWindow
		if phase >= 12*time.Second && phase < 13500*time.Millisecond {
			w = &inWindow
		}
		w[0] += uint64(b.Missed)
		w[1] += uint64(b.Expected)
	}
	require.Equal(t, st.SlotsExpected, ex)
	require.Equal(t, st.SlotsMissed, miss)
	require.Equal(t, st.SlotsLate, late)
	require.Equal(t, st.SlotsLost, lost)
	require.Greater(t, float64(inWindow[0])/float64(inWindow[1]), 10*float64(outWindow[0])/float64(outWindow[1]),
		"the gap's window misses: %v, elsewhere: %v", inWindow, outWindow)

	var fresh, redelivered uint64
	for _, m := range obs.minutes {
		fresh += m.Fresh
		redelivered += m.Redelivered
		require.Zero(t, m.Start%int64(time.Minute))
	}
	require.Equal(t, st.Fresh, fresh)
	require.Equal(t, st.Duplicates+st.Conflicts, redelivered)
}
