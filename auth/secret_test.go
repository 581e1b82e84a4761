package auth_test

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/parley-sip/parley/auth"
)

func TestLoadOrCreateSecret(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	first, err := auth.LoadOrCreateSecret(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 32 {
		t.Fatalf("secret of %d bytes, want 32", len(first))
	}
	fi, err := os.Stat(filepath.Join(dir, auth.SecretFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret file mode %v, want 0600", fi.Mode().Perm())
	}
	again, err := auth.LoadOrCreateSecret(dir)
	if err != nil || !bytes.Equal(first, again) {
		t.Fatalf("second load: %x, %v; want the first secret", again, err)
	}
}

// TestSecretConcurrentCreate starts several "servers" on one empty data
// directory: all must end up with the same secret.
func TestSecretConcurrentCreate(t *testing.T) {
	dir := t.TempDir()
	const n = 8
	got := make([][]byte, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			var err error
			if got[i], err = auth.LoadOrCreateSecret(dir); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for i := 1; i < n; i++ {
		if !bytes.Equal(got[0], got[i]) {
			t.Fatalf("process %d got another secret", i)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("data directory holds %d files, want only the secret", len(entries))
	}
}

func TestSecretTooShort(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, auth.SecretFile), []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := auth.LoadOrCreateSecret(dir); err == nil {
		t.Fatal("a 5-byte secret was accepted")
	}
}
