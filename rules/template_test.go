package rules

import (
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/template"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/stream"
)

// alertFile is a rule file with one rule, alert A: value > 1, whose other
// fields (labels, annotations), indented by 4, are body, from line 6 on.
func alertFile(body string) []byte {
	return []byte("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: value > 1\n" + body)
}

// TestParseRefusesUnboundedTemplates: text/template ranges over integers
// (Go 1.22), and templates call templates, so a template could loop without
// writing ({{ range 1000000000 }}{{ end }} ran for seconds, nested ranges
// for hours), on the engine's goroutine, every time its alert fired: the
// bound on what an expansion writes does not see a loop that writes
// nothing, and text/template cannot be stopped from outside. Parse accepted
// all of these; it refuses them now, each at the offending character.
func TestParseRefusesUnboundedTemplates(t *testing.T) {
	// Every template starts at column 13 (labels: 12), so the offending
	// character is at 13 + its byte offset in the template.
	_, err := Parse("t.yaml", alertFile(`    labels:
      l1: '{{ range 3 }}{{ end }}'
    annotations:
      a01: '{{ range 1000000000 }}{{ end }}'
      a02: '{{ $n := 5 }}{{ range $n }}{{ end }}'
      a03: '{{ range len $labels }}{{ end }}'
      a04: '{{ range $labels }}{{ range $labels }}{{ end }}{{ end }}'
      a05: '{{ range $labels }}{{ if . }}{{ with . }}{{ range .Labels }}{{ end }}{{ end }}{{ end }}{{ end }}'
      a06: '{{ define "t" }}x{{ end }}{{ template "t" }}'
      a07: '{{ block "b" . }}x{{ end }}'
      a08: '{{ $labels = 1000 }}{{ range $labels }}{{ end }}'
      a09: '{{ with 5 }}{{ $labels := . }}{{ range $labels }}{{ end }}{{ end }}'
      a10: '{{ range $k, $labels := $labels }}{{ end }}'
      a11: '{{ define "d" }}{{ range 10 }}{{ end }}{{ end }}'
      a12: '{{ range $.Labels }}{{ end }}'
`))
	const notLabels = "a range must be over $labels or .Labels"
	requireErrors(t, err, "t.yaml", []wantErr{
		{7, 21, ErrTemplate, `label "l1": invalid template: ` + notLabels},
		{9, 22, ErrTemplate, `annotation "a01": invalid template: ` + notLabels},
		{10, 35, ErrTemplate, notLabels},
		{11, 22, ErrTemplate, notLabels},
		{12, 41, ErrTemplate, `a range inside a range`},
		{13, 63, ErrTemplate, `a range inside a range`},
		{14, 51, ErrTemplate, `template and block are not supported`},
		{15, 22, ErrTemplate, `template and block are not supported`},
		{16, 16, ErrTemplate, `$labels cannot be declared or assigned`},
		{17, 28, ErrTemplate, `$labels cannot be declared or assigned`},
		{18, 26, ErrTemplate, `$labels cannot be declared or assigned`},
		{19, 38, ErrTemplate, notLabels},
		{20, 22, ErrTemplate, notLabels},
	})
}

// TestTemplateNameErrorsPointAtTheName: text/template reports an
// undefined function or variable with its line only, so Parse put the
// error at the start of that line of the template, where a Prometheus
// rule ported with {{ $externalLabels.cluster }} or {{ title ... }} in
// the middle of a long annotation left its author to search for it. The
// error is at the name now, on the line text/template gives.
func TestTemplateNameErrorsPointAtTheName(t *testing.T) {
	// Every one-line template starts at column 11 (the block scalar's
	// lines at 9), so the name is at 11 + its byte offset in the line.
	_, err := Parse("t.yaml", alertFile(`    annotations:
      a: '{{ $labels.job }} in {{ $externalLabels.cluster }}'
      b: 'on {{ $labels.instance | title }}'
      c: |
        first line {{ $labels.job }}
        second {{ reReplaceAll "a" "b" $labels.x }} and {{ $nope }}
      d: '{{ .Labels.x }}{{ titles }} {{ title }}'
`))
	requireErrors(t, err, "t.yaml", []wantErr{
		{7, 35, ErrTemplate, `annotation "a": invalid template: undefined variable "$externalLabels"`},
		{8, 36, ErrTemplate, `annotation "b": invalid template: function "title" not defined`},
		{11, 19, ErrTemplate, `annotation "c": invalid template: function "reReplaceAll" not defined`},
		{12, 29, ErrTemplate, `annotation "d": invalid template: function "titles" not defined`},
	})
}

// TestParseAcceptsBoundedTemplates: what TestParseRefusesUnboundedTemplates
// refuses leaves the ranges over the series' labels, one after another or
// in the else branch of another, and their variables.
func TestParseAcceptsBoundedTemplates(t *testing.T) {
	rs, err := Parse("t.yaml", alertFile(`    labels:
      l: '{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}'
    annotations:
      a: '{{ range .Labels }}{{ . }}{{ else }}{{ range $labels }}{{ end }}none{{ end }}|{{ range $labels }}{{ if eq . "x" }}{{ break }}{{ end }}{{ . }}{{ end }}'
      b: '{{ with $labels }}{{ range $i, $v := $labels }}{{ $i }}{{ end }}{{ end }} {{ $value }}'
`))
	require.NoError(t, err)
	r := rs.Rule(0)
	labels := stream.NewLabels("job", "api", "x", "x", "z", "1")
	got, err := r.ExpandLabels(labels, 2)
	require.NoError(t, err)
	require.Equal(t, "job=api;x=x;z=1;", got[0].Value)
	got, err = r.ExpandAnnotations(labels, 2)
	require.NoError(t, err)
	require.Equal(t, stream.NewLabels("a", "apix1|api", "b", "jobxz 2"), got)
	got, err = r.ExpandAnnotations(nil, 2)
	require.NoError(t, err)
	require.Equal(t, "none|", got[0].Value)
}

// TestExpandBoundsTheStringsTemplatesBuild: an expansion that writes little
// could still build strings without bound, through its functions: printf
// pads to a million bytes per verb, and to as many per label when given
// $labels; print of a variable into itself quadruples it, js doubles its
// backslashes, so ten lines of a template could need gigabytes. Each
// expansion below builds a megabyte or more and writes a few digits: they
// all succeeded; now the function that would go past maxTemplateBytes of
// built strings fails the expansion, before building. printf cannot take a
// width from an argument any more (star), as it has to see the width to
// bound it.
func TestExpandBoundsTheStringsTemplatesBuild(t *testing.T) {
	quadruple := strings.Repeat(`{{ $x = print $x $x $x $x }}`, 8)
	double := strings.Repeat(`{{ $x = js $x }}`, 20)
	rs, err := Parse("t.yaml", alertFile(`    annotations:
      width: '{{ len (printf "%1000000s" "") }}'
      star: '{{ len (printf "%*d" 1000000 1) }}'
      labels: '{{ len (printf "%30000v" $labels) }}'
      print: '{{ $x := "xxxxxxxxxxxxxxxx" }}`+quadruple+`{{ len $x }}'
      js: '{{ $x := "\\" }}`+double+`{{ len $x }}'
      upper: '{{ len (toUpper $labels.big) }}{{ len (toLower $labels.big) }}'
      html: '{{ len (html $labels.big $labels.big) }}'
      urlquery: '{{ range $labels }}{{ len (urlquery .) }}{{ end }}'
`))
	require.NoError(t, err)
	labels := stream.NewLabels("a", "1", "big", strings.Repeat("<", 40000), "big2", strings.Repeat(" ", 40000))
	got, err := rs.Rule(0).ExpandAnnotations(labels, 2)
	require.ErrorIs(t, err, ErrTemplate)
	require.Len(t, got, 8)
	for _, a := range got {
		require.True(t, strings.HasPrefix(a.Value, "<error expanding template: "), "%s: %s", a.Name, a.Value)
		if a.Name == "star" {
			require.Contains(t, a.Value, "(*) is not supported")
			continue
		}
		require.Contains(t, a.Value, "builds more than 64 KiB of strings", a.Name)
	}
}

// TestExpandFunctionsAsTextTemplate: the functions that charge what they
// build (print, printf, println, html, js, urlquery, toUpper, toLower)
// give what text/template's and the strings package's do.
func TestExpandFunctionsAsTextTemplate(t *testing.T) {
	text := `{{ printf "%.1f|%5s|%-3d|%q|%x|%t|%v|%#v|%8.3f|%d|%[1]v|%[2]q|%% *" $value "ab" 7 "q\x00" "hi" true $labels $labels 3.14159 "s" }}` +
		`{{ print "a" "b" 1 2 $value $labels . }}{{ println "a" 1 }}{{ printf "%s" }}` +
		`{{ html "<a href='x'>" 1 }}{{ js "<'\"\\" }}{{ urlquery "a b&c" $labels }}` +
		`{{ toUpper "aßɐ" }}{{ toLower "ÀB" }}{{ range $labels }}{{ printf "%s;" . | toUpper }}{{ end }}`
	rs, err := Parse("t.yaml", alertFile("    annotations:\n      a: '"+strings.ReplaceAll(text, "'", "''")+"'\n"))
	require.NoError(t, err)
	labels := stream.NewLabels("job", "api", "x", "<y>")
	got, err := rs.Rule(0).ExpandAnnotations(labels, 2.5)
	require.NoError(t, err)

	want := new(strings.Builder)
	ref := template.Must(template.New("a").Option("missingkey=zero").
		Funcs(template.FuncMap{"toUpper": strings.ToUpper, "toLower": strings.ToLower}).
		Parse(templateDefs + text))
	require.NoError(t, ref.Execute(want, &templateData{Labels: map[string]string{"job": "api", "x": "<y>"}, Value: 2.5}))
	require.Equal(t, want.String(), got[0].Value)
}

// TestExpandBudgetsAreNotShared: each expansion has its own budget of
// built strings, even when goroutines expand the same template at once:
// each expansion here builds 40 KB, which two sharing one budget would
// exceed.
func TestExpandBudgetsAreNotShared(t *testing.T) {
	rs, err := Parse("t.yaml", alertFile(`    annotations:
      a: '{{ len (printf "%40000s" $labels.id) }} {{ $labels.id }}'
`))
	require.NoError(t, err)
	r := rs.Rule(0)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				id := strconv.Itoa(g*1000 + i)
				got, err := r.ExpandAnnotations(stream.NewLabels("id", id), 2)
				if !assert.NoError(t, err) || !assert.Equal(t, "40000 "+id, got[0].Value) {
					return
				}
			}
		})
	}
	wg.Wait()
}

// FuzzTemplate: whatever the text, parsing a template does not panic, and
// a template Parse accepts expands within its budgets.
func FuzzTemplate(f *testing.F) {
	for _, s := range []string{
		`{{ range $labels }}{{ . }}{{ end }}`,
		`{{ range $k, $v := .Labels }}{{ printf "%q=%x" $k $v }}{{ else }}{{ $value }}{{ end }}`,
		`{{ $x := "ab" }}{{ $x = print $x $x }}{{ js $x | html | urlquery }}{{ toUpper $x }}`,
		`{{ with $labels }}{{ if eq .job "api" }}{{ len . }}{{ end }}{{ end }}{{ printf "%08.3f" $value }}`,
		`{{ define "x" }}{{ end }}{{ index $labels "job" | printf "%-10s|" }}{{ slice $labels.job 1 }}`,
	} {
		f.Add(s)
	}
	labels := stream.NewLabels("job", "api", "instance", "web-1:9100", "q", `"<&>'\`)
	f.Fuzz(func(t *testing.T, text string) {
		bt, err := parseTemplate("a", text)
		if err != nil {
			return
		}
		rule := &Rule{Annotations: stream.Labels{{Name: "a", Value: text}}, templates: []*boundedTemplate{bt}}
		got, _ := rule.ExpandAnnotations(labels, 2)
		require.LessOrEqual(t, len(got[0].Value), maxTemplateBytes+1024)
	})
}
