package kafka

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/stream"
)

// ParseEvent decodes an event as fault.Event.AppendJSON encodes it: the
// value of a record of the events topic. Labels and annotations keep their
// order. What the JSON form does not carry reads as its zero value
// (Series), or NaN (Value, and a gap's LateFraction, when absent).
func ParseEvent(b []byte) (fault.Event, error) {
	ev := fault.Event{Value: math.NaN()}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := expectDelim(dec, '{'); err != nil {
		return ev, err
	}
	var gap fault.Gap
	hasGap := false
	gap.LateFraction = math.NaN()
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return ev, fmt.Errorf("kafka: event: %w", err)
		}
		key, _ := tok.(string)
		switch key {
		case "labels", "annotations":
			ls, err := decodeLabels(dec)
			if err != nil {
				return ev, fmt.Errorf("kafka: event: %s: %w", key, err)
			}
			if key == "labels" {
				ev.Labels = ls
			} else {
				ev.Annotations = ls
			}
			continue
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return ev, fmt.Errorf("kafka: event: %s: %w", key, err)
		}
		var s string
		var f float64
		switch key {
		case "id", "episode", "kind", "rule", "state", "at", "since", "inhibited_by":
			err = json.Unmarshal(raw, &s)
		case "value", "period_s", "phase_start_s", "phase_end_s", "series", "late_fraction":
			err = json.Unmarshal(raw, &f)
		}
		if err != nil {
			return ev, fmt.Errorf("kafka: event: %s: %w", key, err)
		}
		switch key {
		case "id":
			ev.ID = s
		case "episode":
			ev.Episode = s
		case "kind":
			ev.Kind = fault.Kind(s)
		case "rule":
			ev.Rule = s
		case "state":
			ev.State = parseState(s)
			if ev.State == 0 {
				return ev, fmt.Errorf("kafka: event: unknown state %q", s)
			}
		case "at", "since":
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return ev, fmt.Errorf("kafka: event: %s: %w", key, err)
			}
			if key == "at" {
				ev.At = t.UnixNano()
			} else {
				ev.Since = t.UnixNano()
			}
		case "inhibited_by":
			ev.InhibitedBy = s
		case "value":
			ev.Value = f
		case "period_s":
			gap.Period, hasGap = seconds(f), true
		case "phase_start_s":
			gap.PhaseStart, hasGap = seconds(f), true
		case "phase_end_s":
			gap.PhaseEnd, hasGap = seconds(f), true
		case "series":
			gap.Series, hasGap = int(f), true
		case "late_fraction":
			gap.LateFraction, hasGap = f, true
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return ev, err
	}
	if hasGap {
		ev.Gap = &gap
	}
	if ev.ID == "" || ev.Kind == "" || ev.State == 0 {
		return ev, errors.New("kafka: event: id, kind and state are required")
	}
	return ev, nil
}

func seconds(f float64) time.Duration { return time.Duration(math.Round(f * 1e9)) }

func parseState(s string) fault.State {
	for _, st := range []fault.State{fault.StatePending, fault.StateFiring, fault.StateResolved} {
		if st.String() == s {
			return st
		}
	}
	return 0
}

func expectDelim(dec *json.Decoder, d json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("kafka: event: %w", err)
	}
	if tok != d {
		return fmt.Errorf("kafka: event: want %q, got %v", d, tok)
	}
	return nil
}

// decodeLabels reads an object of strings, keeping its order.
func decodeLabels(dec *json.Decoder) (stream.Labels, error) {
	if err := expectDelim(dec, '{'); err != nil {
		return nil, err
	}
	var ls stream.Labels
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return nil, err
		}
		v, err := dec.Token()
		if err != nil {
			return nil, err
		}
		ks, _ := k.(string)
		vs, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("label %q is not a string", ks)
		}
		ls = append(ls, stream.Label{Name: ks, Value: vs})
	}
	return ls, expectDelim(dec, '}')
}
