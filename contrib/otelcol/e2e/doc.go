// Package e2e runs the module's processor and connector in a real
// OpenTelemetry Collector, built in-process from the README's builder
// manifest and configuration. It holds only tests.
package e2e
