package fault

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/stream"
)

func TestKeyArenaRoundTrip(t *testing.T) {
	var a keyArena
	var refs []keyRef
	for i := range 30000 { // spans several chunks
		refs = append(refs, a.put(fmt.Sprintf("m%d", i), stream.NewLabels("host", fmt.Sprint(i), "dc", "x")))
	}
	big := strings.Repeat("v", 3*arenaChunk) // larger than a chunk
	bigRef := a.put("big", stream.NewLabels("k", big))
	for i, ref := range refs {
		name, ls := a.get(ref)
		require.Equal(t, fmt.Sprintf("m%d", i), name)
		require.Equal(t, stream.NewLabels("host", fmt.Sprint(i), "dc", "x"), ls)
	}
	name, ls := a.get(bigRef)
	require.Equal(t, "big", name)
	require.Equal(t, big, ls.Get("k"))
	require.Greater(t, len(a.chunks), 1)
}
