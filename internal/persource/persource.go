// Package persource holds the engine's per-source detectors: duplicate
// storms and ingest lag.
//
// A source is what the engine's source label names (a host, an agent, a
// collector); without one the whole input is one source. The engine
// attributes each series to its source once, when the series is first
// seen (Of), and reports each delivery: a redelivery (duplicate or
// conflict) adds one to its source's count for the minute, a fresh sample
// one to its fresh count and one to a log-scale histogram of its lag
// (arrival − sample time). At each minute boundary of engine time, every
// source's minute is judged by the two detectors below, each with an
// episode per source, and its counts are cleared (Minutes). Sources are
// never forgotten; there are at most MaxSources of them, plus one overflow
// source for the series of all further ones.
//
// There is no detector over all sources together when sources are named:
// a loop or a backlog that reaches several sources is reported at each of
// them, named; a sum over all sources would report a big source's storm a
// second time, unnamed, and would dilute a small source's storm in the
// others' traffic.
//
// This package must not know about series, samples, labels or events: it
// takes counts and returns transitions.
package persource

import (
	"math"
	"math/bits"
	"strings"
	"time"

	"github.com/faultline-go/faultline/internal/align"
	"github.com/faultline-go/faultline/internal/episode"
	"github.com/faultline-go/faultline/internal/frame"
)

const (
	// DefaultMaxSources is the default bound on sources.
	DefaultMaxSources = 4096
	// MaxSourcesLimit caps the bound: a source costs about 800 bytes.
	MaxSourcesLimit = 1 << 20
	// NoSource is the index of no source.
	NoSource = math.MaxUint32
)

// Minute is the interval a source's deliveries are counted over, in
// engine (arrival) time, aligned to the Unix epoch.
const Minute = int64(time.Minute)

// The duplicate storm detector. Each minute, a source's redelivery ratio is
// the redeliveries (duplicates and conflicts) per fresh sample. Its normal
// ratio is learned; a minute is a storm minute when its ratio is at least
// stormFactor times the normal one and it carries at least
// stormMinRedelivered redeliveries.
const (
	// stormFactor: at-least-once pipelines often deliver every sample about
	// four times (a ratio of 3), and retries after a broker hiccup double
	// that for a while; a message loop sends the same keys over and over,
	// tens of times the usual. Ten times the normal ratio is out of reach
	// of retries and well within reach of a loop.
	stormFactor = 10
	// stormMinNormal floors the normal ratio the factor applies to: a source
	// deduplicated upstream has a normal ratio near 0, and one redelivery
	// must not be a storm.
	stormMinNormal = 1.0
	// stormMinRedelivered is the floor of redeliveries in a storm minute,
	// ten a second: a quiet source (a few series) retrying a handful of
	// samples can show any ratio, but costs nothing; a loop that matters
	// for memory or CPU redelivers far more than this.
	stormMinRedelivered = 600
	// stormFireMinutes consecutive storm minutes fire the episode: one
	// minute can be a burst of retries after a reconnect, a loop lasts.
	stormFireMinutes = 2
	// stormCalmMinutes consecutive minutes that are not storm minutes
	// resolve it, so a loop that pauses for a minute or two stays one
	// episode.
	stormCalmMinutes = 5
	// learnMinutes minutes of a source are learned before either detector
	// judges it: until then, its normal is the mean of its minutes.
	learnMinutes = 5
	// normalGain is the weight of a new minute in a learned normal (an
	// EWMA over about 16 minutes): it follows a lasting change in the
	// pipeline within half an hour, and a burst barely moves it. Storm
	// minutes and open episodes are not learned.
	normalGain = 1.0 / 16
)

// The ingest lag detector. Each minute, a source's lag is the median lag of
// its fresh samples. The median is the lag of the typical sample: a backlog
// in the pipeline delays most of a source's samples and moves it; a minority
// of old samples (an agent flushing its buffer, a series whose clock is
// behind, a gap filled late) does not, where it would drag a mean by its lag
// times its share. It comes from a histogram of 8 buckets per octave,
// interpolated: within an eighth of the exact median, usually within a few
// per cent.
const (
	// lagRisingMinutes: the lag must have risen in each of this many
	// consecutive minutes. A backlog grows minute after minute; a lag that
	// is merely high (a source that always delivers late, a replay wave
	// draining, which falls from its first minute) does not rise.
	lagRisingMinutes = 3
	// lagMinRise and lagNoiseRises: what counts as a rise is more than
	// lagMinRise plus 1/64 of the previous minute's lag plus lagNoiseRises
	// times the source's learned noise (the mean change of its median from
	// one normal minute to the next): above the histogram's interpolation
	// error and above the jitter of its arrivals (a uniform jitter's mean
	// change is a third of its width, its largest change under the width).
	// A backlog rising slower than that is not told from jitter; at 250 ms
	// a minute it takes two hours to add 30 s.
	//
	// An episode is dated by the first minute of its rising run whose lag
	// is past the midpoint between normal and the firing threshold (below),
	// not by the run's first minute: a backlog's first minute rises by a
	// fraction of a second, which the jitter of one replica's arrivals
	// hides and another's does not, while the midpoint is crossed in the
	// same minute by every replica unless the crossing falls within the
	// jitter of a minute's edge. The date is what the episode's IDs
	// derive from.
	lagMinRise    = int64(250 * time.Millisecond)
	lagNoiseRises = 3
	// lagFireFactor and lagFireSlack: the lag must also be above
	// max(lagFireFactor × normal, normal + lagFireSlack). Twice the normal
	// lag is a clear departure for a source that is normally slow; 30 s
	// above it is a delay a user of the data notices, for a source that is
	// normally fast (where twice a few milliseconds is noise).
	lagFireFactor = 2
	lagFireSlack  = int64(30 * time.Second)
	// lagBandSlack: the lag is back to normal below max(2 × normal,
	// normal + lagBandSlack); the slack keeps a source whose normal lag
	// is a few milliseconds from being held open by jitter. A minute in
	// that band is learned; so is a minute level with the one before
	// (within the rise tolerance), so a lasting step in delivery delay
	// becomes the new normal, while a backlog filling or draining does not.
	lagBandSlack = int64(time.Second)
	// lagCalmMinutes consecutive minutes back in the normal band resolve
	// the episode. Minutes without fresh samples count neither way: no
	// data is not a recovery.
	lagCalmMinutes = 3
)

// The lag histogram: lags in units of 2²⁰ ns (about 1.05 ms), linear below
// 16 units, then 8 buckets per octave up to 2²² units (about 73 min);
// longer lags count in a last bucket at 73 min.
const (
	lagUnitShift = 20
	lagSubBits   = 3
	lagOctaves   = 22
	lagBuckets   = (lagOctaves-lagSubBits+1)<<lagSubBits + 1
)

type lagHist [lagBuckets]uint32

// lagBucket returns the bucket of a lag in ns. Below 2·2^lagSubBits units
// the bucket is the number of units; above, o being the octave (the index
// of the top bit), it is (o−lagSubBits)·2^lagSubBits plus the top
// lagSubBits+1 bits, which is the same formula.
func lagBucket(lag int64) int {
	v := uint64(max(lag, 0)) >> lagUnitShift
	if v >= 1<<lagOctaves {
		return lagBuckets - 1
	}
	o := bits.Len64(v|1<<lagSubBits) - 1
	return (o-lagSubBits)<<lagSubBits + int(v>>(o-lagSubBits))
}

// lagBucketRange returns bucket i's lower bound and width, in units.
func lagBucketRange(i int) (lo, width float64) {
	switch {
	case i < 2<<lagSubBits:
		return float64(i), 1
	case i == lagBuckets-1:
		return float64(uint64(1) << lagOctaves), 0
	}
	o := i>>lagSubBits + lagSubBits - 1
	sub := uint64(i & (1<<lagSubBits - 1))
	return float64((1<<lagSubBits | sub) << (o - lagSubBits)), float64(uint64(1) << (o - lagSubBits))
}

// median returns the median of the n lags counted, in ns, interpolated
// within its bucket.
func (h *lagHist) median(n uint64) int64 {
	target := float64(n) / 2
	var cum float64
	for i, c := range h {
		if c == 0 {
			continue
		}
		if cum+float64(c) >= target {
			lo, w := lagBucketRange(i)
			return int64((lo + (target-cum)/float64(c)*w) * (1 << lagUnitShift))
		}
		cum += float64(c)
	}
	return 0
}

// source is what the detector keeps about one source: this minute's
// counts, then what was learned and the state of its two episodes.
type source struct {
	fresh       uint64 // this minute: fresh samples
	redelivered uint64 // this minute: duplicates and conflicts
	lags        lagHist

	// Duplicate storm.
	ratioN      uint8   // minutes learned, saturating
	normFresh   float64 // learned fresh samples per minute
	normRedeliv float64 // learned redeliveries per minute
	storm       episode.Run

	// Ingest lag.
	lagN       uint8 // minutes learned, saturating
	lagRun     uint8 // consecutive rising minutes, saturating
	lagPrevOK  bool
	lagNormal  float64 // learned lag, ns
	lagNoise   float64 // learned mean |change| of the median between normal minutes, ns
	lagPrev    int64   // lag of the last minute with fresh samples, ns
	lagRunFrom int64   // start of the current rising run's first minute past the midpoint (math.MinInt64 before)
	lag        episode.Run
}

// Detector holds every source and the minute being counted.
type Detector struct {
	list     []source
	names    []string
	byName   map[string]uint32
	max      int
	overflow uint32 // index of the overflow source, or NoSource
	minute   int64  // the minute being counted: floor(engine time / Minute)
	next     int64  // its end, saturated at math.MaxInt64
	out      []episode.Transition
	stats    []MinuteStat
	report   bool // keep each judged minute's counts in stats
}

// MinuteStat is what one source counted in one judged minute.
type MinuteStat struct {
	Source             uint32
	Start              int64 // the minute's start
	Fresh, Redelivered uint64
	Lag                int64 // median lag of the fresh samples, ns; 0 without
}

// Report makes Minutes keep each judged minute's counts, for Stats.
func (d *Detector) Report(on bool) { d.report = on }

// Stats returns the counts of the minutes the last Minutes call judged
// (with Report on), valid until the next call.
func (d *Detector) Stats() []MinuteStat { return d.stats }

// New returns a detector that tracks at most maxSources sources.
func New(maxSources int) Detector {
	return Detector{byName: make(map[string]uint32), max: maxSources, overflow: NoSource, next: math.MaxInt64}
}

// Start sets the minute being counted to the one holding now.
func (d *Detector) Start(now int64) { d.setMinute(align.FloorDiv(now, Minute)) }

// Skip resumes counting at the minute of to, after a downtime of the
// host: the minute being counted is dropped and the minutes up to to are
// not judged, so that they are neither calm (an open storm stays open)
// nor storm minutes, and no normal learns from them.
func (d *Detector) Skip(to int64) {
	m := align.FloorDiv(to, Minute)
	if m <= d.minute {
		return
	}
	for i := range d.list {
		s := &d.list[i]
		s.fresh, s.redelivered, s.lags = 0, 0, lagHist{}
	}
	d.setMinute(m)
}

// Next returns when the minute being counted ends.
func (d *Detector) Next() int64 { return d.next }

func (d *Detector) setMinute(m int64) {
	d.minute = m
	d.next = minuteStart(m + 1)
}

// minuteStart returns the start of minute m, saturated to the int64 range.
func minuteStart(m int64) int64 {
	if m > math.MaxInt64/Minute {
		return math.MaxInt64
	}
	if m < math.MinInt64/Minute {
		return math.MinInt64
	}
	return m * Minute
}

// Of returns the source named name, tracking it if it is new and there is
// room, otherwise the overflow source; added reports whether a source was
// added (the overflow source is not counted).
func (d *Detector) Of(name string) (i uint32, added bool) {
	if i, ok := d.byName[name]; ok {
		return i, false
	}
	if len(d.byName) >= d.max {
		if d.overflow == NoSource {
			d.overflow = uint32(len(d.list))
			d.list = append(d.list, source{})
			d.names = append(d.names, "")
		}
		return d.overflow, false
	}
	i = uint32(len(d.list))
	name = strings.Clone(name) // not the caller's buffer
	d.byName[name] = i
	d.list = append(d.list, source{})
	d.names = append(d.names, name)
	return i, true
}

// Name returns source i's name, or overflow true for the overflow source.
func (d *Detector) Name(i uint32) (name string, overflow bool) {
	return d.names[i], i == d.overflow
}

// Index returns the source named name, if it is tracked.
func (d *Detector) Index(name string) (uint32, bool) {
	i, ok := d.byName[name]
	return i, ok
}

// Learned returns what the detectors learned of source i: its normal
// redelivery ratio and its normal lag, in ns.
func (d *Detector) Learned(i uint32) (ratio, lag float64) {
	s := &d.list[i]
	if s.normFresh > 0 {
		ratio = s.normRedeliv / s.normFresh
	}
	return ratio, s.lagNormal
}

// Len returns the number of sources, the overflow source included.
func (d *Detector) Len() int { return len(d.list) }

// Overflow reports whether i is the overflow source.
func (d *Detector) Overflow(i uint32) bool { return i == d.overflow }

// Redelivered counts a duplicate or conflicting delivery of source i.
func (d *Detector) Redelivered(i uint32) { d.list[i].redelivered++ }

// Fresh counts a fresh sample of source i that arrived lag after its
// sample time.
func (d *Detector) Fresh(i uint32, lag int64) {
	s := &d.list[i]
	s.fresh++
	s.lags[lagBucket(lag)]++
}

// Minutes judges every minute that ended by now and returns the
// transitions, valid until the next call. While closing, the minute
// holding the horizon (the end of input) is judged as it stands and later
// ones are not: the end of input is not a quiet minute.
func (d *Detector) Minutes(now int64, closing bool, horizon int64) []episode.Transition {
	out := d.out[:0]
	d.stats = d.stats[:0]
	if now < d.next {
		return out
	}
	last := align.FloorDiv(now, Minute) // the minute now is in
	if closing {
		last = min(last, align.FloorDiv(horizon, Minute)+1)
	}
	for d.minute < last {
		end := minuteStart(d.minute + 1)
		var busy bool
		out, busy = d.closeMinute(minuteStart(d.minute), end, out)
		if !busy {
			// Nothing was counted and nothing is open: every minute up to
			// now is empty, and judging one changes nothing.
			d.setMinute(last)
			break
		}
		d.setMinute(d.minute + 1)
	}
	if closing {
		d.next = math.MaxInt64
	}
	d.out = out
	return out
}

// closeMinute judges the minute [start, end) of every source and clears
// its counts. It reports whether any source counted something or has a
// storm episode open or pending, that is whether the next minute, if
// empty, can change anything.
func (d *Detector) closeMinute(start, end int64, out []episode.Transition) (_ []episode.Transition, busy bool) {
	for i := range d.list {
		s := &d.list[i]
		if s.fresh == 0 && s.redelivered == 0 && s.storm.Idle() {
			continue
		}
		busy = true
		if d.report {
			st := MinuteStat{Source: uint32(i), Start: start, Fresh: s.fresh, Redelivered: s.redelivered}
			if s.fresh > 0 {
				st.Lag = s.lags.median(s.fresh)
			}
			d.stats = append(d.stats, st)
		}
		out = s.judgeStorm(uint32(i), start, end, out)
		if s.fresh > 0 {
			out = s.judgeLag(uint32(i), start, end, out)
			s.lags = lagHist{}
		}
		s.fresh, s.redelivered = 0, 0
	}
	return out, busy
}

// judgeStorm judges the source's minute for the duplicate storm detector.
func (s *source) judgeStorm(i uint32, start, end int64, out []episode.Transition) []episode.Transition {
	ratio := float64(s.redelivered) / float64(max(s.fresh, 1))
	normal := 0.0
	if s.normFresh > 0 {
		normal = s.normRedeliv / s.normFresh
	}
	storm := s.ratioN >= learnMinutes && s.redelivered >= stormMinRedelivered &&
		ratio >= stormFactor*max(normal, stormMinNormal)
	if !storm && !s.storm.Open && s.fresh > 0 {
		if s.ratioN < math.MaxUint8 {
			s.ratioN++
		}
		g := max(1/float64(s.ratioN), normalGain)
		s.normFresh += g * (float64(s.fresh) - s.normFresh)
		s.normRedeliv += g * (float64(s.redelivered) - s.normRedeliv)
	}
	if st := s.storm.Step(storm, start, stormFireMinutes, stormCalmMinutes); st != episode.Idle {
		out = append(out, episode.Transition{Kind: episode.DuplicateStorm, State: st, Subject: i, Since: s.storm.Since, At: end, Value: ratio})
	}
	return out
}

// judgeLag judges the source's minute, which has fresh samples, for the
// ingest lag detector.
func (s *source) judgeLag(i uint32, start, end int64, out []episode.Transition) []episode.Transition {
	m := s.lags.median(s.fresh)
	change := math.Abs(float64(m - s.lagPrev))
	tol := lagMinRise + s.lagPrev/64 + int64(lagNoiseRises*s.lagNoise)
	rising := s.lagPrevOK && m > s.lagPrev+tol
	level := s.lagPrevOK && !rising && m >= s.lagPrev-tol
	if rising {
		if s.lagRun == 0 {
			s.lagRunFrom = math.MinInt64 // not yet past the midpoint
		}
		if s.lagRunFrom == math.MinInt64 && float64(m) > s.lagNormal+max(s.lagNormal, float64(lagFireSlack))/2 {
			s.lagRunFrom = start
		}
		if s.lagRun < math.MaxUint8 {
			s.lagRun++
		}
	} else {
		s.lagRun = 0
	}
	wasOK := s.lagPrevOK
	s.lagPrev, s.lagPrevOK = m, true
	if s.lagN < learnMinutes {
		s.learnLag(m, change, wasOK)
		return out
	}
	normal := s.lagNormal
	band := max(2*normal, normal+float64(lagBandSlack))
	var held bool
	if s.lag.Open {
		held = float64(m) >= band
	} else {
		held = s.lagRun >= lagRisingMinutes && float64(m) > max(lagFireFactor*normal, normal+float64(lagFireSlack))
	}
	switch st := s.lag.Step(held, s.lagRunFrom, 1, lagCalmMinutes); {
	case st == episode.Resolved:
		s.lagRun = 0 // a new episode needs a new rise
		fallthrough
	case st == episode.Firing:
		return append(out, episode.Transition{Kind: episode.IngestLag, State: st, Subject: i, Since: s.lag.Since, At: end, Value: float64(m) / 1e9})
	case !s.lag.Open && (float64(m) < band || level):
		s.learnLag(m, change, wasOK)
	}
	return out
}

// learnLag learns a normal minute's median lag m and, if the minute before
// had one too, the change between them.
func (s *source) learnLag(m int64, change float64, changed bool) {
	if s.lagN < math.MaxUint8 { // saturating: lagN+1 would wrap to 0
		s.lagN++
	}
	g := max(1/float64(s.lagN), normalGain)
	s.lagNormal += g * (float64(m) - s.lagNormal)
	if changed {
		s.lagNoise += g * (change - s.lagNoise)
	}
}

// AppendTo appends the detector's state.
func (d *Detector) AppendTo(w *frame.Writer) {
	w.U32(d.overflow)
	w.I64(d.minute)
	w.I64(d.next)
	w.Uv(uint64(len(d.list)))
	for i := range d.list {
		x := &d.list[i]
		w.Str(d.names[i])
		w.Uv(x.fresh)
		w.Uv(x.redelivered)
		var used int
		for _, c := range x.lags {
			if c != 0 {
				used++
			}
		}
		w.Uv(uint64(used))
		for j, c := range x.lags {
			if c != 0 {
				w.Uv(uint64(j))
				w.Uv(uint64(c))
			}
		}
		w.U8(x.ratioN)
		w.F64(x.normFresh)
		w.F64(x.normRedeliv)
		appendRun(w, &x.storm)
		w.U8(x.lagN)
		w.U8(x.lagRun)
		w.Bool(x.lagPrevOK)
		w.F64(x.lagNormal)
		w.F64(x.lagNoise)
		w.I64(x.lagPrev)
		w.I64(x.lagRunFrom)
		appendRun(w, &x.lag)
	}
}

func appendRun(w *frame.Writer, r *episode.Run) {
	open, since, n, pending := r.Fields()
	w.Bool(open)
	w.I64(since)
	w.U8(n)
	w.I64(pending)
}

func readRun(r *frame.Reader, run *episode.Run) {
	open, since, n, pending := r.Bool(), r.I64(), r.U8(), r.I64()
	run.SetFields(open, since, n, pending)
}

// ReadFrom reads what AppendTo wrote into a new detector.
func (d *Detector) ReadFrom(r *frame.Reader) {
	d.overflow = r.U32()
	d.minute = r.I64()
	d.next = r.I64()
	n := r.Count(1 + 2 + 1 + 2*8 + 18 + 3 + 3*8 + 18)
	if n > MaxSourcesLimit+1 {
		r.Fail("%d sources", n)
		return
	}
	for i := 0; i < n && r.Err() == nil; i++ {
		name := r.Str()
		var x source
		x.fresh = r.Uv()
		x.redelivered = r.Uv()
		for range r.Count(2) {
			j := r.Index(lagBuckets)
			x.lags[j] = uint32(r.Uv())
		}
		x.ratioN = r.U8()
		x.normFresh = r.F64()
		x.normRedeliv = r.F64()
		readRun(r, &x.storm)
		x.lagN = r.U8()
		x.lagRun = r.U8()
		x.lagPrevOK = r.Bool()
		x.lagNormal = r.F64()
		x.lagNoise = r.F64()
		x.lagPrev = r.I64()
		x.lagRunFrom = r.I64()
		readRun(r, &x.lag)
		d.list = append(d.list, x)
		d.names = append(d.names, name)
		if uint32(i) != d.overflow {
			if _, dup := d.byName[name]; dup {
				r.Fail("source %q twice", name)
			}
			d.byName[name] = uint32(i)
		}
	}
	if r.Err() == nil && d.overflow != NoSource && int(d.overflow) >= n {
		r.Fail("overflow source %d of %d", d.overflow, n)
	}
}
