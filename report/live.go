package report

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// DefaultRefresh is how often the live page asks for news by default.
const DefaultRefresh = 2 * time.Second

// Live serves a Builder's page live, open faults first: GET on its root
// returns the page, which polls state.json beside it and replaces its
// sections when they changed, without reloading. Nothing is drawn until a
// request comes: when nobody looks, it costs nothing beyond the Builder's
// additions. Mount it under a path that ends in a slash, as in
//
//	mux.Handle("/ui/", http.StripPrefix("/ui", report.Live(b, 0)))
//
// GET state.json?v=N answers {"version":N} alone when nothing changed
// since version N, and {"version":M,"sections":{id: html}} otherwise.
type live struct {
	b       *Builder
	refresh time.Duration
}

// Live returns the handler of b's live page, which polls every refresh
// (by default DefaultRefresh).
func Live(b *Builder, refresh time.Duration) http.Handler {
	if refresh <= 0 {
		refresh = DefaultRefresh
	}
	return &live{b: b, refresh: refresh}
}

func (l *live) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	switch r.URL.Path {
	case "", "/":
		l.page(w)
	case "/state.json":
		l.state(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (l *live) page(w http.ResponseWriter) {
	p, err := l.b.render(true)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	p.Refresh = int(l.refresh / time.Millisecond)
	var buf bytes.Buffer
	if err := tmpl.ExecuteTemplate(&buf, "page", p); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}

// state answers a poll: the sections, unless the client has this version.
func (l *live) state(w http.ResponseWriter, r *http.Request) {
	type answer struct {
		Version  uint64            `json:"version"`
		Sections map[string]string `json:"sections,omitempty"`
	}
	a := answer{Version: l.b.Version()}
	if v, err := strconv.ParseUint(r.URL.Query().Get("v"), 10, 64); err != nil || v != a.Version {
		p, err := l.b.render(true)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		p.Refresh = int(l.refresh / time.Millisecond)
		if a.Sections, err = renderSections(p); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		a.Version = p.Version
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(a)
}

// Version changes whenever what the page would show changes.
func (b *Builder) Version() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.version
}
