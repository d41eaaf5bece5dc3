package stream

import (
	"strings"
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

// TestLabelsStringIsUnambiguous: label sets that differ format differently,
// since String is taken as their identity (pipeline's fleet-wide group key,
// ruletest's comparison of alerts). Line protocol lets a tag key or value
// hold '"', ',', ' ' and '=', so one label could pass for two.
func TestLabelsStringIsUnambiguous(t *testing.T) {
	var got []Labels
	for _, rec := range []string{
		`m,a=x,b=y v=1 1`,
		`m,a=x"\,\ b\="y v=1 1`,   // a is `x", b="y`
		`m,a\="x"\,\ b=y v=1 1`,   // `a="x", b` is y
		`m,a=x\y,b=y v=1 1`,       // a is `x\y`
		`m,a=x\"\,\ b\=\"y v=1 1`, // a is `x\", b=\"y`
	} {
		smp, err := NewDecoder(strings.NewReader(rec), DecoderOptions{}).Next(nil)
		require.NoError(t, err, rec)
		got = append(got, smp[0].Labels)
	}
	seen := map[string]Labels{}
	for _, ls := range got {
		prev, dup := seen[ls.String()]
		require.False(t, dup, "%q and %q both format as %s", []Label(prev), []Label(ls), ls)
		seen[ls.String()] = ls
	}
	// Names and values of the usual kinds format as before.
	require.Equal(t, `{a="x", b="y"}`, got[0].String())
	require.Equal(t, `{check="c1", region.name="eu-1", ü-1="é"}`, NewLabels("region.name", "eu-1", "check", "c1", "ü-1", "é").String())
	require.Equal(t, `{"a=\"x\", b"="y"}`, got[2].String())
	require.Equal(t, `{a="x\", b=\"y"}`, got[1].String())
	require.Equal(t, `{"a b"="\t", "{"="", "}"="\n"}`, NewLabels("a b", "\t", "{", "", "}", "\n").String())
	require.Equal(t, `{""="1"}`, Labels{{"", "1"}}.String())
}
