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
func oursRateLimit(e env, policies ...ratelimithttp.Policy) (http.Handler, func(), error) {
	l, err := ratelimithttp.New(e.client, ratelimithttp.Options{Policies: policies, Prefix: e.prefix, Route: "bench"})
	if err != nil {
		return nil, nil, err
	}
	h := l.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { writeBody(w, e.body) }))
	return h, func() { _ = l.Close() }, nil
}

func init() {
	register(contender{
		order: 60, name: "ours ratelimit 1 policy", group: "ours", baseline: "raw EVALSHA", minRT: 1,
		setup: func(_ context.Context, e env) (http.Handler, func(), error) {
			return oursRateLimit(e, ratelimithttp.Policy{Name: "hourly", Rate: limiter.Rate{Period: time.Hour, Limit: 1 << 40}})
		},
	})
	register(contender{
		order: 61, name: "ours ratelimit 2 policies", group: "ours", baseline: "raw EVALSHA", minRT: 1,
		setup: func(_ context.Context, e env) (http.Handler, func(), error) {
			return oursRateLimit(e,
				ratelimithttp.Policy{Name: "burst", Rate: limiter.Rate{Period: time.Second, Limit: 1 << 40}},
				ratelimithttp.Policy{Name: "hourly", Rate: limiter.Rate{Period: time.Hour, Limit: 1 << 40}})
		},
	})
}
