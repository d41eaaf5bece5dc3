package fault

import (
	"encoding/binary"
	"errors"
	"math"

	"github.com/faultline-go/faultline/rules"
	"github.com/faultline-go/faultline/stream"
)

// Series history, for windowed rule functions (rate(5m), previous() ...)
// and cohort rules.
//
// A series selected by at least one rule that uses history gets a ring of
// its latest (sample time, value) points: those within the longest window
// of its rules (Rule.Window) of its newest sample, and at least the one
// before it. Other series have none and pay nothing. A ring starts with
// room for minHistory points and doubles when it is full of points still
// inside the window, up to Config.MaxHistory points per series and while
// the rings of the engine hold fewer than Config.MaxHistoryPoints in all.
// Past either bound, the ring evicts its oldest point although it is still
// inside the window (counted in Stats.HistoryEvicted): the windowed
// functions of that series then see its newest points only, as if its
// history began later. Only the samples rules evaluate are recorded: a
// series' newest, fresh samples; out-of-order ones are not.
//
// The state is plain (slices of points and integers), so it can be
// snapshotted: see appendBinary and decodeHistory.

// Defaults for the history bounds.
const (
	DefaultMaxHistory       = 1024
	DefaultMaxHistoryPoints = 1 << 22
	minHistory              = 4
)

// history is one series' ring of points.
type history struct {
	pts  []rules.Point // the ring; len(pts) is its capacity
	head int32         // index of the oldest point
	n    int32         // points held
	keep int64         // how far back, ns, from the newest point the rules read
}

// at returns point i, 0 being the oldest.
func (h *history) at(i int32) rules.Point {
	j := h.head + i
	if c := int32(len(h.pts)); j >= c {
		j -= c
	}
	return h.pts[j]
}

// view fills v with the points, oldest first.
func (h *history) view(v *rules.History) {
	c := int32(len(h.pts))
	if h.head+h.n <= c {
		v.Older, v.Newer = h.pts[h.head:h.head+h.n], nil
		return
	}
	v.Older, v.Newer = h.pts[h.head:], h.pts[:h.head+h.n-c]
}

// push records a new newest point. It drops the points that fell out of
// the window, keeping at least one besides the new one, grows the ring
// within the engine's bounds when it is full, and otherwise evicts the
// oldest point.
func (e *Engine) push(h *history, p rules.Point) {
	for h.n > 1 && h.at(0).T <= p.T-h.keep {
		h.drop()
	}
	if int(h.n) == len(h.pts) {
		c := len(h.pts)
		grow := min(2*c, e.cfg.MaxHistory) - c
		if grow > 0 && e.histPoints+grow <= e.cfg.MaxHistoryPoints {
			pts := make([]rules.Point, c+grow)
			for i := int32(0); i < h.n; i++ {
				pts[i] = h.at(i)
			}
			h.pts, h.head = pts, 0
			e.histPoints += grow
			e.stats.local.HistoryPoints += uint64(grow)
		} else {
			h.drop()
			e.stats.local.HistoryEvicted++
		}
	}
	j := h.head + h.n
	if c := int32(len(h.pts)); j >= c {
		j -= c
	}
	h.pts[j] = p
	h.n++
}

func (h *history) drop() {
	h.head++
	if int(h.head) == len(h.pts) {
		h.head = 0
	}
	h.n--
}

// newHistory returns the ring of a series whose rules read keep ns back.
func (e *Engine) newHistory(keep int64) history {
	e.histPoints += minHistory
	e.stats.local.HistoryPoints += minHistory
	e.stats.local.HistorySeries++
	return history{pts: make([]rules.Point, minHistory), keep: keep}
}

// appendBinary appends the ring to b: keep, the count and the points,
// oldest first, as varints and float bits. Its capacity is not kept; it is
// rebuilt from the count.
func (h *history) appendBinary(b []byte) []byte {
	b = binary.AppendVarint(b, h.keep)
	b = binary.AppendUvarint(b, uint64(h.n))
	var prev int64
	for i := int32(0); i < h.n; i++ {
		p := h.at(i)
		b = binary.AppendVarint(b, p.T-prev)
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(p.V))
		prev = p.T
	}
	return b
}

var errHistory = errors.New("fault: bad history encoding")

// decodeHistory decodes a ring encoded by appendBinary, holding at most limit
// points, and returns the rest of b.
func decodeHistory(b []byte, limit int) (history, []byte, error) {
	var h history
	keep, k := binary.Varint(b)
	if k <= 0 {
		return h, nil, errHistory
	}
	b = b[k:]
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(limit) {
		return h, nil, errHistory
	}
	b = b[k:]
	h.keep = keep
	h.pts = make([]rules.Point, max(int(n), minHistory))
	var prev int64
	for i := range int(n) {
		d, k := binary.Varint(b)
		if k <= 0 || len(b) < k+8 {
			return history{}, nil, errHistory
		}
		prev += d
		h.pts[i] = rules.Point{T: prev, V: math.Float64frombits(binary.LittleEndian.Uint64(b[k:]))}
		b = b[k+8:]
	}
	h.n = int32(n)
	return h, b, nil
}

// historyOf returns the history windowed functions read for a series' new
// sample: its ring, which already holds the sample, or the sample alone.
func (e *Engine) historyOf(s *series, smp *stream.Sample) *rules.History {
	if s.hist == 0 {
		e.histOne[0] = rules.Point{T: smp.Time, V: smp.Value}
		e.histView.Older, e.histView.Newer = nil, e.histOne[:]
		return &e.histView
	}
	e.hists[s.hist-1].view(&e.histView)
	return &e.histView
}
