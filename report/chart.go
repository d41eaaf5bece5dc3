package report

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html/template"
	"image"
	"image/color"
	"image/png"
	"math"
	"strconv"
	"strings"
	"time"
)

// The geometry of the charts, in SVG user units (the charts scale to the
// page's width).
const (
	chartW = 720
	plotX  = 56
	plotW  = chartW - plotX - 16
	plotY  = 10
)

// tick is one labelled mark of an axis, at Pos user units.
type tick struct {
	Pos   float64
	Label string
}

// path builds an SVG path's d attribute with one decimal.
type path struct {
	b    []byte
	open bool
}

func (p *path) move(x, y float64) {
	p.b = append(p.b, 'M')
	p.b = appendNum(p.b, x)
	p.b = append(p.b, ' ')
	p.b = appendNum(p.b, y)
	p.open = true
}

func (p *path) line(x, y float64) {
	if !p.open {
		p.move(x, y)
		return
	}
	p.b = append(p.b, 'L')
	p.b = appendNum(p.b, x)
	p.b = append(p.b, ' ')
	p.b = appendNum(p.b, y)
}

// step draws a horizontal segment from x0 to x1 at y, joined to the last.
func (p *path) step(x0, x1, y float64) {
	if !p.open {
		p.move(x0, y)
	} else {
		p.b = append(p.b, 'V')
		p.b = appendNum(p.b, y)
	}
	p.b = append(p.b, 'H')
	p.b = appendNum(p.b, x1)
}

func (p *path) lift() { p.open = false }

func (p *path) String() string { return string(p.b) }

func appendNum(b []byte, v float64) []byte {
	return strconv.AppendFloat(b, math.Round(v*10)/10, 'f', -1, 64)
}

// niceMax rounds v up to 1, 2 or 5 times a power of ten.
func niceMax(v float64) float64 {
	if v <= 0 || math.IsNaN(v) {
		return 1
	}
	e := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*e*(1+1e-9) {
			return m * e
		}
	}
	return 10 * e
}

// valueTicks returns ticks 0, max/4, …, max along a vertical axis of
// height h from the bottom y0.
func valueTicks(maxV, y0, h float64, format func(float64) string) []tick {
	ts := make([]tick, 0, 5)
	for i := 0; i <= 4; i++ {
		v := maxV * float64(i) / 4
		ts = append(ts, tick{Pos: y0 - h*float64(i)/4, Label: format(v)})
	}
	return ts
}

var tickSteps = []time.Duration{
	250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second,
	15 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute,
	15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
}

// durTicks returns ticks at round multiples of a step over [from, to) ns,
// at most max of them, placed by pos and labelled by label.
func durTicks(from, to int64, maxN int, pos func(int64) float64, label func(int64) string) []tick {
	if to <= from {
		return nil
	}
	step := int64(tickSteps[len(tickSteps)-1])
	for _, s := range tickSteps {
		if (to-from)/int64(s) < int64(maxN) {
			step = int64(s)
			break
		}
	}
	var ts []tick
	for t := floorDiv(from+step-1, step) * step; t <= to; t += step {
		ts = append(ts, tick{Pos: pos(t), Label: label(t)})
	}
	return ts
}

// clock formats engine time as UTC hh:mm:ss.
func clock(ns int64) string { return time.Unix(0, ns).UTC().Format("15:04:05") }

// clockMs formats engine time as UTC hh:mm:ss.ss.
func clockMs(ns int64) string { return time.Unix(0, ns).UTC().Format("15:04:05.00") }

// stamper formats the times of day a page says in words: as clock and
// clockMs on a page within one UTC day, and with the date ("Jan 2
// 15:04:05") on one that crosses a midnight, where a time of day alone
// would read an episode of one day as one of the next.
type stamper bool

// clock formats engine time as UTC hh:mm:ss, after its date if dated.
func (dated stamper) clock(ns int64) string {
	if dated {
		return time.Unix(0, ns).UTC().Format("Jan 2 15:04:05")
	}
	return clock(ns)
}

// clockMs formats engine time as UTC hh:mm:ss.ss, after its date if dated.
func (dated stamper) clockMs(ns int64) string {
	if dated {
		return time.Unix(0, ns).UTC().Format("Jan 2 15:04:05.00")
	}
	return clockMs(ns)
}

// hhmm formats engine time as UTC hh:mm.
func hhmm(ns int64) string { return time.Unix(0, ns).UTC().Format("15:04") }

// secs formats a duration in seconds with two decimals.
func secs(d int64) string { return strconv.FormatFloat(float64(d)/1e9, 'f', 2, 64) }

// dur formats a duration rounded for reading.
func dur(d int64) string {
	t := time.Duration(d)
	switch {
	case t >= time.Hour:
		return t.Round(time.Minute).String()
	case t >= time.Minute:
		return t.Round(time.Second).String()
	case t >= time.Second:
		return t.Round(10 * time.Millisecond).String()
	}
	return t.Round(time.Millisecond).String()
}

// percent formats a fraction as a percentage with sensible precision.
func percent(f float64) string {
	switch {
	case f < 0:
		return "–"
	case f == 0:
		return "0 %"
	case f < 0.001:
		return "< 0.1 %"
	case f < 0.1:
		return strconv.FormatFloat(100*f, 'f', 1, 64) + " %"
	}
	return strconv.FormatFloat(100*f, 'f', 0, 64) + " %"
}

// count formats an integer with thin spaces between thousands.
func count(n uint64) string {
	s := strconv.FormatUint(n, 10)
	if len(s) <= 4 {
		return s
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteString("\u202f")
		}
		b.WriteRune(c)
	}
	return b.String()
}

// compact formats a count for an axis: 1.5k, 20k, 3M.
func compact(v float64) string {
	switch {
	case v >= 1e6:
		return strconv.FormatFloat(v/1e6, 'g', 3, 64) + "M"
	case v >= 1e4:
		return strconv.FormatFloat(v/1e3, 'g', 3, 64) + "k"
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// lagAxis formats a lag in seconds for an axis, in the unit that keeps it
// short (750 µs, 1.5 ms, 12.5 s, 20.8 min, 1.25 h): the labels end left
// of the plot, in 50 units, where "0.00075 s" did not fit.
func lagAxis(s float64) string {
	g := func(v float64, unit string) string { return strconv.FormatFloat(v, 'g', 3, 64) + " " + unit }
	switch {
	case s == 0:
		return "0"
	case s < 1e-3:
		return g(s*1e6, "µs")
	case s < 1:
		return g(s*1e3, "ms")
	case s < 100:
		return g(s, "s")
	case s < 100*60:
		return g(s/60, "min")
	}
	return g(s/3600, "h")
}

// palette maps a cell's shade (see shade) to a colour: grey for nothing
// expected; for the share missed on time, from pale yellow through orange
// to dark red; for the share silent, from pale yellow to dark slate.
var palette = func() color.Palette {
	missed := []color.RGBA{{255, 250, 235, 255}, {253, 212, 158, 255}, {252, 141, 89, 255}, {215, 48, 31, 255}, {110, 0, 0, 255}}
	silent := []color.RGBA{{255, 250, 235, 255}, {198, 206, 224, 255}, {120, 136, 178, 255}, {58, 70, 122, 255}, {22, 28, 64, 255}}
	p := make(color.Palette, 256)
	p[shadeNone] = color.RGBA{230, 230, 230, 255}
	ramp := func(first int, stops []color.RGBA) {
		for i := range shadeSteps {
			t := float64(i) / (shadeSteps - 1) * float64(len(stops)-1)
			k := min(int(t), len(stops)-2)
			f := t - float64(k)
			a, b := stops[k], stops[k+1]
			mix := func(x, y uint8) uint8 { return uint8(math.Round(float64(x) + f*(float64(y)-float64(x)))) }
			p[first+i] = color.RGBA{mix(a.R, b.R), mix(a.G, b.G), mix(a.B, b.B), 255}
		}
	}
	ramp(shadeMissed, missed)
	ramp(shadeSilent, silent)
	p[255] = p[254]
	return p
}()

// cssColor returns the palette's colour for shade i as #rrggbb.
func cssColor(i uint8) string {
	c := palette[i].(color.RGBA)
	return fmt.Sprintf("#%02x%02x%02x", c.R, c.G, c.B)
}

// heatPNG encodes a heatmap's cells (rows × cols palette indices) as a PNG
// data URI.
func heatPNG(cells []uint8, cols, rows int) (template.URL, error) {
	img := image.NewPaletted(image.Rect(0, 0, cols, rows), palette)
	copy(img.Pix, cells)
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&buf, img); err != nil {
		return "", err
	}
	// The URI is built here from the encoder's bytes, never from input.
	return template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes())), nil
}
