package stream

import (
	"bytes"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

// cutReader serves its input in the chunk sizes cuts gives (cycled), each
// read of data followed by a timeout when timeouts says so, and logs where
// each read that returned data ended.
type cutReader struct {
	data     []byte
	cuts     []byte
	timeouts uint32
	n        int
	pending  bool    // a timeout is due before the next data
	ends     []int64 // offset after the last byte of each read with data
}

func (r *cutReader) Read(p []byte) (int, error) {
	if r.pending {
		r.pending = false
		return 0, timeoutErr{timeout: true}
	}
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	size := 1
	if len(r.cuts) > 0 {
		size = int(r.cuts[r.n%len(r.cuts)]) + 1
	}
	r.pending = r.timeouts>>(r.n%32)&1 != 0
	r.n++
	n := copy(p, r.data[:min(size, len(r.data))])
	r.data = r.data[n:]
	prev := int64(0)
	if len(r.ends) > 0 {
		prev = r.ends[len(r.ends)-1]
	}
	r.ends = append(r.ends, prev+int64(n))
	return n, nil
}

// arrivalOf returns the arrival time the reads ends give the byte at
// offset i: the number of the read (from 1) that brought it, times 1000.
func arrivalOf(ends []int64, i int) int64 {
	for k, e := range ends {
		if int64(i) < e {
			return int64(k+1) * 1000
		}
	}
	return -1
}

// referenceArrivals is referenceDecode with a clock that gives each line
// the arrival of the read that brought its last byte (its '\n', or its
// last byte at the end of the input).
func referenceArrivals(input []byte, opts DecoderOptions, ends []int64) []outcome {
	var out []outcome
	pos := 0
	for no := int64(1); pos < len(input); no++ {
		end := bytes.IndexByte(input[pos:], '\n')
		var line []byte
		last := 0
		if end < 0 {
			line, last = input[pos:], len(input)-1
		} else {
			line, last = input[pos:pos+end], pos+end
		}
		pos = last + 1
		o := opts
		if o.Arrival != nil {
			a := arrivalOf(ends, last)
			o.Arrival = func() int64 { return a }
		}
		for _, r := range referenceDecode(append(bytes.Clone(line), '\n'), o) {
			if r.Record != 0 {
				r.Record = no
			}
			out = append(out, r)
		}
	}
	return out
}

// FuzzDecoderChunks checks what FuzzDecoder does not: input served in
// chunks of any size with timeouts between them, an arrival clock that
// changes with every read, and a decoder Reset onto a second input with
// its tables, counters and options kept. The second input decodes as it
// would with a new decoder, and each record arrives at the read that
// brought the end of its line.
func FuzzDecoderChunks(f *testing.F) {
	for _, seed := range []string{
		"cpu,host=a usage=1.5 100\ncpu,host=a usage=2.5\ncpu,host=a usage=2.5\n# c\n\nm v=1,v=2 1\nm v=1 1",
		"100 cpu,host=a v=1 90\n200 m v=2\r\n-5 x,a\\ b=c\\,d f\\=g=3u\n# x\n1 m v=1\n",
		"m,a=1,a=2 v=1 1\nm,__name__=x v=1 1\nm v=1,v=2 1\nm s=\"unterminated\nm v=1 1",
	} {
		f.Add([]byte(seed), []byte(seed), []byte{3, 0, 7}, uint32(0x5), false, uint16(0), uint8(8), uint8(2))
		f.Add([]byte(seed), []byte("m v=1\n"+seed), []byte{0}, uint32(0), true, uint16(20|1<<9), uint8(8|1<<4), uint8(0))
		f.Add([]byte(seed), []byte(seed), []byte{200, 1}, uint32(0xffffffff), false, uint16(0), uint8(8|3<<4), uint8(100))
	}
	f.Fuzz(func(t *testing.T, first, second, cuts []byte, timeouts uint32, capture bool, knobs uint16, mode uint8, stop uint8) {
		opts := fuzzOptions(capture, knobs, mode)
		r1 := &cutReader{data: first, cuts: cuts, timeouts: timeouts}
		r2 := &cutReader{data: second, cuts: cuts, timeouts: timeouts >> 3}
		r := r1 // the reader the clock counts the reads of
		if opts.Arrival != nil {
			opts.Arrival = func() int64 { return int64(len(r.ends)) * 1000 }
		}
		d := NewDecoder(r1, opts)
		// The first input, up to stop calls of Next, then the second.
		var dst []Sample
		for range stop {
			var err error
			if dst, err = d.Next(dst[:0]); err == io.EOF {
				break
			}
		}
		r = r2
		d.Reset(r2)
		got := decodeRest(t, d, true)
		want := referenceDecode(second, opts)
		if opts.Arrival != nil {
			want = referenceArrivals(second, opts, r2.ends)
		}
		require.Equal(t, want, outcomes(t, got), "input %q", second)
	})
}
