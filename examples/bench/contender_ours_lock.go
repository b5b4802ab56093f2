package main

import (
	"context"
	"net/http"
	"time"

	"github.com/aura-platform/redishttp/lockhttp"
	"github.com/aura-platform/redishttp/middleware"
)

// oursLock mounts lockhttp around the bare handler; with pipelined, its
// scripts go through the client's auto-pipeliner (Options.AutoPipeline).
func oursLock(e env, pipelined bool) (http.Handler, func(), error) {
	l, err := lockhttp.New(e.client, lockhttp.Options{
		Key: middleware.ByHeader("X-Bench-Conn"), Prefix: e.prefix, Route: "bench", FenceRetention: time.Minute,
		AutoPipeline: pipelined,
	})
	if err != nil {
		return nil, nil, err
	}
	h := l.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { writeBody(w, e.body) }))
	return h, func() { _ = l.Close() }, nil
}

// ours lock: lockhttp around the bare handler, one lock per load-generator
// connection (X-Bench-Conn), so every acquisition is uncontended (a
// connection's next request starts only after the previous one released).
// Per-connection rather than per-request keys because each lock key keeps
// a fencing counter; its retention is shortened to a minute here.
func init() {
	register(contender{
		order: 70, name: "ours lock", group: "ours", baseline: "raw lock SET NX + EVALSHA", minCmds: 2,
		setup: func(_ context.Context, e env) (http.Handler, func(), error) { return oursLock(e, false) },
	})
	register(contender{
		order: 71, name: "ours lock (pipelined)", group: "ours", baseline: "raw lock SET NX + EVALSHA (pipelined)", minCmds: 2,
		setup: func(_ context.Context, e env) (http.Handler, func(), error) { return oursLock(e, true) },
	})
}
