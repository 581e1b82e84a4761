package server

import (
	"crypto/rand"
	"fmt"

	"github.com/parley-sip/parley/auth"
	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/gruu"
)

// gruuIssuer seals temporary GRUUs under the server's secret in the data
// directory, which digest nonces use too: GRUUs handed out before a
// restart keep working after it, and on every node sharing the directory's
// secret. Without a data directory (some tests) the key lives as long as
// the process.
func gruuIssuer(cfg *config.Config) (*gruu.Issuer, error) {
	var secret []byte
	if cfg.DataDir != "" {
		s, err := auth.LoadOrCreateSecret(cfg.DataDir)
		if err != nil {
			return nil, fmt.Errorf("server secret in %s: %w", cfg.DataDir, err)
		}
		secret = s
	} else {
		secret = make([]byte, 32)
		_, _ = rand.Read(secret) // never fails on supported systems
	}
	return gruu.NewIssuer(secret)
}
