package server

import (
	"slices"
	"testing"

	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/transport"
)

// A listener protocol the config accepts must have a transport driver,
// and a driver must be configurable: a new transport is one driver plus
// its config name, and this catches either half missing.
func TestConfigProtocolsHaveDrivers(t *testing.T) {
	for _, p := range config.Protocols {
		if !transport.Proto(p).Known() {
			t.Errorf("config accepts %q, which no transport driver speaks", p)
		}
	}
	for _, d := range transport.Drivers() {
		if !slices.Contains(config.Protocols, config.Proto(d.Proto())) {
			t.Errorf("transport driver %q cannot be configured: add it to config.Protocols", d.Proto())
		}
	}
}
