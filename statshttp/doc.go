// Package statshttp counts what the redishttp middleware does and serves it:
// a JSON report (the /api/cache/stats endpoint, also as a stream of
// server-sent events), Prometheus metrics and a live HTML dashboard.
//
// A Recorder is the middleware.Observer the feature packages (cachehttp,
// ratelimithttp, lockhttp, fallback's Monitor) report to. Observe is
// lock-free and allocation-free and never calls Redis: it adds to atomic
// counters per route name. A background goroutine adds each instance's new
// counts to cluster-wide totals in Redis every FlushInterval (one MULTI/EXEC
// round trip, every key under one hash tag so it works on Redis Cluster) and
// refreshes the instance's own figures with a TTL, so stopped instances age
// out. With nothing new to flush it sends nothing, apart from a heartbeat of
// one command every InstanceTTL/3 (20 s by default) that keeps the instance
// listed. Any instance's report shows every instance together; when Redis is
// down or absent (nil client) it shows the instance's own figures and says
// so ("source": "local").
//
// The handlers are protected by default: New refuses to build a Recorder
// without a bearer Token (at least 16 bytes) or an Auth
// middleware, and a client that fails authentication AuthFailureLimit times
// in a window (10 a minute by default) gets 429 on every protected handler
// until its window ends, so a token cannot be guessed at request speed.
// Only a client's own failures block it, never other clients' failures.
// Behind a reverse proxy, pass Options.ClientIP built with the proxies'
// CIDRs (middleware.NewClientIP) so that clients are told apart.
//
//	rec, err := statshttp.New(client, statshttp.Options{
//		Token:    os.Getenv("STATS_TOKEN"),
//		Patterns: []string{"Product Pages", "User Profiles"},
//	})
//	if err != nil {
//		return err
//	}
//	defer rec.Close()
//	// pass rec as the Observer of cachehttp, ratelimithttp, lockhttp and the fallback monitor
//	mux.Handle("/api/cache/stats", rec.StatsHandler()) // JSON, or a stream with Accept: text/event-stream
//	mux.Handle("/metrics", rec.MetricsHandler())
//	mux.Handle("/dashboard", rec.DashboardHandler()) // open /dashboard?token=...
//
// Metrics are named redishttp_<family>_<what>_total (redishttp_cache_hits_total,
// redishttp_ratelimit_denied_total, redishttp_lock_contended_total, ...) with
// the route name as the only variable label, bounded by Options.MaxRoutes;
// further names are counted under "other". They are the instance's own
// counts: Prometheus sums instances itself.
package statshttp
