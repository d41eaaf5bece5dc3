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

// TestSnapshotCoversEveryField is a tripwire: each component's snapshot
// section writes each field of its structs, or derives it on restore (the
// detectors in internal/ have their own). A field
// added to one of them fails this test until the snapshot handles it and
// the list below names it.
func TestSnapshotCoversEveryField(t *testing.T) {
	want := map[reflect.Type][]string{
		// due is derived: Restore disarms it.
		reflect.TypeFor[Engine](): {"cfg", "now", "due", "started", "closed", "horizon", "dd", "st", "al",
			"fleet", "census", "gaps", "src", "bad", "loop", "xp", "obs", "out", "stats", "log"},
		// warmed is scratch: what Process's warm-up read; learnPeak only
		// says when to rebuild learning.
		reflect.TypeFor[store](): {"index", "series", "trackers", "misses", "keys", "wheel", "evict", "declared",
			"warmed", "learning", "learnPeak", "absences", "inhibited"},
		reflect.TypeFor[alerting](): {"eval", "rules", "alertCfg", "alerts", "ruleIdx", "warned", "hists", "histPoints", "coh",
			"steps", "selectBuf", "histView", "histOne"},
		reflect.TypeFor[series](): {"id", "key", "lastTs", "rulesOff", "rulesN", "alerts", "gapMark", "src", "hist", "seen"},
		// dead and rescan are derived: Restore compacts, and rescan only
		// saves work.
		reflect.TypeFor[evictState](): {"free", "cursor", "next", "dead", "rescan"},
		reflect.TypeFor[tracker]():    {"anchorTs", "recv", "onTime", "cad", "anchorK", "nextK", "lateK", "lag", "gap", "link", "missRun", "flags", "learnN"},
		reflect.TypeFor[learning]():   {"lastArrival", "lag", "diffs"},
		reflect.TypeFor[absence]():    {"since", "inhibitedBy"},
		// alert.State encodes itself (alert.State.AppendBinary).
		reflect.TypeFor[history]():      {"pts", "head", "n", "keep"},
		reflect.TypeFor[cohorts]():      {"rules", "byRule", "members", "aux", "next"},
		reflect.TypeFor[cohortRule]():   {"ri", "win", "grace", "k", "started", "keys", "cohorts", "over", "noneDead"}, // noneDead is derived: it only saves a look
		reflect.TypeFor[cohort]():       {"labels", "id", "acc", "state", "since", "live"},                             // live is derived: the series rejoin on Restore
		reflect.TypeFor[cohortAcc]():    {"series", "samples", "sum", "inc", "min", "max"},
		reflect.TypeFor[cohortMember](): {"rule", "cohort", "last"},
		reflect.TypeFor[badInputs]():    {"list", "names", "byName", "overflow", "next"},
		reflect.TypeFor[badInput]():     {"open", "reported", "since", "last", "interval", "total", "examples"},
		reflect.TypeFor[loopGuard]():    {"open", "since", "last", "count", "origin", "name"},
		reflect.TypeFor[wheel]():        {"heads", "mask", "next", "trackers", "n"},
		// The sink and its error are the call's; the events not sent yet
		// are kept (outbox.appendTo).
		reflect.TypeFor[outbox](): {"sink", "events", "sent", "err"},
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
