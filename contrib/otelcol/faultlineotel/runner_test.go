package faultlineotel_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.uber.org/goleak"

	"github.com/faultline-go/faultline/clock"
	"github.com/faultline-go/faultline/contrib/otelcol/faultlineotel"
)

func newRunner() *faultlineotel.Runner {
	return faultlineotel.NewRunner(faultlineotel.Settings{
		ID: component.MustNewID("faultline"), Kind: component.KindProcessor,
		Telemetry: componenttest.NewNopTelemetrySettings(), Config: faultlineotel.NewDefaultConfig(), Clock: clock.NewFake(t0),
	})
}

// A second Start is refused, and so is a Start after Shutdown: each
// would run a runtime beside the first, which Shutdown does not stop.
func TestRunnerStartsOnce(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	host := componenttest.NewNopHost()
	r := newRunner()
	require.NoError(t, r.Start(context.Background(), host))
	rt := r.Runtime()
	require.Error(t, r.Start(context.Background(), host))
	require.Same(t, rt, r.Runtime(), "the first runtime is kept")
	require.NoError(t, r.Shutdown(context.Background()))
	require.Error(t, r.Start(context.Background(), host), "after Shutdown")
	require.NoError(t, r.Shutdown(context.Background()), "idempotent")
}
