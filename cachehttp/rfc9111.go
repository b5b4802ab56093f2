package cachehttp

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aura-platform/redishttp/middleware"
)

// RFC 9111 shared-cache mode (Route.RFC9111).
//
// Freshness comes from the response instead of Route.TTL, as a shared cache
// computes it (RFC 9111 §4.2.1): s-maxage, else max-age, else Expires minus
// Date; an invalid Expires (such as "0") means already expired. Without any
// of these, a heuristic lifetime of a tenth of the time since Last-Modified
// (capped by Route.TTL) is used only where §4.2.2 allows it: a status that
// is heuristically cacheable by default or a response marked public; with
// no Last-Modified there is no heuristic and nothing is stored. The Age the
// response arrived with counts against its lifetime (§4.2.3), and hits
// answer with the total Age.
//
// Not stored (§3): no-store, private (a shared cache), no-cache (this
// cache does not revalidate), Vary: *, a response already stale on arrival,
// and, stricter than the RFC allows but never less safe, responses with
// Set-Cookie. A request with Authorization (§3.5) is served a stored
// response only when that response carries public, s-maxage or
// must-revalidate, and only while it is fresh; otherwise it goes to the
// handler with its Authorization header, and the response is stored (for
// everyone) only when it carries one of those directives. A request with a
// Cookie or a user in its context bypasses the cache, as on any shared
// route, unless the route is Anonymous. Stale responses are served
// only as the response's own stale-while-revalidate and stale-if-error
// (RFC 5861) allow, and never when it says must-revalidate or
// proxy-revalidate or carries s-maxage (§5.2.2.10). A request with
// Cache-Control no-store, no-cache or max-age=0, or Pragma: no-cache, is
// forwarded without using or storing an entry.

// heuristicStatuses are the statuses cacheable by default (RFC 9110 §15.1)
// that heuristic freshness applies to.
var heuristicStatuses = map[int]bool{200: true, 203: true, 204: true, 206: true, 300: true, 301: true,
	308: true, 404: true, 405: true, 410: true, 414: true, 501: true}

// rfcFreshness is a response's freshness under RFC 9111.
type rfcFreshness struct {
	lifetime time.Duration // freshness lifetime
	age      time.Duration // corrected initial age
	swr, sie time.Duration // stale-while-revalidate, stale-if-error
}

// cacheControl parses Cache-Control values into lower-cased directives.
func cacheControl(vs []string) map[string]string {
	if len(vs) == 0 {
		return nil
	}
	m := make(map[string]string, 4)
	for _, v := range vs {
		for d := range strings.SplitSeq(v, ",") {
			d = strings.TrimSpace(d)
			if d == "" {
				continue
			}
			name, val, _ := strings.Cut(d, "=")
			name = strings.ToLower(strings.TrimSpace(name))
			if _, dup := m[name]; dup {
				// Duplicate directives with different values are invalid
				// (§4.2.1): treat the response as stale by keeping a
				// value that cannot parse.
				m[name] = "invalid"
				continue
			}
			m[name] = strings.Trim(strings.TrimSpace(val), `"`)
		}
	}
	return m
}

// seconds parses a delta-seconds value; ok is false when malformed.
func seconds(v string) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		if err != nil && strings.Trim(v, "0123456789") == "" {
			return time.Duration(1<<31-1) * time.Second, true // overflow: "2^31" per §1.2.2
		}
		return 0, false
	}
	return time.Duration(min(n, 1<<31-1)) * time.Second, true
}

// rfcFreshnessOf computes the freshness of a response received at now,
// and whether the response may be stored at all.
func (rc *RouteCache) rfcFreshnessOf(status int, h http.Header, now time.Time) (rfcFreshness, bool) {
	var f rfcFreshness
	cc := cacheControl(h.Values("Cache-Control"))
	for _, d := range []string{"no-store", "private", "no-cache"} {
		if _, ok := cc[d]; ok {
			return f, false
		}
	}
	date, err := http.ParseTime(h.Get("Date"))
	if err != nil {
		date = now
	}
	// §4.2.3: apparent age and the Age header, whichever is larger.
	f.age = max(now.Sub(date), 0)
	if a, ok := seconds(h.Get("Age")); ok {
		f.age = max(f.age, a)
	}
	_, mustRevalidate := cc["must-revalidate"]
	_, proxyRevalidate := cc["proxy-revalidate"]
	_, public := cc["public"]
	explicit := false
	if v, ok := cc["s-maxage"]; ok {
		d, valid := seconds(v)
		f.lifetime, explicit, proxyRevalidate = d, true, true
		if !valid {
			f.lifetime = 0
		}
	} else if v, ok := cc["max-age"]; ok {
		d, valid := seconds(v)
		f.lifetime, explicit = d, true
		if !valid {
			f.lifetime = 0
		}
	} else if vs, ok := h["Expires"]; ok {
		explicit = true
		if exp, err := http.ParseTime(strings.Join(vs, ",")); err == nil {
			f.lifetime = max(exp.Sub(date), 0)
		} // an invalid Expires means already expired: lifetime 0
	}
	if !explicit {
		lm, err := http.ParseTime(h.Get("Last-Modified"))
		if err != nil || !(heuristicStatuses[status] || public) || !lm.Before(date) {
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

// rfcRequestBypass reports whether a request's own directives forbid
// answering it from the cache (RFC 9111 §5.2.1, §5.4).
func rfcRequestBypass(r *http.Request) bool {
	cc := cacheControl(r.Header.Values("Cache-Control"))
	if cc == nil {
		return strings.Contains(strings.ToLower(r.Header.Get("Pragma")), "no-cache")
	}
	if _, ok := cc["no-store"]; ok {
		return true
	}
	if _, ok := cc["no-cache"]; ok {
		return true
	}
	if v, ok := cc["max-age"]; ok && v == "0" {
		return true
	}
	return false
}

// applyRFC sets e's times from the response under RFC 9111; ok is false
// when the response must not be stored.
func (rc *RouteCache) applyRFC(e *entry, status int, h http.Header, now time.Time) bool {
	f, ok := rc.rfcFreshnessOf(status, h, now)
	if !ok {
		return false
	}
	e.stored = now.Add(-f.age).UnixMilli()
	e.fresh = e.stored + f.lifetime.Milliseconds()
	e.stale = e.fresh + f.swr.Milliseconds()
	e.errUntil = e.fresh + f.sie.Milliseconds()
	return e.expiry() > now.UnixMilli()
}

// authShareable reports whether a response may be stored for, and served
// to, requests carrying Authorization (RFC 9111 §3.5): it says public,
// s-maxage or must-revalidate.
func authShareable(h http.Header) bool {
	vs := h["Cache-Control"]
	if len(vs) == 0 {
		return false
	}
	cc := cacheControl(vs)
	for _, d := range []string{"public", "s-maxage", "must-revalidate"} {
		if _, ok := cc[d]; ok {
			return true
		}
	}
	return false
}

// authLookup serves a request carrying Authorization on an RFC9111 shared
// route (RFC 9111 §3.5): a fresh stored response is used only when it says
// it may be shared with such requests; otherwise the handler runs with the
// Authorization header and its response is stored only when it says the
// same. Such requests do not coalesce with others: until the response
// arrives, nothing says it may be shared.
func (rc *RouteCache) authLookup(next http.Handler, w http.ResponseWriter, r *http.Request, q *request) {
	c := rc.c
	k := c.l.key(kindHTTP, rc.escKey(q, r, q.names))
	servable := func(sh *shared, now int64) bool {
		return now < sh.e.fresh && varyOK(&sh.e, r) && authShareable(sh.resp.Header)
	}
	if c.l1Usable() {
		now := c.now().UnixMilli()
		if it := c.l1GetAt(k.name, now); it != nil && servable(it.sh, now) {
			c.emit(middleware.CacheHit, rc.name)
			rc.serveEntryAt(w, r, it.sh, xHit, c.statusHit, now)
			return
		}
	}
	bk, onRedis := c.pick()
	started := c.now()
	ctx, cancel := context.WithTimeout(r.Context(), c.mon.CommandTimeout())
	v, err := bk.fetch(ctx, k, nil, c.opts.LeaseTTL)
	cancel()
	c.report(ctx, onRedis, rc.name, err)
	if err == nil && v != nil && !isLease(v) {
		if sh, ok := rc.decode(v, k, bk, onRedis); ok {
			if now := c.now().UnixMilli(); servable(sh, now) {
				c.emit(middleware.CacheHit, rc.name)
				rc.serveEntryAt(w, r, sh, xHit, c.statusHit, now)
				return
			}
		}
	}
	c.emit(middleware.CacheMiss, rc.name)
	c.emit(middleware.CacheLoad, rc.name)
	pre := w.Header().Clone()
	cw := w
	if r.Method == http.MethodHead {
		cw = headOnly{w}
	}
	r2 := rc.fillRequest(r, q, r.Context())
	r2.Header["Authorization"] = r.Header["Authorization"]
	rec, ok := rc.runFill(next, w, cw, r2)
	if !ok {
		return
	}
	if !authShareable(rec.SentHeader()) {
		c.emit(middleware.CacheBypass, rc.name)
		return
	}
	f := fill{k: k, bk: bk, onRedis: onRedis, started: started, noStore: err != nil}
	rc.storeResponse(r2, q, &f, rec.Status(), rec.SentHeader(), pre, rec.Body())
}
