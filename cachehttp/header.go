package cachehttp

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// headerValue is h.Get(name) for a name already in canonical form (a
// constant such as "If-None-Match"): it skips the canonicalisation Get does
// on every call, which shows on the hit path.
func headerValue(h http.Header, name string) string {
	if vs := h[name]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// The Cache-Status header (RFC 9211) names this cache and its decision:
//
//	hit                   served from a stored response
//	hit; fwd=stale        served stale (stale-while-revalidate, stale-if-error)
//	fwd=uri-miss          nothing stored under the key
//	fwd=vary-miss         stored, but not for this request's Vary values
//	fwd=stale             stored, but stale: forwarded to replace it
//	fwd=request           the request's directives forced the forward
//	fwd=bypass            the request is not one the cache serves
//	fwd-status=<status>   the status the handler (the origin) answered
//	stored                the response was storable when its header went out
//	collapsed             served by another request's forward in this process
//	ttl=<seconds>         freshness left of the response served or stored
//	detail=l1             served from the in-process L1
//
// A value is built from the cache's precomputed prefixes (Cache.statusHit and
// the others) and the parameters of the request at hand.

// fwdKey is the context key carrying a fill's forward reason to its
// Cache-Status (missStatus).
type fwdKey struct{}

// withFwd returns r carrying the RFC 9211 fwd reason of the fill it is about
// to run ("vary-miss", "stale", "request"); "" keeps r (fwd=uri-miss).
func withFwd(r *http.Request, reason string) *http.Request {
	if reason == "" {
		return r
	}
	return r.WithContext(context.WithValue(r.Context(), fwdKey{}, reason))
}

// fwdStatus returns the Cache-Status prefix of a fill for r: the cache's
// name and the forward reason withFwd gave r, fwd=uri-miss by default.
func (rc *RouteCache) fwdStatus(r *http.Request) string {
	if s, ok := r.Context().Value(fwdKey{}).(string); ok {
		return rc.c.opts.Name + "; fwd=" + s
	}
	return rc.c.statusMiss
}

// missStatus completes a fill's Cache-Status (prefix from fwdStatus) once
// the handler's status and header are known: fwd-status, and stored with
// the entry's ttl when the response may be stored.
// The members an upstream cache put in a forwarded response come first,
// this cache's last (RFC 9211 §2).
func (rc *RouteCache) missStatus(prefix string, code int, h http.Header) []string {
	if code <= 0 {
		return rc.c.statusValue(prefix)
	}
	s := prefix + "; fwd-status=" + strconv.Itoa(code)
	if ttl, ok := rc.storableTTL(code, h); ok {
		s += "; stored; ttl=" + strconv.FormatInt(ttl, 10)
	}
	if up := h["Cache-Status"]; len(up) > 0 && !strings.HasPrefix(up[len(up)-1], rc.c.opts.Name+";") {
		return append(slices.Clone(up), s)
	}
	return []string{s}
}

// storableTTL reports whether a response may be stored and its freshness
// lifetime in seconds.
func (rc *RouteCache) storableTTL(code int, h http.Header) (int64, bool) {
	if _, ok := rc.storable(code, h); !ok {
		return 0, false
	}
	if !rc.rt.RFC9111 {
		return int64(rc.rt.TTL / time.Second), true
	}
	now := rc.c.now()
	var e entry
	if !rc.applyRFC(&e, code, h, now) {
		return 0, false
	}
	return secondsLeft(e.fresh, now.UnixMilli()), true
}

// collapsedStatus is the Cache-Status of a waiter served the response
// another request's fill loaded.
func (rc *RouteCache) collapsedStatus(variant bool, sh *shared) string {
	s := rc.c.statusCollapsed
	if variant {
		s = rc.c.opts.Name + "; fwd=vary-miss; collapsed"
	}
	return s + "; fwd-status=" + strconv.Itoa(sh.resp.Status)
}

// hitStatus is the Cache-Status of a stored response served at now (unix
// ms): status and the response's freshness left. The last value built is
// kept and shared (header values are never written to), so a hot entry's
// hits build it once a second.
func (rc *RouteCache) hitStatus(status string, sh *shared, now int64) []string {
	ttl := secondsLeft(sh.e.fresh, now)
	if m := rc.lastHit.Load(); m != nil && m.sh == sh && m.ttl == ttl && m.status == status {
		return m.v
	}
	var b strings.Builder
	b.Grow(len(status) + len("; ttl=-9999999999"))
	b.WriteString(status)
	b.WriteString("; ttl=")
	var digits [20]byte
	b.Write(strconv.AppendInt(digits[:0], ttl, 10))
	m := &hitMemo{sh: sh, status: status, ttl: ttl, v: []string{b.String()}}
	rc.lastHit.Store(m)
	return m.v
}

// hitMemo is the last Cache-Status value hitStatus built.
type hitMemo struct {
	sh     *shared
	status string
	ttl    int64
	v      []string
}

// secondsLeft is the whole seconds from now until until (unix ms), rounded
// towards negative infinity, so a stale response has a negative ttl.
func secondsLeft(until, now int64) int64 {
	d := until - now
	if d < 0 {
		return -((-d + 999) / 1000)
	}
	return d / 1000
}
