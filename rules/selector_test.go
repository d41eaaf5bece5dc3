package rules

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/stream"
)

func TestParseSelector(t *testing.T) {
	f := func(src, canonical, name string, matchers ...Matcher) {
		t.Helper()
		s, err := ParseSelector(src)
		require.NoError(t, err, src)
		require.Equal(t, canonical, s.String())
		require.Equal(t, name, s.Name())
		got := s.Matchers()
		for i := range got {
			got[i].re = nil
		}
		require.Equal(t, matchers, got)
		// The canonical form reads back to the same selector.
		again, err := ParseSelector(s.String())
		require.NoError(t, err)
		require.Equal(t, canonical, again.String())
	}
	eq := func(n, v string) Matcher { return Matcher{Name: n, Op: MatchEqual, Value: v} }
	ne := func(n, v string) Matcher { return Matcher{Name: n, Op: MatchNotEqual, Value: v} }
	re := func(n, v string) Matcher { return Matcher{Name: n, Op: MatchRegexp, Value: v} }
	nre := func(n, v string) Matcher { return Matcher{Name: n, Op: MatchNotRegexp, Value: v} }

	f(`up`, `up`, "up", eq("__name__", "up"))
	f(`  up  `, `up`, "up", eq("__name__", "up"))
	f(`job:errors:rate5m`, `job:errors:rate5m`, "job:errors:rate5m", eq("__name__", "job:errors:rate5m"))
	f(`up{}`, `up`, "up", eq("__name__", "up"))
	f(`{}`, `{}`, "")
	f(`http_errors{job="api", env=~"prod|stage"}`, `http_errors{job="api", env=~"prod|stage"}`, "http_errors",
		eq("__name__", "http_errors"), eq("job", "api"), re("env", "prod|stage"))
	f(`{job!="x",instance!~"canary-.*",}`, `{job!="x", instance!~"canary-.*"}`, "",
		ne("job", "x"), nre("instance", "canary-.*"))
	f(`{ __name__ = "up" , job = 'a' }`, `up{job="a"}`, "up", eq("__name__", "up"), eq("job", "a"))
	f(`{__name__=~"up|down"}`, `{__name__=~"up|down"}`, "", re("__name__", "up|down"))
	// Quoting and escaping.
	f(`{a="say \"hi\"\n"}`, `{a="say \"hi\"\n"}`, "", eq("a", "say \"hi\"\n"))
	f(`{a='it\'s "x"'}`, `{a="it's \"x\""}`, "", eq("a", `it's "x"`))
	f("{a=`raw\\d+`}", `{a="raw\\d+"}`, "", eq("a", `raw\d+`))
	f(`{a="\u00e9t\xc3\xa9"}`, `{a="été"}`, "", eq("a", "été"))
	f(`{"service.name"="checkout"}`, `{"service.name"="checkout"}`, "", eq("service.name", "checkout"))
}

func TestParseSelectorErrors(t *testing.T) {
	f := func(src string, off int, substr string) {
		t.Helper()
		_, err := ParseSelector(src)
		require.ErrorIs(t, err, ErrSelector, src)
		require.ErrorContains(t, err, substr, src)
		var se *SelectorError
		require.ErrorAs(t, err, &se)
		require.Equal(t, off, se.Offset, src)
	}
	f(``, 0, "empty selector")
	f(`   `, 3, "empty selector")
	f(`9up`, 0, "want a metric name or '{'")
	f(`up{`, 3, "missing '}'")
	f(`up{job="a"`, 10, "missing '}'")
	f(`up{job="a" env="b"}`, 11, "want ',' or '}'")
	f(`up{job}`, 6, "want one of = != =~ !~")
	f(`up{job=="a"}`, 7, "want a quoted label value")
	f(`up{job=a}`, 7, "want a quoted label value")
	f(`up{job="a}`, 7, "unterminated quoted string")
	f(`up{job="a\q"}`, 7, "bad escape")
	f(`up{job=~"("}`, 8, "bad regex for label \"job\"")
	f(`up{job!~"a[" }`, 8, "missing closing ]")
	f(`up{=""}`, 3, "want a label name")
	f(`up{""="x"}`, 3, "empty label name")
	f(`up{job="a"} x`, 12, "after the selector")
	f(`up x`, 3, "after the selector")
	f(`{é="x"}`, 1, "want a label name")
	f(`{a="é" b}`, 7, "want ',' or '}'") // offsets count characters, not bytes
}

func TestSelectorMatches(t *testing.T) {
	labels := stream.NewLabels("job", "api", "env", "production", "instance", "web-1:9100", "empty", "")
	f := func(sel string, name string, want bool) {
		t.Helper()
		s, err := ParseSelector(sel)
		require.NoError(t, err)
		require.Equal(t, want, s.Matches(name, labels), "%s on %s%s", sel, name, labels)
	}
	f(`up`, "up", true)
	f(`up`, "down", false)
	f(`{}`, "anything", true)
	f(`{job="api"}`, "x", true)
	f(`{job="web"}`, "x", false)
	f(`{job!="web"}`, "x", true)
	f(`{job!="api"}`, "x", false)
	// A missing label is "".
	f(`{nope=""}`, "x", true)
	f(`{nope!=""}`, "x", false)
	f(`{nope!="x"}`, "x", true)
	f(`{empty=""}`, "x", true)
	f(`{nope=~".*"}`, "x", true)
	f(`{nope=~".+"}`, "x", false)
	f(`{job=~".+"}`, "x", true)
	// Regexes are fully anchored.
	f(`{env=~"prod"}`, "x", false)
	f(`{env=~"prod.*"}`, "x", true)
	f(`{env=~"prod|production"}`, "x", true)
	f(`{env=~"duct"}`, "x", false)
	f(`{env!~"prod"}`, "x", true)
	f(`{env!~"prod.*"}`, "x", false)
	f(`{instance=~"web-\\d+:9100"}`, "x", true)
	f(`{instance=~"web-\\d+"}`, "x", false)
	f(`{env=~"PRODUCTION"}`, "x", false)
	f(`{env=~"(?i)PRODUCTION"}`, "x", true)
	f(`{env=~"prod|stage"}`, "x", false)
	f(`{env=~"stage|production"}`, "x", true)
	// Dot matches newlines, as in Prometheus.
	labels = append(labels, stream.Label{Name: "z", Value: "a\nb"})
	f(`{z=~"a.b"}`, "x", true)
	// The name is the __name__ label.
	f(`{__name__="up"}`, "up", true)
	f(`{__name__=~"u.*"}`, "up", true)
	f(`{__name__!~"u.*"}`, "up", false)
	f(`up{job="api", env=~"prod.*", instance!~"canary.*"}`, "up", true)
	f(`up{job="api", env=~"prod.*", instance!~"web.*"}`, "up", false)

	var none *Selector
	require.True(t, none.Matches("x", nil))
	require.Equal(t, "{}", none.String())
	require.Empty(t, none.Name())
	require.Nil(t, none.Matchers())
}

func TestMatcherByHand(t *testing.T) {
	require.True(t, (&Matcher{Name: "a", Op: MatchRegexp, Value: "x|y"}).Matches("y"))
	require.False(t, (&Matcher{Name: "a", Op: MatchNotRegexp, Value: "x|y"}).Matches("y"))
	require.False(t, (&Matcher{Name: "a", Op: MatchRegexp, Value: "("}).Matches("("))
	require.True(t, (&Matcher{Name: "a", Op: MatchNotEqual, Value: "x"}).Matches("y"))
	require.False(t, (&Matcher{Name: "a", Op: MatchOp(9), Value: "x"}).Matches("x"))
	require.Equal(t, `a=~"x|y"`, (&Matcher{Name: "a", Op: MatchRegexp, Value: "x|y"}).String())
}

func TestMatchOpString(t *testing.T) {
	require.Equal(t, "=", MatchEqual.String())
	require.Equal(t, "!=", MatchNotEqual.String())
	require.Equal(t, "=~", MatchRegexp.String())
	require.Equal(t, "!~", MatchNotRegexp.String())
	require.Equal(t, "MatchOp(9)", MatchOp(9).String())
}

func TestValueRegexpFastPaths(t *testing.T) {
	// The fast paths agree with the regex they replace.
	exprs := []string{"prod", "prod|stage", ".*", ".+", "a.b", "x|", "|", ""}
	values := []string{"", "prod", "stage", "production", "a.b", "axb", "x", "\n"}
	for _, e := range exprs {
		vr, err := compileValueRegexp(e)
		require.NoError(t, err)
		full, err := compileValueRegexp("(?:" + e + ")") // no fast path
		require.NoError(t, err)
		require.Equal(t, reFull, full.kind)
		for _, v := range values {
			require.Equal(t, full.matches(v), vr.matches(v), "%q on %q", e, v)
		}
	}
}
