package rules

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/stream"
)

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
	_, err := Parse("t.yaml", []byte(`groups:
- name: g
  rules:
  - alert: A
    expr: value > 1
    labels:
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

// TestParseAcceptsBoundedTemplates: what TestParseRefusesUnboundedTemplates
// refuses leaves the ranges over the series' labels, one after another or
// in the else branch of another, and their variables.
func TestParseAcceptsBoundedTemplates(t *testing.T) {
	rs, err := Parse("t.yaml", []byte(`groups:
- name: g
  rules:
  - alert: A
    expr: value > 1
    labels:
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
