package cachehttp

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/aura-platform/redishttp/internal/keytext"
	"github.com/aura-platform/redishttp/internal/recorder"
	"github.com/aura-platform/redishttp/middleware"
)

// Invalidation by unsafe methods (RFC 9111 §4.4).
//
// On an RFC9111 route every entry carries the tag of its target URI
// (uriTag), whatever its variant, user or version. A request with a method
// not known to be safe (anything but GET, HEAD, OPTIONS and TRACE) is
// forwarded to the handler, never answered from the cache, and when the
// handler answers 2xx or 3xx the entries of the target URI and of the
// same-origin URIs in Location and Content-Location are invalidated before
// the status line reaches the client.

// safeMethod reports whether a method is known to be safe (RFC 9110 §9.2.1).
func safeMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

// uriTag is the tag of the target URI of r (its method aside): scheme,
// host, path and normalised query as defaultKey writes them.
func uriTag(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return uriTagOf(scheme, r.Host, r.URL)
}

func uriTagOf(scheme, host string, u *url.URL) string {
	q := u.RawQuery
	if q != "" && !canonicalRawQuery(q) {
		q = keytext.Query(u.Query())
	}
	return "\x00uri:" + scheme + ":" + middleware.KeyPart(strings.ToLower(host)) + ":" +
		middleware.KeyPart(u.EscapedPath()) + ":" + middleware.KeyPart(q)
}

// invalidationTags returns the URI tags an unsafe request answered with h
// invalidates: its target and the same-origin Location and
// Content-Location.
func invalidationTags(r *http.Request, h http.Header) []string {
	tags := []string{uriTag(r)}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	base := &url.URL{Scheme: scheme, Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath}
	for _, n := range []string{"Location", "Content-Location"} {
		v := headerValue(h, n)
		if v == "" {
			continue
		}
		ref, err := url.Parse(v)
		if err != nil {
			continue
		}
		u := base.ResolveReference(ref)
		if u.Scheme != scheme || !strings.EqualFold(u.Host, r.Host) {
			continue // another origin: not ours to invalidate (§4.4)
		}
		if t := uriTagOf(scheme, r.Host, u); t != tags[0] {
			tags = append(tags, t)
		}
	}
	return tags
}

// forwardUnsafe passes a request with an unsafe method to the handler and
// invalidates what its success changes (§4.4).
func (rc *RouteCache) forwardUnsafe(next http.Handler, w http.ResponseWriter, r *http.Request) {
	c := rc.c
	done := false
	invalidate := func(status int, h http.Header) {
		if done || status < 200 || status > 399 {
			return
		}
		done = true
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*c.mon.CommandTimeout())
		defer cancel()
		if _, err := c.InvalidateTags(ctx, invalidationTags(r, h)...); err != nil {
			c.opts.Logger.Error("cachehttp: invalidation after an unsafe request failed",
				"route", rc.name, "method", r.Method, "error", err)
		}
	}
	h := w.Header()
	h["X-Cache"] = xBypass
	h["Cache-Status"] = c.statusValue(c.statusBypass)
	h["Age"] = ageZero
	c.emit(middleware.CacheBypass, rc.name)
	rec := recorder.New(w, 0)
	rec.BeforeHeader(invalidate)
	next.ServeHTTP(rec.Writer(), r)
	if rec.Status() == 0 && !rec.Hijacked() {
		invalidate(http.StatusOK, w.Header()) // net/http sends 200 for a handler that wrote nothing
	}
}
