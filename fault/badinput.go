package fault

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/faultline-go/faultline/internal/frame"
	"github.com/faultline-go/faultline/stream"
)

// Bad input, coalesced.
//
// A collector that decodes records tells the engine about each one it could
// not decode with BadInput, naming the input it came from (a file, a
// connection, a Kafka partition). A malformed producer sends thousands of
// bad records a minute, and one event per record would drown the faults that
// matter (and cost what the records did), so the engine coalesces them per
// input into episodes: the first bad record opens one; badInputInterval
// later a firing event reports how many came in that interval, with the
// first few error messages; once no bad record has come from the input for
// badInputQuiet, a resolved event reports the episode's total. Events carry
// OriginLabel like every other, so they cannot be mistaken for input if fed
// back; they hold error messages, never the records themselves.

// InputLabel names the input of a bad_input event: the name given to
// BadInput.
const InputLabel = "faultline_input"

// InputOverflowLabel replaces InputLabel, with the value "true", on the
// bad_input events of the inputs beyond maxBadInputs.
const InputOverflowLabel = "faultline_input_overflow"

const (
	// badInputInterval is the interval the firing event counts: long enough
	// to gather a count and examples, short enough to be told promptly.
	badInputInterval = int64(time.Minute)
	// badInputQuiet without a bad record from an input ends its episode.
	badInputQuiet = int64(5 * time.Minute)
	// badInputExamples error messages, each at most badInputExampleLen
	// bytes, are kept per episode.
	badInputExamples   = 3
	badInputExampleLen = 200
	// maxBadInputs inputs are told apart; the bad records of further ones
	// are counted together under one overflow input.
	maxBadInputs = 1024
)

// badInput is one input's open episode, if any.
type badInput struct {
	open     bool  // an episode is open
	reported bool  // its firing event was emitted
	since    int64 // engine time of its first bad record (math.MinInt64 until the engine starts)
	last     int64 // engine time of its last bad record
	interval uint64
	total    uint64
	examples []string
}

// badInputs holds the inputs that have sent bad records.
type badInputs struct {
	list     []badInput
	names    []string
	byName   map[string]int
	overflow int   // index of the overflow input, or -1
	next     int64 // the earliest deadline of an open episode
}

func newBadInputs() badInputs {
	return badInputs{byName: make(map[string]int), overflow: -1, next: math.MaxInt64}
}

// BadInput records that a record of the named input could not be decoded,
// with err saying why (a *stream.RecordError says where). It never stops or
// changes the processing of good input: the record is counted in
// Stats.BadInput and reported in coalesced bad_input events (see
// KindBadInput), at the engine's current time.
func (e *Engine) BadInput(input string, err error) { e.BadInputs(input, 1, err) }

// BadInputs records that n records of the named input could not be
// decoded, as n calls of BadInput would, errs being the errors of the
// first of them: a host that coalesces a flood of bad records before
// handing them to the engine loses none of the count.
func (e *Engine) BadInputs(input string, n uint64, errs ...error) {
	if e.closed || n == 0 {
		return
	}
	e.stats.local.BadInput += n
	b := &e.bad
	i, ok := b.byName[input]
	if !ok {
		if len(b.byName) >= maxBadInputs {
			if b.overflow < 0 {
				b.overflow = len(b.list)
				b.list = append(b.list, badInput{})
				b.names = append(b.names, "")
			}
			i = b.overflow
		} else {
			i = len(b.list)
			name := strings.Clone(input) // not the caller's buffer
			b.byName[name] = i
			b.list = append(b.list, badInput{})
			b.names = append(b.names, name)
		}
	}
	in := &b.list[i]
	now := e.now
	if !e.started {
		now = math.MinInt64 // dated when the engine starts
	}
	if !in.open {
		*in = badInput{open: true, since: now, examples: in.examples[:0]}
	}
	in.last = now
	in.interval += n
	in.total += n
	if len(errs) == 0 {
		errs = []error{nil}
	}
	for _, err := range errs[:min(len(errs), int(min(n, badInputExamples)))] {
		if len(in.examples) >= badInputExamples {
			break
		}
		msg := "unknown error"
		if err != nil {
			msg = err.Error()
		}
		if len(msg) > badInputExampleLen {
			msg = strings.ToValidUTF8(msg[:badInputExampleLen], "") + "…"
		}
		in.examples = append(in.examples, msg)
	}
	if e.started {
		// No disarm: only an episode opened now brings b.next earlier, to a
		// minute or more away, and e.due is at most a wheel tick away
		// (TestDueKept checks it).
		b.next = min(b.next, in.deadline())
	}
}

// deadline is when an open episode next needs a judgment: its firing event
// at the end of its first interval, then its end after a quiet spell.
func (in *badInput) deadline() int64 {
	if !in.reported {
		return in.since + badInputInterval
	}
	return in.last + badInputQuiet
}

// badInputStart dates the bad records received before the engine started.
func (e *Engine) badInputStart(now int64) {
	for i := range e.bad.list {
		if in := &e.bad.list[i]; in.open && in.since == math.MinInt64 {
			in.since, in.last = now, now
			e.bad.next = min(e.bad.next, in.deadline())
		}
	}
}

// badInputDue emits what fell due by now: firing events at the end of each
// episode's first interval, resolved events after a quiet spell. While
// closing, firing events due later are emitted at the end of input.
func (e *Engine) badInputDue(now int64) {
	b := &e.bad
	if now < b.next && !e.closed {
		return
	}
	if e.closed {
		now = min(now, e.horizon) // the end of input is not a quiet spell
	}
	b.next = math.MaxInt64
	for i := range b.list {
		in := &b.list[i]
		if !in.open {
			continue
		}
		if !in.reported && (in.deadline() <= now || e.closed) {
			at := min(in.deadline(), max(now, in.since)) // the interval's end, before reported moves it
			in.reported = true
			e.emitBadInput(i, StateFiring, at, float64(in.interval))
		}
		if in.reported && in.deadline() <= now {
			in.open = false
			e.emitBadInput(i, StateResolved, in.deadline(), float64(in.total))
			continue
		}
		b.next = min(b.next, in.deadline())
	}
}

// emitBadInput emits an event about input i's episode: value is the count
// it reports, and its annotations hold the episode's total so far and its
// first error messages.
func (e *Engine) emitBadInput(i int, state State, at int64, value float64) {
	b := &e.bad
	in := &b.list[i]
	var labels stream.Labels
	var subject uint64
	if i == b.overflow {
		labels = stream.Labels{{Name: InputOverflowLabel, Value: "true"}}
		subject = xxhash.Sum64String("\xff" + InputOverflowLabel)
	} else {
		labels = stream.Labels{{Name: InputLabel, Value: b.names[i]}}
		subject = xxhash.Sum64String(b.names[i])
	}
	ev := Event{
		Kind:   KindBadInput,
		Rule:   string(KindBadInput),
		State:  state,
		At:     at,
		Since:  in.since,
		Labels: e.withOrigin(labels),
		Annotations: stream.Labels{
			{Name: "bad_records", Value: strconv.FormatUint(in.total, 10)},
			{Name: "examples", Value: strings.Join(in.examples, "\n")},
		},
		Value: value,
	}
	e.emit(ev, subject, 0, 0, "")
}

// appendBadInputs appends the bad-input episodes, per input.
func (b *badInputs) appendTo(w *frame.Writer) {
	w.I64(int64(b.overflow))
	w.I64(b.next)
	w.Uv(uint64(len(b.list)))
	for i := range b.list {
		in := &b.list[i]
		w.Str(b.names[i])
		w.Bool(in.open)
		w.Bool(in.reported)
		w.I64(in.since)
		w.I64(in.last)
		w.U64(in.interval)
		w.U64(in.total)
		w.Uv(uint64(len(in.examples)))
		for _, x := range in.examples {
			w.Str(x)
		}
	}
}

func (b *badInputs) readFrom(r *frame.Reader) {
	b.overflow = int(r.I64())
	b.next = r.I64()
	n := r.Count(1 + 2 + 8*4 + 1)
	if n > maxBadInputs+1 {
		r.Fail("%d bad inputs", n)
		return
	}
	for i := 0; i < n && r.Err() == nil; i++ {
		name := r.Str()
		in := badInput{open: r.Bool(), reported: r.Bool(), since: r.I64(), last: r.I64(), interval: r.U64(), total: r.U64()}
		k := r.Count(1)
		if k > badInputExamples {
			r.Fail("%d examples", k)
			return
		}
		for range k {
			in.examples = append(in.examples, r.Str())
		}
		b.list = append(b.list, in)
		b.names = append(b.names, name)
		if i != b.overflow {
			if _, dup := b.byName[name]; dup {
				r.Fail("bad input %q twice", name)
			}
			b.byName[name] = i
		}
	}
	if r.Err() == nil && b.overflow != -1 && (b.overflow < 0 || b.overflow >= n) {
		r.Fail("overflow input %d of %d", b.overflow, n)
	}
}
