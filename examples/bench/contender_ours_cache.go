package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/aura-platform/redishttp/cachehttp"
)

// oursCache mounts a cachehttp route over the bare handler, warms its one
// entry, and returns the middleware. Every measured request is a hit on
// that one hot key.
func oursCache(e env, opts cachehttp.Options, rt cachehttp.Route) (http.Handler, func(), error) {
	opts.Prefix = e.prefix
	c, err := cachehttp.New(e.client, opts)
	if err != nil {
		return nil, nil, err
	}
	route, err := c.NewRoute(rt)
	if err != nil {
		_ = c.Close()
		return nil, nil, err
	}
	h := route.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { writeBody(w, e.body) }))
	return h, func() { _ = c.Close() }, nil
}

// checkCacheHit accepts the configured body served from the cache.
func checkCacheHit(e env, h http.Header, b []byte) error {
	if err := sameBody(e, h, b); err != nil {
		return err
	}
	if x := h.Get("X-Cache"); x != "HIT" {
		return fmt.Errorf("X-Cache = %q, want HIT (Cache-Status %q)", x, h.Get("Cache-Status"))
	}
	return nil
}

func init() {
	register(contender{
		order: 50, name: "ours cache hit", group: "ours", baseline: "raw GET",
		setup: func(_ context.Context, e env) (http.Handler, func(), error) {
			return oursCache(e, cachehttp.Options{}, cachehttp.Route{Name: "bench", TTL: 10 * time.Minute})
		},
		warm:  true,
		check: checkCacheHit,
	})
	register(contender{
		order: 52, name: "ours cache hit (pipelined)", group: "ours", baseline: "raw GET (pipelined)",
		setup: func(_ context.Context, e env) (http.Handler, func(), error) {
			return oursCache(e, cachehttp.Options{AutoPipeline: true}, cachehttp.Route{Name: "bench", TTL: 10 * time.Minute})
		},
		warm:  true,
		check: checkCacheHit,
	})
	register(contender{
		order: 51, name: "ours cache hit + L1", group: "ours", baseline: "raw GET",
		setup: func(_ context.Context, e env) (http.Handler, func(), error) {
			return oursCache(e, cachehttp.Options{L1Bytes: 64 << 20}, cachehttp.Route{Name: "bench", TTL: 10 * time.Minute})
		},
		warm:  true,
		check: checkCacheHit,
	})
}
