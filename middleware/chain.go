package middleware

import "net/http"

// Middleware is the standard net/http middleware shape.
type Middleware = func(http.Handler) http.Handler

// Chain composes middlewares so that the first one given is the outermost:
// Chain(a, b, c)(h) serves a(b(c(h))). Nil entries are skipped, so optional
// pieces can be passed unconditionally.
func Chain(mws ...Middleware) Middleware {
	return func(h http.Handler) http.Handler {
		for i := len(mws) - 1; i >= 0; i-- {
			if mws[i] != nil {
				h = mws[i](h)
			}
		}
		return h
	}
}
