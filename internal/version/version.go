// Package version tells which build of fieldsync is running. Release builds
// set Version with -ldflags "-X github.com/fieldsync/fieldsync/internal/version.Version=v1.2.3";
// other builds fall back to the module version or VCS revision Go records.
package version

import (
	"runtime/debug"
)

// Version is set at link time; empty means "ask the build info".
var Version string

// String returns the version: the linked one, else the main module's
// version, else its VCS revision (with "+dirty" for uncommitted changes),
// else "devel".
func String() string {
	if Version != "" {
		return Version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	return fromBuildInfo(bi)
}

func fromBuildInfo(bi *debug.BuildInfo) string {
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if rev == "" {
		return "devel"
	}
	return "devel-" + rev[:min(12, len(rev))] + dirty
}

// Line is what --version prints: "<program> <version> (<go version>)".
func Line(program string) string {
	goVersion := "unknown go"
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
	}
	return program + " " + String() + " (" + goVersion + ")"
}
