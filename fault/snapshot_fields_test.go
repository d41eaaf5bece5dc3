package fault

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSnapshotStatsFields: every counter of Stats is in the snapshot.
func TestSnapshotStatsFields(t *testing.T) {
	var s Stats
	fields := statsFields(&s)
	require.Len(t, fields, reflect.TypeOf(s).NumField())
	seen := map[*uint64]bool{}
	for _, p := range fields {
		require.False(t, seen[p], "a counter listed twice")
		seen[p] = true
	}
}

// TestSnapshotCoversEveryField is a tripwire: the snapshot (snapshot.go)
// writes each field of these structs, or derives it on restore. A field
// added to one of them fails this test until the snapshot handles it and
// the list below names it.
func TestSnapshotCoversEveryField(t *testing.T) {
	want := map[reflect.Type][]string{
		reflect.TypeFor[Engine](): {"cfg", "tau", "late", "dd", "eval", "rules", "sink", "log", "now", "started", "closed", "horizon",
			"index", "series", "trackers", "misses", "keys", "ruleIdx", "declared", "learning", "absences", "gaps",
			"alerts", "wheel", "fleet", "selectBuf", "warned", "loop", "src", "ctx", "sinkErr", "stats"},
		reflect.TypeFor[series]():     {"id", "key", "lastTs", "rulesOff", "rulesN", "alerts", "gapMark", "src"},
		reflect.TypeFor[tracker]():    {"anchorTs", "recv", "onTime", "cad", "anchorK", "nextK", "lateK", "lag", "pLong", "link", "lostRun", "missHead", "run", "flags", "learnN"},
		reflect.TypeFor[learning]():   {"lastArrival", "diffs"},
		reflect.TypeFor[absence]():    {"since", "inhibitedBy"},
		reflect.TypeFor[seriesGap]():  {"period", "m", "bin", "since", "phase", "confirmed", "hits", "firingID", "linkedTo", "linkMark"},
		reflect.TypeFor[alertState](): {"since", "state"},
		reflect.TypeFor[loopGuard]():  {"open", "since", "last", "count", "origin", "name"},
		reflect.TypeFor[sources]():    {"list", "names", "byName", "overflow", "minute", "next"},
		reflect.TypeFor[source](): {"fresh", "redelivered", "lags", "ratioN", "normFresh", "normRedeliv", "stormRun", "stormCalm",
			"stormOpen", "stormSince", "stormPending", "lagN", "lagRun", "lagCalm", "lagOpen", "lagPrevOK",
			"lagNormal", "lagPrev", "lagRunFrom", "lagSince"},
		reflect.TypeFor[wheel](): {"heads", "mask", "next", "trackers", "n"},
		reflect.TypeFor[fleet](): {"e", "bins", "done", "started", "startAt", "lag", "lateLag", "rateE", "rateM", "rateSumE", "rateSumM",
			"s", "inSeg", "inBurst", "hotFirst", "hotLast", "segM", "segE", "segMT", "bursts", "tracks", "folds",
			"episodes", "nextMark", "tooFew"},
		reflect.TypeFor[fleetBin](): {"e", "m", "late", "lost", "burst"},
		reflect.TypeFor[burst]():    {"start", "end", "at", "m", "e"},
		reflect.TypeFor[track]():    {"period", "first", "last", "since", "n", "span", "starts", "ends", "misses", "episode"},
		reflect.TypeFor[fold]():     {"period", "nb", "s", "rose", "last", "cur", "end", "init"},
		reflect.TypeFor[gapEpisode](): {"mark", "state", "since", "period", "phaseStart", "phaseEnd", "firedAt", "firingID", "lastBurst",
			"seriesEst", "distinct", "late", "lost", "clean", "silent", "peakSilent", "lossE", "lossM", "nextCheck",
			"nextSettle", "inhibited"},
	}
	for typ, names := range want {
		var got []string
		for i := range typ.NumField() {
			got = append(got, typ.Field(i).Name)
		}
		require.Equal(t, names, got, "%s changed: update the snapshot and this list", typ.Name())
	}
}
