// Package mqtt runs faultline on an MQTT bus: a Client subscribes to
// topic filters and feeds a pipeline.Runtime with the samples of the
// messages, and its Publisher (a pipeline.Sink) publishes the runtime's
// events on the same connection. It uses Eclipse Paho
// (github.com/eclipse/paho.mqtt.golang, MQTT 3.1.1).
//
//	c, err := mqtt.New(mqtt.Config{
//		Broker:   "tcp://127.0.0.1:1883",
//		ClientID: "faultline-1",
//		Subscriptions: []mqtt.Subscription{
//			{Filter: "+/+/+/+/data.json", Topic: "{realm}/{network}/{gateway}/{node}/data.json"},
//		},
//	})
//	rt, err := pipeline.New(pipeline.Config{Sinks: []pipeline.Sink{c.Publisher()}, State: "faultline.state"})
//	go rt.Run(ctx)
//	err = c.Run(ctx, rt) // a wrong password ends it at once with ErrRefused
//
// # Subscribing
//
// Every filter is subscribed with QoS 1 (at least once), on every
// connection, and the session is kept (Config.CleanStart false): a
// reconnection, or a restart of the collector with the same ClientID,
// resumes it, and the broker delivers what it kept meanwhile. A message is
// acknowledged only once its samples are queued on the runtime, so one the
// collector had not taken when it stopped, or when the connection broke,
// is delivered again. Redeliveries collapse in the engine's dedup when the
// payload carries its sample time (line protocol timestamps, a KotoriJSON
// time field); a payload without one is dated by its arrival, and a
// redelivery of it is a new sample.
//
// A broker may grant a filter QoS 0 instead (Mosquitto's max_qos, an
// ACL): its messages then come at most once, neither kept for the session
// nor sent again. The client takes them, logs a warning for each such
// filter on every subscription, and reports how many there are
// (Stats.AtMostOnce, the gauge faultline_mqtt_at_most_once_subscriptions).
//
// A retained message, which the broker sends when a subscription is made
// (so on every connection) as the last message published on its topic,
// however long ago, is acknowledged and dropped (counted: Stats.Retained):
// it is no delivery. Dated by its arrival, it would make a source that
// died look alive again at every connection. A message published while
// the client is subscribed, retained or not, comes without the flag and
// is taken.
//
// Messages are handled one at a time, in order, on paho's goroutine: each
// is stamped with its arrival time (Runtime.Now, the runtime's clock),
// decoded, and queued with Runtime.Ingest. While the runtime's queues are
// full, Ingest waits and the connection is not read, so the broker holds
// the backlog (Mosquitto's max_queued_messages bounds it, per client),
// not the collector.
//
// # Payloads
//
// A Subscription's Format says how payloads are decoded; Auto, the
// default, takes a payload whose first character other than white space
// is '{' for KotoriJSON and any other for line protocol.
//
// LineProtocol payloads hold records as package stream decodes them, one
// per line (stream.NewDecoder, with the subscription's Precision); a
// record without a timestamp is dated by its arrival.
//
// KotoriJSON payloads are one JSON object of fields, as Kotori reads
// them on topics like <realm>/<network>/<gateway>/<node>/data.json. Each
// member whose value is a number gives one sample named by its key
// (booleans give 1 and 0); the member "time", a number of Unix seconds or
// an RFC 3339 string, is the sample time of them all (by default the
// arrival time); strings, nulls, nested objects and arrays give no
// sample. A key twice, a payload that is not one object, and a number out
// of range are errors.
//
// A subscription's Topic template (see Template) names labels after the
// topic's levels, and every sample of the message carries them (a line
// protocol tag of the same name wins). A topic that does not fit the
// template is an error.
//
// # Bad input
//
// A message, or a record of it, that cannot be decoded is reported to
// Runtime.BadInput with the topic as the input's name and a *MessageError
// saying which message and where in it (record and column; for JSON, the
// byte). The runtime counts each and coalesces them into bad_input events
// per topic and interval (one firing event for a flood, one resolved
// event when it stops), which the Publisher sends to Publish.ErrorsTopic:
// never one message per bad message.
//
// A message that decodes without error but gives no sample (an empty
// payload, a KotoriJSON object of strings only, line protocol of blank
// lines) is not bad input: devices publish status text, and each would
// raise a bad_input fault. It is acknowledged and counted (Stats.Empty,
// faultline_mqtt_empty_messages_total), so that a device that talks but
// says nothing faultline can watch shows there.
//
// # Faultline's own output, on the way back
//
// The Publisher's events carry fault.OriginLabel in their labels. A
// client may subscribe to filters that match the topics it publishes to
// ("#" does), so its events and error reports come back to it as input.
// They must not be taken for data, so decoding marks them, and the
// engine's loop guard rejects every sample carrying OriginLabel and raises
// one feedback_loop event, not one per sample. The rule:
//
//   - line protocol: a record with the tag faultline_origin gives samples
//     with that label, as every tag does;
//   - KotoriJSON: a message whose object has a string member
//     faultline_origin, or a member "labels" that is an object with a
//     string member faultline_origin (the shape of an event), is
//     faultline's own: each of its samples carries OriginLabel with that
//     value, and if it has no numeric member (a firing feedback_loop event
//     has no value) it gives one sample, named OwnEventName, so that the
//     loop guard sees every such message.
//
// A looped event raises no event of its own while the loop's episode is
// open, so each event comes back once and the loop does not amplify. The
// episode resolves after an hour without looped samples; the resolved
// event comes back too and opens a new episode, so a bus that echoes
// everything shows one feedback_loop episode an hour, not a storm.
//
// # Connections
//
// Run makes the first connection, retrying failures with backoff
// (Config.Backoff); paho reconnects after a lost connection, with backoff
// up to Config.Backoff.Max. A refusal (bad user name or password, not
// authorised: ErrRefused) and a TLS certificate that fails verification
// end Run with an error, on the first connection or a later one: retrying
// cannot fix them. Credentials and TLS come from Config (Username,
// Password, TLS). When ctx ends during the first connection attempt, Run
// waits for it to end (within ConnectTimeout: paho cannot abort it), so
// that nothing of the client outlives Run; a reconnection paho is making
// is not waited for (see Client.Run).
//
// # Bounds
//
// The handler holds one message at a time. The Publisher's queue holds
// Publish.QueueSize events (the oldest is dropped when it is full) and at
// most Publish.MaxInflight are published unacknowledged at once; paho
// holds those in its memory store until they are acknowledged. A payload
// larger than Config.MaxPayload is bad input. Everything is counted: see
// Client.AppendMetrics and Publisher.AppendMetrics.
//
// # State
//
// Checkpoints are the runtime's (pipeline.Config.State): the engines'
// state survives a restart of the collector, and the broker's session
// keeps the messages sent meanwhile.
package mqtt
