package alert

import (
	"bytes"
	"testing"
	"time"
)

// FuzzStep drives a State with arbitrary outcomes and rules and checks,
// against a model of what a receiver of the transitions believes:
//
//   - a pending or firing transition opens an episode or continues the
//     open one (same Since), a resolved one closes the open episode;
//   - nothing but the flapping transitions is emitted while flapping, and
//     those alternate, start first;
//   - whenever the alert is not flapping, the receiver's view is the
//     alert's state (phase, level, episode);
//   - the encoding round-trips at every step;
//   - Idle means the zero State.
func FuzzStep(f *testing.F) {
	f.Add([]byte{0, 1, 1, 0, 2, 3, 0, 0}, uint8(2), uint8(1), uint8(3), uint8(0), uint8(20), uint8(30))
	f.Add([]byte{1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, uint8(0), uint8(0), uint8(0), uint8(0), uint8(20), uint8(30))
	f.Add([]byte{3, 0x83, 0x40, 2, 0x41, 1}, uint8(1), uint8(0), uint8(2), uint8(2), uint8(5), uint8(20))
	f.Fuzz(func(t *testing.T, outcomes []byte, forMin, tol, keepMin, noData, low, high uint8) {
		r := Rule{
			For:           time.Duration(forMin%8) * time.Minute,
			ForTolerance:  int(tol % 4),
			KeepFiringFor: time.Duration(keepMin%8) * time.Minute,
			NoData:        NoData(noData % 3),
		}
		if lo, hi := float64(low%101), float64(high%101); lo < hi {
			r.Flapping = Flapping{Low: lo, High: hi}
		}
		var s State
		var open bool
		var phase Phase
		var level int
		var since int64
		flapping := false
		buf := make([]Transition, 0, 4)
		for i, b := range outcomes {
			at := int64(i+1) * int64(time.Minute)
			// Low bits: the level (0–3); bit 6: reset; bit 7: no data.
			o := Outcome{Level: int(b & 3), Reset: b&0x40 != 0, NoData: b&0x80 != 0}
			buf = s.Step(at, o, &r, buf[:0])
			if len(buf) > 4 {
				t.Fatalf("step %d: %d transitions", i, len(buf))
			}
			for _, tr := range buf {
				switch tr.Kind {
				case KindFlappingStart:
					if flapping {
						t.Fatalf("step %d: flapping starts twice", i)
					}
					flapping = true
				case KindFlappingEnd:
					if !flapping {
						t.Fatalf("step %d: flapping ends before it starts", i)
					}
					flapping = false
				case KindPending, KindFiring:
					if flapping {
						t.Fatalf("step %d: %v while flapping", i, tr)
					}
					if open && tr.Since != since {
						t.Fatalf("step %d: %v while episode %d is open", i, tr, since)
					}
					if tr.Kind == KindPending && open {
						t.Fatalf("step %d: pending in an open episode", i)
					}
					open, since, level = true, tr.Since, tr.Level
					phase = Pending
					if tr.Kind == KindFiring {
						phase = Firing
					}
				case KindResolved:
					if flapping || !open || tr.Since != since {
						t.Fatalf("step %d: %v resolves episode %d (open %v, flapping %v)", i, tr, since, open, flapping)
					}
					open, phase = false, Inactive
				}
			}
			if flapping != s.Flapping() {
				t.Fatalf("step %d: flapping %v, state says %v", i, flapping, s.Flapping())
			}
			if !flapping {
				if phase != s.Phase() || (open && (since != s.Since() || (phase == Firing && level != s.Level()))) {
					t.Fatalf("step %d: receiver sees %v/%d/%d, state is %v/%d/%d", i, phase, level, since, s.Phase(), s.Level(), s.Since())
				}
			}
			enc := s.AppendBinary(nil)
			d, rest, err := DecodeState(enc)
			if err != nil || len(rest) != 0 || d != s {
				t.Fatalf("step %d: encoding does not round-trip: %v", i, err)
			}
			if s.Idle() && s != (State{}) {
				t.Fatalf("step %d: idle but not zero: %+v", i, s)
			}
		}
	})
}

// FuzzDecodeState checks that decoding arbitrary bytes never panics, and
// that what decodes re-encodes to the bytes it consumed and can be stepped.
func FuzzDecodeState(f *testing.F) {
	var s State
	r := Rule{For: time.Minute, Flapping: Flapping{Low: 20, High: 30}}
	f.Add(s.AppendBinary(nil))
	s.Step(1, Outcome{Level: 2}, &r, nil)
	f.Add(s.AppendBinary(nil))
	f.Add([]byte{1, 2, 1, 2, 1, 0, 3, 0xff, 0xff, 0x3f, 2, 2, 2, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, rest, err := DecodeState(b)
		if err != nil {
			return
		}
		used := b[:len(b)-len(rest)]
		if enc := s.AppendBinary(nil); !bytes.Equal(enc, used) {
			t.Fatalf("re-encoding %x gives %x", used, enc)
		}
		for i := range 30 {
			s.Step(int64(i), Outcome{Level: i % 3, Reset: i%2 == 0, NoData: i%7 == 0}, &r, nil)
		}
	})
}
