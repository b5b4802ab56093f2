package cachehttp

import "net/http"

// Handler caches next with the zero Route (name "default", keyed by
// DefaultKey, fresh for DefaultTTL), so a Cache mounts directly with chi's
// r.Use(cache.Handler). Use NewRoute for anything else.
func (c *Cache) Handler(next http.Handler) http.Handler {
	rc, err := c.NewRoute(Route{})
	if err != nil { // unreachable: the zero Route always validates
		return next
	}
	return rc.Handler(next)
}
