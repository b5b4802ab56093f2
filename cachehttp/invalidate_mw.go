package cachehttp

import (
	"context"
	"net/http"

	"github.com/aura-platform/redishttp/middleware"
)

// InvalidateOptions adjusts InvalidateOnSuccess.
type InvalidateOptions struct {
	// Soft marks the entries stale (SoftPurgeTags) instead of deleting
	// them, so routes with StaleWhileRevalidate keep serving them while one
	// request refreshes. Default false (InvalidateTags).
	Soft bool
	// Namespaces are bumped (BumpVersion) as well. Default none.
	Namespaces []string
}

// InvalidateOnSuccess returns a middleware for mutation routes: when next
// answers with a 2xx status, the tags that tags computes from the request
// are invalidated (and Namespaces bumped) before the status line reaches the
// client, so a client that reads right after its write never sees the old
// entry. Other statuses invalidate nothing. A failed invalidation is logged
// and the response still goes out; the in-memory fallback is cleared
// regardless. The seed's invalidateUser is one line:
//
//	mux.Handle("PUT /api/subscription", cache.InvalidateOnSuccess(func(r *http.Request) []string {
//		return []string{"user:" + middleware.UserID(r)}
//	}, cachehttp.InvalidateOptions{})(updateSubscription))
func (c *Cache) InvalidateOnSuccess(tags func(*http.Request) []string, opts InvalidateOptions) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			done := false
			invalidate := func(status int) {
				if done || status < 200 || status > 299 {
					return
				}
				done = true
				c.invalidateFor(r, tags, opts)
			}
			rec := middleware.NewRecorder(w, 0)
			rec.BeforeHeader(func(status int, _ http.Header) { invalidate(status) })
			next.ServeHTTP(rec.Writer(), r)
			if rec.Status() == 0 && !rec.Hijacked() {
				invalidate(http.StatusOK) // net/http sends 200 for a handler that wrote nothing
			}
		})
	}
}

func (c *Cache) invalidateFor(r *http.Request, tags func(*http.Request) []string, opts InvalidateOptions) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*c.mon.CommandTimeout())
	defer cancel()
	var ts []string
	if tags != nil {
		ts = tags(r)
	}
	var err error
	if len(ts) > 0 {
		if opts.Soft {
			_, err = c.SoftPurgeTags(ctx, ts...)
		} else {
			_, err = c.InvalidateTags(ctx, ts...)
		}
	}
	for _, ns := range opts.Namespaces {
		if _, berr := c.BumpVersion(ctx, ns); berr != nil && err == nil {
			err = berr
		}
	}
	if err != nil {
		c.opts.Logger.Error("cachehttp: invalidation after a successful mutation failed",
			"method", r.Method, "error", err)
	}
}
