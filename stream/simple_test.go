package stream

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
	"github.com/stretchr/testify/require"
)

func TestIsPlain(t *testing.T) {
	for c := range 256 {
		want := c >= '!' && c <= '~' && c != ',' && c != '=' && c != '\\' && c != '"'
		require.Equal(t, want, isPlain(byte(c)), "%q", c)
	}
}

// checkSimple parses rec with parseSimple and, if it accepts it, with
// line-protocol/v2, and requires the same parts and values. It reports
// whether parseSimple accepted it.
func checkSimple(t *testing.T, rec []byte) bool {
	t.Helper()
	var r simpleRecord
	if bytes.ContainsAny(rec, "\n") || !parseSimple(rec, &r) {
		return false
	}
	lp := lineprotocol.NewDecoderWithBytes(append(bytes.Clone(rec), '\n'))
	require.True(t, lp.Next(), "%q", rec)
	m, err := lp.Measurement()
	require.NoError(t, err, "%q", rec)
	require.Equal(t, string(rec[:r.mEnd]), string(m), "%q", rec)
	for i := 0; ; i++ {
		k, v, err := lp.NextTag()
		require.NoError(t, err, "%q", rec)
		if k == nil {
			require.Len(t, r.tags, i, "%q", rec)
			break
		}
		require.Less(t, i, len(r.tags), "%q", rec)
		tag := r.tags[i]
		require.Equal(t, string(rec[tag.k0:tag.k1]), string(k), "%q", rec)
		require.Equal(t, string(rec[tag.v0:tag.v1]), string(v), "%q", rec)
	}
	for i := 0; ; i++ {
		k, v, err := lp.NextField()
		require.NoError(t, err, "%q", rec)
		if k == nil {
			require.Len(t, r.fields, i, "%q", rec)
			break
		}
		require.Less(t, i, len(r.fields), "%q", rec)
		f := r.fields[i]
		require.Equal(t, string(rec[f.k0:f.k1]), string(k), "%q", rec)
		var x float64
		switch v.Kind() {
		case lineprotocol.String:
			require.True(t, f.str, "%q", rec)
			continue
		case lineprotocol.Float:
			x = v.FloatV()
		case lineprotocol.Int:
			x = float64(v.IntV())
		case lineprotocol.Uint:
			x = float64(v.UintV())
		case lineprotocol.Bool:
			if v.BoolV() {
				x = 1
			}
		}
		require.False(t, f.str, "%q", rec)
		require.Equal(t, math.Float64bits(x), math.Float64bits(f.value), "%q: %v, %v", rec, x, f.value)
	}
	tb, err := lp.TimeBytes()
	require.NoError(t, err, "%q", rec)
	require.Equal(t, tb != nil, r.hasTS, "%q", rec)
	if tb != nil {
		ts, ok := parseInt64(tb)
		require.True(t, ok, "%q", rec)
		require.Equal(t, ts, r.ts, "%q", rec)
	}
	require.False(t, lp.Next(), "%q", rec)
	return true
}

func TestSimpleRecord(t *testing.T) {
	for _, rec := range []string{
		"m v=1",
		"check_up,check=c000042 value=1 1700000000123456789",
		"cpu,cpu=cpu-total,host=web-1.example.com usage_user=12.25,usage_idle=80i,n=3u,ok=t,up=True,down=FALSE 1",
		`system,host=a load1=0.5,uptime_format="3 days, 4:05",n_users=2i -5`,
		"m a=-0,b=-0.0,c=007,d=0.1,e=123456789012345678,f=1234567890123456789012345,g=-9223372036854775808i,h=1844674407370955161u",
		`m,#t=#v s="",t=" " 0`,
	} {
		require.True(t, checkSimple(t, []byte(rec)), rec)
	}
	// Valid line protocol outside the simple subset, and invalid input:
	// left to the line-protocol parser.
	for _, rec := range []string{
		"", "#m v=1", `m\ x v=1`, "m,a=b\\,c v=1", "m  v=1", "m v=1  1", "m v=1 ", "m v=1,", "m v=.5",
		"m v=1.", "m v=1e5", "m v=0x1p2", "m v=+1", "m v=1_0", "m v=tru", "m v=-1u", "m v=99999999999999999999u",
		"m v=9223372036854775808i", `m v="a\"b"`, `m v="é"`, "m,a= v=1", "m,a v=1", "m, v=1", "m,=a v=1",
		"mé v=1", "m v=1 1x", "m v=1 +1", "m v=1 9223372036854775808", "m v=1\r", "m v", "m =1", "m,a=b",
		"m v=1 1 2", `m v="x`, `m v="x"y`, "m\tv=1", "m=x v=1", `m,a="b" v=1`,
	} {
		require.False(t, checkSimple(t, []byte(rec)), rec)
	}
}

// FuzzSimpleRecord checks parseSimple against line-protocol/v2: what it
// accepts, that parser accepts with the same parts and values.
func FuzzSimpleRecord(f *testing.F) {
	for _, s := range []string{
		"check_up,check=c000042 value=1 1700000000123456789",
		`system,host=a load1=0.5,uptime_format="3 days",n_users=2i,n=7u,b=t -5`,
		"m a=-0,b=-0.0,c=007,d=0.1,e=123456789012345678,f=1e5,g=1.",
		"m v=1 9223372036854775808", "m,a=b,c=d x=1,y=2 3",
		// floats at the edges of the exact fast path (2⁵³, 19 digits, 10²²)
		"m a=9007199254740993,b=9007199254740991.5,c=0.1234567890123456789,d=1.0000000000000000000001,e=-123.456,f=99999999999999999999.5",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, rec []byte) {
		checkSimple(t, rec)
	})
}

// lpCorpus returns the inputs of line-protocol/v2's decoding test corpus.
func lpCorpus(t *testing.T) [][]byte {
	t.Helper()
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	out, err := exec.Command(goTool, "list", "-m", "-f", "{{.Dir}}", "github.com/influxdata/line-protocol/v2").Output()
	require.NoError(t, err)
	data, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "lineprotocol", "testdata", "corpus.json"))
	require.NoError(t, err)
	var corpus struct {
		Decode map[string]struct {
			Input struct {
				Text json.RawMessage `json:"text"`
			} `json:"input"`
		} `json:"decode"`
	}
	require.NoError(t, json.Unmarshal(data, &corpus))
	var inputs [][]byte
	for key, c := range corpus.Decode {
		var text string
		var bin struct {
			Binary string `json:"binary"`
		}
		switch {
		case json.Unmarshal(c.Input.Text, &text) == nil:
			inputs = append(inputs, []byte(text))
		case json.Unmarshal(c.Input.Text, &bin) == nil:
			b, err := base64.StdEncoding.DecodeString(bin.Binary)
			require.NoError(t, err, key)
			inputs = append(inputs, b)
		default:
			t.Fatalf("corpus entry %s: unknown text %s", key, c.Input.Text)
		}
	}
	require.Greater(t, len(inputs), 1000)
	return inputs
}

// TestSimpleRecordCorpus runs line-protocol/v2's decoding corpus through
// parseSimple, line by line as the Decoder cuts lines, and through the
// Decoder with and without its fast paths (each input also twice in a row,
// for the path of a known tag set's next record).
func TestSimpleRecordCorpus(t *testing.T) {
	accepted, lines := 0, 0
	for _, in := range lpCorpus(t) {
		for _, line := range bytes.Split(in, []byte("\n")) {
			lines++
			if checkSimple(t, bytes.TrimLeft(trimCR(line), " ")) {
				accepted++
			}
		}
		checkFastPathsChangeNothing(t, in, DecoderOptions{}, 0)
		checkFastPathsChangeNothing(t, in, DecoderOptions{Arrival: func() int64 { return 5 }, Precision: 1000}, 3)
		// Twice, without the repeat table: the second time, every record
		// of a tag set the first time named is a known set's next record
		// (decodeKnown).
		twice := append(append(bytes.Clone(in), '\n'), in...)
		checkFastPathsChangeNothing(t, twice, DecoderOptions{MaxRepeats: -1}, 0)
	}
	t.Logf("parseSimple took %d of %d lines", accepted, lines)
	require.Greater(t, accepted, 150, "the fast path is used (most of the corpus is fuzzed junk)")
}

// TestDecodeKnown checks the path for a known tag set's next record: taken
// for the common case (a collector's next report), left for every record
// that differs from it, and in every case decoding as the line-protocol
// parser does (the reference FuzzDecoder uses; its seeds include these).
func TestDecodeKnown(t *testing.T) {
	const first = "cpu,host=a,dc=x usage_user=1.5,usage_idle=98i 100\n"
	for _, c := range []struct {
		rec   string
		known bool
	}{
		{"cpu,host=a,dc=x usage_user=2.5,usage_idle=97i 110", true},
		{"cpu,host=a,dc=x usage_user=2.5,usage_idle=97i", true}, // dated by its arrival
		{"cpu,host=a,dc=x usage_user=-3 120", true},             // the first fields only
		{"cpu,host=a,dc=x usage_user=t,usage_idle=F 120", true},
		{"cpu,host=a,dc=x usage_idle=97i,usage_user=2.5 110", false}, // out of order
		{"cpu,host=a,dc=x usage_user=2.5,usage_idle=97i,new=1 110", false},
		{"cpu,host=a,dc=x usage_user=2.5,s=\"x\" 110", false},
		{"cpu,host=a,dc=x usage_user=\"x\" 110", false},
		{"cpu,host=a,dc=x usage_user=2.5, 110", false},
		{"cpu,host=a,dc=x usage_user=2.5,usage_idle=97i 110 ", false},
		{"cpu,host=a,dc=x usage_user=2.5,usage_idle=97i 1x", false},
		{"cpu,host=a,dc=x usage_user=2.5,usage_idle=97i 99999999999999999999", false},
		{"cpu,host=a,dc=x usage_user=2.5,usage_idle=97i\r", false},
		{"cpu,host=a,dc=x usage_user==2.5 110", false},
		{"cpu,host=a,dc=x usage_user 110", false},
		{"cpu,host=a,dc=x  usage_user=1 110", false},
		{"cpu,host=a,dc=x", false},
		{"cpu,dc=x,host=a usage_user=2.5 110", false}, // the same labels, written otherwise
		{"cpu,host=a,dc=x\xff usage_user=2.5 110", false},
		{"cpu\xffhost\xffa\xffdc\xffx\xff usage_user=2.5 110", false}, // the set's own key
	} {
		input := first + c.rec + "\n"
		opts := DecoderOptions{Arrival: func() int64 { return 7 }}
		d := NewDecoder(strings.NewReader(input), opts)
		_, err := d.Next(nil)
		require.NoError(t, err)
		d.tab.startRecord()
		_, _, ok := d.decodeKnown(nil, []byte(c.rec), 0, 7)
		require.Equal(t, c.known, ok, "%q", c.rec)

		res, _ := decodeAll(t, strings.NewReader(input), opts)
		require.Equal(t, referenceDecode([]byte(input), opts), outcomes(t, res), "%q", c.rec)
	}

	// A field key that is not plain (escaped, through the line-protocol
	// parser) is not compared as written, though the set is known by its
	// bytes (named by the second record).
	input := "m a\\ b=1 1\nm c=1 1\nm a b=2 2\n"
	d := NewDecoder(strings.NewReader(input), DecoderOptions{})
	for range 2 {
		_, err := d.Next(nil)
		require.NoError(t, err)
	}
	_, _, ok := d.decodeKnown(nil, []byte("m a b=2 2"), 0, 7)
	require.False(t, ok)
	res, _ := decodeAll(t, strings.NewReader(input), DecoderOptions{})
	require.Equal(t, referenceDecode([]byte(input), DecoderOptions{}), outcomes(t, res))
}
