package server

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/message"
	"github.com/parley-sip/parley/proxy"
)

// offlineMessages is the store of MESSAGEs for users who are offline,
// with the deliverer that hands them over when the user registers.
type offlineMessages struct {
	store   message.Store
	deliver *message.Deliverer
}

// openMessages opens the message store in the storage engine's
// database (the SQLite file or the PostgreSQL schema the other stores
// use), or in memory with storage.engine memory.
func openMessages(cfg *config.Config, clk clock.Clock) (message.Store, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	switch cfg.Storage.Engine {
	case config.EngineMemory:
		return message.NewMemory(clk), nil
	case config.EnginePostgres:
		st, err := message.OpenPostgres(ctx, cfg.Storage.DSN, clk)
		if err != nil {
			return nil, fmt.Errorf("storage.dsn: offline messages: %w", err)
		}
		return st, nil
	}
	st, err := message.Open(ctx, string(config.EngineSQLite), cfg.DataDir, "", clk)
	if err != nil {
		return nil, fmt.Errorf("offline messages in %s: %w", cfg.DataDir, err)
	}
	return st, nil
}

// messageLimits reads the messages block in force, so that a reload
// applies at the next MESSAGE.
func (s *Server) messageLimits() message.Limits {
	m := s.settings.Load().cfg.Messages
	return message.Limits{
		Off:     !m.Store,
		MaxSize: m.MaxSize,
		Quota:   message.Quota{MaxCount: m.MaxCount, MaxBytes: int64(m.MaxBytes)},
		MaxAge:  m.MaxAge.Duration(),
	}
}

// addMessages opens the store and puts the message stage before
// location in pcfg's stages.
func (s *Server) addMessages(cfg *config.Config, pcfg *proxy.Config) error {
	clk := clock.Default()
	store, err := openMessages(cfg, clk)
	if err != nil {
		return err
	}
	stage := &message.Stage{Store: store, Bindings: s.store, Domains: s.isOurDomain, Limits: s.messageLimits, Clock: clk}
	if s.storage.cached != nil {
		stage.Users = s.storage.cached
	}
	if pcfg.Stages, err = proxy.Insert(pcfg.Stages, "location", stage); err != nil {
		store.Close()
		return err
	}
	s.msgs = &offlineMessages{store: store, deliver: &message.Deliverer{
		Store: store, Send: s.out.Do, Limits: s.messageLimits, Clock: clk, Log: s.events,
	}}
	return nil
}

// startMessages follows registrations once the proxy exists: each new
// binding gets its user's waiting messages.
func (s *Server) startMessages() {
	s.msgs.deliver.Target = s.proxy.BindingTarget
	s.watchRegistrations(s.msgs.deliver.Registered)
}

// messageSweep is how often messages past messages.max_age are dropped.
const messageSweep = time.Minute

// sweepMessages drops old messages until ctx ends.
func (s *Server) sweepMessages(ctx context.Context) {
	t := time.NewTicker(messageSweep)
	defer t.Stop()
	for {
		if n, err := s.msgs.deliver.Sweep(ctx); err != nil {
			s.events.Warn("message: expiry sweep failed", "error", err)
		} else if n > 0 {
			s.events.Info("message: expired messages dropped", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// closeMessages stops the deliveries in progress and closes the store.
func (s *Server) closeMessages() {
	if s.msgs == nil {
		return
	}
	s.msgs.deliver.Close()
	_ = s.msgs.store.Close()
}

// MessageStore returns the offline message store, for the admin API.
func (s *Server) MessageStore() message.Store {
	if s.msgs == nil {
		return nil
	}
	return s.msgs.store
}

// registerMessageMetrics adds the message store's figures to /metrics.
func (s *Server) registerMessageMetrics(reg *prometheus.Registry) {
	d := s.msgs.deliver
	var last atomic.Int64 // what a failing database leaves the gauge at
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "parley_messages_stored",
			Help: "MESSAGEs stored for offline users, waiting for delivery."}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if n, _, err := s.msgs.store.Totals(ctx); err == nil {
				last.Store(int64(n))
			}
			return float64(last.Load())
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "parley_messages_delivered_total",
			Help: "Stored MESSAGEs a phone accepted (2xx) since start."}, func() float64 { return float64(d.Delivered()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "parley_messages_expired_total",
			Help: "Stored MESSAGEs dropped unread for messages.max_age since start."}, func() float64 { return float64(d.Expired()) }),
	)
}

// registerClusterMetrics adds the cluster bus's figures to /metrics, on
// a cluster node.
func (s *Server) registerClusterMetrics(reg *prometheus.Registry) {
	b := s.storage.bus
	if b == nil {
		return
	}
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "parley_cluster_notices_dropped_total",
		Help: "Notices to the other cluster nodes (presence changes, bans) dropped unsent: the queue was full or Redis failed."},
		func() float64 { return float64(b.Dropped()) }))
}
