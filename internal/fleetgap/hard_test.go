package fleetgap

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/internal/episode"
)

// Tests of what the hard classes of bench/scenario need: round pairs,
// trains that skip occurrences, resolution that waits out skips, episodes
// compared in absolute time, windows that follow the loss, and the floor
// of series for gaps whose lost samples arrive late.

const minute = int64(time.Minute)

// someCensus counts n series in any window.
func someCensus(n int) Census { return func(*Episode, int) int { return n } }

// feedBurst feeds a burst to the tracks as completing its last bin would,
// with n series missing in any window, and returns the transitions.
func feedBurst(f *Detector, b burst, n int) []episode.Transition {
	if f.bins == nil {
		f.alloc() // as the judgments that made the burst would have
	}
	f.census, f.out = someCensus(n), f.out[:0]
	f.burstEnded(b, b.end)
	f.census = nil
	return f.out
}

func TestRoundPairs(t *testing.T) {
	s := int64(time.Second)
	require.Equal(t, []int64{180 * s, 240 * s, 360 * s, 1200 * s, 2700 * s, 5400 * s, 7200 * s, 10800 * s}, pairDistances,
		"k = 2 or 3 periods of a candidate of at least 60 s, explained by no other")
	f := func(d, width int64, k int, ok bool) {
		t.Helper()
		gotK, gotOK := roundPair(d, width)
		require.Equal(t, ok, gotOK, "d %v width %v", time.Duration(d), time.Duration(width))
		if ok {
			require.Equal(t, k, gotK)
		}
	}
	f(180*s, s, 3, true)
	f(180*s+500*int64(time.Millisecond), s, 3, true) // within trackTol
	f(181*s, s, 0, false)                            // beyond it
	f(120*s, s, 0, false)                            // 2 × 60 s or 1 × 120 s: ambiguous
	f(60*s, s, 0, false)                             // one period apart: no credit
	f(300*s, s, 0, false)                            // a candidate itself
	f(1200*s, s, 2, true)                            // 2 × 600 s
	f(180*s, 20*s, 0, false)                         // wider than a quarter of the period
}

// Two bursts three minutes apart, in a fleet without other bursts for an
// hour, are a 60-s gap that skipped two occurrences: it fires at the
// second. With an unrelated burst in the hour, it does not.
func TestRoundPairConfirmsAtTheFundamental(t *testing.T) {
	f := New(int64(time.Second), minute, int64(2*time.Second))
	f.Start(sec(0))
	require.Empty(t, feedBurst(f, burstAt(sec(3612)), 50))
	out := feedBurst(f, burstAt(sec(3792)), 50)
	require.Len(t, out, 1)
	require.Equal(t, episode.Firing, out[0].State)
	require.Equal(t, minute, out[0].Gap.Period, "the fundamental, not 180 s")
	require.InDelta(t, 11.75, float64(out[0].Gap.PhaseStart)/1e9, 0.01)

	g := New(int64(time.Second), minute, int64(2*time.Second))
	g.Start(sec(0))
	feedBurst(g, burstAt(sec(3000)), 50) // unrelated
	feedBurst(g, burstAt(sec(3612)), 50)
	require.Empty(t, feedBurst(g, burstAt(sec(3792)), 50), "a burst in the last hour: a pair is no longer unlikely enough")
}

// A train extends over up to three skipped occurrences, each skip costing
// its share of the evidence, and confirms at its third occurrence.
func TestTrainSkipsOccurrences(t *testing.T) {
	f := New(int64(time.Second), minute, int64(2*time.Second))
	f.Start(sec(0))
	p := int64(47 * time.Second) // no round candidate: no pair credit
	at := func(n int64) int64 { return sec(3600) + n*p }
	require.Empty(t, feedBurst(f, burstAt(at(0)), 50))
	require.Empty(t, feedBurst(f, burstAt(at(1)), 50))
	out := feedBurst(f, burstAt(at(5)), 50) // three occurrences skipped
	require.Len(t, out, 1)
	require.Equal(t, episode.Firing, out[0].State)
	require.InDelta(t, 47, float64(out[0].Gap.Period)/1e9, 0.01)
	var tr *track
	for _, x := range f.tracks {
		if x.episode != nil {
			tr = x
		}
	}
	require.NotNil(t, tr)
	require.Equal(t, 3, tr.n)
	require.Equal(t, 5, tr.span)
	require.InDelta(t, math.Log(4), tr.skips, 1e-9)

	g := New(int64(time.Second), minute, int64(2*time.Second))
	g.Start(sec(0))
	feedBurst(g, burstAt(at(0)), 50)
	feedBurst(g, burstAt(at(1)), 50)
	require.Empty(t, feedBurst(g, burstAt(at(6)), 50), "four skipped: the train is lost")
}

// An episode resolves after as many clean occurrences in a row as a gap
// that skips at its observed rate would hardly show.
func TestCleanNeeded(t *testing.T) {
	f := func(lossy, skipped, want int) {
		t.Helper()
		require.Equal(t, want, (&Episode{lossy: lossy, skipped: skipped}).cleanNeeded(), "lossy %d, skipped %d", lossy, skipped)
	}
	f(31, 0, 2) // stratcond: (1/33)² < 0.001
	f(10, 0, 3)
	f(2, 0, 5)   // just confirmed: not much known yet
	f(10, 3, 6)  // skips three in thirteen
	f(20, 10, 7) // skips a third
}

// Occurrences are compared in absolute time: a gap confirmed at 59.686 s
// (a wandering phase) and a fold at 60 s name the same loss when their
// windows meet now, whatever their phases read modulo their periods.
func TestSameGapInAbsoluteTime(t *testing.T) {
	now := sec(7200)
	p := int64(59686 * time.Millisecond)
	loss := sec(7212) // the loss, now: 12 s into the minute
	ep := &Episode{period: p, phaseStart: loss % p, phaseEnd: loss%p + int64(1500*time.Millisecond)}
	start := loss % minute
	require.True(t, ep.sameGap(minute, start, start+int64(1500*time.Millisecond), now))
	require.False(t, ep.sameGap(minute, start+10*int64(time.Second), start+11500*int64(time.Millisecond), now))
	require.True(t, ep.sameGap(2*minute, (loss-minute)%(2*minute), (loss-minute)%(2*minute)+int64(time.Second), now), "a multiple")
}

// The window of an episode moves half the way to where its loss went.
func TestWindowFollowsTheLoss(t *testing.T) {
	f := newDetector()
	f.alloc()
	ep := f.Insert(sec(0), minute, int64(12*time.Second), int64(13500*time.Millisecond), sec(0))
	n := int64(sec(600) / minute)
	// The loss of occurrence n sits 0.6 s later than the window.
	for x := binOf(n*minute + int64(12600*time.Millisecond)); x < binOf(n*minute+int64(14100*time.Millisecond)); x++ {
		f.bin(x).e, f.bin(x).m = 40, 40
	}
	for x := binOf(n*minute + int64(5*time.Second)); x < binOf(n*minute+int64(20*time.Second)); x++ {
		if f.bin(x).e == 0 {
			f.bin(x).e = 40
		}
	}
	f.follow(ep, n)
	require.InDelta(t, 12.3, float64(ep.phaseStart)/1e9, 0.13)
	require.InDelta(t, 13.8, float64(ep.phaseEnd)/1e9, 0.13)
}

// Two series whose lost slots were filled late make a gap; two whose
// lost slots stayed lost do not (five are needed: dead checks).
func TestLateFilledFloor(t *testing.T) {
	f := func(late bool) *Episode {
		d := newDetector()
		d.alloc()
		start, end := int64(12*time.Second), int64(13500*time.Millisecond)
		for n := int64(60); n < 64; n++ {
			x := binOf(sec(0) + n*minute + int64(12500*time.Millisecond))
			d.bin(x).e, d.bin(x).m = 2, 2
			if late {
				d.bin(x).late = 2
			} else {
				d.bin(x).lost = 2
			}
		}
		d.census = someCensus(2)
		defer func() { d.census = nil }()
		return d.promote(sec(3600), minute, start, end, sec(0)+64*minute+int64(50*time.Second))
	}
	require.NotNil(t, f(true), "alive: two are enough")
	require.Nil(t, f(false), "dead or lost: five are needed")
}
