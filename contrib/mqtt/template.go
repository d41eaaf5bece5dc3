package mqtt

import (
	"fmt"
	"strings"

	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/stream"
)

// Template maps the levels of a topic to labels. It is a topic of levels
// separated by '/', each one of:
//
//	{name}   any level, which becomes the value of label name
//	+        any level, which gives no label
//	#        as the last level only: any number of levels, even none
//	literal  the same level, byte for byte
//
// so "{realm}/{network}/{gateway}/{node}/data.json" reads Kotori's
// topics. Label names are identifiers ([A-Za-z_][A-Za-z0-9_]*), none
// twice, none starting with "__", and not OriginLabel (a topic must not
// be able to pass input off as faultline's own output). A Template is
// immutable and safe for concurrent use.
type Template struct {
	text   string
	levels []level
}

type level struct {
	label   string // the label this level gives, if any
	literal string // the level it must equal, unless any or rest
	any     bool   // '+' or {label}
	rest    bool   // '#'
}

// ParseTemplate parses a topic template.
func ParseTemplate(s string) (*Template, error) {
	if s == "" {
		return nil, fmt.Errorf("topic template is empty")
	}
	t := &Template{text: s}
	parts := strings.Split(s, "/")
	seen := map[string]bool{}
	for i, p := range parts {
		switch {
		case p == "#":
			if i != len(parts)-1 {
				return nil, fmt.Errorf("topic template %q: '#' must be the last level", s)
			}
			t.levels = append(t.levels, level{rest: true})
		case p == "+":
			t.levels = append(t.levels, level{any: true})
		case strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}") && len(p) >= 2:
			name := p[1 : len(p)-1]
			switch {
			case !isIdent(name):
				return nil, fmt.Errorf("topic template %q: level %d: %q is not a label name", s, i+1, name)
			case strings.HasPrefix(name, "__") || name == fault.OriginLabel:
				return nil, fmt.Errorf("topic template %q: level %d: label %s is reserved", s, i+1, name)
			case seen[name]:
				return nil, fmt.Errorf("topic template %q: label %s twice", s, name)
			}
			seen[name] = true
			t.levels = append(t.levels, level{label: name, any: true})
		case strings.ContainsAny(p, "{}+#"):
			return nil, fmt.Errorf("topic template %q: level %d %q: write a label as a whole level {name}, and + or # alone", s, i+1, p)
		default:
			t.levels = append(t.levels, level{literal: p})
		}
	}
	return t, nil
}

// String returns the template's text.
func (t *Template) String() string { return t.text }

// AppendLabels appends the labels topic gives to dst, in the template's
// order (not sorted), or returns an error if the topic does not fit the
// template.
func (t *Template) AppendLabels(dst stream.Labels, topic string) (stream.Labels, error) {
	rest := topic
	for i, l := range t.levels {
		if l.rest {
			return dst, nil
		}
		if i > 0 {
			var ok bool
			if _, rest, ok = strings.Cut(rest, "/"); !ok {
				return dst, fmt.Errorf("topic %q has fewer levels than template %q", topic, t.text)
			}
		}
		lv, _, _ := strings.Cut(rest, "/")
		switch {
		case l.label != "":
			if lv == "" {
				return dst, fmt.Errorf("topic %q: level %d, label %s, is empty", topic, i+1, l.label)
			}
			dst = append(dst, stream.Label{Name: l.label, Value: lv})
		case !l.any && lv != l.literal:
			return dst, fmt.Errorf("topic %q: level %d is %q, template %q wants %q", topic, i+1, lv, t.text, l.literal)
		}
	}
	if strings.Contains(rest, "/") {
		return dst, fmt.Errorf("topic %q has more levels than template %q", topic, t.text)
	}
	return dst, nil
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range []byte(s) {
		switch {
		case c == '_', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
