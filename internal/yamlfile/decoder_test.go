package yamlfile

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/faultline-go/faultline/stream"
)

// problems are reported problems, each as "line:col: message".
type problems []string

func newTestDecoder(src string) (*Decoder, *problems, *[]error) {
	var ps problems
	var errs []error
	d := NewDecoder([]byte(src), func(line, col int, err error) {
		ps = append(ps, fmt.Sprintf("%d:%d: %v", line, col, err))
		errs = append(errs, err)
	})
	return d, &ps, &errs
}

// TestDecoderReportsEveryProblem: one pass reports every problem of a
// file, each at the node at fault, and returns what is good.
func TestDecoderReportsEveryProblem(t *testing.T) {
	src := `name: n
every: 5s
wait: 5x
count: 300
tags: [a, {b: c}]
labels: {job: api, 9x: y, job: again, host: [a]}
bogus: 1
name: twice
`
	d, ps, errs := newTestDecoder(src)
	d.Hint = func(what, key string) string {
		if key == "bogus" {
			return "; a hint"
		}
		return ""
	}
	root := d.Document("a test file")
	require.NotNil(t, root)
	fields, ok := d.Fields(root, "the file", []string{"name", "every", "wait", "count", "tags", "labels", "missing"})
	require.True(t, ok)
	name, ok := d.Required(fields, "name", root)
	require.True(t, ok)
	require.Equal(t, "n", name)
	_, ok = d.Required(fields, "missing", root)
	require.False(t, ok)
	every, ok := d.Positive(fields, "every")
	require.True(t, ok)
	require.Equal(t, 5*time.Second, every)
	_, ok = d.Duration(fields, "wait")
	require.False(t, ok)
	_, ok = d.Integer(fields["count"], 0, 255)
	require.False(t, ok)
	var tags []string
	for _, n := range d.List(fields["tags"].Val, "tags") {
		if s, ok := d.Str(Field{Key: fields["tags"].Key, Val: n}); ok {
			tags = append(tags, s)
		}
	}
	require.Equal(t, []string{"a"}, tags)
	ls, nodes, ok := d.Labels(fields["labels"], "labels", nil)
	require.False(t, ok)
	require.Equal(t, stream.NewLabels("job", "api"), ls)
	require.Len(t, nodes, 1)
	require.Equal(t, 6, nodes[0].Line)

	want := problems{
		`7:1: unknown field "bogus" in the file (want name, every, wait, count, tags, labels, missing); a hint`,
		`8:1: duplicate field "name" (first at line 1)`,
		`1:1: missing field "missing"`,
		`3:7: wait: invalid duration "5x": unknown unit "x" (want y, w, d, h, m, s, ms)`,
		`4:8: invalid value: count "300": want an integer from 0 to 255`,
		`5:11: wrong type: tags must be a string, not a mapping`,
		`6:20: invalid label name "9x" in labels: want [a-zA-Z_][a-zA-Z0-9_]*`,
		`6:27: duplicate label name "job" (first at line 6)`,
		`6:45: wrong type: value of label "host" must be a string, not a list`,
	}
	require.Equal(t, want, *ps, strings.Join(*ps, "\n"))
	for i, cause := range []error{ErrUnknownField, ErrDuplicate, ErrMissing, ErrDuration, ErrValue, ErrType, ErrLabelName, ErrDuplicate, ErrType} {
		require.ErrorIs(t, (*errs)[i], cause, (*ps)[i])
	}
}

// TestDecoderDocument: one document per file, empty files have no root,
// and syntax errors are put at the line that broke the file.
func TestDecoderDocument(t *testing.T) {
	f := func(src string, want ...string) {
		t.Helper()
		d, ps, errs := newTestDecoder(src)
		root := d.Document("a test file")
		if len(want) == 0 {
			require.Empty(t, *ps)
			require.Nil(t, root, "an empty file has no root")
			return
		}
		require.Equal(t, problems(want), *ps, src)
		for _, err := range *errs {
			require.ErrorIs(t, err, ErrSyntax)
		}
	}
	f("")
	f("# only a comment\n")
	f("a: 1\n---\nb: 2\n", "2:1: YAML syntax error: a test file holds one YAML document, found another")
	f("a: b: c\n", "1:0: YAML syntax error: mapping values are not allowed in this context")
	// The YAML parser names the line where the list began (line 2, said
	// as 1); the key indented one space too little, at line 4, broke it.
	f("a:\n  - b: 1\n    c: 2\n   d: 3\n", "4:0: YAML syntax error: did not find expected '-' indicator")
	// The decoder's syntax errors carry a line, never a column (its error
	// is only text, "yaml: line N: problem"); an unknown anchor's column is
	// found where its alias is, in characters.
	f("a: *nope\n", "1:4: YAML syntax error: unknown anchor 'nope' referenced")
	f("x: 1\né: [1, *nope]\n", "2:8: YAML syntax error: unknown anchor 'nope' referenced")
}

// TestDecoderAliasBudget: aliases that expand too far are refused, once,
// and resolve to null.
func TestDecoderAliasBudget(t *testing.T) {
	var b strings.Builder
	b.WriteString("a: &a [")
	for i := range 200 {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("x")
	}
	b.WriteString("]\nb: [")
	for i := range 100 {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("*a")
	}
	b.WriteString("]\n")
	d, ps, errs := newTestDecoder(b.String())
	root := d.Document("a file")
	fields, ok := d.Fields(root, "the file", []string{"a", "b"})
	require.True(t, ok)
	items := d.List(fields["b"].Val, "b")
	require.Len(t, items, 100)
	require.Equal(t, yaml.SequenceNode, items[0].Kind)
	require.True(t, IsNull(items[len(items)-1]), "past the budget, an alias is null")
	require.Len(t, *ps, 1, strings.Join(*ps, "\n"))
	require.Contains(t, (*ps)[0], "aliases expand to more than 10000 nodes")
	require.True(t, errors.Is((*errs)[0], ErrSyntax))
}

// TestValuePos: positions inside scalar values map back to the file.
func TestValuePos(t *testing.T) {
	src := "q: \"a\\\"bc\"\nb: |\n  abc\n  def\np: plain text\n"
	d, ps, _ := newTestDecoder(src)
	root := d.Document("a file")
	fields, ok := d.Fields(root, "the file", []string{"q", "b", "p"})
	require.True(t, ok)
	require.Empty(t, *ps)
	at := func(name string, off int) [2]int {
		l, c := d.ValuePos(fields[name].Val, off)
		return [2]int{l, c}
	}
	require.Equal(t, `a"bc`, fields["q"].Val.Value)
	require.Equal(t, [2]int{1, 8}, at("q", 2), "after the escaped quote")
	require.Equal(t, [2]int{3, 3}, at("b", 0))
	require.Equal(t, [2]int{4, 4}, at("b", 5), "the second line of a block scalar")
	require.Equal(t, [2]int{5, 10}, at("p", 6))
}
