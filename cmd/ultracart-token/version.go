package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// runVersion is the version command (and --version): the module version
// from the build info, with the commit when built from a clone.
func runVersion(_ context.Context, _ *options, e *env) error {
	info, _ := debug.ReadBuildInfo()
	fmt.Fprintln(e.stdout, versionText(info))
	return nil
}

// versionText reads info: "ultracart-token v1.2.0 (go1.26.8)", or for a
// build from a clone "ultracart-token (devel) (commit 0123456789ab,
// modified, go1.26.8)".
func versionText(info *debug.BuildInfo) string {
	version := "(unknown)"
	var details []string
	if info != nil {
		version = info.Main.Version
		settings := map[string]string{}
		for _, s := range info.Settings {
			settings[s.Key] = s.Value
		}
		if rev := settings["vcs.revision"]; rev != "" {
			details = append(details, "commit "+rev[:min(len(rev), 12)])
		}
		if settings["vcs.modified"] == "true" {
			details = append(details, "modified")
		}
	}
	details = append(details, runtime.Version())
	return "ultracart-token " + version + " (" + strings.Join(details, ", ") + ")"
}
