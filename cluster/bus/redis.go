package bus

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	neturl "net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/parley-sip/parley/eventlog"
)

const (
	// opTimeout bounds one PUBLISH and the dial, so that a Redis that
	// stops answering costs notices, not a stuck sender.
	opTimeout = 3 * time.Second
	// retryWait is the pause before subscribing again after the
	// subscription broke.
	retryWait = time.Second
	// queueLen bounds the notices waiting to be sent; past it they are
	// dropped (and counted): publishing never blocks a SIP request.
	queueLen = 4096
	// idLen is the length of a node's id on the wire (hex).
	idLen = 16
	// sendBatch is how many queued notices one write to Redis carries at
	// most: a node publishes about one notice per REGISTER, and one
	// round trip each would cost a system call per notice on both ends
	// and, past a few thousand a second, fill the queue.
	sendBatch = 256
)

// Redis is a Bus over Redis pub/sub: every node subscribes to one
// channel, PREFIX + "bus", and publishes to it. Redis pub/sub keeps
// nothing: a node that is not subscribed when a notice is published never
// gets it, which is why the bus is for hints only (see OnResume).
type Redis struct {
	router
	c       rueidis.Client
	channel string
	id      string
	health  *eventlog.Outage
	queue   chan []byte
	dropped atomic.Uint64
	stop    context.CancelFunc
	wg      sync.WaitGroup
	once    sync.Once
}

// OpenRedis connects to the Redis at url (as storage.redis_url takes it)
// and starts receiving on prefix's channel. Outages of the bus are logged
// to log once when they start and once when they end.
func OpenRedis(ctx context.Context, url, prefix string, log *slog.Logger) (*Redis, error) {
	opt, err := rueidis.ParseURL(url)
	if err != nil {
		var ue *neturl.Error
		if errors.As(err, &ue) {
			err = ue.Err // not the URL, which may hold a password
		}
		return nil, fmt.Errorf("cluster/bus: Redis URL: %w", err)
	}
	opt.DisableCache = true
	opt.DisableRetry = true
	opt.Dialer.Timeout = opTimeout
	opt.ConnWriteTimeout = opTimeout
	opt.ClientName = "parley-bus"
	c, err := rueidis.NewClient(opt)
	if err != nil {
		return nil, fmt.Errorf("cluster/bus: %s: %w", opt.InitAddress, err)
	}
	id := make([]byte, idLen/2)
	rand.Read(id)
	r := &Redis{c: c, channel: prefix + "bus", id: hex.EncodeToString(id), queue: make(chan []byte, queueLen),
		health: &eventlog.Outage{What: "cluster bus", Log: log}}
	subscribed := make(chan struct{})
	life, stop := context.WithCancel(context.Background())
	r.stop = stop
	r.wg.Go(func() { r.receive(life, subscribed) })
	r.wg.Go(func() { r.send(life) })
	select {
	case <-subscribed:
		return r, nil
	case <-ctx.Done():
		r.Close()
		return nil, fmt.Errorf("cluster/bus: subscribing at %s: %w", opt.InitAddress, ctx.Err())
	}
}

// Publish implements Bus.
func (r *Redis) Publish(topic string, payload []byte) {
	select {
	case r.queue <- frame(r.id, topic, payload):
	default:
		r.dropped.Add(1)
	}
}

// Client is the bus's connection to Redis, for the other state a
// cluster keeps in the same Redis (package bans); the bus closes it.
func (r *Redis) Client() rueidis.Client { return r.c }

// Dropped returns how many notices were dropped unsent: the queue was
// full or Redis refused them.
func (r *Redis) Dropped() uint64 { return r.dropped.Load() }

// send publishes the queued notices until ctx ends: whatever is queued
// when a round trip ends goes in the next, in order, up to sendBatch.
func (r *Redis) send(ctx context.Context) {
	cmds := make(rueidis.Commands, 0, sendBatch)
	for {
		select {
		case <-ctx.Done():
			return
		case msg := <-r.queue:
			cmds = r.drain(append(cmds[:0], r.publish(msg)))
			pctx, cancel := context.WithTimeout(ctx, opTimeout)
			res := r.c.DoMulti(pctx, cmds...)
			cancel()
			for _, res := range res {
				if err := res.Error(); err != nil && ctx.Err() == nil {
					r.dropped.Add(1)
					r.health.Failed(err)
				}
			}
		}
	}
}

// drain appends a PUBLISH for each notice queued now, up to sendBatch.
func (r *Redis) drain(cmds rueidis.Commands) rueidis.Commands {
	for len(cmds) < sendBatch {
		select {
		case msg := <-r.queue:
			cmds = append(cmds, r.publish(msg))
		default:
			return cmds
		}
	}
	return cmds
}

func (r *Redis) publish(msg []byte) rueidis.Completed {
	return r.c.B().Publish().Channel(r.channel).Message(rueidis.BinaryString(msg)).Build()
}

// receive keeps the subscription until ctx ends, subscribing again after
// each break; every subscription after the first runs the OnResume
// functions, since notices were lost in between.
func (r *Redis) receive(ctx context.Context, subscribed chan struct{}) {
	first := true
	hook := rueidis.WithOnSubscriptionHook(ctx, func(s rueidis.PubSubSubscription) {
		if s.Kind != "subscribe" {
			return
		}
		r.health.Succeeded()
		if first {
			first = false
			close(subscribed)
			return
		}
		go r.resumed() // not on the connection's reader, which a handler must not hold up
	})
	for ctx.Err() == nil {
		err := r.c.Receive(hook, r.c.B().Subscribe().Channel(r.channel).Build(), func(m rueidis.PubSubMessage) {
			node, topic, payload, ok := unframe(m.Message, idLen)
			if ok && node != r.id {
				r.dispatch(topic, payload)
			}
		})
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errors.New("subscription ended")
		}
		r.health.Failed(err)
		select {
		case <-ctx.Done():
		case <-time.After(retryWait):
		}
	}
}

// Close implements Bus.
func (r *Redis) Close() error {
	r.once.Do(func() {
		r.stop()
		r.c.Close()
		r.wg.Wait()
	})
	return nil
}

var _ Bus = (*Redis)(nil)
