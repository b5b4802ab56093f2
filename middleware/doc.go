// Package middleware is the floor of redishttp: composition, key functions,
// request identity, client IP behind trusted proxies, RFC 9457 problem
// responses and the small event interface that the feature packages
// (cachehttp, ratelimithttp, lockhttp) report to and that custom observers
// implement.
//
// Its name is the one chi gives its own middleware package, which chi users
// import everywhere, so import this one as rmw:
//
//	import (
//		"github.com/go-chi/chi/v5"
//		"github.com/go-chi/chi/v5/middleware"
//		rmw "github.com/aura-platform/redishttp/middleware"
//	)
//
//	r := chi.NewRouter()
//	r.Use(middleware.RequestID, middleware.Recoverer) // chi's
//	r.Use(rmw.TrustUserHeader("X-User-ID"))           // ours, behind a trusted gateway
//
// A typical stack, with the app's own authentication putting the user into
// the request context and every other piece keyed from it:
//
//	ips, _ := rmw.NewClientIP("10.0.0.0/8") // the load balancers
//	key := rmw.UserOr(rmw.ByClientIP(ips))
//	handler := rmw.Chain(
//		auth,            // calls rmw.WithUser(ctx, id)
//		limiter.Handler, // ratelimithttp, keyed by key
//		cache.Handler,   // cachehttp
//	)(mux)
//
// A custom KeyFunc escapes every piece of request text with KeyPart, and a
// handler answers errors with Error (status and detail) or, for a
// Retry-After or a problem type, WriteProblem.
//
// Every constructor here returns either a plain func(http.Handler)
// http.Handler or a type with a Handler method, so the pieces mount on
// http.ServeMux, chi (r.Use(x.Handler)) and gorilla/mux alike.
package middleware
