// Package stream holds faultline's sample model, series identity and the
// decoders that turn wire formats into samples.
//
// A Sample is one value of one series at one sample time, as delivered to a
// collector at one arrival time. Series identity is a 64-bit hash of the
// sample name and its labels (see Hash); it is computed once, when the sample
// is decoded or built with NewSample, and reused downstream for dedup keys,
// state lookup and sharding.
//
// A Decoder reads Influx line protocol, or faultline's capture format (each
// line prefixed with its arrival time), from an io.Reader and appends the
// samples of one record at a time to a caller's slice, reporting each
// malformed record with its line and column and going on with the next.
// For live input it takes InfluxDB's timestamp precisions, stamps arrival
// times as it reads (DecoderOptions.Arrival), survives read deadlines, and
// hands back each record's raw line (Decoder.Raw).
//
// Decoding is fast where at-least-once delivery makes it matter: a record
// byte-identical to a recent one (a copy delivered again) is recognised by
// its bytes and given the samples it gave before, dated anew, without being
// parsed; common records without escapes or quotes are parsed in one pass;
// anything else goes to line-protocol/v2, which the fast paths are fuzzed
// against. Copies are returned like any record: dedup tells duplicates from
// conflicts.
//
// This package holds the data model and the wire decoders; it must not know
// about dedup, rules, engines or where bytes come from.
package stream

import (
	"slices"
	"strconv"
	"strings"

	"github.com/cespare/xxhash/v2"
)

// Label is one name=value pair of a series.
type Label struct {
	Name  string
	Value string
}

// Labels is a label set sorted by Name, with no two labels of the same name.
// Build one with NewLabels, or sort an existing slice with Sort.
type Labels []Label

// NewLabels builds a sorted label set from name, value pairs. It panics if
// given an odd number of strings (a programming error, as in slog).
func NewLabels(pairs ...string) Labels {
	if len(pairs)%2 != 0 {
		panic("stream: NewLabels needs name, value pairs")
	}
	ls := make(Labels, 0, len(pairs)/2)
	for i := 0; i < len(pairs); i += 2 {
		ls = append(ls, Label{Name: pairs[i], Value: pairs[i+1]})
	}
	ls.Sort()
	return ls
}

// Sort sorts the labels by name in place.
func (ls Labels) Sort() {
	if !ls.IsSorted() {
		slices.SortStableFunc(ls, func(a, b Label) int { return strings.Compare(a.Name, b.Name) })
	}
}

// IsSorted reports whether the labels are sorted by name.
func (ls Labels) IsSorted() bool {
	for i := 1; i < len(ls); i++ {
		if ls[i-1].Name > ls[i].Name {
			return false
		}
	}
	return true
}

// Get returns the value of the label with the given name, or "" if there is
// none.
func (ls Labels) Get(name string) string {
	for i := range ls {
		if ls[i].Name == name {
			return ls[i].Value
		}
	}
	return ""
}

// String formats the labels as {a="1", b="2"}: each value quoted as a Go
// string (strconv.Quote), so '"', '\\' and control bytes are escaped, and
// each name as it is, unless it is empty or holds a byte that would make
// the form ambiguous ('"', '=', ',', '{', '}', '\\', a space or a control
// byte): such a name is quoted too, as in {"a b"="1"}. Line-protocol tag
// keys and values may hold '"', ',', ' ' and '='. Label sets that differ
// never format alike, so the form can stand for the set (pipeline groups
// a fleet's faults by it, ruletest compares alerts by it).
func (ls Labels) String() string {
	b := make([]byte, 0, 64)
	b = append(b, '{')
	for i, l := range ls {
		if i > 0 {
			b = append(b, ", "...)
		}
		if bareName(l.Name) {
			b = append(b, l.Name...)
		} else {
			b = strconv.AppendQuote(b, l.Name)
		}
		b = append(b, '=')
		b = strconv.AppendQuote(b, l.Value)
	}
	b = append(b, '}')
	return string(b)
}

// bareName reports whether Labels.String writes a label name unquoted: it
// is not empty and holds none of the bytes that would make the form
// ambiguous.
func bareName(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '=', ',', '{', '}', '\\', 0x7f:
			return false
		default:
			if c <= ' ' {
				return false
			}
		}
	}
	return s != ""
}

// SeriesID identifies a series: the 64-bit hash of its name and labels
// computed by Hash.
type SeriesID uint64

// sep separates the parts of a hashed series key. 0xff never occurs in valid
// UTF-8, so no two different (name, labels) pairs hash the same byte string.
const sep = "\xff"

// Hash returns the identity of the series with the given name and labels:
// xxhash64 (seed 0) of name, then each label's name and value in label-name
// order, every part followed by a 0xff byte. It is stable across runs,
// machines, Go versions and the order in which labels are given (unsorted
// labels are hashed as if sorted; sorted ones take a fast path). Two distinct
// series share an ID with probability about n²/2⁶⁵ for n series (3·10⁻⁸ at a
// million); faultline treats them as one series.
func Hash(name string, labels Labels) SeriesID {
	if !labels.IsSorted() {
		labels = slices.Clone(labels)
		labels.Sort()
	}
	var d xxhash.Digest
	d.Reset()
	_, _ = d.WriteString(name)
	_, _ = d.WriteString(sep)
	for _, l := range labels {
		_, _ = d.WriteString(l.Name)
		_, _ = d.WriteString(sep)
		_, _ = d.WriteString(l.Value)
		_, _ = d.WriteString(sep)
	}
	return SeriesID(d.Sum64())
}

// Sample is one value of one series.
//
// Time is the sample time, the timestamp the source wrote, in Unix
// nanoseconds. Arrival is when the collector received the delivery carrying
// it, also in Unix nanoseconds; the engine's clock follows arrival times and
// never reads the wall clock. Series must equal Hash(Name, Labels); NewSample
// and the decoders set it.
type Sample struct {
	Name    string
	Labels  Labels
	Series  SeriesID
	Time    int64
	Value   float64
	Arrival int64
}

// NewSample builds a sample, sorting its labels and computing its series
// identity. Labels are sorted in place.
func NewSample(name string, labels Labels, ts int64, value float64, arrival int64) Sample {
	labels.Sort()
	return Sample{
		Name:    name,
		Labels:  labels,
		Series:  Hash(name, labels),
		Time:    ts,
		Value:   value,
		Arrival: arrival,
	}
}
