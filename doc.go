// Package redishttp is the front door of a toolkit of net/http middleware
// backed by Redis: response caching (cachehttp), rate limiting
// (ratelimithttp), distributed locks and idempotency (lockhttp) and
// statistics (statshttp), all falling back to memory while Redis is failing
// or absent (fallback).
//
// A Kit wires them together around the application's own Redis client:
// one health monitor, one stats recorder, one logger, one key prefix, and
// one Close.
//
//	kit, err := redishttp.New(rdb, redishttp.Options{
//		Prefix: "shop:",
//		Stats:  statshttp.Options{Auth: requireAdmin},
//	})
//	if err != nil { ... }
//	defer kit.Close()
//	cache, _ := kit.Cache(cachehttp.Options{L1Bytes: 32 << 20})
//	limits, _ := kit.Limiter(ratelimithttp.Options{Policies: policies})
//	locks, _ := kit.Locker(lockhttp.Options{})
//
//	r.Use(limits.Handler)
//	r.Get("/api/products", cache.NewRoute(cachehttp.Route{Name: "products", TTL: time.Minute}).Handler(products))
//	r.With(locks.Handler).Post("/api/orders", createOrder)
//	r.Handle("/api/cache/stats", kit.Stats().StatsHandler())
//
// Every value also works on its own: cachehttp.New, ratelimithttp.New,
// lockhttp.New and statshttp.New take a client and their Options, and start
// their own monitor when none is given. No constructor does I/O; the first
// health check runs in the background.
package redishttp
