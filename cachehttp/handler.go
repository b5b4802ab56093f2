package cachehttp

import "net/http"

// Handler caches next with the zero Route (name "default", keyed on the
// request's URL, fresh for one minute), so a Cache mounts directly with chi's
// r.Use(cache.Handler). Use NewRoute for anything else.
func (c *Cache) Handler(next http.Handler) http.Handler {
	rc, err := c.NewRoute(Route{})
	if err != nil { // unreachable: the zero Route always validates
		return next
	}
	return rc.Handler(next)
}

// Handler returns next wrapped with the route's caching, for chi's r.Use
// and http.ServeMux alike.
func (rc *RouteCache) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { rc.serve(next, w, r) })
}
