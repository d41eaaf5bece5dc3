package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// buildVersion may be set at link time (-ldflags "-X main.buildVersion=v1.2.3");
// otherwise the module version go install recorded is used.
var buildVersion string

// version returns faultline's version: the one set at link time, or the
// module version go install recorded (v1.2.3), or "(devel)" for a build
// from a checkout, with its VCS revision when one was recorded.
func version() string {
	if buildVersion != "" {
		return buildVersion
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	if v == "(devel)" {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " " + s.Value[:12]
			}
		}
	}
	return v
}

func goVersion() string { return runtime.Version() }

func printVersion(w io.Writer) {
	fmt.Fprintf(w, "faultline %s (%s, %s/%s)\n", version(), goVersion(), runtime.GOOS, runtime.GOARCH)
}
