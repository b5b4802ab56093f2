package main

import (
	"context"
	"net/http"
	"time"

	"github.com/go-redis/cache/v9"
)

// goRedisCacheHandler serves the body through go-redis/cache Once: on a hit
// Once returns the stored bytes (concurrent callers of one key share one
// GET through its singleflight group); the loader runs only on a miss.
func goRedisCacheHandler(ctx context.Context, e env, local cache.LocalCache) (http.Handler, func(), error) {
	c := cache.New(&cache.Options{Redis: e.client, LocalCache: local})
	key := e.prefix + "body"
	if err := c.Set(&cache.Item{Ctx: ctx, Key: key, Value: e.body, TTL: time.Hour}); err != nil {
		return nil, nil, err
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b []byte
		err := c.Once(&cache.Item{
			Ctx: r.Context(), Key: key, Value: &b, TTL: time.Hour,
			Do: func(*cache.Item) (any, error) { return e.body, nil },
		})
		if err != nil {
			http.Error(w, "cache", http.StatusBadGateway)
			return
		}
		writeBody(w, b)
	})
	return h, func() { e.client.Del(context.Background(), key) }, nil
}

// go-redis/cache Once with Redis only.
func init() {
	register(contender{
		order: 20, name: "peer go-redis/cache Once", group: "peer", baseline: "raw GET",
		setup: func(ctx context.Context, e env) (http.Handler, func(), error) {
			return goRedisCacheHandler(ctx, e, nil)
		},
	})
}
