package cachehttp

import "net/http"

// headerValue is h.Get(name) for a name already in canonical form (a
// constant such as "If-None-Match"): it skips the canonicalisation Get does
// on every call, which shows on the hit path.
func headerValue(h http.Header, name string) string {
	if vs := h[name]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}
