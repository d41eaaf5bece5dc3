package report_test

import (
	"github.com/faultline-go/faultline/pipeline"
	"github.com/faultline-go/faultline/report"
)

// A Builder is a pipeline.Sink: the runtime's merged events can go to it.
var _ pipeline.Sink = (*report.Builder)(nil)
