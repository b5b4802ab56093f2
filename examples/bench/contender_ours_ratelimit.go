package main

import (
	"context"
	"net/http"
	"time"

	"github.com/aura-platform/redishttp/ratelimithttp"
	"github.com/ulule/limiter/v3"
)

// oursRateLimit mounts ratelimithttp with the given policies (limits never
// reached) in front of the bare handler. The default key is the client
// address (all loopback: one client, like the peers' IP keys); every
// response carries both header families (X-RateLimit-* and the IETF
// RateLimit/RateLimit-Policy fields).
// With pipelined, the script goes through the client's auto-pipeliner
// (Options.AutoPipeline).
func oursRateLimit(e env, pipelined bool, policies ...ratelimithttp.Policy) (http.Handler, func(), error) {
	l, err := ratelimithttp.New(e.client, ratelimithttp.Options{Policies: policies, Prefix: e.prefix, Route: "bench", AutoPipeline: pipelined})
	if err != nil {
		return nil, nil, err
	}
	h := l.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { writeBody(w, e.body) }))
	return h, func() { _ = l.Close() }, nil
}

func init() {
	one := func(e env, pipelined bool) (http.Handler, func(), error) {
		return oursRateLimit(e, pipelined, ratelimithttp.Policy{Name: "hourly", Rate: limiter.Rate{Period: time.Hour, Limit: 1 << 40}})
	}
	two := func(e env, pipelined bool) (http.Handler, func(), error) {
		return oursRateLimit(e, pipelined,
			ratelimithttp.Policy{Name: "burst", Rate: limiter.Rate{Period: time.Second, Limit: 1 << 40}},
			ratelimithttp.Policy{Name: "hourly", Rate: limiter.Rate{Period: time.Hour, Limit: 1 << 40}})
	}
	register(contender{
		order: 60, name: "ours ratelimit 1 policy", group: "ours", baseline: "raw EVALSHA", minCmds: 1,
		setup: func(_ context.Context, e env) (http.Handler, func(), error) { return one(e, false) },
	})
	register(contender{
		order: 61, name: "ours ratelimit 2 policies", group: "ours", baseline: "raw EVALSHA", minCmds: 1,
		setup: func(_ context.Context, e env) (http.Handler, func(), error) { return two(e, false) },
	})
	register(contender{
		order: 62, name: "ours ratelimit 1 policy (pipelined)", group: "ours", baseline: "raw EVALSHA (pipelined)", minCmds: 1,
		setup: func(_ context.Context, e env) (http.Handler, func(), error) { return one(e, true) },
	})
	register(contender{
		order: 63, name: "ours ratelimit 2 policies (pipelined)", group: "ours", baseline: "raw EVALSHA (pipelined)", minCmds: 1,
		setup: func(_ context.Context, e env) (http.Handler, func(), error) { return two(e, true) },
	})
}
