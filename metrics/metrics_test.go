package metrics_test

import (
	"math"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/metrics"
)

func TestWriteTextGroupsByName(t *testing.T) {
	ms := []metrics.Metric{
		metrics.C("a_total", "A things.", 3).With("sink", "x"),
		metrics.G("b", "B now, with a \\ and\na newline.", 1.5),
		metrics.C("a_total", "A things.", 4).With("sink", `y"z`).With("shard", "0"),
		metrics.G("c", "C.", math.NaN()),
		metrics.G("d", "D.", math.Inf(-1)),
	}
	var b strings.Builder
	require.NoError(t, metrics.WriteText(&b, ms))
	require.Equal(t, `# HELP a_total A things.
# TYPE a_total counter
a_total{sink="x"} 3
a_total{shard="0",sink="y\"z"} 4
# HELP b B now, with a \\ and\na newline.
# TYPE b gauge
b 1.5
# HELP c C.
# TYPE c gauge
c NaN
# HELP d D.
# TYPE d gauge
d -Inf
`, b.String())
	require.Len(t, ms[0].Labels, 1, "With copies the labels")
}

func TestSources(t *testing.T) {
	one := metrics.SourceFunc(func(dst []metrics.Metric) []metrics.Metric {
		return append(dst, metrics.C("x_total", "X.", 1))
	})
	got := metrics.Sources{one, one}.AppendMetrics(nil)
	require.Len(t, got, 2)
}

func ExampleWriteText() {
	ms := []metrics.Metric{
		metrics.C("faultline_samples_total", "Samples given to the engine.", 42).With("shard", "0"),
		metrics.C("faultline_samples_total", "Samples given to the engine.", 40).With("shard", "1"),
		metrics.G("faultline_series", "Series tracked now.", 7),
	}
	_ = metrics.WriteText(os.Stdout, ms)
	// Output:
	// # HELP faultline_samples_total Samples given to the engine.
	// # TYPE faultline_samples_total counter
	// faultline_samples_total{shard="0"} 42
	// faultline_samples_total{shard="1"} 40
	// # HELP faultline_series Series tracked now.
	// # TYPE faultline_series gauge
	// faultline_series 7
}

// The text format is UTF-8: Prometheus's parser refuses a label value
// that is not ("invalid label value"), and with it the whole scrape. A
// byte that is not UTF-8 is written as U+FFFD.
func TestWriteTextInvalidUTF8(t *testing.T) {
	ms := []metrics.Metric{
		metrics.G("a", "Help \xff.", 1).With("client", "ab\xffc\xe2\x82"),
		metrics.G("a", "Help \xff.", 2).With("client", "é\"\\\n"),
	}
	var b strings.Builder
	require.NoError(t, metrics.WriteText(&b, ms))
	require.True(t, utf8.ValidString(b.String()), "%q", b.String())
	require.Equal(t, "# HELP a Help \uFFFD.\n# TYPE a gauge\n"+
		"a{client=\"ab\uFFFDc\uFFFD\"} 1\n"+
		"a{client=\"é\\\"\\\\\\n\"} 2\n", b.String())
}

// With sets a label: a name m has already gets the new value, not a second
// label, which would make the exposition invalid; m is left as it was.
func TestWithSetsALabel(t *testing.T) {
	m := metrics.C("x_total", "X.", 1).With("b", "1").With("a", "2")
	n := m.With("b", "3")
	require.Equal(t, []metrics.Label{{Name: "a", Value: "2"}, {Name: "b", Value: "3"}}, n.Labels)
	require.Equal(t, []metrics.Label{{Name: "a", Value: "2"}, {Name: "b", Value: "1"}}, m.Labels)
	var b strings.Builder
	require.NoError(t, metrics.WriteText(&b, []metrics.Metric{n}))
	require.Contains(t, b.String(), "x_total{a=\"2\",b=\"3\"} 1\n")
}
