package sessiontimer

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/parley-sip/parley/sip"
)

func golden(t *testing.T, name string) *sip.Message {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	m, err := sip.Parse(data)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return m
}

func uitoa(n uint32) string { return strconv.FormatUint(uint64(n), 10) }
