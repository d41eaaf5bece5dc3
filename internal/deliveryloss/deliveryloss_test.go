package deliveryloss

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/internal/episode"
	"github.com/faultline-go/faultline/internal/frame"
)

const binRes = int64(250 * time.Millisecond)

var periods = []int64{
	int64(10 * time.Second), int64(15 * time.Second), int64(20 * time.Second), int64(30 * time.Second),
	int64(time.Minute), int64(2 * time.Minute), int64(5 * time.Minute), int64(10 * time.Minute),
	int64(15 * time.Minute), int64(30 * time.Minute), int64(time.Hour),
}

// t0 is a whole hour of Unix time, in bins.
const t0 = int64(1767225600) * int64(time.Second) / binRes

// fleet is a simulated fleet's bins: fills slots per bin, each delivered
// with copies redundant copies (or as many as copies returns).
type fleet struct {
	rng      *rand.Rand
	fills    func(b int64) int
	copies   func(b int64) int // redundant copies of one filled slot
	loss     func(b int64) float64
	shadow   func(b int64) bool
	explain  bool
	counted  map[int64][3]uint32
	explains int
}

func (f *fleet) Delivered(b int64) (uint32, uint32, bool) {
	if c, ok := f.counted[b]; ok {
		return c[0], c[1], c[2] != 0
	}
	n := f.fills(b)
	var copies int
	for range n {
		k := f.copies(b)
		q := f.loss(b)
		for range k {
			if q == 0 || f.rng.Float64() >= q {
				copies++
			}
		}
	}
	var sh uint32
	if f.shadow != nil && f.shadow(b) {
		sh = 1
	}
	f.counted[b] = [3]uint32{uint32(n), uint32(copies), sh}
	return uint32(n), uint32(copies), sh != 0
}

func (f *fleet) Explained(p, start, end, at int64) bool {
	f.explains++
	return f.explain
}

func newFleet(seed uint64) *fleet {
	rng := rand.New(rand.NewPCG(seed, 1))
	return &fleet{
		rng:     rng,
		fills:   func(int64) int { return 40 },
		copies:  func(int64) int { return 3 },
		loss:    func(int64) float64 { return 0 },
		counted: map[int64][3]uint32{},
	}
}

// run completes the bins from, from+1, …, to−1 (bins since t0) and returns
// the transitions.
func run(d *Detector, f *fleet, from, to int64) []episode.Transition {
	var out []episode.Transition
	for b := t0 + from; b < t0+to; b++ {
		if b == t0+from {
			d.Allocate()
		}
		out = d.Complete(b, (b+1)*binRes+1500*int64(time.Millisecond), f, out)
		delete(f.counted, b-2*int64(time.Hour)/binRes-16) // what the ring would have forgotten
	}
	return out
}

func bins(d time.Duration) int64 { return int64(d) / binRes }

// inWindow reports whether bin b (since t0) lies in [start, end) of every
// period p from onset (all relative to t0, which is a whole hour).
func inWindow(b int64, p, start, end time.Duration, onset, stop time.Duration) bool {
	x := b - t0
	if x < bins(onset) || x >= bins(stop) {
		return false
	}
	ph := x % bins(p)
	return ph >= bins(start) && ph < bins(end)
}

// A periodic loss of half the copies in 12.0–13.5 s of every minute, from
// minute 20 to 50, is one episode at 60 s, confirmed within three periods
// and resolved within three after it stops.
func TestPeriodicCopyLossIsOneEpisode(t *testing.T) {
	f := newFleet(1)
	f.loss = func(b int64) float64 {
		if inWindow(b, time.Minute, 12*time.Second, 13500*time.Millisecond, 20*time.Minute, 50*time.Minute) {
			return 0.5
		}
		return 0
	}
	d := New(binRes, periods)
	out := run(d, f, 0, bins(70*time.Minute))
	require.Len(t, out, 2, "%+v", out)
	fire, res := out[0], out[1]
	require.Equal(t, episode.PeriodicDeliveryLoss, fire.Kind)
	require.Equal(t, episode.Firing, fire.State)
	require.Equal(t, int64(time.Minute), fire.Gap.Period)
	require.InDelta(t, 12, float64(fire.Gap.PhaseStart)/1e9, 0.5)
	require.InDelta(t, 13.5, float64(fire.Gap.PhaseEnd)/1e9, 0.5)
	require.True(t, math.IsNaN(fire.Gap.LateFraction), "nothing was lost")
	require.Positive(t, fire.Gap.Series)
	onset := (t0 + bins(20*time.Minute+12*time.Second)) * binRes
	require.Less(t, fire.At-onset, int64(3*time.Minute), "within three periods")
	require.Equal(t, episode.Resolved, res.State)
	require.Equal(t, fire.Since, res.Since)
	stop := (t0 + bins(50*time.Minute)) * binRes
	require.Greater(t, res.At, stop)
	require.Less(t, res.At-stop, int64(4*time.Minute))
}

// Copies lost at random, whatever their rate, at no phase in particular,
// raise nothing; nor does a step up in that rate.
func TestRandomCopyLossIsSilent(t *testing.T) {
	f := newFleet(2)
	f.loss = func(b int64) float64 {
		if b-t0 > bins(2*time.Hour) {
			return 0.2
		}
		return 0.02
	}
	d := New(binRes, periods)
	require.Empty(t, run(d, f, 0, bins(6*time.Hour)))
}

// Series that send different numbers of copies, at fixed phases, and
// samples whose copies vary from one to seven, raise nothing: each phase
// bin is judged against its own baseline, and a period's evidence against
// how much its bins vary.
func TestUnevenRedundancyIsSilent(t *testing.T) {
	f := newFleet(3)
	f.fills = func(b int64) int { return 5 + f.rng.IntN(7) }
	f.copies = func(b int64) int {
		switch b % 5 {
		case 0:
			return 0 // series delivered once
		case 1:
			return f.rng.IntN(7) // one to seven copies
		}
		return 3
	}
	d := New(binRes, periods)
	require.Empty(t, describe(run(d, f, 0, bins(6*time.Hour))))
}

// A storm of redeliveries (twenty times the copies for five minutes)
// does not teach the baselines, so its end is no loss.
func TestStormEndIsSilent(t *testing.T) {
	f := newFleet(4)
	f.copies = func(b int64) int {
		if x := b - t0; x >= bins(40*time.Minute) && x < bins(45*time.Minute) {
			return 60
		}
		return 3
	}
	d := New(binRes, periods)
	require.Empty(t, run(d, f, 0, bins(90*time.Minute)))
}

// A loss of copies in the shadow of a burst of lost samples, or one that a
// gap explains, is the gap's: nothing fires.
func TestGapsLossesAreNotDeliveryLosses(t *testing.T) {
	lossy := func(b int64) bool {
		return inWindow(b, time.Minute, 12*time.Second, 13500*time.Millisecond, 20*time.Minute, 50*time.Minute)
	}
	f := newFleet(5)
	f.loss = func(b int64) float64 {
		if lossy(b) {
			return 0.5
		}
		return 0
	}
	f.shadow = lossy
	require.Empty(t, run(New(binRes, periods), f, 0, bins(70*time.Minute)), "in a burst's shadow")

	f = newFleet(5)
	f.loss = func(b int64) float64 {
		if lossy(b) {
			return 0.5
		}
		return 0
	}
	f.explain = true
	require.Empty(t, run(New(binRes, periods), f, 0, bins(70*time.Minute)), "explained by a gap")
	require.Positive(t, f.explains, "it was asked")
}

// A detector restored from a snapshot taken while an episode is open
// continues exactly as the one that was not interrupted.
func TestSnapshotContinues(t *testing.T) {
	loss := func(b int64) float64 {
		if inWindow(b, time.Minute, 40*time.Second, 41*time.Second, 20*time.Minute, 60*time.Minute) {
			return 0.6
		}
		return 0.01
	}
	ref, f := New(binRes, periods), newFleet(6)
	f.loss = loss
	want := run(ref, f, 0, bins(90*time.Minute))
	require.Len(t, want, 2)

	g := newFleet(6)
	g.loss = loss
	a := New(binRes, periods)
	cut := bins(30 * time.Minute)
	got := run(a, g, 0, cut)
	require.Equal(t, 1, a.Open(), "an episode is open at the snapshot")
	w := frame.NewWriter(nil)
	a.AppendTo(w)
	b := New(binRes, periods)
	r := frame.NewReader(w.Data())
	b.ReadFrom(r)
	require.NoError(t, r.Done())
	got = append(got, run(b, g, cut, bins(90*time.Minute))...)
	require.Equal(t, describe(want), describe(got))

	// A truncated snapshot is refused, not half read.
	for _, n := range []int{1, len(w.Data()) / 2, len(w.Data()) - 1} {
		r := frame.NewReader(w.Data()[:n])
		New(binRes, periods).ReadFrom(r)
		require.Error(t, r.Done(), "cut at %d", n)
	}
}

// describe writes transitions out, NaN and all.
func describe(trs []episode.Transition) []string {
	var out []string
	for _, tr := range trs {
		g := *tr.Gap
		tr.Gap = nil
		out = append(out, fmt.Sprintf("%+v %+v", tr, g))
	}
	return out
}
