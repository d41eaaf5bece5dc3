package report

import (
	"bufio"
	_ "embed"
	"html/template"
	"io"
	"strings"
)

//go:embed page.html
var pageHTML string

var tmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"add": func(a, b float64) float64 { return a + b },
}).Parse(pageHTML))

// sections are the parts of the page the live view replaces, by element id
// and template name.
var sections = []string{"head", "gaps", "timeline", "delivery", "series", "notes"}

// WriteHTML writes the page: one self-contained HTML document. It may be
// called at any time, also while the engine runs.
func (b *Builder) WriteHTML(w io.Writer) error {
	p, err := b.render(false)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	if err := tmpl.ExecuteTemplate(bw, "page", p); err != nil {
		return err
	}
	return bw.Flush()
}

// render copies the page out of the Builder, then encodes its heatmaps,
// without the lock.
func (b *Builder) render(live bool) (*page, error) {
	p := b.view(live)
	for i := range p.Gaps {
		h := &p.Gaps[i].Heat
		img, err := heatPNG(h.cells, h.Cols, h.Rows)
		if err != nil {
			return nil, err
		}
		h.Image, h.cells = img, nil
	}
	return p, nil
}

// renderSections renders each section of the page on its own.
func renderSections(p *page) (map[string]string, error) {
	out := make(map[string]string, len(sections))
	var sb strings.Builder
	for _, s := range sections {
		sb.Reset()
		if err := tmpl.ExecuteTemplate(&sb, s, p); err != nil {
			return nil, err
		}
		out[s] = sb.String()
	}
	return out, nil
}
