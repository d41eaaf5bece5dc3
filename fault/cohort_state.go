package fault

import (
	"encoding/binary"
	"errors"
	"math"
	"strings"

	"github.com/cespare/xxhash/v2"

	"github.com/faultline-go/faultline/stream"
)

// Encoding of the cohort state, for snapshots: per cohort rule its open
// windows, its cohorts (by labels, accumulators, episode) and the overflow
// accumulators; then the memberships of series and their place beside
// Engine.ruleIdx. Integers are varints, floats their IEEE bits, strings
// length-prefixed. The cohorts' keys are rebuilt from their labels and the
// rule's by on decoding.

var errCohortState = errors.New("fault: bad cohort state encoding")

func appendAcc(b []byte, a *cohortAcc) []byte {
	b = binary.AppendUvarint(b, uint64(a.series))
	b = binary.AppendUvarint(b, uint64(a.samples))
	for _, f := range [...]float64{a.sum, a.inc, a.min, a.max} {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
	}
	return b
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendBinary appends the cohort state to b.
func (c *cohorts) appendBinary(b []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(c.rules)))
	for i := range c.rules {
		cr := &c.rules[i]
		b = binary.AppendVarint(b, cr.k)
		b = append(b, boolByte(cr.started))
		b = appendAcc(b, &cr.over[0])
		b = appendAcc(b, &cr.over[1])
		b = binary.AppendUvarint(b, uint64(len(cr.cohorts)))
		for j := range cr.cohorts {
			co := &cr.cohorts[j]
			b = binary.AppendUvarint(b, uint64(len(co.labels)))
			for _, l := range co.labels {
				b = appendStr(appendStr(b, l.Name), l.Value)
			}
			b = appendAcc(b, &co.acc[0])
			b = appendAcc(b, &co.acc[1])
			b = append(b, byte(co.state))
			b = binary.AppendVarint(b, co.since)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(c.members)))
	for _, m := range c.members {
		b = binary.AppendUvarint(b, uint64(m.rule))
		b = binary.AppendUvarint(b, uint64(m.cohort))
		b = binary.AppendVarint(b, m.last)
	}
	b = binary.AppendUvarint(b, uint64(len(c.aux)))
	for _, a := range c.aux {
		b = binary.AppendUvarint(b, uint64(a))
	}
	return b
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// stateReader reads what appendBinary wrote, remembering the first error.
type stateReader struct {
	b   []byte
	err error
}

func (r *stateReader) uvarint(limit uint64) uint64 {
	v, k := binary.Uvarint(r.b)
	if k <= 0 || v > limit {
		r.fail()
		return 0
	}
	r.b = r.b[k:]
	return v
}

func (r *stateReader) varint() int64 {
	v, k := binary.Varint(r.b)
	if k <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[k:]
	return v
}

func (r *stateReader) byte1() byte {
	if len(r.b) < 1 {
		r.fail()
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *stateReader) float() float64 {
	if len(r.b) < 8 {
		r.fail()
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(r.b))
	r.b = r.b[8:]
	return v
}

func (r *stateReader) str() string {
	n := r.uvarint(uint64(len(r.b)))
	if r.err != nil {
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *stateReader) acc() cohortAcc {
	a := cohortAcc{series: int(r.uvarint(math.MaxInt32)), samples: int(r.uvarint(math.MaxInt32))}
	a.sum, a.inc, a.min, a.max = r.float(), r.float(), r.float(), r.float()
	return a
}

func (r *stateReader) fail() {
	if r.err == nil {
		r.err = errCohortState
	}
	r.b = nil
}

// decodeCohorts restores into the engine, whose cohort rules initCohorts
// set up from the same rule set, the state cohorts.appendBinary encoded,
// and returns the rest of b. Config.MaxCohorts and maxMembers bound what it
// accepts; the series' histories are restored separately (decodeHistory).
func (e *Engine) decodeCohorts(b []byte, maxMembers int) ([]byte, error) {
	c := &e.coh
	r := &stateReader{b: b}
	if n := r.uvarint(math.MaxInt32); r.err != nil || int(n) != len(c.rules) {
		return nil, errCohortState
	}
	for i := range c.rules {
		cr := &c.rules[i]
		by := e.rules[cr.ri].Cohort.By
		cr.k = r.varint()
		cr.started = r.byte1() == 1
		cr.over[0], cr.over[1] = r.acc(), r.acc()
		n := int(r.uvarint(uint64(e.cfg.MaxCohorts)))
		cr.cohorts = cr.cohorts[:0]
		cr.keys = make(map[string]uint32, n)
		for j := 0; j < n && r.err == nil; j++ {
			var co cohort
			nl := int(r.uvarint(uint64(len(by))))
			for range nl {
				co.labels = append(co.labels, stream.Label{Name: r.str(), Value: r.str()})
			}
			co.acc[0], co.acc[1] = r.acc(), r.acc()
			co.state = State(r.byte1())
			co.since = r.varint()
			var key strings.Builder
			for _, name := range by {
				key.WriteString(co.labels.Get(name))
				key.WriteByte(0xff)
			}
			co.id = xxhash.Sum64String(key.String())
			cr.keys[key.String()] = uint32(j)
			cr.cohorts = append(cr.cohorts, co)
		}
	}
	nm := int(r.uvarint(uint64(maxMembers)))
	c.members = c.members[:0]
	for range nm {
		m := cohortMember{rule: uint32(r.uvarint(uint64(len(c.rules)))), cohort: uint32(r.uvarint(math.MaxUint32)), last: r.varint()}
		if r.err == nil && (m.cohort != noCohort && int(m.cohort) >= len(c.rules[m.rule].cohorts)) {
			r.fail()
		}
		c.members = append(c.members, m)
	}
	na := int(r.uvarint(math.MaxInt32))
	c.aux = c.aux[:0]
	for range na {
		c.aux = append(c.aux, uint32(r.uvarint(uint64(len(c.members)))))
	}
	if r.err != nil {
		return nil, r.err
	}
	c.next = math.MinInt64 // recomputed by the next advance
	return r.b, nil
}
