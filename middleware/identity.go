package middleware

import (
	"context"
	"net/http"
)

type contextKey struct{ name string }

var userKey = &contextKey{"user"}

// WithUser returns a copy of ctx carrying the authenticated user's id. The
// application's own authentication middleware calls it after it has verified
// the caller; redishttp never derives identity from a raw request header by
// itself.
func WithUser(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, userKey, id)
}

// WithoutUser returns a copy of ctx in which no user is set, so
// UserFromContext reports an anonymous request (ctx itself when it carries no
// user). cachehttp runs the fills of shared routes with it, so a handler
// cannot personalise a response that everyone is served.
func WithoutUser(ctx context.Context) context.Context {
	if UserFromContext(ctx) == "" {
		return ctx
	}
	return context.WithValue(ctx, userKey, "")
}

// UserFromContext returns the user id stored by WithUser, or "" when the
// request is anonymous; in a handler, UserFromContext(r.Context()).
func UserFromContext(ctx context.Context) string {
	id, _ := ctx.Value(userKey).(string)
	return id
}

// TrustUserHeader returns a middleware that copies the named request header
// into the context as the user id. It exists for demos and for deployments
// where a trusted gateway in front has already authenticated the caller and
// strips the header from outside traffic; never use it on a service that
// clients reach directly.
func TrustUserHeader(header string) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if id := r.Header.Get(header); id != "" {
				r = r.WithContext(WithUser(r.Context(), id))
			}
			next.ServeHTTP(w, r)
		})
	}
}
