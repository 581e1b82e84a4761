package server

import (
	"log/slog"

	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/proxy"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transaction"
	"github.com/parley-sip/parley/transport"
)

// The functions here translate the config schema into each layer's own
// configuration, so that no layer imports the config package.

func transportConfig(cfg *config.Config, log *slog.Logger) transport.Config {
	tc := transport.Config{
		TCPIdleTimeout:      cfg.TCP.IdleTimeout.Duration(),
		TCPMessageTimeout:   cfg.TCP.MessageTimeout.Duration(),
		TLSHandshakeTimeout: cfg.TLS.HandshakeTimeout.Duration(),
		MaxConnections:      cfg.TCP.MaxConnections,
		MaxConnectionsPerIP: cfg.TCP.MaxConnectionsPerIP,
		MaxBuffer:           cfg.TCP.MaxBuffer,
		TLSCertFile:         cfg.TLS.CertFile,
		TLSKeyFile:          cfg.TLS.KeyFile,
		TLSNames:            tlsNames(cfg),
		ClientAuth:          transport.ClientAuth(cfg.TLS.ClientAuth),
		DataDir:             cfg.DataDir,
		WSAllowedOrigins:    cfg.WebSocket.AllowedOrigins,
		WSPingInterval:      cfg.WebSocket.PingInterval.Duration(),
		WSHandshakeTimeout:  cfg.WebSocket.HandshakeTimeout.Duration(),
		WSMaxRequestBytes:   cfg.WebSocket.MaxRequestBytes,
		Limits:              sip.Limits{MaxSize: cfg.Limits.MaxMessageSize, MaxHeaders: sip.DefaultLimits.MaxHeaders, MaxLineLength: sip.DefaultLimits.MaxLineLength},
		Logger:              log,
	}
	for _, l := range cfg.Listen {
		tc.Listeners = append(tc.Listeners, transport.ListenerConfig{
			Proto:     transport.Proto(l.Proto),
			Host:      l.Host,
			Port:      l.Port,
			Advertise: l.Advertise,
		})
	}
	return tc
}

func transactionConfig(cfg *config.Config, log *slog.Logger) transaction.Config {
	return transaction.Config{
		T1:              cfg.Transaction.T1.Duration(),
		T2:              cfg.Transaction.T2.Duration(),
		T4:              cfg.Transaction.T4.Duration(),
		MaxTransactions: cfg.Transaction.MaxTransactions,
		MaxInFlight:     cfg.Transaction.MaxInFlight,
		Logger:          log,
	}
}

func proxyConfig(cfg *config.Config, domains func(string) bool) proxy.Config {
	pc := proxy.Config{
		Domains:      domains,
		RecordRoute:  cfg.Proxy.RecordRoute,
		TimerC:       cfg.Proxy.TimerC.Duration(),
		Stateless:    cfg.Mode == config.ModeStateless,
		ServerHeader: cfg.ServerHeader,
		Secret:       secret(),
	}
	switch cfg.Proxy.Forking {
	case config.ForkingParallel:
		pc.Fork = proxy.ForkParallel
	case config.ForkingSerial:
		pc.Fork = proxy.ForkSerial
	}
	return pc
}
