package main

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// versionText describes the binary from the build information the Go
// toolchain embeds: the module version (a tag, or a pseudo-version made
// from the commit) and the VCS revision, so that a bug report names the
// exact source. Nothing is set by hand at build time, so nothing can be
// forgotten.
func versionText() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "parley (no build information)\n"
	}
	return formatVersion(bi)
}

func formatVersion(bi *debug.BuildInfo) string {
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	var b strings.Builder
	fmt.Fprintf(&b, "parley %s\n", bi.Main.Version)
	if rev := settings["vcs.revision"]; rev != "" {
		fmt.Fprintf(&b, "revision %s", rev)
		if t := settings["vcs.time"]; t != "" {
			fmt.Fprintf(&b, " of %s", t)
		}
		if settings["vcs.modified"] == "true" {
			b.WriteString(", with uncommitted changes")
		}
		b.WriteString("\n")
	} else {
		b.WriteString("revision unknown (built without version control information)\n")
	}
	fmt.Fprintf(&b, "built with %s\n", bi.GoVersion)
	return b.String()
}
