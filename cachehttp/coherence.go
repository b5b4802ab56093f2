package cachehttp

import (
	"context"
	"errors"
	"net"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// defaultCoherencePing is how often an idle coherence subscription is
// checked with a PING; a subscription that answers neither a message nor
// the PING within two intervals is treated as lost.
const defaultCoherencePing = time.Second

// Cross-instance coherence. Every invalidation this cache makes (tags, soft
// purge, pattern, delete, version bump) is published on one channel,
// "<prefix>inv"; every store publishes an overwrite of its key from inside
// the store script, atomically with the write. Each cache with an L1 (or
// Options.Coherence) subscribes and drops the matching L1 entries. While the
// subscription is down, or not yet confirmed, L1 is flushed and bypassed and
// namespace versions are re-read from Redis.
//
// Message format: one kind byte, then for msgOverwrite the physical key name
// as is, and for the other kinds uvarint-counted strings (appendStrings).
const (
	msgOverwrite = 'o' // physical key name (published by store.lua)
	msgKeys      = 'k' // physical key names
	msgTags      = 't' // tags (hard or soft)
	msgPattern   = 'p' // one logical-key glob
	msgVersion   = 'v' // namespace, new version
	msgFlush     = 'f' // everything
)

func (l layout) channel() string { return l.prefix + "inv" }

func encodeMsg(kind byte, items []string) []byte {
	return appendStrings([]byte{kind}, items)
}

// published applies an invalidation to this process's L1 and publishes it
// for the other instances. A failed publish is logged: the others then keep
// their L1 copies until their L1 TTL (or until their subscription, broken
// too in most such cases, drops and flushes them).
func (c *Cache) published(ctx context.Context, kind byte, items []string) {
	msg := encodeMsg(kind, items)
	c.applyMsg(msg)
	if c.client == nil || !c.mon.Available() {
		return
	}
	rctx, cancel := c.redisCtx(ctx)
	err := c.client.Publish(rctx, c.l.channel(), msg).Err()
	cancel()
	if err != nil {
		c.opts.Logger.Warn("cachehttp: publishing an invalidation failed; other instances' L1 copies expire by their L1 TTL",
			"error", err)
	}
}

// applyMsg applies one invalidation message to the L1 and the namespace
// versions. A malformed message flushes the L1.
func (c *Cache) applyMsg(msg []byte) {
	if len(msg) == 0 {
		return
	}
	kind := msg[0]
	if kind == msgOverwrite {
		if len(msg) < 1+originLen {
			c.l1Flush()
			return
		}
		if c.redis == nil || string(msg[1:1+originLen]) != c.redis.origin {
			c.l1DropNames(string(msg[1+originLen:]))
		}
		return
	}
	items, rest, ok := readStrings(msg[1:])
	if !ok || len(rest) != 0 {
		c.l1Flush()
		return
	}
	switch kind {
	case msgKeys:
		c.l1DropNames(items...)
	case msgTags:
		c.l1DropTags(items)
	case msgPattern:
		if len(items) != 1 {
			c.l1Flush()
			return
		}
		if sp, err := scanPattern(items[0]); err == nil {
			keep := patternKeep(items[0])
			c.l1DropWhere(func(_ string, it *l1Item) bool { return globMatch(sp, it.esc) && keep(it.esc) })
		}
	case msgVersion:
		if len(items) != 2 {
			c.l1Flush()
			return
		}
		var ver int64
		for _, ch := range items[1] {
			if ch < '0' || ch > '9' {
				c.l1Flush()
				return
			}
			ver = ver*10 + int64(ch-'0')
		}
		c.setVersion(items[0], ver)
		c.l1DropNamespace(items[0])
	default:
		c.l1Flush()
	}
}

// coherence is the subscriber goroutine.
type coherence struct {
	c      *Cache
	ps     *redis.PubSub
	ping   time.Duration
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
}

// coherent reports whether the subscription is confirmed and healthy: the
// L1 may be used and pushed namespace versions trusted.
func (c *Cache) coherent() bool { return c.coh != nil && c.cohUp.Load() }

// startCoherence starts the subscriber. It does no I/O: the PubSub is
// created without channels (go-redis dials only to subscribe), and the
// subscriber goroutine subscribes, so New never waits for Redis.
func (c *Cache) startCoherence() {
	h := &coherence{c: c, ping: c.opts.CoherencePing, done: make(chan struct{})}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	h.ps = c.client.Subscribe(h.ctx)
	c.coh = h
	go h.run()
}

// stop ends the subscriber and waits for it.
func (h *coherence) stop() {
	h.cancel()
	_ = h.ps.Close()
	<-h.done
}

func (h *coherence) run() {
	defer close(h.done)
	c := h.c
	// A failed SUBSCRIBE is retried by the next Receive, which reconnects
	// and subscribes to the channels recorded here.
	_ = h.ps.Subscribe(h.ctx, c.l.channel())
	pending := false // a PING is unanswered
	for {
		msg, err := h.ps.ReceiveTimeout(h.ctx, h.ping)
		if h.ctx.Err() != nil {
			return
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if pending {
					h.down()
				}
				pending = true
				if err := h.ps.Ping(h.ctx); err != nil {
					h.down()
				}
				continue
			}
			h.down()
			pending = false
			// The next Receive reconnects and subscribes again; do not spin
			// while Redis is unreachable.
			t := time.NewTimer(min(h.ping, 100*time.Millisecond))
			select {
			case <-h.ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			continue
		}
		pending = false
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				h.up()
			}
		case *redis.Pong:
			h.up() // a connection that answers is subscribed (go-redis resubscribes on reconnect)
		case *redis.Message:
			c.applyMsg([]byte(m.Payload))
		}
	}
}

func (h *coherence) down() {
	c := h.c
	if c.cohUp.Swap(false) {
		c.opts.Logger.Warn("cachehttp: coherence subscription lost; L1 flushed and bypassed until it is back")
	}
	c.l1Flush()
	c.forgetVersions()
}

func (h *coherence) up() {
	c := h.c
	if c.cohUp.Load() {
		return
	}
	// Invalidations published while the subscription was down were
	// missed: start from an empty L1 and re-read versions.
	c.l1Flush()
	c.forgetVersions()
	c.cohUp.Store(true)
}

// patternKeep returns the exact decision of InvalidatePattern for an escaped
// key (suffixes stripped, unescaped, matched against the glob); hashed keys
// match only a pattern of '*' alone.
func patternKeep(pattern string) func(esc string) bool {
	all := onlyStars(pattern)
	return func(esc string) bool {
		if i := strings.IndexByte(esc, '|'); i >= 0 {
			esc = esc[:i]
		}
		logical, ok := unescapeKey(esc)
		if !ok {
			return all
		}
		return globMatch(pattern, logical)
	}
}

// overwriteMsg is the message store.lua publishes for a store of name.
// This instance drops its own L1 copy right after the store returns
// (redisBackend.stored), so the message carries the origin to be skipped
// here: a copy this instance reads back after its own store is new.
func overwriteMsg(channel, origin, name string) string {
	if channel == "" {
		return ""
	}
	return string(msgOverwrite) + origin + name
}

// originLen is the length of an instance's origin tag.
const originLen = 12

func newOrigin() string {
	const digits = "0123456789abcdefghijklmnopqrstuvwxyz"
	b := newToken()[1 : 1+originLen]
	for i := range b {
		b[i] = digits[int(b[i])%len(digits)]
	}
	return string(b)
}
