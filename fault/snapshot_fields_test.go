package fault

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/rules"
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
			"index", "series", "trackers", "misses", "keys", "evict", "closeReason", "ruleIdx", "declared", "learning", "absences", "gaps",
			"alerts", "alertCfg", "steps", "wheel", "fleet", "selectBuf", "warned", "hists", "histPoints", "histView",
			"histOne", "coh", "xp", "loop", "src", "bad", "ctx", "sinkErr", "stats"},
		reflect.TypeFor[series](): {"id", "key", "lastTs", "rulesOff", "rulesN", "alerts", "gapMark", "src", "hist", "seen"},
		// dead and rescan are derived: Restore compacts, and rescan only
		// saves work.
		reflect.TypeFor[evictState](): {"free", "cursor", "next", "dead", "rescan"},
		reflect.TypeFor[tracker]():    {"anchorTs", "recv", "onTime", "cad", "anchorK", "nextK", "lateK", "lag", "pLong", "link", "lostRun", "missHead", "run", "flags", "learnN"},
		reflect.TypeFor[learning]():   {"lastArrival", "diffs"},
		reflect.TypeFor[absence]():    {"since", "inhibitedBy"},
		reflect.TypeFor[seriesGap]():  {"period", "m", "bin", "since", "phase", "confirmed", "hits", "firingID", "linkedTo", "linkMark"},
		// alert.State encodes itself (alert.State.AppendBinary).
		reflect.TypeFor[history]():      {"pts", "head", "n", "keep"},
		reflect.TypeFor[cohorts]():      {"rules", "byRule", "members", "aux", "next"},
		reflect.TypeFor[cohortRule]():   {"ri", "win", "grace", "k", "started", "keys", "cohorts", "over"},
		reflect.TypeFor[cohort]():       {"labels", "id", "acc", "state", "since"},
		reflect.TypeFor[cohortAcc]():    {"series", "samples", "sum", "inc", "min", "max"},
		reflect.TypeFor[cohortMember](): {"rule", "cohort", "last"},
		reflect.TypeFor[badInputs]():    {"list", "names", "byName", "overflow", "next"},
		reflect.TypeFor[badInput]():     {"open", "reported", "since", "last", "interval", "total", "examples"},
		reflect.TypeFor[loopGuard]():    {"open", "since", "last", "count", "origin", "name"},
		reflect.TypeFor[sources]():      {"list", "names", "byName", "overflow", "minute", "next"},
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

// TestRulesetFingerprintFields is a tripwire: rulesetFingerprint hashes
// every field of rules.Rule that changes what the engine does, and its list
// must follow rules.Rule.
func TestRulesetFingerprintFields(t *testing.T) {
	var got []string
	typ := reflect.TypeFor[rules.Rule]()
	for i := range typ.NumField() {
		if f := typ.Field(i); f.IsExported() {
			got = append(got, f.Name)
		}
	}
	// Index, File, Line and Col say where a rule is, not what it does.
	require.Equal(t, []string{"Index", "Group", "Alert", "Expr", "Resolve", "Levels", "For", "ForTolerance",
		"KeepFiringFor", "NoData", "Flapping", "Match", "Labels", "Annotations", "Window", "Cohort", "File", "Line", "Col"},
		got, "rules.Rule changed: update rulesetFingerprint and this list")
}
