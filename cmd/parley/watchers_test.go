package main

import (
	"bytes"
	"strings"
	"testing"
)

func runWatchersCmd(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := watchersCommand(args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestWatchersCommand drives the lists as an operator would, against
// the SQLite database of a data directory, and checks the exit status
// and output of each step.
func TestWatchersCommand(t *testing.T) {
	dir := t.TempDir()
	steps := []struct {
		args    []string
		code    int
		out, in string // out: stdout contains; in: stderr contains
	}{
		{args: []string{"list"}, in: "no watcher entries in sqlite "},
		{args: []string{"allow", "bob@example.com", "sip:carol@Example.NET"}, out: "carol@example.net on the allow list"},
		{args: []string{"list", "nobody@example.com"}, in: "no watcher entries for nobody@example.com in sqlite "},
		{args: []string{"block", "--data-dir", dir, "bob@example.com", "example.org"}, out: "example.org on the block list"},
		{args: []string{"block", "bob@example.com", "carol@example.net"}, out: "on the block list"},
		{args: []string{"list", "bob@example.com"}, out: "bob@example.com\tblock\tcarol@example.net\nbob@example.com\tblock\texample.org\n"},
		{args: []string{"remove", "bob@example.com", "example.org"}, out: "example.org removed"},
		{args: []string{"remove", "bob@example.com", "example.org"}, code: 1, in: "on neither of bob@example.com's lists"},
		{args: []string{"list"}, out: "bob@example.com\tblock\tcarol@example.net\n"},
		{args: []string{"allow", "example.com", "carol@example.net"}, code: 2, in: `"example.com" is not USER@DOMAIN`},
		{args: []string{"allow", "bob@example.com", "carol @example.net"}, code: 2, in: "neither USER@DOMAIN nor a DOMAIN"},
		{args: []string{"allow", "bob@example.com"}, code: 2, in: "allow takes 2 to 2 arguments, got 1"},
		{args: []string{"grant", "bob@example.com", "x.example"}, code: 2, in: `unknown subcommand "grant"`},
		{args: []string{"list", "--db", "mysql"}, code: 2, in: `--db "mysql"`},
		{args: []string{"help"}, out: "parley watchers allow"},
	}
	for _, s := range steps {
		args := s.args
		if args[0] != "help" && !strings.Contains(strings.Join(args, " "), "--data-dir") {
			args = append(args, "--data-dir", dir)
		}
		code, out, errs := runWatchersCmd(args...)
		if code != s.code || !strings.Contains(out, s.out) || !strings.Contains(errs, s.in) {
			t.Errorf("parley watchers %s: exit %d\nstdout %q\nstderr %q\nwant exit %d, stdout with %q, stderr with %q",
				strings.Join(args, " "), code, out, errs, s.code, s.out, s.in)
		}
	}
}

func TestWatchersMemoryRefused(t *testing.T) {
	code, _, errs := runWatchersCmd("list", "--data-dir", t.TempDir(), "--config", writeFile(t, "parley.yaml", "storage:\n  engine: memory\n"))
	if code != 1 || !strings.Contains(errs, "storage.engine is memory") {
		t.Errorf("memory engine: exit %d, %q", code, errs)
	}
}
