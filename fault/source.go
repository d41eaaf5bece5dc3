package fault

import (
	"math"
	"math/bits"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/faultline-go/faultline/stream"
)

// Per-source detectors: duplicate storm and ingest lag.
//
// A source is what Config.SourceLabel names (a host, an agent, a
// collector); without it the whole input is one source. Each series is
// attributed to its source once, when it is first seen, and keeps the
// source's index in its state, so a delivery costs an array index: a
// redelivery (duplicate or conflict) adds one to its source's count for the
// minute, a fresh sample one to its fresh count and one to a log-scale
// histogram of its lag (arrival − sample time). At each minute boundary of
// engine time, every source's minute is judged by the two detectors below,
// each with an episode per source, and its counts are cleared. Sources are
// never forgotten; there are at most Config.MaxSources of them, plus one
// overflow source for the series of all further ones.
//
// There is no detector over all sources together when SourceLabel is set: a
// loop or a backlog that reaches several sources is reported at each of
// them, named; a sum over all sources would report a big source's storm a
// second time, unnamed, and would dilute a small source's storm in the
// others' traffic. Leave SourceLabel empty for one verdict on the input as
// a whole.

// SourceOverflowLabel is the label that per-source events about the
// overflow source carry, with the value "true", instead of
// Config.SourceLabel: the source of the series that came after
// Config.MaxSources sources were tracked.
const SourceOverflowLabel = "faultline_source_overflow"

const (
	// DefaultMaxSources is the MaxSources of a zero Config.
	DefaultMaxSources = 4096
	// maxSourcesLimit caps MaxSources: a source costs about 800 bytes.
	maxSourcesLimit = 1 << 20
)

// Rule names of the per-source detectors.
const (
	ruleDuplicateStorm = "duplicate_storm"
	ruleIngestLag      = "ingest_lag"
)

// sourceMinute is the interval a source's deliveries are counted over, in
// engine (arrival) time, aligned to the Unix epoch.
const sourceMinute = int64(time.Minute)

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
	// lagMinRise is what counts as a rise: more than lagMinRise plus 1/64
	// of the previous minute's lag, above the jitter of a steady source's
	// medians and the histogram's interpolation error. A backlog rising
	// slower takes two hours to add 30 s.
	lagMinRise = int64(250 * time.Millisecond)
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

// source is what the engine keeps about one source: this minute's counts,
// then what was learned and the state of its two episodes.
type source struct {
	fresh       uint64 // this minute: fresh samples
	redelivered uint64 // this minute: duplicates and conflicts
	lags        lagHist

	// Duplicate storm.
	ratioN       uint8   // minutes learned, saturating
	normFresh    float64 // learned fresh samples per minute
	normRedeliv  float64 // learned redeliveries per minute
	stormRun     uint8   // consecutive storm minutes, up to stormFireMinutes
	stormCalm    uint8   // consecutive calm minutes while open
	stormOpen    bool
	stormSince   int64 // start of the episode's first storm minute
	stormPending int64 // start of the current run's first storm minute

	// Ingest lag.
	lagN       uint8 // minutes learned, saturating
	lagRun     uint8 // consecutive rising minutes, saturating
	lagCalm    uint8 // consecutive minutes back in the normal band while open
	lagOpen    bool
	lagPrevOK  bool
	lagNormal  float64 // learned lag, ns
	lagPrev    int64   // lag of the last minute with fresh samples, ns
	lagRunFrom int64   // start of the current rising run's first minute
	lagSince   int64   // start of the open episode's rising run
}

// sources holds every source and the minute being counted.
type sources struct {
	list     []source
	names    []string
	byName   map[string]uint32
	overflow uint32 // index of the overflow source, or noSource
	minute   int64  // the minute being counted: floor(engine time / sourceMinute)
	next     int64  // its end, saturated at math.MaxInt64
}

const noSource = math.MaxUint32

func (s *sources) init() {
	s.byName = make(map[string]uint32)
	s.overflow = noSource
	s.next = math.MaxInt64
}

// start sets the minute being counted to the one holding now.
func (s *sources) start(now int64) { s.setMinute(floorDiv(now, sourceMinute)) }

func (s *sources) setMinute(m int64) {
	s.minute = m
	s.next = minuteStart(m + 1)
}

// minuteStart returns the start of minute m, saturated to the int64 range.
func minuteStart(m int64) int64 {
	if m > math.MaxInt64/sourceMinute {
		return math.MaxInt64
	}
	if m < math.MinInt64/sourceMinute {
		return math.MinInt64
	}
	return m * sourceMinute
}

// sourceOf returns the source of a new series: the value of its
// SourceLabel, tracked if it is new and there is room, otherwise the
// overflow source.
func (e *Engine) sourceOf(labels stream.Labels) uint32 {
	var name string
	if e.cfg.SourceLabel != "" {
		name = labels.Get(e.cfg.SourceLabel)
	}
	s := &e.src
	if i, ok := s.byName[name]; ok {
		return i
	}
	if len(s.byName) >= e.cfg.MaxSources {
		if s.overflow == noSource {
			s.overflow = uint32(len(s.list))
			s.list = append(s.list, source{})
			s.names = append(s.names, "")
		}
		return s.overflow
	}
	i := uint32(len(s.list))
	name = strings.Clone(name) // not the caller's buffer
	s.byName[name] = i
	s.list = append(s.list, source{})
	s.names = append(s.names, name)
	e.stats.local.Sources++
	return i
}

// The source of a delivery is read from its series' state only once the
// delivery's fate is known, next to the other reads of that state, so that
// it costs no cache miss of its own.

// redelivered counts a duplicate or conflicting delivery of series idx.
func (e *Engine) redelivered(idx uint32) {
	src := e.series[idx].src
	e.sourceOverflow(src)
	e.src.list[src].redelivered++
}

// freshAt counts a fresh sample of sample time ts of a source, which
// arrives now.
func (e *Engine) freshAt(src uint32, ts int64) {
	e.sourceOverflow(src)
	s := &e.src.list[src]
	s.fresh++
	s.lags[lagBucket(e.now-ts)]++
}

// sourceOverflow counts a sample of the overflow source.
func (e *Engine) sourceOverflow(src uint32) {
	if src == e.src.overflow {
		e.stats.local.SourceOverflow++
	}
}

// sourceMinutes judges every minute that ended by now. At Close, the minute
// holding the end of input is judged as it stands and later ones are not:
// the end of input is not a quiet minute.
func (e *Engine) sourceMinutes(now int64) {
	s := &e.src
	if now < s.next {
		return
	}
	last := floorDiv(now, sourceMinute) // the minute now is in
	if e.closed {
		last = min(last, floorDiv(e.horizon, sourceMinute)+1)
	}
	for s.minute < last {
		end := minuteStart(s.minute + 1)
		busy := e.closeMinute(minuteStart(s.minute), end)
		if !busy {
			// Nothing was counted and nothing is open: every minute up to
			// now is empty, and judging one changes nothing.
			s.setMinute(last)
			break
		}
		s.setMinute(s.minute + 1)
	}
	if e.closed {
		s.next = math.MaxInt64
	}
}

// closeMinute judges the minute [start, end) of every source and clears its
// counts. It reports whether any source counted something or has a storm
// episode open or pending, that is whether the next minute, if empty, can
// change anything.
func (e *Engine) closeMinute(start, end int64) (busy bool) {
	for i := range e.src.list {
		s := &e.src.list[i]
		if s.fresh == 0 && s.redelivered == 0 && !s.stormOpen && s.stormRun == 0 {
			continue
		}
		busy = true
		e.judgeStorm(uint32(i), s, start, end)
		if s.fresh > 0 {
			e.judgeLag(uint32(i), s, start, end)
			s.lags = lagHist{}
		}
		s.fresh, s.redelivered = 0, 0
	}
	return busy
}

// judgeStorm judges a source's minute for the duplicate storm detector.
func (e *Engine) judgeStorm(i uint32, s *source, start, end int64) {
	ratio := float64(s.redelivered) / float64(max(s.fresh, 1))
	normal := 0.0
	if s.normFresh > 0 {
		normal = s.normRedeliv / s.normFresh
	}
	storm := s.ratioN >= learnMinutes && s.redelivered >= stormMinRedelivered &&
		ratio >= stormFactor*max(normal, stormMinNormal)
	switch {
	case storm && s.stormOpen:
		s.stormCalm = 0
	case storm:
		if s.stormRun == 0 {
			s.stormPending = start
		}
		s.stormRun++
		if s.stormRun >= stormFireMinutes {
			s.stormOpen, s.stormRun, s.stormCalm = true, 0, 0
			s.stormSince = s.stormPending
			e.stats.local.DuplicateStorms++
			e.emitSource(i, KindDuplicateStorm, ruleDuplicateStorm, StateFiring, end, s.stormSince, ratio)
		}
	case s.stormOpen:
		s.stormCalm++
		if s.stormCalm >= stormCalmMinutes {
			s.stormOpen, s.stormCalm = false, 0
			e.emitSource(i, KindDuplicateStorm, ruleDuplicateStorm, StateResolved, end, s.stormSince, ratio)
		}
	default:
		s.stormRun = 0
		if s.fresh > 0 {
			s.ratioN = min(s.ratioN+1, math.MaxUint8)
			g := max(1/float64(s.ratioN), normalGain)
			s.normFresh += g * (float64(s.fresh) - s.normFresh)
			s.normRedeliv += g * (float64(s.redelivered) - s.normRedeliv)
		}
	}
}

// judgeLag judges a source's minute, which has fresh samples, for the
// ingest lag detector.
func (e *Engine) judgeLag(i uint32, s *source, start, end int64) {
	m := s.lags.median(s.fresh)
	tol := lagMinRise + s.lagPrev/64
	rising := s.lagPrevOK && m > s.lagPrev+tol
	level := s.lagPrevOK && !rising && m >= s.lagPrev-tol
	if rising {
		if s.lagRun == 0 {
			s.lagRunFrom = start
		}
		s.lagRun = min(s.lagRun+1, math.MaxUint8)
	} else {
		s.lagRun = 0
	}
	s.lagPrev, s.lagPrevOK = m, true
	if s.lagN < learnMinutes {
		s.learnLag(m)
		return
	}
	normal := s.lagNormal
	band := max(2*normal, normal+float64(lagBandSlack))
	if s.lagOpen {
		if float64(m) >= band {
			s.lagCalm = 0
			return
		}
		s.lagCalm++
		if s.lagCalm >= lagCalmMinutes {
			s.lagOpen, s.lagCalm = false, 0
			s.lagRun = 0 // a new episode needs a new rise
			e.emitSource(i, KindIngestLag, ruleIngestLag, StateResolved, end, s.lagSince, float64(m)/1e9)
		}
		return
	}
	if s.lagRun >= lagRisingMinutes && float64(m) > max(lagFireFactor*normal, normal+float64(lagFireSlack)) {
		s.lagOpen, s.lagCalm = true, 0
		s.lagSince = s.lagRunFrom
		e.stats.local.IngestLags++
		e.emitSource(i, KindIngestLag, ruleIngestLag, StateFiring, end, s.lagSince, float64(m)/1e9)
		return
	}
	if float64(m) < band || level {
		s.learnLag(m)
	}
}

func (s *source) learnLag(m int64) {
	s.lagN = min(s.lagN+1, math.MaxUint8)
	g := max(1/float64(s.lagN), normalGain)
	s.lagNormal += g * (float64(m) - s.lagNormal)
}

// emitSource emits an event about a source. Its labels name the source by
// Config.SourceLabel (left out when empty, as for samples without the
// label), or SourceOverflowLabel for the overflow source; its subject is a
// hash of the source's name.
func (e *Engine) emitSource(i uint32, kind Kind, rule string, state State, at, since int64, value float64) {
	var labels stream.Labels
	var subject uint64
	switch name := e.src.names[i]; {
	case i == e.src.overflow:
		labels = stream.Labels{{Name: SourceOverflowLabel, Value: "true"}}
		subject = xxhash.Sum64String("\xff" + SourceOverflowLabel)
	default:
		if name != "" {
			labels = stream.Labels{{Name: e.cfg.SourceLabel, Value: name}}
		}
		subject = xxhash.Sum64String(name)
	}
	ev := Event{
		Kind:   kind,
		Rule:   rule,
		State:  state,
		At:     at,
		Since:  since,
		Labels: e.withOrigin(labels),
		Value:  value,
	}
	ev.ID, ev.Episode = eventIDs(kind, rule, subject, since, state, false)
	e.emit(&ev)
}
