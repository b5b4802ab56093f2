package cachehttp

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/aura-platform/redishttp/fallback"
	"github.com/aura-platform/redishttp/middleware"
	"github.com/redis/go-redis/v9"
)

// defaultVersionRefresh is how long a namespace version read from Redis is
// trusted in-process while no coherence log reader pushes bumps.
const defaultVersionRefresh = time.Second

// versionPushedRefresh is how long a namespace version is trusted while the
// coherence log reader is caught up (bumps are pushed); a safety net only.
const versionPushedRefresh = 30 * time.Second

// Namespace versioning: entries of a route with Route.Namespace (or stored
// with WithNamespace) carry "|n<ns>.<version>" in their key, and entries of
// a cache with Options.Schema carry "|s<digest>". BumpVersion increments the
// namespace's version in Redis (one INCR, logged in the same script on a
// single node): every older entry becomes
// unreachable at once and is left to expire. Tag sets are shared by all
// versions, so tag invalidation reaches every version's entries.

type nsVersion struct {
	v  int64
	at time.Time // when read from Redis
}

type versions struct {
	mu sync.Mutex
	m  map[string]nsVersion
}

func (l layout) versionKey(ns string) string { return l.prefix + "v:" + middleware.KeyPart(ns) }

// keySuffix returns the suffix entries of namespace ns carry: the schema
// digest and the namespace version ("" when neither applies).
func (c *Cache) keySuffix(ctx context.Context, ns string) (string, error) {
	if ns == "" {
		return c.schemaSuffix, nil
	}
	v, err := c.version(ctx, ns)
	if err != nil {
		return "", err
	}
	return c.schemaSuffix + "|n" + middleware.KeyPart(ns) + "." + strconv.FormatInt(v, 10), nil
}

// version returns the current version of ns: from the in-process copy while
// it is recent enough, otherwise from Redis.
func (c *Cache) version(ctx context.Context, ns string) (int64, error) {
	c.vers.mu.Lock()
	cur, ok := c.vers.m[ns]
	c.vers.mu.Unlock()
	refresh := c.opts.VersionRefresh
	if c.coherent() {
		refresh = max(refresh, versionPushedRefresh)
	}
	if ok && (c.redis == nil || c.now().Sub(cur.at) < refresh) {
		return cur.v, nil
	}
	if c.redis == nil {
		return 0, nil
	}
	if !c.mon.Available() {
		if ok {
			return cur.v, nil
		}
		return 0, fmt.Errorf("%w: namespace version unknown", fallback.ErrUnavailable)
	}
	rctx, cancel := c.redisCtx(ctx)
	v, err := c.client.Get(rctx, c.l.versionKey(ns)).Int64()
	cancel()
	if errors.Is(err, redis.Nil) {
		v, err = 0, nil
	}
	c.mon.Report(rctx, err)
	if err != nil {
		if ok {
			return cur.v, nil // the last known version: never an older one
		}
		return 0, fmt.Errorf("%w: %w", fallback.ErrUnavailable, err)
	}
	c.setVersion(ns, v)
	return v, nil
}

// setVersion records v for ns unless a newer version is known.
func (c *Cache) setVersion(ns string, v int64) {
	c.vers.mu.Lock()
	defer c.vers.mu.Unlock()
	if cur, ok := c.vers.m[ns]; ok && cur.v > v {
		v = cur.v
	}
	c.vers.m[ns] = nsVersion{v: v, at: c.now()}
}

// forgetVersions drops every in-process version (the coherence log reader
// missed entries: bumps may have been missed).
func (c *Cache) forgetVersions() {
	c.vers.mu.Lock()
	clear(c.vers.m)
	c.vers.mu.Unlock()
}

// BumpVersion invalidates every entry of namespace ns (routes with
// Route.Namespace ns, WithNamespace(ns) data) in O(1): it increments the
// namespace's version in Redis, so every instance stops reading the old
// entries (at once on instances with coherence, within
// Options.VersionRefresh on the others); the old entries are left to expire.
// It returns the new version. When Redis is unreachable the version is
// bumped in this process only and fallback.ErrUnavailable is returned.
func (c *Cache) BumpVersion(ctx context.Context, ns string) (int64, error) {
	if ns == "" {
		return 0, fmt.Errorf("%w: empty namespace", ErrInvalidOptions)
	}
	local := func() int64 {
		c.vers.mu.Lock()
		defer c.vers.mu.Unlock()
		v := c.vers.m[ns].v + 1
		c.vers.m[ns] = nsVersion{v: v, at: c.now()}
		return v
	}
	if c.redis == nil {
		v := local()
		c.l1DropNamespace(ns)
		return v, nil
	}
	rctx, cancel := c.redisCtx(ctx)
	var v int64
	var err error
	logged := c.logsInScript()
	if logged {
		// INCR and the log entry in one script (coherence.go).
		head := binary.AppendUvarint(binary.AppendUvarint([]byte{msgVersion}, 2), uint64(len(ns)))
		v, err = bumpVersionScript.Run(rctx, c.client, []string{c.l.versionKey(ns), c.l.logKey()},
			c.redis.logMax, append(head, ns...)).Int64()
	} else {
		v, err = c.client.Incr(rctx, c.l.versionKey(ns)).Result()
	}
	cancel()
	c.mon.Report(rctx, err)
	if err != nil {
		lv := local()
		c.l1DropNamespace(ns)
		return lv, fmt.Errorf("%w: %w", fallback.ErrUnavailable, err)
	}
	c.setVersion(ns, v)
	c.l1DropNamespace(ns)
	c.published(ctx, msgVersion, []string{ns, strconv.FormatInt(v, 10)}, logged)
	c.emit(middleware.CacheInvalidate, "")
	return v, nil
}

// schemaSuffixOf returns the key suffix for Options.Schema.
func schemaSuffixOf(schema string) string {
	if schema == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(schema))
	return "|s" + hex.EncodeToString(sum[:6])
}

// WithNamespace puts the entry in namespace ns, invalidated as a whole by
// BumpVersion. Default none.
func WithNamespace(ns string) LoadOption { return func(o *loadOptions) { o.namespace = ns } }
