package kafka

import (
	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/pipeline"
)

// The fleet stage: the aggregation of what every partition's engine found
// about the fleet as a whole (see "The fleet across partitions" in the
// package doc). It is a pipeline.Merger whose members are the input
// partitions: their engines send it, through the fleet topic, the events
// that toFleet selects, each keyed by its partition (fleetRecord), and it
// reads them in topic order.

// toFleet reports whether an engine's event goes through the fleet stage:
// a fleet-wide one that another partition may raise too, or one that
// another event explains (its InhibitedBy may name a partition's fleet
// gap, which the stage turns into the group's).
func toFleet(ev *fault.Event) bool {
	return pipeline.Mergeable(ev) || ev.InhibitedBy != ""
}
