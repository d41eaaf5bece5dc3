// Package kafka runs faultline on a Kafka or Redpanda consumer group.
package kafka
