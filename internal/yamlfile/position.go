package yamlfile

import (
	"bytes"

	"go.yaml.in/yaml/v3"
)

// srcText is a file's text, split into lines of runes on demand, for
// mapping positions inside scalar values back to the file.
type srcText struct {
	src   []byte
	lines [][]byte // lines without their '\n', split lazily
	runes map[int][]rune
}

func (t *srcText) line(l int) ([]rune, bool) {
	if t.lines == nil {
		t.lines = bytes.Split(t.src, []byte("\n"))
		t.runes = make(map[int][]rune)
	}
	if l < 1 || l > len(t.lines) {
		return nil, false
	}
	if r, ok := t.runes[l]; ok {
		return r, true
	}
	r := []rune(string(bytes.TrimSuffix(t.lines[l-1], []byte("\r"))))
	t.runes[l] = r
	return r, true
}

// numLines returns the number of lines of the text (at least 1).
func (t *srcText) numLines() int {
	n := bytes.Count(t.src, []byte("\n")) + 1
	if len(t.src) > 0 && t.src[len(t.src)-1] == '\n' {
		n--
	}
	return max(n, 1)
}

// cursor walks the runes of the text; end of line reads as '\n'.
type cursor struct {
	t    *srcText
	l, c int // 1-based line and column
}

const eof = -1

func (c *cursor) at(ahead int) rune {
	line, ok := c.t.line(c.l)
	if !ok {
		return eof
	}
	i := c.c - 1 + ahead
	switch {
	case i < len(line):
		return line[i]
	case i == len(line):
		if c.l == len(c.t.lines) {
			return eof
		}
		return '\n'
	}
	return eof
}

func (c *cursor) next() {
	if c.at(0) == '\n' {
		c.l++
		c.c = 1
		return
	}
	c.c++
}

func (c *cursor) skipBlanks() {
	for r := c.at(0); r == ' ' || r == '\t'; r = c.at(0) {
		c.c++
	}
}

func isSpaceRune(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' }

// valuePos returns the file position of the rune at offset off (in runes)
// of the value of scalar node n, or of the end of the value if off is past
// it. It replays the scalar's source against its value: plain and quoted
// scalars (with doubled quotes, backslash escapes and line folding) and literal or
// folded block scalars are mapped exactly, as long as the value does not
// begin a line with more spaces than the block's indentation. When the
// replay loses its way it returns the position of the node itself.
func (t *srcText) valuePos(n *yaml.Node, off int) (line, col int) {
	off = max(off, 0)
	c := cursor{t: t, l: n.Line, c: n.Column}
	double := n.Style&yaml.DoubleQuotedStyle != 0
	single := n.Style&yaml.SingleQuotedStyle != 0
	switch {
	case double || single:
		c.c++ // the opening quote
	case n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		c.l++
		c.c = 1
	case n.Style&yaml.TaggedStyle != 0 || n.Tag != "" && n.Value != "" && c.at(0) == '!':
		return n.Line, n.Column
	}
	i := 0
	for _, r := range n.Value {
		if !c.match(r, i == off, double, single) {
			return n.Line, n.Column
		}
		if i == off {
			return c.l, c.c
		}
		i++
	}
	return c.l, c.c
}

// match advances the cursor over the source of value rune r. If stop is
// set, it leaves the cursor on that source instead of after it. It reports
// false if the source does not produce r.
func (c *cursor) match(r rune, stop, double, single bool) bool {
	for steps := 0; steps < 1<<16; steps++ {
		s := c.at(0)
		switch {
		case s == eof:
			return false
		case double && s == '\\':
			e := c.at(1)
			if e == '\n' { // escaped line break: produces nothing
				c.next()
				c.next()
				c.skipBlanks()
				continue
			}
			if stop {
				return true
			}
			n := 2
			switch e {
			case 'x':
				n += 2
			case 'u':
				n += 4
			case 'U':
				n += 8
			}
			c.c += n
			return true
		case single && s == '\'' && r == '\'' && c.at(1) == '\'':
			if !stop {
				c.c += 2
			}
			return true
		case s == r:
			if !stop {
				c.next()
			}
			return true
		case isSpaceRune(r) && isSpaceRune(s):
			// Folding: a line break (and the indentation after it) read as
			// a space, or extra breaks read as newlines.
			if stop {
				return true
			}
			for c.at(0) == ' ' || c.at(0) == '\t' || c.at(0) == '\r' {
				c.c++
			}
			if c.at(0) == '\n' {
				c.next()
				c.skipBlanks()
			}
			return true
		case isSpaceRune(s):
			// Indentation, or spaces folded away.
			c.next()
		default:
			return false
		}
	}
	return false
}
