// Package middleware is the floor of redishttp: composition, key functions,
// request identity, client IP behind trusted proxies, RFC 9457 problem
// responses and the small event interface that the feature packages
// (cachehttp, ratelimithttp, lockhttp) report to.
//
// It imports nothing else from redishttp but internal helpers, so every
// other package can build on it without cycles.
//
// A typical stack, with the app's own authentication putting the user into
// the request context and every other piece keyed from it:
//
//	ips, _ := middleware.NewClientIP("10.0.0.0/8") // the load balancers
//	key := middleware.UserOr(middleware.ByClientIP(ips))
//	handler := middleware.Chain(
//		auth,              // calls middleware.WithUser(ctx, id)
//		limiter.Handler,   // ratelimithttp, keyed by key
//		cache.Handler,     // cachehttp
//	)(mux)
//
// Every constructor here returns either a plain func(http.Handler)
// http.Handler or a type with a Handler method, so the pieces mount on
// http.ServeMux, chi (r.Use(x.Handler)) and gorilla/mux alike.
package middleware
