package main

import (
	"context"
	"net/http"

	"github.com/redis/go-redis/v9"
)

// limiterScript is the smallest useful limiter: INCR a fixed-window counter
// and set its expiry on the first hit, atomically.
var limiterScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n`)

// rawEvalSha runs the limiter script once per request.
func rawEvalSha(ctx context.Context, e env, pipelined bool) (http.Handler, func(), error) {
	c, err := rawTarget(e, pipelined)
	if err != nil {
		return nil, nil, err
	}
	key := e.prefix + "count"
	if err := limiterScript.Load(ctx, e.client).Err(); err != nil {
		return nil, nil, err
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := limiterScript.Run(r.Context(), c, []string{key}, 3600000).Err(); err != nil {
			http.Error(w, "redis", http.StatusBadGateway)
			return
		}
		writeBody(w, e.body)
	})
	return h, func() { e.client.Del(context.Background(), key) }, nil
}

// raw EVALSHA: one small Lua script per request; the same-work baseline of
// every rate limiter. The pipelined twin sends it through the client's
// auto-pipeliner: the baseline of the pipelined rate limiters.
func init() {
	register(contender{
		order: 11, name: "raw EVALSHA", group: "raw", minCmds: 1,
		setup: func(ctx context.Context, e env) (http.Handler, func(), error) { return rawEvalSha(ctx, e, false) },
	})
	register(contender{
		order: 16, name: "raw EVALSHA (pipelined)", group: "raw", minCmds: 1,
		setup: func(ctx context.Context, e env) (http.Handler, func(), error) { return rawEvalSha(ctx, e, true) },
	})
}
