package cachehttp

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
	"time"

	"github.com/aura-platform/redishttp/internal/stored"
	"github.com/aura-platform/redishttp/middleware"
)

// Validation (RFC 9111 §4.3).
//
// A stored response that is stale, or must be validated before every use
// (no-cache), is not thrown away when it carries a validator of the origin:
// the fill sends the handler a conditional request built from it
// (If-None-Match with its ETag, If-Modified-Since with its Last-Modified).
// A 304 freshens it: its header fields replace the stored ones except those
// listed in notUpdated, the body is kept, freshness is computed again and
// the result stored and served (Cache-Status fwd=stale; fwd-status=304).
// Any other answer is handled like a miss: a 200 replaces the entry, a 5xx
// may be replaced by the stale entry under stale-if-error.

// maxKeep bounds how long a stale response is kept for validation.
const maxKeep = 24 * time.Hour

// conditionalHeaders are the client's preconditions a validation replaces
// with the cache's own (the stored response answers the client's).
var conditionalHeaders = []string{"If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since", "If-Range"}

// notUpdated are the header fields a 304 does not change in the stored
// response (§3.2): the body's framing and encoding, hop-by-hop fields and
// the cache's own.
var notUpdated = map[string]bool{"Content-Length": true, "Content-Encoding": true, "Content-Range": true,
	"Transfer-Encoding": true, "Connection": true, "Keep-Alive": true, "Te": true, "Trailer": true,
	"Upgrade": true, "Proxy-Authenticate": true, "Proxy-Connection": true, "X-Cache": true, "Cache-Status": true}

// computedETag is the strong ETag the cache gives a response that has none:
// a digest of its body.
func computedETag(body []byte) string {
	sum := sha256.Sum256(body)
	return `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`
}

// originValidators returns the validators the handler gave a stored
// response: its ETag unless the cache computed it, and its Last-Modified.
func originValidators(sh *shared) (etag, lastModified string) {
	h := sh.resp.Header
	if etag = headerValue(h, "Etag"); etag != "" && etag == computedETag(sh.resp.Body) {
		etag = ""
	}
	return etag, headerValue(h, "Last-Modified")
}

// canValidate reports whether a stored response carries a validator of the
// origin, so a conditional request can freshen it.
func canValidate(sh *shared) bool {
	if sh == nil {
		return false
	}
	etag, lm := originValidators(sh)
	return etag != "" || lm != ""
}

// conditional turns r2, a fill request whose header map is its own, into a
// conditional request for the stored response sh (§4.3.1); it reports
// whether sh had a validator to send.
func conditional(r2 *http.Request, sh *shared) bool {
	etag, lm := originValidators(sh)
	if etag == "" && lm == "" {
		return false
	}
	for _, n := range conditionalHeaders {
		delete(r2.Header, n)
	}
	if etag != "" {
		r2.Header["If-None-Match"] = []string{quoteETag(etag)}
	}
	if lm != "" {
		r2.Header["If-Modified-Since"] = []string{lm}
	}
	return true
}

// quoteETag quotes an entity-tag an origin sent without its quotes.
func quoteETag(etag string) string {
	weak := ""
	if len(etag) > 2 && (etag[:2] == "W/" || etag[:2] == "w/") {
		weak, etag = "W/", etag[2:]
	}
	if !strings.HasPrefix(etag, `"`) {
		etag = `"` + strings.Trim(etag, `"`) + `"`
	}
	return weak + etag
}

// freshenHeader returns the stored header updated from a 304's (§3.2,
// §4.3.4).
func freshenHeader(stored, h304 http.Header) http.Header {
	h := stored.Clone()
	for k, vs := range h304 {
		if !notUpdated[k] {
			h[k] = vs
		}
	}
	return h
}

// revalidated completes a validation the handler answered with 304: the
// stored response, freshened from the 304's header, is stored again and
// served. It returns what the waiters of the key are given (nil when the
// freshened response may not be stored).
func (rc *RouteCache) revalidated(w http.ResponseWriter, r, r2 *http.Request, q *request, f *fill, h304 http.Header) *shared {
	c := rc.c
	p := f.prior
	hdr := freshenHeader(p.resp.Header, h304)
	sh := rc.storeResponse(r2, q, f, p.resp.Status, hdr, nil, p.resp.Body)
	res := sh
	if sh == nil {
		for _, k := range hopHeaders {
			delete(hdr, k)
		}
		sh = &shared{ok: true, e: p.e, resp: stored.Response{Status: p.resp.Status, Header: hdr, Body: p.resp.Body}}
		sh.e.stored = c.now().UnixMilli()
	}
	c.emit(middleware.CacheHit, rc.name)
	rc.serveEntry(w, r, sh, xHit, c.opts.Name+"; fwd=stale; fwd-status=304")
	return res
}

// keepUntil is when the backend may drop e (unix ms): its expiry, or later
// for an RFC9111 response with a validator of the origin, kept past its
// freshness for the larger of its lifetime and Route.TTL (at most a day) so
// that it can be validated instead of fetched again.
func (rc *RouteCache) keepUntil(e *entry, sent http.Header) int64 {
	exp := e.expiry()
	if !rc.rt.RFC9111 || headerValue(sent, "Etag") == "" && headerValue(sent, "Last-Modified") == "" {
		return exp
	}
	keep := min(max(time.Duration(e.fresh-e.stored)*time.Millisecond, rc.rt.TTL), maxKeep)
	return max(exp, e.fresh+keep.Milliseconds())
}

// storeStale sets e's times for a response that RFC 9111 lets a shared
// cache store but not serve without validation (§4.2.4, §5.2.2.4): no-cache,
// or stale on arrival, with a validator of the origin. ok is false when
// it may not be stored at all.
func (rc *RouteCache) storeStale(e *entry, status int, h http.Header, now time.Time) bool {
	if status < 200 || status == http.StatusPartialContent || status == http.StatusNotModified ||
		headerValue(h, "Etag") == "" && headerValue(h, "Last-Modified") == "" {
		return false
	}
	cc := cacheControl(h.Values("Cache-Control"))
	if rc.rt.RFC9111 {
		cc, _ = rc.rfcDirectives(h)
	}
	for _, d := range []string{"no-store", "private"} {
		if _, ok := cc[d]; ok {
			return false
		}
	}
	age := time.Duration(0)
	if date, ok := parseHTTPDate(headerValue(h, "Date")); ok {
		age = max(now.Sub(date), 0)
	}
	if a, ok := ageOf(h); ok {
		age = max(age, a)
	}
	e.stored = now.Add(-age).UnixMilli()
	e.fresh, e.stale, e.errUntil = e.stored, e.stored, e.stored
	return true
}

// notModified reports whether the client's preconditions let a stored
// response be answered with 304 (§4.3.2): If-None-Match against its ETag,
// else If-Modified-Since against its Last-Modified (or Date, or when it was
// stored). Only GET and HEAD are answered so.
func notModified(r *http.Request, sh *shared) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	if inm := headerValue(r.Header, "If-None-Match"); inm != "" {
		return sh.e.etag != "" && etagMatch(inm, sh.e.etag)
	}
	ims := headerValue(r.Header, "If-Modified-Since")
	if ims == "" {
		return false
	}
	since, err := http.ParseTime(ims)
	if err != nil {
		return false
	}
	var last time.Time
	if lm, err := http.ParseTime(headerValue(sh.resp.Header, "Last-Modified")); err == nil {
		last = lm
	} else if d, err := http.ParseTime(headerValue(sh.resp.Header, "Date")); err == nil {
		last = d
	} else {
		last = time.UnixMilli(sh.e.stored)
	}
	return !last.Truncate(time.Second).After(since)
}

// hopRequestHeaders are the request fields a proxy does not forward
// (RFC 9110 §7.6.1).
var hopRequestHeaders = map[string]bool{"Connection": true, "Keep-Alive": true, "Proxy-Authorization": true,
	"Proxy-Connection": true, "Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true}

// forwardHeader is the header an RFC9111 fill forwards: the client's,
// without hop-by-hop fields (and those Connection names) and, on a shared
// route, without Cookie and Authorization.
func forwardHeader(src http.Header, shared bool) http.Header {
	h := make(http.Header, len(src))
	var conn []string
	for _, v := range src["Connection"] {
		for n := range strings.SplitSeq(v, ",") {
			conn = append(conn, http.CanonicalHeaderKey(strings.TrimSpace(n)))
		}
	}
outer:
	for k, vs := range src {
		if hopRequestHeaders[k] || shared && identityHeader(k) {
			continue
		}
		for _, n := range conn {
			if n == k {
				continue outer
			}
		}
		h[k] = vs
	}
	return h
}
