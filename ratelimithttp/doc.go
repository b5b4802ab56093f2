// Package ratelimithttp is per-client rate limiting for net/http on Redis:
// several policies per request checked and counted in one round trip,
// standard headers, accurate Retry-After, and explicit behaviour when Redis
// fails.
//
//	api, _ := ratelimithttp.NewPolicy("api", "1000-H")
//	order, _ := ratelimithttp.NewPolicy("order", "100-H")
//	order.Match = func(r *http.Request) bool { return r.Method == "POST" && r.URL.Path == "/api/orders" }
//	ips, _ := middleware.NewClientIP("10.0.0.0/8")              // the load balancers
//	rl, err := ratelimithttp.New(client, ratelimithttp.Options{ // client: redis.UniversalClient, nil = in memory
//		Policies: []ratelimithttp.Policy{api, order},
//		ClientIP: ips, // default key: the authenticated user, else the client IP
//		Route:    "api",
//	})
//	if err != nil {
//		log.Fatal(err)
//	}
//	defer rl.Close()
//	http.Handle("/api/", rl.Handler(apiMux))
//
// # How a request is decided
//
// The key function (default middleware.UserOr(middleware.ByClientIP(ips)))
// names the client; X-Forwarded-For is only followed through trusted
// proxies, IPv6 clients are grouped by /64, and keys are length-capped and
// hashed. The matching policies (limiter.Rate values, or ulule/limiter's
// "100-H" strings) are checked by one Lua script call (a minimal one when
// all are fixed windows) over keys that share the hash tag {client key},
// so it runs on one Redis Cluster slot. The script
// decides on Redis's clock (key expiry, and TIME for sliding windows),
// admits the request only when every policy has room for its cost, and then
// counts it in all of them: a refused request consumes nothing.
//
// Two algorithms: FixedWindow (ulule's: a counter that starts with the first
// request and expires one period later; the default) and SlidingWindow (a
// log of admitted requests; never more than the limit in any span of one
// period, no double burst at a window edge). ParsePolicies reads both from
// configuration ("burst=~10-S,hourly=1000-H"; "~" selects the sliding
// window). Store offers both as a limiter.Store.
//
// # Headers
//
// Every checked response carries X-RateLimit-Limit, X-RateLimit-Remaining,
// X-RateLimit-Reset (epoch seconds, as GitHub sends) and the
// draft-ietf-httpapi-ratelimit-headers-10 structured fields RateLimit-Policy
// (`"api";q=1000;w=3600`) and RateLimit (`"api";r=999;t=3600`, t in delta
// seconds), all for the most restrictive policy: the refusing policy with
// the longest wait, else the one with the fewest units left. A refused
// request gets 429, Retry-After (the real wait until every policy has room,
// rounded up to whole seconds) and an RFC 9457 problem body. Chained
// limiters never duplicate a header: the inner one replaces the outer's
// values only when it is more restrictive. Put related policies in one
// Limiter (Policy.Match) to keep one round trip per request.
//
// # When Redis fails
//
// A fallback.Monitor (shared through Options.Monitor, or the limiter's
// own) tracks Redis's health; while it is down the limiter does not wait on
// Redis at all, and Options.OnFailure decides. fallback.UseMemory (the
// default) counts in this process's memory (bounded by
// Options.MemoryBytes): each instance enforces the full limit locally, and
// sliding-window policies are counted as fixed windows there.
// fallback.FailClosed answers 503 with Retry-After (Options.RetryAfter);
// Check and Take return fallback.ErrUnavailable. fallback.PassThrough
// serves unlimited. Each switch into or out of the failure mode is logged
// once at Debug level (the Monitor logs each change of Redis's state once,
// at Warn and Info), and every affected request reports a RateError event.
//
// # Events
//
// With Options.Observer set (statshttp, for example), every checked
// request reports RateAllowed or RateDenied, and every backend failure
// RateError, under Options.Route.
package ratelimithttp
