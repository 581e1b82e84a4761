package main

import (
	"bytes"
	"runtime/debug"
	"strings"
	"testing"
)

func TestHelpAndUsage(t *testing.T) {
	for _, tc := range []struct {
		args           []string
		code           int
		stdout, stderr string
	}{
		{[]string{"serve", "--help"}, 0, "--admin HOST:PORT", ""},
		{[]string{"serve", "-h"}, 0, "replaces the configured listeners", ""},
		{[]string{"help"}, 0, "parley user add|passwd|del|list|import", ""},
		{[]string{"serve", "--colour"}, 2, "", "flag provided but not defined: -colour"},
		{[]string{"serve", "extra"}, 2, "", `unexpected argument "extra"`},
		{nil, 2, "", "parley check-config FILE"},
	} {
		var out, errb bytes.Buffer
		code := run(tc.args, &out, &errb)
		if code != tc.code || !strings.Contains(out.String(), tc.stdout) || !strings.Contains(errb.String(), tc.stderr) ||
			(tc.stdout == "") != (out.Len() == 0) {
			t.Errorf("parley %v: exit %d\nstdout %q\nstderr %q\nwant exit %d, stdout with %q, stderr with %q",
				tc.args, code, out.String(), errb.String(), tc.code, tc.stdout, tc.stderr)
		}
	}
}

func TestAdminFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "127.0.0.1:8080"},
		{[]string{"--admin", "127.0.0.1:9191"}, "127.0.0.1:9191"},
		{[]string{"--admin", ""}, ""},
	} {
		f, err := parseServeFlags(tc.args)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := f.load()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Admin.Listen != tc.want {
			t.Errorf("%v: admin.listen %q, want %q", tc.args, cfg.Admin.Listen, tc.want)
		}
	}
}

func TestFormatVersion(t *testing.T) {
	setting := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	for _, tc := range []struct {
		name     string
		settings []debug.BuildSetting
		want     string
	}{
		{"clean", setting("vcs.revision", "0123abcd", "vcs.time", "2026-12-07T00:00:00Z", "vcs.modified", "false"),
			"parley v0.1.0\nrevision 0123abcd of 2026-12-07T00:00:00Z\nbuilt with go1.26\n"},
		{"modified", setting("vcs.revision", "0123abcd", "vcs.modified", "true"),
			"parley v0.1.0\nrevision 0123abcd, with uncommitted changes\nbuilt with go1.26\n"},
		{"no vcs", nil,
			"parley v0.1.0\nrevision unknown (built without version control information)\nbuilt with go1.26\n"},
	} {
		bi := &debug.BuildInfo{GoVersion: "go1.26", Main: debug.Module{Path: "github.com/parley-sip/parley/cmd/parley", Version: "v0.1.0"}, Settings: tc.settings}
		if got := formatVersion(bi); got != tc.want {
			t.Errorf("%s:\n%s\nwant\n%s", tc.name, got, tc.want)
		}
	}
}
