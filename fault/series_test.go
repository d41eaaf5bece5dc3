package fault

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/internal/seriesgap"
)

// The slot tracker must fit the 96 bytes per series the gap design allows.
func TestTrackerSize(t *testing.T) {
	require.Equal(t, uintptr(64), unsafe.Sizeof(tracker{}), "one cache line")
	require.LessOrEqual(t, unsafe.Sizeof(tracker{})+unsafe.Sizeof(seriesgap.Misses{}), uintptr(96))
	require.LessOrEqual(t, unsafe.Sizeof(series{}), uintptr(48))
}
