package mqtt_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/contrib/mqtt"
)

// A message that gives neither a sample nor a decoding error (an empty
// payload, a JSON object of strings only, line protocol of blank lines)
// is counted as empty, so that an operator sees that a device talks but
// says nothing faultline can watch; it showed only in messages_total.
func TestEmptyMessagesAreCounted(t *testing.T) {
	b := startBroker(t, brokerOpts{})
	r := newRig(t, rigConfig{broker: b, subs: []mqtt.Subscription{{Filter: "d/#"}}})
	dev := dial(t, b.url(), "device", true)
	dev.publish("d/a", 1, "")
	dev.publish("d/a", 1, `{"status": "ok", "fw": "1.2.3"}`)
	dev.publish("d/a", 1, "\n\n")
	dev.publish("d/a", 1, fmt.Sprintf("up,host=a value=1 %d", t0.UnixNano()))
	// In order: once the last one's sample is counted, all were handled.
	waitFor(t, 10*time.Second, func() bool { return r.c.Stats().Samples == 1 }, "the messages come through")
	st := r.c.Stats()
	require.EqualValues(t, 4, st.Messages)
	require.Zero(t, st.BadMessages)
	require.EqualValues(t, 3, st.Empty)
	require.Equal(t, 3.0, r.metric("faultline_mqtt_empty_messages_total"))
}
