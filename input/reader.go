package input

import (
	"context"
	"io"

	"github.com/faultline-go/faultline/metrics"
)

// Reader reads line protocol from one stream, such as standard input: one
// record per line, each read stamped with its arrival time, the samples
// handed to the runtime before each read, so that none waits for more
// input. It is a metrics.Source.
type Reader struct {
	base
}

var _ metrics.Source = (*Reader)(nil)

// NewReader returns an input delivering to rt what Run reads. By default
// it is named "stdin".
func NewReader(rt Runtime, opts Options) *Reader {
	return &Reader{base: newBase(rt, opts, "stdin")}
}

// Run reads r to its end and returns nil, or returns the read error that
// ended it. While the runtime has no room it does not read: the writer
// feels the back-pressure, until ctx ends (then Run returns an error
// matching pipeline.ErrBusy). Run may be called again, on another stream.
func (r *Reader) Run(ctx context.Context, in io.Reader) error {
	return r.stream(ctx, in, "", nil)
}

// AppendMetrics appends the input's self-metrics: its decoder's counts
// and its bounds hit.
func (r *Reader) AppendMetrics(dst []metrics.Metric) []metrics.Metric {
	return r.appendMetrics(dst)
}
