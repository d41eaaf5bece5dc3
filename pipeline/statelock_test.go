//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd || illumos

package pipeline_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/clock"
	"github.com/faultline-go/faultline/pipeline"
)

// A Config.State is used by one runtime at a time, whoever embeds it: New
// locks STATE.lock and Run releases it once its last checkpoint is
// written. Only the command used to take the lock, so two runtimes embedded
// in two processes (or one) on one state overwrote each other's
// checkpoints. The second New is refused, naming the holder's PID and the
// lock file; a New that fails for another reason leaves no lock behind;
// holding the lock, New removes the temporary files of killed checkpoint
// writes.
func TestStateIsLockedFromNewToRun(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	leftover := filepath.Join(dir, "state.tmp-123")
	require.NoError(t, writeFile(leftover, []byte("a killed write")))
	cfg := pipeline.Config{Shards: 1, State: state, Clock: clock.NewFake(t0)}
	first, err := pipeline.New(cfg)
	require.NoError(t, err)
	require.NoFileExists(t, leftover, "removed once the lock is held")

	_, err = pipeline.New(cfg)
	require.Error(t, err, "a second runtime on the state")
	require.ErrorIs(t, err, pipeline.ErrStateInUse)
	require.ErrorContains(t, err, "in use by another process (PID "+strconv.Itoa(os.Getpid())+")")
	require.ErrorContains(t, err, state+".lock")

	ctx, stop := context.WithCancel(context.Background())
	stop()
	require.NoError(t, first.Run(ctx))
	require.FileExists(t, state, "the last checkpoint")
	_, err = pipeline.New(cfg)
	require.NoError(t, err, "Run released the lock")

	// A New that fails on the checkpoint releases the lock it took.
	bad := filepath.Join(dir, "bad")
	require.NoError(t, writeFile(bad, []byte("not a checkpoint")))
	cfg.State = bad
	for range 2 {
		_, err = pipeline.New(cfg)
		require.ErrorContains(t, err, "remove it to start afresh")
		require.NotErrorIs(t, err, pipeline.ErrStateInUse)
	}
}
