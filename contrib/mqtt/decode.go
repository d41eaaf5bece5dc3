package mqtt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/stream"
)

// Errors a decoding error may wrap, for errors.Is, besides those of
// package stream (stream.ErrDuplicateField, the line-protocol parser's).
var (
	// ErrNotObject means a KotoriJSON payload is not one JSON object.
	ErrNotObject = errors.New("mqtt: payload is not a JSON object")
	// ErrTooLarge means a payload is larger than Config.MaxPayload.
	ErrTooLarge = errors.New("mqtt: payload too large")
	// ErrTopic means a topic does not fit its subscription's template.
	ErrTopic = errors.New("mqtt: topic does not fit the template")
	// ErrTime means a KotoriJSON time field is not a time.
	ErrTime = errors.New("mqtt: invalid time")
)

// OwnEventName is the name of the sample a KotoriJSON message recognised
// as faultline's own output gives when it has no numeric field, so that
// the engine's loop guard sees every such message (see the package doc).
const OwnEventName = "faultline_event"

// MessageError reports a message that could not be decoded, or a record
// of it. It is what the runtime's bad_input events quote.
type MessageError struct {
	// Message is the message's number, from 1, among those the client
	// received since it started.
	Message uint64
	// Err is the cause: a *stream.RecordError saying where in the payload
	// (for KotoriJSON the record is 1 and the column the byte), or
	// ErrTopic, ErrTooLarge.
	Err error
}

// Error formats the error as "message 12: record 1, column 5: cause".
func (e *MessageError) Error() string { return fmt.Sprintf("message %d: %v", e.Message, e.Err) }

// Unwrap returns the cause.
func (e *MessageError) Unwrap() error { return e.Err }

// decoder turns payloads into samples. It is used by one goroutine at a
// time (the client's message handler).
type decoder struct {
	maxPayload int
	lp         *stream.Decoder
	rd         bytes.Reader
	arrival    int64

	topicLabels stream.Labels // scratch: the labels of the message's topic
	keys        map[string]struct{}
}

func newDecoder(maxPayload int) *decoder {
	d := &decoder{maxPayload: maxPayload, keys: make(map[string]struct{})}
	d.lp = stream.NewDecoder(&d.rd, stream.DecoderOptions{
		Arrival:      func() int64 { return d.arrival },
		MaxLineBytes: maxPayload,
	})
	return d
}

// decode appends the samples of one message to dst, each stamped with
// arrival, and calls bad for each record that could not be decoded.
func (d *decoder) decode(dst []stream.Sample, sub *subscription, topic string, payload []byte, arrival int64, bad func(error)) []stream.Sample {
	if len(payload) > d.maxPayload {
		bad(fmt.Errorf("%w: %d bytes, more than %d", ErrTooLarge, len(payload), d.maxPayload))
		return dst
	}
	d.topicLabels = d.topicLabels[:0]
	if sub.tmpl != nil {
		var err error
		if d.topicLabels, err = sub.tmpl.AppendLabels(d.topicLabels, topic); err != nil {
			bad(fmt.Errorf("%w: %w", ErrTopic, err))
			return dst
		}
	}
	format := sub.Format
	if format == Auto {
		format = LineProtocol
		if t := bytes.TrimLeft(payload, " \t\r\n"); len(t) > 0 && t[0] == '{' {
			format = KotoriJSON
		}
	}
	if format == KotoriJSON {
		var err error
		if dst, err = d.decodeJSON(dst, payload, arrival); err != nil {
			bad(err)
		}
		return dst
	}
	return d.decodeLP(dst, sub, payload, arrival, bad)
}

// decodeLP decodes line protocol, adding the topic's labels to the
// records' (a tag of the same name wins).
func (d *decoder) decodeLP(dst []stream.Sample, sub *subscription, payload []byte, arrival int64, bad func(error)) []stream.Sample {
	d.rd.Reset(payload)
	d.lp.Reset(&d.rd)
	_ = d.lp.SetPrecision(sub.Precision) // checked by New
	d.arrival = arrival
	for {
		n := len(dst)
		var err error
		dst, err = d.lp.Next(dst)
		if errors.Is(err, io.EOF) {
			return dst
		}
		if err != nil {
			bad(err)
			continue
		}
		if len(d.topicLabels) > 0 {
			for i := n; i < len(dst); i++ {
				s := &dst[i]
				s.Labels = mergeLabels(s.Labels, d.topicLabels)
				s.Series = stream.Hash(s.Name, s.Labels)
			}
		}
	}
}

// mergeLabels returns a new sorted label set of own and the topic's labels
// that own does not have.
func mergeLabels(own, topic stream.Labels) stream.Labels {
	ls := make(stream.Labels, 0, len(own)+len(topic))
	ls = append(ls, own...)
	for _, l := range topic {
		if own.Get(l.Name) == "" {
			ls = append(ls, l)
		}
	}
	ls.Sort()
	return ls
}

// jsonField is a numeric field of a KotoriJSON message.
type jsonField struct {
	name  string
	value float64
}

// decodeJSON decodes a KotoriJSON message: see the package doc.
func (d *decoder) decodeJSON(dst []stream.Sample, payload []byte, arrival int64) ([]stream.Sample, error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	fail := func(off int64, err error) error {
		// Point at the token, past the separators before it.
		for off < int64(len(payload)) && strings.IndexByte(" \t\r\n,:", payload[off]) >= 0 {
			off++
		}
		return &stream.RecordError{Record: 1, Column: int(off) + 1, Err: err}
	}
	tokErr := func(err error) error {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return fail(se.Offset, err)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fail(int64(len(payload)), fmt.Errorf("unexpected end of JSON input"))
		}
		return fail(dec.InputOffset(), err)
	}
	tok, err := dec.Token()
	if err != nil {
		return dst, tokErr(err)
	}
	if tok != json.Delim('{') {
		return dst, fail(dec.InputOffset()-1, ErrNotObject)
	}
	clear(d.keys)
	var fields []jsonField
	var origin string
	sampleTime := arrival
	for dec.More() {
		off := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return dst, tokErr(err)
		}
		key, _ := tok.(string) // object keys are strings
		if _, dup := d.keys[key]; dup {
			return dst, fail(off, fmt.Errorf("%w %q", stream.ErrDuplicateField, key))
		}
		d.keys[key] = struct{}{}
		off = dec.InputOffset()
		if tok, err = dec.Token(); err != nil {
			return dst, tokErr(err)
		}
		switch v := tok.(type) {
		case json.Number:
			if key == "time" {
				if sampleTime, err = unixSeconds(string(v)); err != nil {
					return dst, fail(off, err)
				}
				continue
			}
			f, err := strconv.ParseFloat(string(v), 64)
			if err != nil {
				return dst, fail(off, fmt.Errorf("field %q: %w", key, err))
			}
			fields = append(fields, jsonField{key, f})
		case bool:
			f := 0.0
			if v {
				f = 1
			}
			fields = append(fields, jsonField{key, f})
		case string:
			switch key {
			case "time":
				t, err := time.Parse(time.RFC3339Nano, v)
				if err != nil {
					return dst, fail(off, fmt.Errorf("%w: %q is not RFC 3339", ErrTime, v))
				}
				sampleTime = t.UnixNano()
			case fault.OriginLabel:
				origin = v
			}
		case json.Delim: // '{' or '['
			own, err := skipValue(dec, v, key == "labels")
			if err != nil {
				return dst, tokErr(err)
			}
			if own != "" {
				origin = own
			}
		}
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return dst, tokErr(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return dst, fail(dec.InputOffset(), errors.New("data after the JSON object"))
	}
	labels := d.topicLabels
	if origin != "" {
		labels = append(labels, stream.Label{Name: fault.OriginLabel, Value: origin})
		if len(fields) == 0 {
			fields = append(fields, jsonField{OwnEventName, 1})
		}
	}
	if len(fields) == 0 {
		return dst, nil
	}
	ls := make(stream.Labels, len(labels)) // shared, read-only, by the message's samples
	copy(ls, labels)
	ls.Sort()
	for _, f := range fields {
		dst = append(dst, stream.Sample{Name: f.name, Labels: ls, Series: stream.Hash(f.name, ls), Time: sampleTime, Value: f.value, Arrival: arrival})
	}
	return dst, nil
}

// skipValue reads the rest of the object or array whose opening delim was
// just read. For an object that may hold labels, it returns the value of
// its OriginLabel member, if that is a string.
func skipValue(dec *json.Decoder, open json.Delim, labels bool) (origin string, err error) {
	labels = labels && open == '{'
	depth := 1
	key := true // the next token at depth 1 of an object is a key
	var last string
	for depth > 0 {
		tok, err := dec.Token()
		if err != nil {
			return "", err
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				depth++
			default:
				depth--
			}
			if depth == 1 {
				key = true // a nested value ended: a key comes next
			}
			continue
		}
		if depth != 1 || !labels {
			continue
		}
		if key {
			last, _ = tok.(string)
		} else if s, ok := tok.(string); ok && last == fault.OriginLabel {
			origin = s
		}
		key = !key
	}
	return origin, nil
}

// unixSeconds converts a JSON number of Unix seconds to nanoseconds,
// exactly for a plain decimal (to the nanosecond), to the nearest
// representable for one with an exponent.
func unixSeconds(n string) (int64, error) {
	bad := fmt.Errorf("%w: %s seconds is out of range", ErrTime, n)
	whole, frac, dot := strings.Cut(n, ".")
	if !strings.ContainsAny(n, "eE") {
		s, err := strconv.ParseInt(whole, 10, 64)
		if err != nil || s > math.MaxInt64/int64(time.Second)-1 || s < math.MinInt64/int64(time.Second)+1 {
			return 0, bad
		}
		ns := s * int64(time.Second)
		if dot {
			frac = (frac + "000000000")[:9]
			f, err := strconv.ParseInt(frac, 10, 64)
			if err != nil {
				return 0, bad
			}
			if strings.HasPrefix(whole, "-") {
				f = -f
			}
			ns += f
		}
		return ns, nil
	}
	f, err := strconv.ParseFloat(n, 64)
	ns := f * 1e9
	if err != nil || ns >= math.MaxInt64 || ns <= math.MinInt64 {
		return 0, bad
	}
	return int64(math.Round(ns)), nil
}
