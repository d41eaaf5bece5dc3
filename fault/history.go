package fault

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/faultline-go/faultline/internal/frame"
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
		if grow > 0 && e.al.histPoints+grow <= e.cfg.MaxHistoryPoints {
			pts := make([]rules.Point, c+grow)
			for i := int32(0); i < h.n; i++ {
				pts[i] = h.at(i)
			}
			h.pts, h.head = pts, 0
			e.al.histPoints += grow
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
	e.al.histPoints += minHistory
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
		e.al.histOne[0] = rules.Point{T: smp.Time, V: smp.Value}
		e.al.histView.Older, e.al.histView.Newer = nil, e.al.histOne[:]
		return &e.al.histView
	}
	e.al.hists[s.hist-1].view(&e.al.histView)
	return &e.al.histView
}

// appendHistories appends every series' history ring: its capacity, then
// its points as history.appendBinary writes them. Which series have one,
// and how far back each reads, readSeries rebuilds from the rules.
//
// They are written in the order of the series' slots, the order readSeries
// gives them, which evicted series may have made differ from e.al.hists'.
func (e *Engine) appendHistories(w *frame.Writer) {
	n := 0
	for i := range e.st.series {
		if e.st.series[i].hist != 0 {
			n++
		}
	}
	w.Uv(uint64(n))
	for i := range e.st.series {
		if hi := e.st.series[i].hist; hi != 0 {
			h := &e.al.hists[hi-1]
			w.Uv(uint64(len(h.pts)))
			w.Append(h.appendBinary)
		}
	}
}

func (e *Engine) readHistories(r *frame.Reader) {
	if n := r.Count(3); r.Err() == nil && n != len(e.al.hists) {
		r.Fail("%d histories, the rules give %d", n, len(e.al.hists))
		return
	}
	e.al.histPoints = 0
	for i := range e.al.hists {
		c := r.Uv()
		if r.Err() != nil {
			return
		}
		if c < minHistory || c > uint64(e.cfg.MaxHistory) && c > minHistory {
			r.Fail("history of capacity %d", c)
			return
		}
		var h history
		r.Decode(func(b []byte) ([]byte, error) {
			var rest []byte
			var err error
			h, rest, err = decodeHistory(b, int(c))
			if err != nil {
				return nil, fmt.Errorf("history %d: %w", i, err)
			}
			return rest, nil
		})
		if r.Err() != nil {
			return
		}
		if len(h.pts) != int(c) { // decoded to fit its points: give it its capacity
			pts := make([]rules.Point, c)
			copy(pts, h.pts[:h.n])
			h.pts, h.head = pts, 0
		}
		e.al.hists[i] = h
		e.al.histPoints += int(c)
	}
}
