package main

import (
	"context"
	"net/http"
	"time"

	"github.com/go-redis/cache/v9"
)

// go-redis/cache Once with its TinyLFU local cache in front of Redis.
func init() {
	register(contender{
		order: 21, name: "peer go-redis/cache TinyLFU", group: "peer", baseline: "raw GET",
		setup: func(ctx context.Context, e env) (http.Handler, func(), error) {
			return goRedisCacheHandler(ctx, e, cache.NewTinyLFU(1000, time.Minute))
		},
	})
}
