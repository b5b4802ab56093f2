package cachehttp

import (
	"net/http"
	"time"
)

// RFC 9111 shared-cache mode (Route.RFC9111).
//
// Freshness comes from the response instead of Route.TTL, as a shared cache
// computes it (RFC 9111 §4.2.1): s-maxage, else max-age, else Expires minus
// Date. Directives are parsed as §5.2 says (case-insensitive names, token
// or quoted-string values, no spaces around "=", commas in quoted strings
// do not split); a malformed lifetime, or one given twice with different
// values, makes the response stale. Delta-seconds above 2^31 count as
// 2^31 (§1.2.2). Expires, Date and Last-Modified must be exact HTTP-dates
// (RFC 9110 §5.6.7, the two obsolete forms included); an invalid Expires
// means already expired (§5.3). Of a list-valued Age the first member
// counts; an invalid Age is ignored (§5.1). Without an explicit lifetime, a
// heuristic of a tenth of the time since Last-Modified (capped by
// Route.TTL) is used only for a heuristically cacheable status or a public
// response (§4.2.2). The Age the response arrived with counts against its
// lifetime (§4.2.3), and hits answer with the total Age.
//
// The response decides what is stored, not Route.Statuses: any final
// status with explicit freshness (5xx included), except 206 (partial
// content always passes through) and 304; with must-understand, only the
// statuses RFC 9110 defines, and no-store is then ignored (§5.2.2.3).
// Not stored (§3): no-store, private (a shared cache), no-cache (this
// cache does not revalidate), Vary: *, a response already stale on
// arrival, and, stricter than the RFC allows but never less safe,
// responses with Set-Cookie.
//
// With Route.TargetedCacheControl, the first listed field (such as
// CDN-Cache-Control) present with a valid, non-empty RFC 8941 dictionary
// value replaces Cache-Control and Expires for this cache's decisions
// (RFC 9213 §2.1); an invalid one is ignored as a whole. Both still reach
// the client.
//
// A request with Authorization (§3.5) is served a stored response only when
// that response carries public, s-maxage or must-revalidate, and only while
// it is fresh; otherwise it goes to the handler with its Authorization
// header, and the response is stored (for everyone) only when it carries
// one of those directives. A request with a Cookie or a user in its context
// bypasses the cache, as on any shared route, unless the route is
// Anonymous.
//
// Request directives (§5.2.1) are obeyed: max-age bounds the age of a
// response served, min-fresh asks for that much freshness left, max-stale
// allows stale responses (never one with must-revalidate,
// proxy-revalidate or s-maxage), no-cache (or Pragma: no-cache without
// Cache-Control, §5.4) forwards the request and stores its response (a
// request whose max-age or min-fresh no stored response meets is forwarded
// alike; either is sent as a validation when the stored response has a
// validator of the origin, and a 304 serves it),
// no-store forwards it and stores nothing, only-if-cached answers 504 when
// nothing stored suits. Otherwise stale responses are served only as the
// response's own stale-while-revalidate and stale-if-error (RFC 5861)
// allow: stale-if-error when the handler answers 5xx or panics (the 502 of
// an httputil.ReverseProxy whose origin fails included), never when it says
// must-revalidate or proxy-revalidate or carries s-maxage (§5.2.2.10).

// heuristicStatuses are the statuses cacheable by default (RFC 9110
// §15.1) that heuristic freshness applies to; 206 is left out because
// partial content is never stored.
var heuristicStatuses = map[int]bool{200: true, 203: true, 204: true, 300: true, 301: true,
	308: true, 404: true, 405: true, 410: true, 414: true, 501: true}

// understoodStatuses are the statuses whose semantics this cache knows
// (RFC 9110 §15), for must-understand (RFC 9111 §5.2.2.3).
var understoodStatuses = map[int]bool{200: true, 201: true, 202: true, 203: true, 204: true, 205: true,
	300: true, 301: true, 302: true, 303: true, 307: true, 308: true,
	400: true, 401: true, 402: true, 403: true, 404: true, 405: true, 406: true, 407: true, 408: true,
	409: true, 410: true, 411: true, 412: true, 413: true, 414: true, 415: true, 416: true, 417: true,
	421: true, 422: true, 426: true, 429: true, 451: true,
	500: true, 501: true, 502: true, 503: true, 504: true, 505: true}

// rfcFreshness is a response's freshness under RFC 9111.
type rfcFreshness struct {
	lifetime time.Duration // freshness lifetime
	age      time.Duration // corrected initial age
	swr, sie time.Duration // stale-while-revalidate, stale-if-error
}

// rfcDirectives returns the response directives this cache obeys: those
// of the first valid targeted field named by Route.TargetedCacheControl
// (RFC 9213 §2.1; targeted is then true, and Cache-Control and Expires are
// ignored), else Cache-Control's.
func (rc *RouteCache) rfcDirectives(h http.Header) (cc map[string]string, targeted bool) {
	if len(rc.rt.TargetedCacheControl) > 0 {
		if m := targetedCacheControl(h, rc.rt.TargetedCacheControl); m != nil {
			return m, true
		}
	}
	return cacheControl(h.Values("Cache-Control")), false
}

// rfcFreshnessOf computes the freshness of a response received at now,
// and whether the response may be stored at all (RFC 9111 §3, §4.2).
func (rc *RouteCache) rfcFreshnessOf(status int, h http.Header, now time.Time) (rfcFreshness, bool) {
	var f rfcFreshness
	if status < 200 || status > 599 || status == http.StatusPartialContent || status == http.StatusNotModified {
		return f, false // not final, or partial (never stored), or a 304 (validation's business)
	}
	cc, targeted := rc.rfcDirectives(h)
	_, mustUnderstand := cc["must-understand"]
	if mustUnderstand && !understoodStatuses[status] {
		return f, false // §5.2.2.3
	}
	for _, d := range []string{"no-store", "private", "no-cache"} {
		if _, ok := cc[d]; ok && !(d == "no-store" && mustUnderstand) {
			return f, false
		}
	}
	date, ok := parseHTTPDate(headerValue(h, "Date"))
	if !ok {
		date = now
	}
	// §4.2.3: apparent age and the Age header, whichever is larger.
	f.age = max(now.Sub(date), 0)
	if a, ok := ageOf(h); ok {
		f.age = max(f.age, a)
	}
	_, mustRevalidate := cc["must-revalidate"]
	_, proxyRevalidate := cc["proxy-revalidate"]
	_, public := cc["public"]
	explicit := false
	if v, ok := cc["s-maxage"]; ok {
		f.lifetime, _ = seconds(v) // invalid: 0, stale
		explicit, proxyRevalidate = true, true
	} else if v, ok := cc["max-age"]; ok {
		f.lifetime, _ = seconds(v)
		explicit = true
	} else if vs := h["Expires"]; len(vs) > 0 && !targeted {
		explicit = true
		if exp, ok := parseHTTPDate(vs[0]); ok {
			f.lifetime = max(exp.Sub(date), 0)
		} // §5.3: an invalid Expires means already expired
	}
	if !explicit {
		lm, ok := parseHTTPDate(headerValue(h, "Last-Modified"))
		if !ok || !(heuristicStatuses[status] || public) || !lm.Before(date) {
			return f, false
		}
		f.lifetime = min(date.Sub(lm)/10, rc.rt.TTL)
	}
	if !mustRevalidate && !proxyRevalidate {
		if d, ok := seconds(cc["stale-while-revalidate"]); ok {
			f.swr = d
		}
		if d, ok := seconds(cc["stale-if-error"]); ok {
			f.sie = d
		}
	}
	if f.lifetime <= f.age && f.swr == 0 && f.sie == 0 {
		return f, false // stale on arrival: useless without revalidation
	}
	return f, true
}

// mayStore reports whether RFC 9111 §3 lets this cache store a response
// at all, fresh or not (a stale one only to validate it): a final status
// other than 206 and 304, understood if must-understand is present; not
// no-store (unless must-understand overrides it) nor private; and explicit
// freshness, public or a heuristically cacheable status. no-cache does not
// prevent storing.
func (rc *RouteCache) mayStore(status int, h http.Header) bool {
	if status < 200 || status > 599 || status == http.StatusPartialContent || status == http.StatusNotModified {
		return false
	}
	cc, targeted := rc.rfcDirectives(h)
	_, mustUnderstand := cc["must-understand"]
	if mustUnderstand && !understoodStatuses[status] {
		return false
	}
	if _, ok := cc["private"]; ok {
		return false
	}
	if _, ok := cc["no-store"]; ok && !mustUnderstand {
		return false
	}
	for _, d := range []string{"s-maxage", "max-age", "public"} {
		if _, ok := cc[d]; ok {
			return true
		}
	}
	return !targeted && len(h["Expires"]) > 0 || heuristicStatuses[status]
}

// applyRFC sets e's times from the response under RFC 9111; ok is false
// when the response must not be stored.
func (rc *RouteCache) applyRFC(e *entry, status int, h http.Header, now time.Time) bool {
	f, ok := rc.rfcFreshnessOf(status, h, now)
	if !ok {
		return false
	}
	e.stored = now.Add(-f.age).UnixMilli()
	e.fresh = e.stored + min(f.lifetime, maxDelta).Milliseconds()
	e.stale = e.fresh + f.swr.Milliseconds()
	e.errUntil = e.fresh + f.sie.Milliseconds()
	return e.expiry() > now.UnixMilli()
}

// storableStatus reports whether a response's status lets it be stored:
// on an RFC9111 route the response decides (rfcFreshnessOf), elsewhere
// Route.Statuses does.
func (rc *RouteCache) storableStatus(status int) bool {
	return rc.rt.RFC9111 || rc.statuses[status]
}

// storeDirectives returns the Cache-Control values an ordinary route
// checks for private, no-store and no-cache before storing; on an RFC9111
// route rfcFreshnessOf decides instead (a targeted field may replace
// Cache-Control), so there are none.
func (rc *RouteCache) storeDirectives(h http.Header) []string {
	if rc.rt.RFC9111 {
		return nil
	}
	return h.Values("Cache-Control")
}

// authShareable reports whether a response may be stored for, and served
// to, requests carrying Authorization (RFC 9111 §3.5): its directives say
// public, s-maxage or must-revalidate.
func (rc *RouteCache) authShareable(h http.Header) bool {
	cc, _ := rc.rfcDirectives(h)
	for _, d := range []string{"public", "s-maxage", "must-revalidate"} {
		if _, ok := cc[d]; ok {
			return true
		}
	}
	return false
}

// revalidateOnly reports whether a stored response may never be served
// stale on a client's say-so (max-stale): must-revalidate,
// proxy-revalidate or s-maxage (RFC 9111 §5.2.2.2, §5.2.2.8, §5.2.2.10).
func (rc *RouteCache) revalidateOnly(h http.Header) bool {
	cc, _ := rc.rfcDirectives(h)
	for _, d := range []string{"must-revalidate", "proxy-revalidate", "s-maxage", "no-cache"} {
		if _, ok := cc[d]; ok {
			return true
		}
	}
	return false
}
