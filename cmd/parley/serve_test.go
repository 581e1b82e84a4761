package main

import (
	"bytes"
	"encoding/json"
	"log"
	"log/slog"
	"strings"
	"testing"

	"github.com/parley-sip/parley/config"
)

// TestNewLoggerRoutesEverything: with log_format json, the server's own
// lines, slog.Default's and the standard library log package's are all
// JSON objects of the same shape, at the configured level.
func TestNewLoggerRoutesEverything(t *testing.T) {
	defer slog.SetDefault(slog.Default())
	defer log.SetOutput(log.Writer())
	defer log.SetFlags(log.Flags())

	cfg := config.Default()
	cfg.LogFormat, cfg.LogLevel = config.LogJSON, config.LogInfo
	var buf bytes.Buffer
	own := newLogger(cfg, &buf, new(slog.LevelVar))
	own.Info("own line")
	own.Debug("below the level")
	slog.Default().Warn("a library's slog line")
	log.Printf("a library's log.Printf line")

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := []string{"own line", "a library's slog line", "a library's log.Printf line"}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), buf.String())
	}
	for i, line := range lines {
		var rec struct{ Time, Level, Msg string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil || rec.Time == "" || rec.Level == "" {
			t.Errorf("line %d is not a slog JSON line: %q (%v)", i, line, err)
		}
		if rec.Msg != want[i] {
			t.Errorf("line %d msg %q, want %q", i, rec.Msg, want[i])
		}
	}
}
