package cachehttp

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aura-platform/redishttp/fallback"
	"github.com/aura-platform/redishttp/middleware"
)

// defaultDataRoute is the route name GetOrLoad and Set report under unless
// WithRoute names another.
const defaultDataRoute = "data"

// LoadOption adjusts one GetOrLoad or Set call.
type LoadOption func(*loadOptions)

type loadOptions struct {
	route        string
	tags         []string
	negativeTTL  time.Duration
	staleIfError time.Duration
	codec        Codec
	namespace    string
}

// WithRoute names the call's route for events and LiveKeys (bounded: a data
// class such as "prices", never a key). Default "data".
func WithRoute(name string) LoadOption { return func(o *loadOptions) { o.route = name } }

// WithTags tags the stored entry, for InvalidateTags.
func WithTags(tags ...string) LoadOption {
	return func(o *loadOptions) { o.tags = append(o.tags, tags...) }
}

// WithNegativeTTL sets how long an ErrNotFound from the loader is cached.
// Default: a tenth of the TTL, at most 30 seconds.
func WithNegativeTTL(d time.Duration) LoadOption {
	return func(o *loadOptions) { o.negativeTTL = d }
}

// WithStaleIfError keeps an entry this long past its TTL and returns it when
// the loader fails. Default 0 (off).
func WithStaleIfError(d time.Duration) LoadOption {
	return func(o *loadOptions) { o.staleIfError = d }
}

// WithCodec sets the codec. Default JSON.
func WithCodec(c Codec) LoadOption { return func(o *loadOptions) { o.codec = c } }

func (c *Cache) loadOpts(ttl time.Duration, opts []LoadOption) (loadOptions, error) {
	o := loadOptions{route: defaultDataRoute, codec: JSON}
	for _, f := range opts {
		f(&o)
	}
	if ttl < time.Millisecond {
		return o, fmt.Errorf("%w: TTL %v is under a millisecond", ErrInvalidOptions, ttl)
	}
	if o.negativeTTL == 0 {
		o.negativeTTL = min(ttl/10, 30*time.Second)
	}
	if o.negativeTTL < time.Millisecond {
		o.negativeTTL = time.Millisecond
	}
	if o.staleIfError < 0 || len(o.route) > 255 || o.route == "" {
		return o, fmt.Errorf("%w: bad route name or StaleIfError", ErrInvalidOptions)
	}
	c.register(o.route)
	return o, nil
}

// GetOrLoad returns the value cached under key (the cache key, as passed to
// Set and Delete) or, on a miss, calls loader once for all concurrent
// callers of the key in this process and, through a fill lease in Redis,
// across instances, and caches its result for ttl.
//
// A loader error is returned and never cached, except ErrNotFound (wrapped or
// not), which is cached for the negative TTL and returned as ErrNotFound.
// With WithStaleIfError a failing loader is answered from the expired entry.
// A waiter whose ctx ends stops waiting without affecting the load; if the
// loading caller's ctx ends first, each waiter loads for itself. When Redis
// is unavailable the in-memory backend is used; cache failures never fail
// the call while the loader works.
func GetOrLoad[T any](ctx context.Context, c *Cache, key string, ttl time.Duration,
	loader func(ctx context.Context) (T, error), opts ...LoadOption) (T, error) {
	var zero T
	o, err := c.loadOpts(ttl, opts)
	if err != nil {
		return zero, err
	}
	if c.opts.Disabled || c.closed.Load() {
		return loader(ctx)
	}
	suffix, err := c.keySuffix(ctx, o.namespace)
	if err != nil {
		return loader(ctx) // the namespace version is unknown: do not cache
	}
	k := c.l.key(kindData, escapeKey(key)+suffix)
	if it := c.l1Get(k.name); it != nil {
		if v, err := decodeValue[T](o.codec, &it.sh.e); err == nil || errors.Is(err, ErrNotFound) {
			c.emit(middleware.CacheHit, o.route)
			return v, err
		}
	}
	call, leader := c.flights.join(k.name)
	for attempt := 0; !leader; attempt++ {
		c.emit(middleware.CacheCoalesced, o.route)
		res, finished := call.wait(ctx, 0)
		if !finished {
			return zero, ctx.Err()
		}
		if res == nil && attempt < maxRejoin {
			call, leader = c.flights.join(k.name) // the leader gave up: take over
			continue
		}
		if res != nil && res.err != nil {
			return zero, res.err
		}
		if res != nil && res.ok {
			v, err := decodeValue[T](o.codec, &res.e)
			if err == nil || errors.Is(err, ErrNotFound) {
				c.emit(middleware.CacheHit, o.route)
				return v, err
			}
		}
		c.emit(middleware.CacheMiss, o.route)
		c.emit(middleware.CacheLoad, o.route)
		return loader(ctx)
	}

	var res *shared
	var token []byte
	bk, onRedis := c.pick()
	defer func() {
		c.flights.finish(k.name, call, res)
		if token != nil {
			rctx, cancel := c.redisCtx(ctx)
			err := bk.release(rctx, k, token)
			cancel()
			c.report(rctx, onRedis, o.route, err)
		}
	}()
	started := c.now()
	gen := c.l1Gen(k.name)
	tok := newToken()
	rctx, cancel := c.redisCtx(ctx)
	raw, err := bk.fetch(rctx, k, tok, c.opts.LeaseTTL)
	cancel()
	c.report(rctx, onRedis, o.route, err)
	noStore := err != nil
	if err == nil && raw == nil {
		token = tok
	}
	if err == nil && isLease(raw) {
		raw, token = c.waitFill(ctx, bk, k, tok)
		if ctx.Err() != nil {
			return zero, ctx.Err() // res nil: a waiter takes over
		}
	}
	var stale *shared
	if raw != nil && !isLease(raw) {
		e, derr := decodeEntry(raw)
		if derr == nil && e.kind == kindHTTP {
			derr = ErrCorruptEntry
		}
		if derr != nil {
			c.dropCorrupt(ctx, bk, k, onRedis, o.route)
		} else {
			sh := &shared{ok: true, e: e}
			now := c.now().UnixMilli()
			switch {
			case now < e.fresh:
				v, err := decodeValue[T](o.codec, &e)
				if err == nil || errors.Is(err, ErrNotFound) {
					res = sh
					if onRedis {
						c.l1Put(k, sh, gen, c.l1MaxAge(0))
					}
					c.emit(middleware.CacheHit, o.route)
					return v, err
				}
				c.emit(middleware.CacheError, o.route) // undecodable: reload
			case now < e.errUntil:
				sh.stale = true
				stale = sh
			}
		}
	}

	c.emit(middleware.CacheMiss, o.route)
	c.emit(middleware.CacheLoad, o.route)
	v, lerr := loader(ctx)
	e := entry{route: o.route, kind: kindData, stored: c.now().UnixMilli(), tags: o.tags}
	switch {
	case lerr == nil:
		b, err := o.codec.Marshal(v)
		if err != nil {
			return v, nil // served, not cached
		}
		e.payload = b
		e.fresh = e.stored + ttl.Milliseconds()
		e.errUntil = e.fresh + o.staleIfError.Milliseconds()
	case errors.Is(lerr, ErrNotFound):
		e.kind = kindNegative
		e.fresh = e.stored + o.negativeTTL.Milliseconds()
		e.errUntil = e.fresh
		lerr = ErrNotFound
	default:
		if stale != nil {
			if sv, err := decodeValue[T](o.codec, &stale.e); err == nil {
				res = stale
				c.emit(middleware.CacheStale, o.route)
				return sv, nil
			}
		}
		if ctx.Err() == nil {
			res = &shared{err: lerr} // the waiters share the error
		}
		return v, lerr
	}
	shareable := &shared{ok: true, loaded: true, e: e}
	if noStore || c.now().Sub(started) > c.opts.MaxLoadTime {
		res = shareable
		return v, lerr
	}
	sctx, scancel := c.redisCtx(ctx)
	stored, err := bk.store(sctx, write{key: k, value: e.encode(), route: o.route, tags: o.tags,
		ttl: time.Duration(e.expiry()-e.stored) * time.Millisecond, token: token, started: started})
	scancel()
	c.report(sctx, onRedis, o.route, err)
	res = shareable
	if err == nil && stored {
		token = nil
		c.emit(middleware.CacheStore, o.route)
	}
	return v, lerr
}

// Set stores v under key for ttl, as GetOrLoad would, with the given tags.
// It overwrites any entry and any fill in progress.
func Set[T any](ctx context.Context, c *Cache, key string, v T, ttl time.Duration, opts ...LoadOption) error {
	o, err := c.loadOpts(ttl, opts)
	if err != nil {
		return err
	}
	if c.opts.Disabled {
		return nil
	}
	b, err := o.codec.Marshal(v)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCodec, err)
	}
	now := c.now()
	e := entry{route: o.route, kind: kindData, stored: now.UnixMilli(), tags: o.tags, payload: b}
	e.fresh = e.stored + ttl.Milliseconds()
	e.errUntil = e.fresh + o.staleIfError.Milliseconds()
	suffix, err := c.keySuffix(ctx, o.namespace)
	if err != nil {
		return err
	}
	k := c.l.key(kindData, escapeKey(key)+suffix)
	bk, onRedis := c.pick()
	sctx, cancel := c.redisCtx(ctx)
	defer cancel()
	_, err = bk.store(sctx, write{key: k, value: e.encode(), route: o.route, tags: o.tags,
		ttl: time.Duration(e.expiry()-e.stored) * time.Millisecond, started: now})
	c.report(sctx, onRedis, o.route, err)
	if err != nil {
		return fmt.Errorf("%w: %w", fallback.ErrUnavailable, err)
	}
	c.emit(middleware.CacheStore, o.route)
	return nil
}

func decodeValue[T any](codec Codec, e *entry) (T, error) {
	var v T
	if e.kind == kindNegative {
		return v, ErrNotFound
	}
	if err := codec.Unmarshal(e.payload, &v); err != nil {
		return v, fmt.Errorf("%w: %w", ErrCodec, err)
	}
	return v, nil
}
