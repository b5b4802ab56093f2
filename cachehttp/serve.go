package cachehttp

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strings"

	"github.com/aura-platform/redishttp/middleware"
)

// Values of the X-Cache header, shared read-only slices.
var (
	xHit    = []string{"HIT"}
	xMiss   = []string{"MISS"}
	xStale  = []string{"STALE"}
	xBypass = []string{"BYPASS"}
	ageZero = []string{"0"}
)

// request is what one request resolved to before the lookup.
type request struct {
	base string // logical key from the key function
	user string
	tags []string
	body []byte // POST body read for keying, replayed to the handler
	ver  string // schema and namespace version suffix (version.go)
	// names are the request headers a fill sees besides PassHeaders: the
	// route's Vary and, for a variant, the stored response's Vary.
	names []string
	pesc  string // escaped primary key (escKey)
	// auth: an Authorization request on an RFC9111 shared route, served
	// under RFC 9111 §3.5 (rfcLookup).
	auth bool
}

func (rc *RouteCache) serve(next http.Handler, w http.ResponseWriter, r *http.Request) {
	c := rc.c
	if c.opts.Disabled || c.closed.Load() {
		rc.bypass(next, w, r)
		return
	}
	if rc.rt.RFC9111 && !safeMethod(r.Method) {
		rc.forwardUnsafe(next, w, r) // RFC 9111 §4.4 (unsafe.go)
		return
	}
	mi := -1
	switch r.Method {
	case http.MethodGet:
		mi = 0
	case http.MethodHead:
		mi = 1
	case http.MethodPost:
		mi = 2
	}
	if mi < 0 || !rc.methods[mi] || headerValue(r.Header, "Range") != "" || headerValue(r.Header, "Upgrade") != "" {
		rc.bypass(next, w, r)
		return
	}
	var q request
	if rc.rt.PerUser {
		if q.user = middleware.UserFromContext(r.Context()); q.user == "" {
			rc.bypass(next, w, r)
			return
		}
	} else if !rc.rt.Anonymous {
		// A shared entry is never served to (nor filled by) a request that
		// carries an identity, unless the route says its responses do not
		// depend on who asks.
		auth := headerValue(r.Header, "Authorization") != ""
		if headerValue(r.Header, "Cookie") != "" || middleware.UserFromContext(r.Context()) != "" || auth && !rc.rt.RFC9111 || transportIdentity(r) {
			rc.bypass(next, w, r)
			return
		}
		q.auth = auth
	}
	base, err := rc.keyFunc(r)
	if err != nil {
		rc.bypass(next, w, r)
		return
	}
	if mi == 2 {
		body, ok := readBody(r, rc.rt.MaxRequestBody)
		if !ok {
			rc.bypass(next, w, r)
			return
		}
		q.body = body
		sum := sha256.Sum256(body)
		base += ":b=" + hex.EncodeToString(sum[:20]) + ":ct=" + middleware.KeyPart(r.Header.Get("Content-Type"))
	}
	q.base = base
	if q.ver, err = rc.c.keySuffix(r.Context(), rc.rt.Namespace); err != nil {
		rc.bypass(next, w, r)
		return
	}
	q.tags = rc.tagsFor(r)
	q.names = rc.vary
	rc.dispatch(next, w, r, &q)
}

// dispatch looks q up: through rfcLookup for a request served under RFC
// 9111 §3.5 or carrying request directives (§5.2.1), through lookup
// otherwise.
func (rc *RouteCache) dispatch(next http.Handler, w http.ResponseWriter, r *http.Request, q *request) {
	if q.auth || rc.rt.RFC9111 && rfcDirected(r) {
		rc.rfcLookup(next, w, r, q)
		return
	}
	rc.lookup(next, w, r, q, 0)
}

// transportIdentity reports whether r identifies its client outside the
// headers and the context: a client certificate (mutual TLS) or userinfo
// in an absolute-form request line.
func transportIdentity(r *http.Request) bool {
	return r.TLS != nil && len(r.TLS.PeerCertificates) > 0 || r.URL != nil && r.URL.User != nil
}

// withoutTransportIdentity removes what transportIdentity looks for from
// r2, a shallow copy of a request: the client certificates and verified
// chains of its TLS state (copied, so the connection's is untouched) and
// the userinfo of its URL.
func withoutTransportIdentity(r2 *http.Request) {
	if r2.TLS != nil && (len(r2.TLS.PeerCertificates) > 0 || len(r2.TLS.VerifiedChains) > 0) {
		cs := *r2.TLS
		cs.PeerCertificates, cs.VerifiedChains = nil, nil
		r2.TLS = &cs
	}
	if r2.URL != nil && r2.URL.User != nil {
		u := *r2.URL
		u.User = nil
		r2.URL = &u
	}
}

// readBody reads the request body for keying, up to max bytes, and puts a
// replay in its place. ok is false when the body is larger (it is then
// replayed whole to the handler, uncached) or unreadable.
func readBody(r *http.Request, max int64) ([]byte, bool) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, true
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, max+1))
	if err != nil || int64(len(b)) > max {
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(b), r.Body), r.Body}
		return nil, false
	}
	_ = r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(b))
	return b, true
}

func (rc *RouteCache) tagsFor(r *http.Request) []string {
	if rc.rt.TagFunc == nil {
		return rc.staticTags
	}
	dyn := rc.rt.TagFunc(r)
	if len(dyn) == 0 {
		return rc.staticTags
	}
	return append(append(make([]string, 0, len(rc.staticTags)+len(dyn)), rc.staticTags...), dyn...)
}

// escKey builds the escaped physical key for q with the given Vary names.
func (rc *RouteCache) escKey(q *request, r *http.Request, names []string) string {
	esc := escapeKey(q.base)
	if q.user != "" {
		esc += "|u" + middleware.KeyPart(q.user)
	}
	esc += q.ver
	if len(names) > 0 {
		esc += "|v" + varyDigest(names, r)
	}
	return esc
}

// varyValue normalises a request header's values for Vary matching (RFC
// 9111 §4.1): field lines combined with ", " and the whitespace around
// each comma-separated member removed, so "1,2", " 1, 2 " and two lines
// "1" and "2" select the same stored response.
func varyValue(r *http.Request, name string) string {
	vs := r.Header.Values(name)
	switch len(vs) {
	case 0:
		return ""
	case 1:
		return normaliseList(vs[0])
	}
	return normaliseList(strings.Join(vs, ","))
}

// normaliseList trims the whitespace around the members of a
// comma-separated field value and joins them with ", ".
func normaliseList(v string) string {
	v = strings.TrimSpace(v)
	if !strings.Contains(v, ",") {
		return v
	}
	var b strings.Builder
	b.Grow(len(v) + 8)
	for i, m := range strings.Split(v, ",") {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strings.TrimSpace(m))
	}
	return b.String()
}

// varyOK reports whether r selects e: every Vary header of the stored
// response has the value it had in the request that filled it.
func varyOK(e *entry, r *http.Request) bool {
	for i := 0; i+1 < len(e.vary); i += 2 {
		if varyValue(r, e.vary[i]) != e.vary[i+1] {
			return false
		}
	}
	return true
}

// bypass passes a request through, uncached.
func (rc *RouteCache) bypass(next http.Handler, w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h["X-Cache"] = xBypass
	h["Cache-Status"] = rc.c.statusValue(rc.c.statusBypass)
	h["Age"] = ageZero
	rc.c.emit(middleware.CacheBypass, rc.name)
	next.ServeHTTP(w, r)
}

// direct runs the handler for a request whose coalesced fill gave nothing
// shareable: answered by the handler, not stored.
func (rc *RouteCache) direct(next http.Handler, w http.ResponseWriter, r *http.Request, q *request) {
	h := w.Header()
	h["X-Cache"] = xMiss
	h["Cache-Status"] = rc.c.statusValue(rc.c.statusMiss)
	h["Age"] = ageZero
	rc.c.emit(middleware.CacheMiss, rc.name)
	if q.body != nil {
		r.Body = io.NopCloser(bytes.NewReader(q.body))
	}
	next.ServeHTTP(w, r)
}
