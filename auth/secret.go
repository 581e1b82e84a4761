package auth

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// SecretFile is the name of the nonce secret in the data directory.
const SecretFile = "auth.secret"

// secretLen is the size of a generated secret: the HMAC-SHA256 key size.
const secretLen = 32

// minSecretLen is the shortest secret accepted from a file: an operator may
// provide one shared by a cluster, but a short one would be guessable.
const minSecretLen = 16

// LoadOrCreateSecret returns the nonce secret kept in dataDir, creating the
// directory and a random 32-byte secret (mode 0600) on first use. Keeping
// it on disk is what lets nonces survive a restart; copying the file to
// every node of a cluster lets each accept the others' nonces. Two
// processes starting at once agree on one secret: the file is published
// with a link, which fails for the loser, who then reads the winner's.
func LoadOrCreateSecret(dataDir string) ([]byte, error) {
	path := filepath.Join(dataDir, SecretFile)
	if b, err := readSecret(path); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return b, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	secret := make([]byte, secretLen)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	if err := publish(path, secret); errors.Is(err, fs.ErrExist) {
		return readSecret(path)
	} else if err != nil {
		return nil, err
	}
	return secret, nil
}

func readSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) < minSecretLen {
		return nil, fmt.Errorf("auth: %s holds %d bytes; a secret needs at least %d", path, len(b), minSecretLen)
	}
	return b, nil
}

// publish writes b to a temporary file and links it to path, so that path
// never exists half-written.
func publish(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".auth.secret-*")
	if err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("auth: write secret: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return fmt.Errorf("auth: publish secret: %w", err)
	}
	return nil
}
