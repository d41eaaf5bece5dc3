package scenario

import (
	"cmp"
	"math"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// hard shrinks a hard scenario to n series (H04 keeps fewer), a 40-minute
// horizon and the incident from 5 to 35 minutes.
func hard(id string, n int) Spec {
	s := MustNamed(id)
	return s.WithN(min(s.N, n)).WithHorizon(40*time.Minute).WithIncident(5*time.Minute, 30*time.Minute)
}

// copyGroups maps each delivered sample to the copies delivered of it, by
// copy index: on time (not replayed) or replayed.
type copyGroup struct {
	onTime, replayed [MaxCopies]bool
	first            int64 // arrival of the first on-time copy, 0 if none
}

func groupCopies(ds *Dataset) map[sampleKey]*copyGroup {
	m := map[sampleKey]*copyGroup{}
	for _, d := range ds.Deliveries() {
		k := sampleKey{d.Series(), d.Time()}
		g := m[k]
		if g == nil {
			g = &copyGroup{}
			m[k] = g
		}
		if d.Replayed() {
			g.replayed[d.Copy()] = true
			continue
		}
		g.onTime[d.Copy()] = true
		if g.first == 0 {
			g.first = d.Arrival()
		}
	}
	return m
}

// windowAt returns the index of the window holding a, or −1 (ws sorted and
// disjoint).
func windowAt(ws []Window, a int64) int {
	i := sort.Search(len(ws), func(i int) bool { return ws[i].End > a })
	if i < len(ws) && ws[i].Start <= a {
		return i
	}
	return -1
}

func TestHardNamed(t *testing.T) {
	require.Equal(t, []string{"H01", "H02", "H03", "H04", "H05", "N01", "N02", "N03", "N04"}, HardIDs())
	names := map[string]bool{}
	for _, id := range HardIDs() {
		s, ok := Named(id)
		require.True(t, ok, id)
		require.Equal(t, id, s.ID)
		require.NotEmpty(t, s.Name)
		require.False(t, names[s.Name], "names are unique")
		names[s.Name] = true
		require.NoError(t, s.Validate(), id)
		require.Equal(t, id[0] == 'N', s.Control(), "%s: H has a periodic truth, N is a control", id)
	}
	for _, id := range IDs() {
		require.Equal(t, id[0] == 'C', MustNamed(id).Control(), id)
	}
	require.Equal(t, 0.3, MustNamed("H01").SkipProb)
	require.Equal(t, MustNamed("B04").Cadences, MustNamed("H01").Cadences)
	require.Equal(t, 300*time.Millisecond, MustNamed("H02").PhaseWalk)
	h03 := MustNamed("H03")
	require.Greater(t, 2*h03.Jitter, h03.Width, "the jitter is wider than the window")
	require.Equal(t, 150, MustNamed("H04").N)
	h05 := MustNamed("H05")
	require.Equal(t, ModeCopyLoss, h05.Mode)
	require.Zero(t, h05.Replay)
	n01 := MustNamed("N01")
	require.Equal(t, ModeRandomCopyLoss, n01.Mode)
	require.Equal(t, h05.CopyLoss, n01.CopyLoss)
	require.Equal(t, h05.Width, n01.Width)
	require.Equal(t, 0.02, MustNamed("N02").LossStep)
	require.Equal(t, ModeBacklog, MustNamed("N03").Mode)
	require.Positive(t, MustNamed("N04").ClockDriftPPM)
	for _, m := range []Mode{ModeCopyLoss, ModeRandomCopyLoss, ModeBacklog} {
		require.NotContains(t, m.String(), "mode(")
	}
}

func TestHardValidate(t *testing.T) {
	h05 := MustNamed("H05")
	for name, c := range map[string]struct {
		base Spec
		mut  func(*Spec)
	}{
		"one copy":        {h05, func(s *Spec) { s.Copies = 1 }},
		"no copy loss":    {h05, func(s *Spec) { s.CopyLoss = 0 }},
		"copy loss > 1":   {h05, func(s *Spec) { s.CopyLoss = 1.5 }},
		"copy phase":      {h05, func(s *Spec) { s.Phase = s.Period }},
		"walk too wide":   {MustNamed("H02"), func(s *Spec) { s.PhaseWalk = 8 * time.Second }},
		"negative walk":   {MustNamed("H02"), func(s *Spec) { s.PhaseWalk = -time.Second }},
		"loss step":       {MustNamed("N02"), func(s *Spec) { s.LossStep = 0.999 }},
		"negative step":   {MustNamed("N02"), func(s *Spec) { s.LossStep = -0.01 }},
		"negative flood":  {MustNamed("N03"), func(s *Spec) { s.Flood = -time.Second }},
		"flood too long":  {MustNamed("N03"), func(s *Spec) { s.Flood = time.Hour }},
		"clock drift":     {MustNamed("N04"), func(s *Spec) { s.ClockDriftPPM = -1 }},
		"clock drift lag": {MustNamed("N04").Long(ControlHorizon), func(s *Spec) { s.ClockDriftPPM = 20_000 }},
	} {
		s := c.base
		require.NoError(t, s.Validate(), name)
		c.mut(&s)
		require.Error(t, s.Validate(), name)
		_, err := Generate(s, 1)
		require.Error(t, err, name)
	}
}

// TestHardDeterministic: the same seed gives the same bytes and truth,
// another seed other bytes, for every hard scenario.
func TestHardDeterministic(t *testing.T) {
	for _, id := range HardIDs() {
		s := hard(id, 80)
		a, b := mk(t, s, 21), mk(t, s, 21)
		require.Equal(t, a.Digest(), b.Digest(), id)
		require.Equal(t, a.Truth, b.Truth, id)
		require.Equal(t, a.Series, b.Series, id)
		require.NotEqual(t, a.Digest(), mk(t, s, 22).Digest(), id)
		for i := 1; i < a.Len(); i++ {
			require.LessOrEqual(t, compareDeliveries(a.At(i-1), a.At(i)), 0, "%s: sorted", id)
		}
	}
}

// TestFeaturesOffDrawNothing: a feature set to its zero value leaves the
// stream alone (the pinned digests check the named scenarios; this checks
// that switching a feature on does change the bytes, so it is not a no-op).
func TestFeaturesOffDrawNothing(t *testing.T) {
	base := pinSpec(MustNamed("B04"))
	ref := mk(t, base, 3).Digest()
	for name, mut := range map[string]func(*Spec){
		"phase walk":  func(s *Spec) { s.PhaseWalk = 100 * time.Millisecond },
		"loss step":   func(s *Spec) { s.LossStep = 0.01 },
		"clock drift": func(s *Spec) { s.ClockDriftPPM = 50 },
		"copy loss":   func(s *Spec) { s.Mode, s.CopyLoss = ModeCopyLoss, 0.5 },
	} {
		s := base
		mut(&s)
		require.NotEqual(t, ref, mk(t, s, 3).Digest(), name)
	}
	// A copy-loss spec with its fields set but mode periodic draws as B04.
	s := base
	s.CopyLoss, s.Flood = 0.5, 5*time.Second
	require.Equal(t, ref, mk(t, s, 3).Digest())
}

// checkGapTruth checks a ModePeriodic dataset: no on-time delivery inside a
// window, every replay Replay after a window, every drop in its window, and
// the counts agree.
func checkGapTruth(t *testing.T, ds *Dataset) {
	t.Helper()
	tr := &ds.Truth
	replay := int64(ds.Spec.Replay)
	replays := 0
	for _, d := range ds.Deliveries() {
		if d.Replayed() {
			replays++
			require.GreaterOrEqual(t, windowAt(tr.Windows, d.Arrival()-replay), 0, "replay not Replay after a window")
			continue
		}
		require.Equal(t, -1, windowAt(tr.Windows, d.Arrival()), "on-time delivery inside a window")
	}
	require.Equal(t, tr.DroppedCopies, replays)
	require.Len(t, tr.Drops, tr.Dropped)
	var perWindow int
	for _, w := range tr.Windows {
		perWindow += int(w.Dropped)
	}
	require.Equal(t, tr.Dropped, perWindow)
	for _, dr := range tr.Drops {
		w := tr.Windows[dr.Window]
		require.True(t, dr.Arrival >= w.Start && dr.Arrival < w.End)
		require.True(t, dr.Replayed)
	}
	for i := 1; i < len(tr.Windows); i++ {
		require.GreaterOrEqual(t, tr.Windows[i].Start, tr.Windows[i-1].End, "windows disjoint and in order")
	}
}

func TestSkippedOccurrences(t *testing.T) {
	ds := mk(t, MustNamed("H01").WithN(600), 4)
	tr := &ds.Truth
	require.True(t, tr.Periodic)
	require.False(t, tr.DeliveryLoss)
	checkGapTruth(t, ds)
	// 31 occurrences, about 30 % skipped; those that happen sit exactly on
	// the lattice n·60 s + 12 s, so some gaps between windows are 2P or more.
	require.InDelta(t, 0.7*31, len(tr.Windows), 6)
	long := 0
	for i, w := range tr.Windows {
		require.Equal(t, int64(12*time.Second), w.Start%int64(time.Minute))
		if i > 0 && w.Start-tr.Windows[i-1].Start >= int64(2*time.Minute) {
			long++
		}
	}
	require.Positive(t, long, "some occurrences skipped")
	require.Positive(t, tr.Core, "series with Δ < P lose their slot in most windows")
}

func TestPhaseWalk(t *testing.T) {
	// A long incident, so the walk's statistics can be checked.
	s := MustNamed("H02").WithN(60).WithHorizon(7*time.Hour).WithIncident(30*time.Minute, 6*time.Hour)
	ds := mk(t, s, 5)
	tr := &ds.Truth
	require.True(t, tr.Periodic)
	checkGapTruth(t, ds)
	ws := tr.Windows
	require.Len(t, ws, 360)
	P, sigma := float64(time.Minute), float64(s.PhaseWalk)
	require.Equal(t, int64(12*time.Second), ws[0].Start%int64(time.Minute), "the walk starts at the stated phase")
	steps := make([]float64, len(ws)-1)
	var sum, sumSq, maxOff float64
	for i := 1; i < len(ws); i++ {
		steps[i-1] = float64(ws[i].Start-ws[i-1].Start) - P
		sum += steps[i-1]
		sumSq += steps[i-1] * steps[i-1]
		maxOff = max(maxOff, math.Abs(float64(ws[i].Start-ws[0].Start)-float64(i)*P))
		require.Equal(t, int64(1500*time.Millisecond), ws[i].End-ws[i].Start)
	}
	n := float64(len(steps))
	mean := sum / n
	sd := math.Sqrt(sumSq/n - mean*mean)
	require.InDelta(t, sigma, sd, 0.12*sigma, "steps are N(0, σ)")
	require.InDelta(t, 0, mean, 4*sigma/math.Sqrt(n))
	// A random walk wanders: after 359 steps the phase has moved many σ
	// (independent jitter would stay within a few σ of 12 s).
	require.Greater(t, maxOff, 5*sigma)
	// Consecutive steps are independent (the offsets, not the steps, are
	// correlated): lag-1 autocorrelation of the steps near 0.
	var ac float64
	for i := 1; i < len(steps); i++ {
		ac += (steps[i] - mean) * (steps[i-1] - mean)
	}
	require.InDelta(t, 0, ac/(n-1)/(sd*sd), 0.2)

	// With skips the walk goes on through the occurrences that do not
	// happen, and windows stay disjoint.
	s.SkipProb = 0.3
	ds = mk(t, s, 5)
	checkGapTruth(t, ds)
	require.Less(t, len(ds.Truth.Windows), 300)
}

func TestWideJitter(t *testing.T) {
	s := MustNamed("H03").WithN(2000)
	ds := mk(t, s, 6)
	tr := &ds.Truth
	require.True(t, tr.Periodic)
	checkGapTruth(t, ds)
	// Every drop arrived inside the 0.5-s window, but the lattice phases
	// of the dropped slots (where a detector expects them) spread over
	// about w + 2J = 2.5 s.
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, dr := range tr.Drops {
		st := ds.Series[dr.Series]
		nominal := float64(st.Offset) + float64(dr.Slot)*float64(st.Every)*(1+st.DriftPPM*1e-6)
		ph := math.Mod(nominal, float64(time.Minute)) / 1e9
		lo, hi = min(lo, ph), max(hi, ph)
	}
	require.Greater(t, hi-lo, 2.0, "lattice phases of drops spread wider than the window")
	require.Less(t, hi-lo, 2.8)
}

func TestSmallFleet(t *testing.T) {
	ds := mk(t, MustNamed("H04"), 7)
	tr := &ds.Truth
	require.Len(t, ds.Series, 150)
	checkGapTruth(t, ds)
	// A handful of checks per window, every one of their samples replayed.
	hit := make([]map[int32]bool, len(tr.Windows))
	for _, dr := range tr.Drops {
		if hit[dr.Window] == nil {
			hit[dr.Window] = map[int32]bool{}
		}
		hit[dr.Window][dr.Series] = true
	}
	total := 0
	for _, h := range hit {
		require.LessOrEqual(t, len(h), 12)
		total += len(h)
	}
	require.InDelta(t, 3.5, float64(total)/float64(len(hit)), 2)
	require.Equal(t, tr.Dropped, tr.Replayed)
	// Replays are complete: each dropped sample is delivered again, every
	// copy, 30 s later.
	g := groupCopies(ds)
	for _, dr := range tr.Drops {
		cg := g[sampleKey{int(dr.Series), dr.Time}]
		require.NotNil(t, cg)
		for c := range 4 {
			require.True(t, cg.replayed[c])
			require.False(t, cg.onTime[c])
		}
	}
}

// checkCopiesOnly checks a copy-loss dataset: every sample not lost at
// random arrives on time through copy 0, nothing is replayed, no slot is
// empty, and it returns, per sample with a missing copy, that sample's
// copy-0 arrival and how many copies are missing.
func checkCopiesOnly(t *testing.T, ds *Dataset) (arrivals []int64, missing []int) {
	t.Helper()
	tr := &ds.Truth
	require.Zero(t, tr.Dropped)
	require.Empty(t, tr.Drops)
	require.Zero(t, tr.ReplayedCopies)
	g := groupCopies(ds)
	require.Len(t, g, tr.Sent-tr.Lost, "every sample not lost at random arrives")
	lost := 0
	for _, cg := range g {
		require.True(t, cg.onTime[0], "copy 0 always gets through")
		n := 0
		for c := 1; c < ds.Spec.Copies; c++ {
			require.False(t, cg.replayed[c])
			if !cg.onTime[c] {
				n++
			}
		}
		if n > 0 {
			arrivals = append(arrivals, cg.first)
			missing = append(missing, n)
			lost += n
		}
	}
	require.Equal(t, tr.DroppedCopies, lost)
	require.Equal(t, tr.Deliveries, ds.Len())
	require.Equal(t, (tr.Sent-tr.Lost)*ds.Spec.Copies-lost, ds.Len())
	return arrivals, missing
}

func TestRedundancyLoss(t *testing.T) {
	ds := mk(t, MustNamed("H05").WithN(2000), 8)
	tr := &ds.Truth
	require.False(t, tr.Periodic, "no data is lost: not a periodic gap")
	require.True(t, tr.DeliveryLoss)
	require.Len(t, tr.Windows, 31)
	arrivals, _ := checkCopiesOnly(t, ds)
	require.NotEmpty(t, arrivals)
	spread := int64(ds.Spec.CopySpread)
	perWindow := 0
	for _, w := range tr.Windows {
		require.Equal(t, int64(12*time.Second), w.Start%int64(time.Minute))
		require.Zero(t, w.Dropped)
		require.Positive(t, w.DroppedCopies)
		perWindow += int(w.DroppedCopies)
	}
	require.Equal(t, tr.DroppedCopies, perWindow)
	// A missing copy arrived within CopySpread after copy 0 and inside a
	// window: copy 0 arrived in [Start − spread, End).
	for _, a := range arrivals {
		in := false
		for _, w := range tr.Windows {
			in = in || a >= w.Start-spread && a < w.End
		}
		require.True(t, in, "missing copy outside every window")
	}
	// Of the samples whose copies all arrived inside a window, about
	// CopyLoss of the redundant copies vanished.
	var inside, dropped int
	g := groupCopies(ds)
	for _, cg := range g {
		wi := windowAt(tr.Windows, cg.first)
		if wi < 0 || cg.first+spread >= tr.Windows[wi].End {
			continue
		}
		for c := 1; c < 4; c++ {
			inside++
			if !cg.onTime[c] {
				dropped++
			}
		}
	}
	require.Greater(t, inside, 500)
	require.InDelta(t, 0.5, float64(dropped)/float64(inside), 0.05)
	require.Positive(t, tr.CopySeries)
	require.Zero(t, tr.FleetSeries)
}

func TestRandomCopyLoss(t *testing.T) {
	ds := mk(t, MustNamed("N01").WithN(2000), 8)
	tr := &ds.Truth
	require.False(t, tr.Periodic)
	require.False(t, tr.DeliveryLoss)
	require.Empty(t, tr.Windows)
	arrivals, _ := checkCopiesOnly(t, ds)
	// The copy count of H05 on the same fleet, within 15 %.
	h05 := mk(t, MustNamed("H05").WithN(2000), 8)
	require.InDelta(t, 1, float64(tr.DroppedCopies)/float64(h05.Truth.DroppedCopies), 0.15)
	// Only during the incident, and at no phase in particular: 40 bins of
	// 1.5 s, none holding more than 5 % (H05: all in one or two).
	var bins [40]int
	for _, a := range arrivals {
		require.True(t, a >= tr.Onset-int64(ds.Spec.CopySpread) && a < tr.End)
		bins[(a%int64(time.Minute))/int64(1500*time.Millisecond)]++
	}
	for b, n := range bins {
		require.Less(t, float64(n)/float64(len(arrivals)), 0.05, "bin %d", b)
	}
}

func TestLossStep(t *testing.T) {
	s := MustNamed("N02").WithN(500)
	ds := mk(t, s, 9)
	tr := &ds.Truth
	require.False(t, tr.Periodic)
	require.Zero(t, tr.Dropped)
	// Recover each lost slot from the lattice: k = round((ts − φ)/step).
	got := map[[2]int]bool{}
	for _, d := range ds.Deliveries() {
		require.False(t, d.Replayed(), "random losses are never replayed")
		st := ds.Series[d.Series()]
		step := float64(st.Every) * (1 + st.DriftPPM*1e-6)
		k := int(math.Round(float64(d.Time()-Origin-int64(st.Offset)) / step))
		got[[2]int{d.Series(), k}] = true
	}
	var outside, outsideLost, during, duringLost, allLost int
	var phases [60]int
	for i, st := range ds.Series {
		step := float64(st.Every) * (1 + st.DriftPPM*1e-6)
		for k := range int(st.Slots) {
			lost := !got[[2]int{i, k}]
			if lost {
				allLost++
			}
			nominal := Origin + int64(st.Offset) + int64(float64(k)*step)
			// Keep clear of the incident's edges by the jitter.
			switch {
			case nominal < tr.Onset-int64(time.Second) || nominal > tr.End+int64(time.Second):
				outside++
				if lost {
					outsideLost++
				}
			case nominal > tr.Onset+int64(time.Second) && nominal < tr.End-int64(time.Second):
				during++
				if lost {
					duringLost++
					phases[(nominal%int64(time.Minute))/int64(time.Second)]++
				}
			}
		}
	}
	require.Equal(t, tr.Lost, allLost, "every loss found on the lattice")
	require.InDelta(t, 0.001, float64(outsideLost)/float64(outside), 0.001)
	require.InDelta(t, 0.021, float64(duringLost)/float64(during), 0.003)
	for sec, n := range phases {
		require.Less(t, float64(n)/float64(duringLost), 0.04, "second %d", sec)
	}
}

func TestBacklogFloods(t *testing.T) {
	s := MustNamed("N03").WithN(300).Long(3 * time.Hour)
	ds := mk(t, s, 10)
	tr := &ds.Truth
	require.False(t, tr.Periodic)
	ws := tr.Windows
	require.Greater(t, len(ws), 8)
	for i, w := range ws {
		require.Equal(t, int64(time.Minute), w.End-w.Start)
		if i > 0 {
			require.GreaterOrEqual(t, w.Start, ws[i-1].End)
		}
	}
	flood := int64(s.Flood)
	replays := 0
	// Within each flood the backlog keeps its order: a held copy's release
	// follows its original arrival. Track, per window, the last release by
	// sample time.
	type held struct{ ts, at int64 }
	perWindow := make([][]held, len(ws))
	for _, d := range ds.Deliveries() {
		a := d.Arrival()
		if !d.Replayed() {
			require.Equal(t, -1, windowAt(ws, a), "on-time delivery inside a hold")
			continue
		}
		replays++
		wi := -1
		for i, w := range ws {
			if a >= w.End && a <= w.End+flood {
				wi = i
			}
		}
		require.GreaterOrEqual(t, wi, 0, "release outside every flood")
		perWindow[wi] = append(perWindow[wi], held{d.Time(), a})
		require.Less(t, a-d.Time(), int64(time.Minute)+flood+int64(time.Second))
	}
	require.Equal(t, tr.DroppedCopies, replays)
	require.Equal(t, tr.ReplayedCopies, replays)
	require.Equal(t, tr.Dropped, tr.Replayed)
	for _, h := range perWindow {
		require.NotEmpty(t, h)
		slices.SortFunc(h, func(a, b held) int { return cmp.Compare(a.at, b.at) })
		// Sample times rise with release times, up to the copy spread and
		// delay noise (copies of one sample release together).
		for i := 1; i < len(h); i++ {
			require.Greater(t, h[i].ts, h[i-1].ts-int64(time.Second))
		}
	}
	// A flood delivers a minute of the fleet's data in 5 s: far above the
	// steady rate.
	perSec := map[int64]int{}
	for _, d := range ds.Deliveries() {
		perSec[d.Arrival()/int64(time.Second)]++
	}
	var counts []int
	for _, n := range perSec {
		counts = append(counts, n)
	}
	slices.Sort(counts)
	steady, peak := counts[len(counts)/2], counts[len(counts)-1]
	require.Greater(t, peak, 5*steady)
}

func TestDriftingClocks(t *testing.T) {
	s := MustNamed("N04").WithN(400)
	ds := mk(t, s, 11)
	tr := &ds.Truth
	require.False(t, tr.Periodic)
	require.Zero(t, tr.Dropped)
	// Clock rate errors are N(0, 100 ppm); each series' lag (arrival −
	// timestamp) drifts by −rate·t, so over the 90-minute horizon a 100-ppm
	// clock moves its timestamps 0.54 s against arrivals.
	var sumSq float64
	for _, st := range ds.Series {
		sumSq += st.ClockDriftPPM * st.ClockDriftPPM
	}
	require.InDelta(t, 100, math.Sqrt(sumSq/float64(len(ds.Series))), 12)
	type acc struct{ n, st, sl, stt, stl float64 }
	fits := make([]acc, len(ds.Series))
	for _, d := range ds.Deliveries() {
		if d.Copy() != 0 {
			continue
		}
		st := ds.Series[d.Series()]
		x := float64(d.Time()-Origin) / 1e9
		y := float64(d.Arrival()-d.Time())/1e9 + st.Skew.Seconds()
		f := &fits[d.Series()]
		f.n++
		f.st += x
		f.sl += y
		f.stt += x * x
		f.stl += x * y
	}
	for i, f := range fits {
		slope := (f.n*f.stl - f.st*f.sl) / (f.n*f.stt - f.st*f.st)
		want := -ds.Series[i].ClockDriftPPM * 1e-6
		require.InDelta(t, want, slope, 6e-6, "series %d", i)
	}
}
