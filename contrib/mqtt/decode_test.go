package mqtt

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/stream"
)

const arrival = int64(1767225600_000000000) // 2026-01-01T00:00:00Z

// decodeOne decodes one payload on topic under sub, returning the samples
// as "name{labels} value @time" and the errors.
func decodeOne(t *testing.T, sub Subscription, topic, payload string) ([]string, []error) {
	t.Helper()
	s := subscription{Subscription: sub}
	if sub.Topic != "" {
		tmpl, err := ParseTemplate(sub.Topic)
		require.NoError(t, err)
		s.tmpl = tmpl
	}
	var errs []error
	smps := newDecoder(1<<10).decode(nil, &s, topic, []byte(payload), arrival, func(err error) { errs = append(errs, err) })
	var out []string
	for _, smp := range smps {
		require.Equal(t, stream.Hash(smp.Name, smp.Labels), smp.Series, "series identity")
		require.True(t, smp.Labels.IsSorted())
		require.Equal(t, arrival, smp.Arrival)
		out = append(out, smp.Name+smp.Labels.String()+" "+strings.TrimRight(strings.TrimRight(
			time.Unix(0, smp.Time).UTC().Format("15:04:05.000000000"), "0"), ".")+" "+strconv.FormatFloat(smp.Value, 'g', -1, 64))
	}
	return out, errs
}

// KotoriJSON: numbers and booleans are samples named by their keys; time
// dates them; strings, nulls, nested values give none; the topic's
// labels go on every sample.
func TestKotoriJSON(t *testing.T) {
	sub := Subscription{Filter: "#", Topic: "{realm}/{network}/{gateway}/{node}/data.json"}
	topic := "hiveeyes/testdrive/area-42/node-1/data.json"
	f := func(payload string, want ...string) {
		t.Helper()
		got, errs := decodeOne(t, sub, topic, payload)
		require.Empty(t, errs)
		require.Equal(t, want, got)
	}
	labels := `{gateway="area-42", network="testdrive", node="node-1", realm="hiveeyes"}`
	f(`{"temperature": 21.5, "humidity": 60}`,
		"temperature"+labels+" 00:00:00 21.5", "humidity"+labels+" 00:00:00 60")
	f(` {"weight": 41.25, "time": 1767225601, "ok": true, "note": "x", "nothing": null, "nested": {"a": 1}, "list": [1, 2]}`,
		"weight"+labels+" 00:00:01 41.25", "ok"+labels+" 00:00:01 1")
	f(`{"t": -3, "time": "2026-01-01T00:00:02.5Z"}`, "t"+labels+" 00:00:02.5 -3")
	f(`{"time": 1767225601.25, "v": 1e3}`, "v"+labels+" 00:00:01.25 1000")
	f(`{"time": 1767225599.999999999, "v": 1}`, "v"+labels+" 23:59:59.999999999 1")
	f(`{"time": 1.76722560125e9, "v": 1}`, "v"+labels+" 00:00:01.249999872 1") // an exponent: through float64
	f(`{"note": "strings only"}`)                                              // no samples, no error
}

// Faultline's own events come back marked: every sample carries
// OriginLabel, and an event without a numeric member still gives one.
func TestOwnOutputIsMarked(t *testing.T) {
	sub := Subscription{Filter: "#"}
	ev := fault.Event{ID: "1", Episode: "2", Kind: fault.KindFeedbackLoop, Rule: "feedback_loop", State: fault.StateFiring,
		At: arrival, Since: arrival, Labels: stream.NewLabels(fault.OriginLabel, "faultline", "looped_name", "x")}
	ev.Value = math.NaN()
	got, errs := decodeOne(t, sub, "faultline/events/feedback_loop", string(ev.AppendJSON(nil)))
	require.Empty(t, errs)
	require.Equal(t, []string{OwnEventName + `{faultline_origin="faultline"} 00:00:00 1`}, got)

	ev.Kind, ev.Value = fault.KindBadInput, 12
	ev.Annotations = stream.NewLabels("examples", "message 1: x")
	got, errs = decodeOne(t, sub, "faultline/errors", string(ev.AppendJSON(nil)))
	require.Empty(t, errs)
	require.Equal(t, []string{`value{faultline_origin="faultline"} 00:00:00 12`}, got)

	got, _ = decodeOne(t, sub, "x", `{"faultline_origin": "other", "v": 2}`)
	require.Equal(t, []string{`v{faultline_origin="other"} 00:00:00 2`}, got)
	got, _ = decodeOne(t, sub, "x", `{"labels": {"deep": {"faultline_origin": "no"}}, "v": 2}`)
	require.Equal(t, []string{`v{} 00:00:00 2`}, got, "only a direct member of labels marks a message")
	got, _ = decodeOne(t, sub, "x", "up,faultline_origin=faultline value=1 1767225600000000000")
	require.Equal(t, []string{`up{faultline_origin="faultline"} 00:00:00 1`}, got, "line protocol: the tag")
}

// Bad payloads: each error says where, and gives no sample.
func TestBadPayloads(t *testing.T) {
	sub := Subscription{Filter: "#", Topic: "{realm}/{node}"}
	f := func(topic, payload string, is error, where string) {
		t.Helper()
		got, errs := decodeOne(t, sub, topic, payload)
		require.Empty(t, got)
		require.Len(t, errs, 1)
		if is != nil {
			require.ErrorIs(t, errs[0], is)
		}
		require.Contains(t, errs[0].Error(), where)
	}
	f("a/b", `{"temperature": 21.5, "humidity": `, nil, "record 1, column 35: unexpected end of JSON input")
	f("a/b", `{"t": 1, "t": 2}`, stream.ErrDuplicateField, "record 1, column 10")
	sub.Format = KotoriJSON
	f("a/b", ` [1, 2]`, ErrNotObject, "record 1, column 2")
	sub.Format = Auto
	f("a/b", `{"t": 1} {"u": 2}`, nil, "data after the JSON object")
	f("a/b", `{"t": 1e999}`, nil, "value out of range")
	f("a/b", `{"time": "yesterday", "t": 1}`, ErrTime, "not RFC 3339")
	f("a/b", `{"time": 1e300, "t": 1}`, ErrTime, "out of range")
	f("a/b", "t value=1 1 extra", nil, "record 1, column")
	f("a/b/c", `{"t": 1}`, ErrTopic, `more levels than template`)
	f("a", `{"t": 1}`, ErrTopic, `fewer levels`)
	f("a/", `{"t": 1}`, ErrTopic, `label node, is empty`)
	f("a/b", strings.Repeat("x", 2000), ErrTooLarge, "2000 bytes")

	// Line protocol: each bad record is reported; the good ones pass.
	got, errs := decodeOne(t, Subscription{Filter: "#"}, "x", "a v=1 1\nb v= 2\nc v=3 3")
	require.Len(t, got, 2)
	require.Len(t, errs, 1)
	var re *stream.RecordError
	require.True(t, errors.As(errs[0], &re))
	require.Equal(t, int64(2), re.Record)
}

// Line protocol gets the topic's labels; its own tags win.
func TestLineProtocolTopicLabels(t *testing.T) {
	sub := Subscription{Filter: "#", Topic: "site/{node}/+", Precision: time.Second}
	got, errs := decodeOne(t, sub, "site/n1/raw", "t,room=k value=2 1767225603\nt,node=tag value=3")
	require.Empty(t, errs)
	require.Equal(t, []string{`t{node="n1", room="k"} 00:00:03 2`, `t{node="tag"} 00:00:00 3`}, got)
}

func TestTemplates(t *testing.T) {
	for _, bad := range []string{"", "a/#/b", "{a}/{a}", "{__x}/y", "{faultline_origin}", "{9x}", "a{b}", "x+"} {
		_, err := ParseTemplate(bad)
		require.Error(t, err, bad)
	}
	tmpl, err := ParseTemplate("{realm}/+/lit/{node}/#")
	require.NoError(t, err)
	ls, err := tmpl.AppendLabels(nil, "r/any/lit/n/deep/er")
	require.NoError(t, err)
	require.Equal(t, stream.Labels{{Name: "realm", Value: "r"}, {Name: "node", Value: "n"}}, ls)
	_, err = tmpl.AppendLabels(nil, "r/any/other/n")
	require.ErrorContains(t, err, `level 3 is "other"`)
	ls, err = tmpl.AppendLabels(nil, "r/x/lit/n")
	require.NoError(t, err, "# matches no level too")
	require.Len(t, ls, 2)
}

func TestFilters(t *testing.T) {
	f := func(filter, topic string, want bool) {
		t.Helper()
		require.NoError(t, validFilter(filter))
		require.Equal(t, want, matchFilter(filter, topic), "%s ~ %s", filter, topic)
	}
	f("#", "a/b", true)
	f("#", "$SYS/broker", false)
	f("$SYS/#", "$SYS/broker", true)
	f("a/+", "a/b", true)
	f("a/+", "a/b/c", false)
	f("a/+", "a", false)
	f("a/#", "a", true)
	f("a/#", "a/b/c", true)
	f("+/+", "a/b", true)
	f("+", "/a", false)
	f("a/b", "a/b", true)
	f("a/b", "a/bc", false)
	f("+/data.json", "x/data.json", true)
	for _, bad := range []string{"", "a/#/b", "a#", "a+/b", "a/b+"} {
		require.Error(t, validFilter(bad), bad)
	}
}

// New reports every mistake of a configuration at once.
func TestConfigErrors(t *testing.T) {
	_, err := New(Config{
		Broker:        "http://x",
		Subscriptions: []Subscription{{Filter: "a/#/b"}, {Filter: "x", Topic: "{a}/{a}"}},
		Publish:       Publish{EventsTopic: "e/+"},
	})
	require.Error(t, err)
	for _, want := range []string{"unknown scheme", "ClientID is required", "Subscriptions[0]", "Subscriptions[1]", "EventsTopic"} {
		require.ErrorContains(t, err, want)
	}
}
