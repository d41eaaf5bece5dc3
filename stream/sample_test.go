package stream

import (
	"testing"

	"github.com/cespare/xxhash/v2"

	"github.com/stretchr/testify/require"
)

func TestHashStableAndOrderIndependent(t *testing.T) {
	a := Hash("cpu_usage", Labels{{"host", "a"}, {"dc", "x"}})
	b := Hash("cpu_usage", NewLabels("dc", "x", "host", "a"))
	require.Equal(t, a, b, "label order must not change identity")

	// Pinned value: identity must be stable across runs, machines and
	// releases, because it keys persisted dedup state and shards.
	require.Equal(t, SeriesID(xxhash.Sum64String("cpu_usage\xffdc\xffx\xffhost\xffa\xff")), a)
	require.Equal(t, SeriesID(0x5ea8f95807654d86), a)

	require.NotEqual(t, a, Hash("cpu_usage", NewLabels("dc", "x", "host", "b")))
	require.NotEqual(t, a, Hash("cpu_usag", NewLabels("edc", "x", "host", "a")), "parts must be separated")
	require.NotEqual(t, Hash("a", NewLabels("b", "c")), Hash("a", NewLabels("bc", "")))
}

func TestHashDoesNotReorderCallerLabels(t *testing.T) {
	ls := Labels{{"z", "1"}, {"a", "2"}}
	Hash("m", ls)
	require.Equal(t, "z", ls[0].Name)
}

func TestNewSample(t *testing.T) {
	s := NewSample("m", Labels{{"z", "1"}, {"a", "2"}}, 10, 1.5, 20)
	require.Equal(t, NewLabels("a", "2", "z", "1"), s.Labels)
	require.Equal(t, Hash("m", s.Labels), s.Series)
	require.Equal(t, "2", s.Labels.Get("a"))
	require.Equal(t, "", s.Labels.Get("q"))
	require.Equal(t, `{a="2", z="1"}`, s.Labels.String())
}
