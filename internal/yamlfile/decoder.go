package yamlfile

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/faultline-go/faultline/stream"
)

// maxAliasNodes bounds how many nodes YAML aliases may expand to in one
// file, so that a few aliases cannot multiply into millions of entries.
const maxAliasNodes = 10000

// Decoder walks the node tree of one file, checking kinds and forms and
// reporting every problem it finds, each at its position, to the report
// function it was made with. It keeps going after a problem, so that one
// pass finds them all.
type Decoder struct {
	// Hint, when not nil, returns text appended to the error about the
	// unknown key in the mapping what (as named to Fields), or "".
	Hint func(what, key string) string

	text   srcText
	report func(line, col int, err error)

	aliasBudget int
	aliasSizes  map[*yaml.Node]int
	budgetSpent bool
}

// NewDecoder returns a Decoder for the file text src. report receives each
// problem: its 1-based line, its column in characters (0 when only the
// line is known, as for YAML syntax errors) and the error, which wraps one
// of this package's causes unless the format's parser reported it itself.
func NewDecoder(src []byte, report func(line, col int, err error)) *Decoder {
	return &Decoder{text: srcText{src: src}, report: report, aliasBudget: maxAliasNodes}
}

// Report reports a problem at line and col; a line below 1 is reported as
// line 1.
func (d *Decoder) Report(line, col int, err error) {
	d.report(max(line, 1), col, err)
}

// Reportf reports a problem at node n, formatted as by fmt.Errorf.
func (d *Decoder) Reportf(n *yaml.Node, format string, args ...any) {
	d.Report(n.Line, n.Column, fmt.Errorf(format, args...))
}

// ValuePos returns the file position of the character at offset off (in
// runes) of the value of scalar node n, or of the end of the value if off
// is past it, so that a problem found inside a value (an expression, a
// selector) is reported where it is. It maps plain, quoted and block
// scalars; when it cannot, it returns the position of n itself.
func (d *Decoder) ValuePos(n *yaml.Node, off int) (line, col int) {
	return d.text.valuePos(n, off)
}

// decode decodes the next document. The YAML decoder has panicked on
// malformed input before; such a panic is returned as the syntax error it
// is rather than taking the caller down.
func decode(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: %v", r)
		}
	}()
	return dec.Decode(n)
}

// Document decodes the file's one YAML document and returns its root, or
// nil when the file is empty or not YAML (reported). what names the kind of
// file in messages ("a rule file").
func (d *Decoder) Document(what string) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(d.text.src))
	var doc yaml.Node
	if err := decode(dec, &doc); err != nil {
		if err != io.EOF {
			d.syntaxError(err)
		}
		return nil
	}
	var extra yaml.Node
	switch err := decode(dec, &extra); {
	case err == io.EOF:
	case err != nil:
		d.syntaxError(err)
		return nil
	default:
		d.Reportf(&extra, "%w: %s holds one YAML document, found another", ErrSyntax, what)
	}
	if len(doc.Content) == 0 {
		return nil
	}
	root := d.Resolve(doc.Content[0])
	if IsNull(root) {
		return nil
	}
	return root
}

var yamlErrLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlParserProblems are the problems the YAML parser (as opposed to its
// scanner) reports; their line numbers come out 0-based.
var yamlParserProblems = []string{
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"did not find expected '-' indicator",
	"did not find expected <document start>",
	"did not find expected <stream-start>",
	"did not find expected key",
	"did not find expected node content",
	"found duplicate %TAG directive",
	"found duplicate %YAML directive",
	"found incompatible YAML document",
	"found undefined tag handle",
}

var yamlAnchorRE = regexp.MustCompile(`^yaml: unknown anchor '(.*)' referenced$`)

// syntaxError reports a YAML syntax error. The decoder gives only a line,
// and not always a right one: the parser's lines are 0-based and the first
// line is not named at all. This puts it right where it can. It gives no
// column (its error is only the text "yaml: line N: problem"), so neither
// does this, except for an unknown anchor, whose alias is found in the
// text.
func (d *Decoder) syntaxError(err error) {
	msg := err.Error()
	line, col := 1, 0
	if m := yamlErrLineRE.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
		for _, prob := range yamlParserProblems {
			if msg == prob {
				line++
				break
			}
		}
	} else if m := yamlAnchorRE.FindStringSubmatch(msg); m != nil {
		if i := bytes.Index(d.text.src, []byte("*"+m[1])); i >= 0 {
			line = bytes.Count(d.text.src[:i], []byte("\n")) + 1
			col = utf8.RuneCount(d.text.src[bytes.LastIndexByte(d.text.src[:i], '\n')+1:i]) + 1
		}
		msg = strings.TrimPrefix(msg, "yaml: ")
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	if refined := d.refineSyntaxLine(max(line, 1), err.Error()); refined != line {
		line, col = refined, 0 // the column was of another line
	}
	line = min(max(line, 1), d.text.numLines())
	d.Report(line, col, fmt.Errorf("%w: %s", ErrSyntax, msg))
}

// refineSyntaxLine improves the line of a YAML syntax error. The decoder
// names the line where the enclosing construct began (a list three lines
// up, for a key indented one space too far). Prefixes of the file that end
// before the offending line decode, the others fail with the same message,
// so a binary search over prefixes, from that line on, finds the line that
// broke it.
func (d *Decoder) refineSyntaxLine(from int, msg string) int {
	lines := bytes.SplitAfter(d.text.src, []byte("\n"))
	key := yamlErrLineRE.ReplaceAllString(msg, "$2")
	fails := func(k int) bool {
		err := decodeAll(bytes.Join(lines[:k], nil))
		return err != nil && yamlErrLineRE.ReplaceAllString(err.Error(), "$2") == key
	}
	if from > len(lines) {
		return from
	}
	k := from + sort.Search(len(lines)-from+1, func(i int) bool { return fails(from + i) })
	if k > len(lines) {
		return from
	}
	return k
}

// decodeAll decodes every document of src, returning the first error.
func decodeAll(src []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(src))
	for {
		var n yaml.Node
		if err := decode(dec, &n); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}

// Resolve follows aliases, within the file's alias budget; past it, or for
// an alias that cannot be resolved, it reports the problem and returns a
// null node. Fields and List resolve the nodes they return.
func (d *Decoder) Resolve(n *yaml.Node) *yaml.Node {
	for hops := 0; n.Kind == yaml.AliasNode; hops++ {
		if n.Alias == nil || hops > 100 {
			d.Reportf(n, "%w: unresolvable alias", ErrSyntax)
			return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: n.Line, Column: n.Column}
		}
		d.aliasBudget -= d.size(n.Alias)
		if d.aliasBudget < 0 {
			if !d.budgetSpent {
				d.budgetSpent = true
				d.Reportf(n, "%w: aliases expand to more than %d nodes", ErrSyntax, maxAliasNodes)
			}
			return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: n.Line, Column: n.Column}
		}
		n = n.Alias
	}
	return n
}

// size counts the nodes under n (aliases count as one).
func (d *Decoder) size(n *yaml.Node) int {
	if s, ok := d.aliasSizes[n]; ok {
		return s
	}
	if d.aliasSizes == nil {
		d.aliasSizes = make(map[*yaml.Node]int)
	}
	d.aliasSizes[n] = 1 // guards against cycles
	s := 1
	for _, c := range n.Content {
		if c.Kind == yaml.AliasNode {
			s++
		} else {
			s += d.size(c)
		}
	}
	d.aliasSizes[n] = s
	return s
}

// IsNull reports whether n is a null scalar (null, ~ or nothing).
func IsNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// KindName names the kind of n for messages: "a mapping", "a list",
// "a scalar", "null" …
func KindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if IsNull(n) {
			return "null"
		}
		return "a scalar"
	case yaml.DocumentNode:
		return "a document"
	case yaml.AliasNode:
		return "an alias"
	}
	return "nothing"
}

// Field is one key: value pair of a mapping, its value resolved.
type Field struct {
	Key, Val *yaml.Node
}

// Fields checks that n is a mapping whose keys are all known and unique,
// reporting every problem, and returns its fields by key; ok is false
// when n is not a mapping. what names the mapping in messages ("a rule").
func (d *Decoder) Fields(n *yaml.Node, what string, known []string) (fields map[string]Field, ok bool) {
	if n.Kind != yaml.MappingNode {
		d.Reportf(n, "%w: %s must be a mapping, not %s", ErrType, what, KindName(n))
		return nil, false
	}
	out := make(map[string]Field, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := d.Resolve(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.Reportf(k, "%w: keys of %s must be strings, not %s", ErrType, what, KindName(k))
			continue
		}
		if k.Tag == "!!merge" {
			d.Reportf(k, "%w: merge keys (<<) are not supported", ErrUnknownField)
			continue
		}
		if !slices.Contains(known, k.Value) {
			hint := ""
			if d.Hint != nil {
				hint = d.Hint(what, k.Value)
			}
			d.Reportf(k, "%w %q in %s (want %s)%s", ErrUnknownField, k.Value, what, strings.Join(known, ", "), hint)
			continue
		}
		if prev, ok := out[k.Value]; ok {
			d.Reportf(k, "%w field %q (first at line %d)", ErrDuplicate, k.Value, prev.Key.Line)
			continue
		}
		out[k.Value] = Field{Key: k, Val: d.Resolve(v)}
	}
	return out, true
}

// List checks that n is a list (null counts as empty) and returns its
// items, resolved. what names the list in messages.
func (d *Decoder) List(n *yaml.Node, what string) []*yaml.Node {
	if IsNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		d.Reportf(n, "%w: %s must be a list, not %s", ErrType, what, KindName(n))
		return nil
	}
	items := make([]*yaml.Node, len(n.Content))
	for i, c := range n.Content {
		items[i] = d.Resolve(c)
	}
	return items
}

// Str returns the string value of a scalar field. ok is false if the field
// is not a scalar or not UTF-8 (reported) or is null (not reported).
func (d *Decoder) Str(f Field) (s string, ok bool) {
	if IsNull(f.Val) {
		return "", false
	}
	if f.Val.Kind != yaml.ScalarNode {
		d.Reportf(f.Val, "%w: %s must be a string, not %s", ErrType, f.Key.Value, KindName(f.Val))
		return "", false
	}
	if !utf8.ValidString(f.Val.Value) {
		d.Reportf(f.Val, "%w: %s is not valid UTF-8", ErrType, f.Key.Value)
		return "", false
	}
	return f.Val.Value, true
}

// Required returns the non-empty string value of a required field,
// reporting it missing (at the mapping m) otherwise.
func (d *Decoder) Required(fields map[string]Field, name string, m *yaml.Node) (string, bool) {
	f, ok := fields[name]
	if !ok {
		d.Reportf(m, "%w %q", ErrMissing, name)
		return "", false
	}
	s, ok := d.Str(f)
	if !ok && f.Val.Kind != yaml.ScalarNode {
		return "", false // wrong type, reported
	}
	if strings.TrimSpace(s) == "" {
		d.Reportf(f.Val, "%w %q: it is empty", ErrMissing, name)
		return "", false
	}
	return s, true
}

// Duration returns the value of an optional duration field (0 if absent or
// null), in the syntax of ParseDuration.
func (d *Decoder) Duration(fields map[string]Field, name string) (time.Duration, bool) {
	f, ok := fields[name]
	if !ok {
		return 0, true
	}
	s, ok := d.Str(f)
	if !ok {
		return 0, f.Val.Kind == yaml.ScalarNode
	}
	v, err := ParseDuration(s)
	if err != nil {
		d.Reportf(f.Val, "%s: %w", name, err)
		return 0, false
	}
	return v, true
}

// Positive returns the value of an optional duration field that must be
// positive when given (0 when absent).
func (d *Decoder) Positive(fields map[string]Field, name string) (time.Duration, bool) {
	v, ok := d.Duration(fields, name)
	if f, given := fields[name]; ok && given && !IsNull(f.Val) && v <= 0 {
		d.Reportf(f.Val, "%s: %w %q: must be positive", name, ErrDuration, f.Val.Value)
		return 0, false
	}
	return v, ok
}

// Integer returns the value of an integer field within [lo, hi].
func (d *Decoder) Integer(f Field, lo, hi int) (int, bool) {
	if f.Val.Kind != yaml.ScalarNode || IsNull(f.Val) {
		d.Reportf(f.Val, "%w: %s must be an integer, not %s", ErrType, f.Key.Value, KindName(f.Val))
		return 0, false
	}
	v, err := strconv.Atoi(f.Val.Value)
	if err != nil || v < lo || v > hi {
		d.Reportf(f.Val, "%w: %s %q: want an integer from %d to %d", ErrValue, f.Key.Value, f.Val.Value, lo, hi)
		return 0, false
	}
	return v, true
}

// Labels reads a mapping of label names to strings (labels, annotations),
// sorted by name, with the value nodes in the same order; null is an empty
// map. Names must be label names ([a-zA-Z_][a-zA-Z0-9_]*), unique, and
// accepted by allow, when not nil, which reports why it refuses one. what
// names the map in messages, in the plural ("labels").
func (d *Decoder) Labels(f Field, what string, allow func(name *yaml.Node) bool) (stream.Labels, []*yaml.Node, bool) {
	if IsNull(f.Val) {
		return nil, nil, true
	}
	if f.Val.Kind != yaml.MappingNode {
		d.Reportf(f.Val, "%w: %s must be a mapping, not %s", ErrType, what, KindName(f.Val))
		return nil, nil, false
	}
	type entry struct {
		l    stream.Label
		node *yaml.Node
	}
	var entries []entry
	seen := make(map[string]int)
	good := true
	one := strings.TrimSuffix(what, "s")
	for i := 0; i+1 < len(f.Val.Content); i += 2 {
		k, v := d.Resolve(f.Val.Content[i]), d.Resolve(f.Val.Content[i+1])
		if k.Kind != yaml.ScalarNode || IsNull(k) {
			d.Reportf(k, "%w: names in %s must be strings, not %s", ErrType, what, KindName(k))
			good = false
			continue
		}
		if !isLabelName(k.Value) {
			d.Reportf(k, "%w %q in %s: want [a-zA-Z_][a-zA-Z0-9_]*", ErrLabelName, k.Value, what)
			good = false
			continue
		}
		if allow != nil && !allow(k) {
			good = false
			continue
		}
		if line, dup := seen[k.Value]; dup {
			d.Reportf(k, "%w %s name %q (first at line %d)", ErrDuplicate, one, k.Value, line)
			good = false
			continue
		}
		seen[k.Value] = k.Line
		var value string
		switch {
		case IsNull(v):
		case v.Kind != yaml.ScalarNode:
			d.Reportf(v, "%w: value of %s %q must be a string, not %s", ErrType, one, k.Value, KindName(v))
			good = false
			continue
		case !utf8.ValidString(v.Value):
			d.Reportf(v, "%w: value of %s %q is not valid UTF-8", ErrType, one, k.Value)
			good = false
			continue
		default:
			value = v.Value
		}
		entries = append(entries, entry{stream.Label{Name: k.Value, Value: value}, v})
	}
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.l.Name, b.l.Name) })
	ls := make(stream.Labels, len(entries))
	nodes := make([]*yaml.Node, len(entries))
	for i, e := range entries {
		ls[i], nodes[i] = e.l, e.node
	}
	return ls, nodes, good
}

// isLabelName reports whether s is a valid label name: [a-zA-Z_][a-zA-Z0-9_]*.
func isLabelName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
