package cachehttp

import (
	"context"
	"fmt"
	"net/http"

	"github.com/aura-platform/redishttp/fallback"
	"github.com/aura-platform/redishttp/internal/recorder"
	"github.com/aura-platform/redishttp/middleware"
)

// both runs f on the Redis backend (when configured and available) and on
// the memory backend, adding up the counts. The memory backend is always
// cleared; a Redis failure is returned wrapped in fallback.ErrUnavailable. When ctx
// ends during the memory step, its error is returned and Redis is not
// tried.
func (c *Cache) both(ctx context.Context, f func(ctx context.Context, b backend) (int, error)) (int, error) {
	n, err := f(ctx, c.memory)
	if err != nil {
		return n, err
	}
	if c.redis == nil {
		return n, nil
	}
	if !c.mon.Available() {
		return n, fmt.Errorf("%w: invalidation reached only the in-memory fallback", fallback.ErrUnavailable)
	}
	rn, err := f(ctx, c.redis)
	c.mon.Report(ctx, err)
	if err != nil {
		return n + rn, fmt.Errorf("%w: %w", fallback.ErrUnavailable, err)
	}
	return n + rn, nil
}

// Delete removes the entries stored under the given logical keys (as passed
// to GetOrLoad and Set, or produced by a route's key function, for entries
// without a user) from Redis and the in-memory fallback, with every variant
// a response's Vary header made of them, and returns how many existed.
func (c *Cache) Delete(ctx context.Context, keys ...string) (int, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	ks := make([]key, 0, 2*len(keys))
	variants := make([]string, 0, len(keys))
	for _, k := range keys {
		esc := escapeKey(k) + c.schemaSuffix
		ks = append(ks, c.l.key(kindData, esc), c.l.key(kindHTTP, esc))
		variants = append(variants, variantTag(esc))
	}
	n, err := c.both(ctx, func(ctx context.Context, b backend) (int, error) {
		if rb, ok := b.(*redisBackend); ok {
			return rb.deleteKeys(ctx, ks, true)
		}
		return b.delete(ctx, ks)
	})
	keysLogged := err == nil && c.logsInScript()
	if err == nil {
		var nv int
		nv, err = c.both(ctx, func(ctx context.Context, b backend) (int, error) { return b.invalidateTags(ctx, variants) })
		n += nv
		c.published(ctx, msgTags, variants, err == nil && c.logsInScript())
	}
	names := make([]string, len(ks))
	for i, k := range ks {
		names[i] = k.name
	}
	c.published(ctx, msgKeys, names, keysLogged)
	c.emitN(middleware.CacheInvalidate, "", int64(n))
	return n, err
}

// InvalidateTags removes every entry carrying any of tags, from Redis and the
// in-memory fallback, and returns how many entries were removed. A load that
// started before the invalidation and finishes after it does not store its
// (possibly outdated) result. Its cost is the entries of tags: in memory an
// index from tags to entries finds them, however many other tags exist.
func (c *Cache) InvalidateTags(ctx context.Context, tags ...string) (int, error) {
	if len(tags) == 0 {
		return 0, nil
	}
	n, err := c.both(ctx, func(ctx context.Context, b backend) (int, error) { return b.invalidateTags(ctx, tags) })
	c.published(ctx, msgTags, tags, err == nil && c.logsInScript())
	c.emitN(middleware.CacheInvalidate, "", int64(n))
	return n, err
}

// InvalidatePattern removes every entry whose logical key matches the Redis
// glob pattern ('*', '?', '[...]', '\' escapes), whatever its route, using
// SCAN + UNLINK in batches on every master (never KEYS or FLUSH*). Matching
// is confined to this cache's prefix; put user input through EscapeGlob so
// it cannot widen the match. Keys longer than 512 bytes once escaped are
// stored hashed and only a pattern of '*' alone reaches them. Route entries
// keyed per user or by Vary are matched on their key without those parts.
// Matching takes at most len(pattern) × len(key) steps per key, so no
// pattern can make it slow; the in-memory walk stops with ctx's error when ctx ends. A malformed
// pattern fails with ErrBadPattern.
func (c *Cache) InvalidatePattern(ctx context.Context, pattern string) (int, error) {
	sp, err := scanPattern(pattern)
	if err != nil {
		return 0, err
	}
	keep := patternKeep(pattern)
	n, err := c.both(ctx, func(ctx context.Context, b backend) (int, error) { return b.invalidateMatch(ctx, sp, keep) })
	c.published(ctx, msgPattern, []string{pattern}, false)
	c.emitN(middleware.CacheInvalidate, "", int64(n))
	return n, err
}

// SoftPurgeTags marks every entry carrying any of tags as stale instead of
// deleting it, and returns how many were marked. A route with
// StaleWhileRevalidate keeps serving a purged entry (X-Cache: STALE) while
// one request per key, across all instances, refreshes it; elsewhere a
// purged entry is a miss (still usable for stale-if-error). Entries stay
// members of their tags, so a later InvalidateTags still removes them. Like
// InvalidateTags, a load that started before the purge does not store its
// result.
func (c *Cache) SoftPurgeTags(ctx context.Context, tags ...string) (int, error) {
	if len(tags) == 0 {
		return 0, nil
	}
	n, err := c.both(ctx, func(ctx context.Context, b backend) (int, error) {
		switch b := b.(type) {
		case *redisBackend:
			return b.softPurgeTags(ctx, tags)
		case *memoryBackend:
			return b.softPurgeTags(tags), nil
		}
		return 0, nil
	})
	c.published(ctx, msgTags, tags, err == nil && c.logsInScript())
	c.emitN(middleware.CacheInvalidate, "", int64(n))
	return n, err
}

// InvalidateOptions adjusts InvalidateOnSuccess.
type InvalidateOptions struct {
	// Soft marks the entries stale (SoftPurgeTags) instead of deleting
	// them, so routes with StaleWhileRevalidate keep serving them while one
	// request refreshes. Default false (InvalidateTags).
	Soft bool
	// Namespaces are bumped (BumpVersion) as well. Default none.
	Namespaces []string
}

// InvalidateOnSuccess returns a middleware for mutation routes: when next
// answers with a 2xx status, the tags that tags computes from the request
// are invalidated (and Namespaces bumped) before the status line reaches the
// client, so a client that reads right after its write never sees the old
// entry. Other statuses invalidate nothing. A failed invalidation is logged
// and the response still goes out; the in-memory fallback is cleared
// regardless. Clearing a user's entries after they change their data is one
// line:
//
//	mux.Handle("PUT /api/subscription", cache.InvalidateOnSuccess(func(r *http.Request) []string {
//		return []string{"user:" + middleware.UserFromContext(r.Context())}
//	}, cachehttp.InvalidateOptions{})(updateSubscription))
func (c *Cache) InvalidateOnSuccess(tags func(*http.Request) []string, opts InvalidateOptions) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			done := false
			invalidate := func(status int) {
				if done || status < 200 || status > 299 {
					return
				}
				done = true
				c.invalidateFor(r, tags, opts)
			}
			rec := recorder.New(w, 0)
			rec.BeforeHeader(func(status int, _ http.Header) { invalidate(status) })
			next.ServeHTTP(rec.Writer(), r)
			if rec.Status() == 0 && !rec.Hijacked() {
				invalidate(http.StatusOK) // net/http sends 200 for a handler that wrote nothing
			}
		})
	}
}

func (c *Cache) invalidateFor(r *http.Request, tags func(*http.Request) []string, opts InvalidateOptions) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*c.mon.CommandTimeout())
	defer cancel()
	var ts []string
	if tags != nil {
		ts = tags(r)
	}
	var err error
	if len(ts) > 0 {
		if opts.Soft {
			_, err = c.SoftPurgeTags(ctx, ts...)
		} else {
			_, err = c.InvalidateTags(ctx, ts...)
		}
	}
	for _, ns := range opts.Namespaces {
		if _, berr := c.BumpVersion(ctx, ns); berr != nil && err == nil {
			err = berr
		}
	}
	if err != nil {
		c.opts.Logger.Error("cachehttp: invalidation after a successful mutation failed",
			"method", r.Method, "error", err)
	}
}
