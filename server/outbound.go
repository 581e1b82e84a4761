package server

import (
	"crypto/rand"
	"fmt"

	"github.com/parley-sip/parley/auth"
	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/flowtoken"
	"github.com/parley-sip/parley/gruu"
)

// outboundKeys makes the keys of temporary GRUUs and flow tokens from
// the server's secret in the data directory, which digest nonces use
// too: GRUUs and record-routes handed out before a restart keep working
// after it, and on every node sharing the secret. Without a data
// directory (some tests) the keys live as long as the process.
func outboundKeys(cfg *config.Config) (*gruu.Issuer, *flowtoken.Signer, error) {
	var secret []byte
	if cfg.DataDir != "" {
		s, err := auth.LoadOrCreateSecret(cfg.DataDir)
		if err != nil {
			return nil, nil, fmt.Errorf("server secret in %s: %w", cfg.DataDir, err)
		}
		secret = s
	} else {
		secret = make([]byte, 32)
		_, _ = rand.Read(secret) // never fails on supported systems
	}
	is, err := gruu.NewIssuer(secret)
	if err != nil {
		return nil, nil, err
	}
	ft, err := flowtoken.NewSigner(secret)
	return is, ft, err
}
