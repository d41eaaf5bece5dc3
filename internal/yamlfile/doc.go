// Package yamlfile decodes faultline's YAML files (rule files, rule test
// files) strictly and with positions: a file holds one document; a
// mapping's keys must be known and unique; lists, strings, durations,
// integers and label maps have their kind and form checked; and every
// problem of a file is reported in one pass, each at the line and column
// (in characters) of the node at fault, or of the character at fault
// inside a scalar (Decoder.ValuePos). A YAML syntax error is put at the
// line that broke the file rather than the line of the construct the YAML
// parser names, and aliases are bounded, so that a few of them cannot
// expand into millions of nodes.
//
// A format's parser walks its own fields on top of a Decoder, which hands
// each problem, with its position, to the parser's report function; the
// parser builds its own error type from it. The causes of the problems
// (ErrSyntax, ErrUnknownField …) are this package's, and the formats'
// packages re-export them.
//
// This package knows YAML and the notations the formats share (Prometheus
// durations, label names), and must not know what a file means: nothing
// here may know about rules, rule tests, expressions or selectors.
package yamlfile
