package cachehttp

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

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

// Handler returns next wrapped with the route's caching, for chi's r.Use
// and http.ServeMux alike.
func (rc *RouteCache) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { rc.serve(next, w, r) })
}

// Middleware returns Handler as a middleware.Middleware for middleware.Chain.
func (rc *RouteCache) Middleware() middleware.Middleware { return rc.Handler }

// request is what one request resolved to before the lookup.
type request struct {
	base  string // logical key from the key function
	user  string
	tags  []string
	body  []byte // POST body read for keying, replayed to the handler
	ver   string // schema and namespace version suffix (version.go)
	names []string
	pk    *key // memoised physical key for names == nil (keymemo.go)
	// auth: an Authorization request on an RFC9111 shared route, served
	// under RFC 9111 §3.5 (authLookup).
	auth bool
}

func (rc *RouteCache) serve(next http.Handler, w http.ResponseWriter, r *http.Request) {
	c := rc.c
	if c.opts.Disabled || c.closed.Load() {
		rc.bypass(next, w, r)
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
	if mi < 0 || !rc.methods[mi] || headerValue(r.Header, "Range") != "" || headerValue(r.Header, "Upgrade") != "" ||
		rc.rt.RFC9111 && rfcRequestBypass(r) {
		rc.bypass(next, w, r)
		return
	}
	var q request
	if rc.rt.PerUser {
		if q.user = middleware.UserID(r); q.user == "" {
			rc.bypass(next, w, r)
			return
		}
	} else if !rc.rt.Anonymous {
		// A shared entry is never served to (nor filled by) a request that
		// carries an identity, unless the route says its responses do not
		// depend on who asks.
		auth := headerValue(r.Header, "Authorization") != ""
		if headerValue(r.Header, "Cookie") != "" || middleware.UserID(r) != "" || auth && !rc.rt.RFC9111 || transportIdentity(r) {
			rc.bypass(next, w, r)
			return
		}
		q.auth = auth
	}
	if rc.defKey && mi != 2 {
		// DefaultKey never fails: resolve the version first so the memo
		// can hand back both keys without building them again.
		var err error
		if q.ver, err = rc.c.keySuffix(r.Context(), rc.rt.Namespace); err != nil {
			rc.bypass(next, w, r)
			return
		}
		mk, memo := memoKeyOf(r, q.user, q.ver)
		var v *memoVal
		if memo {
			v = rc.keys.get(mk)
		}
		if v == nil {
			q.base, _ = DefaultKey(r)
			if memo {
				v = &memoVal{base: q.base, k: rc.c.l.key(kindHTTP, rc.escKey(&q, r, nil))}
				rc.keys.put(mk, v)
			}
		}
		if v != nil {
			q.base, q.pk = v.base, &v.k
		}
		q.tags = rc.tagsFor(r)
		q.names = *rc.vary.Load()
		rc.dispatch(next, w, r, &q)
		return
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
	q.names = *rc.vary.Load()
	rc.dispatch(next, w, r, &q)
}

// dispatch looks q up: through authLookup for a request served under RFC
// 9111 §3.5, through lookup otherwise.
func (rc *RouteCache) dispatch(next http.Handler, w http.ResponseWriter, r *http.Request, q *request) {
	if q.auth {
		rc.authLookup(next, w, r, q)
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
		h := sha256.New()
		for _, n := range names {
			h.Write([]byte(n))
			h.Write([]byte{0})
			h.Write([]byte(varyValue(r, n)))
			h.Write([]byte{0})
		}
		esc += "|v" + hex.EncodeToString(h.Sum(nil)[:16])
	}
	return esc
}

// varyValue normalises a request header's values for Vary matching.
func varyValue(r *http.Request, name string) string {
	vs := r.Header.Values(name)
	switch len(vs) {
	case 0:
		return ""
	case 1:
		return strings.TrimSpace(vs[0])
	}
	for i := range vs {
		vs[i] = strings.TrimSpace(vs[i])
	}
	return strings.Join(vs, ", ")
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

// lookup serves q: from a concurrent read or load of the same key, from the
// backend, or by filling the entry.
func (rc *RouteCache) lookup(next http.Handler, w http.ResponseWriter, r *http.Request, q *request, depth int) {
	c := rc.c
	var k key
	if q.pk != nil && len(q.names) == 0 {
		k = *q.pk
	} else {
		k = c.l.key(kindHTTP, rc.escKey(q, r, q.names))
	}
	if c.l1Usable() {
		now := c.now().UnixMilli()
		if it := c.l1GetAt(k.name, now); it != nil && varyOK(&it.sh.e, r) && !rc.refreshAheadDue(it.sh.e.fresh, now) {
			c.emit(middleware.CacheHit, rc.name)
			rc.serveEntryAt(w, r, it.sh, xHit, c.statusHit, now)
			return
		}
	}
	call, leader := c.flights.join(k.name)
	for attempt := 0; !leader; attempt++ {
		c.emit(middleware.CacheCoalesced, rc.name)
		res, finished := call.wait(r.Context(), rc.rt.WaitTimeout)
		if finished && res == nil && attempt < maxRejoin && r.Context().Err() == nil {
			call, leader = c.flights.join(k.name) // the leader gave up: take over
			continue
		}
		if res != nil && res.ok && varyOK(&res.e, r) {
			switch {
			case res.loaded:
				c.emit(middleware.CacheMiss, rc.name)
				rc.serveEntry(w, r, res, xMiss, c.statusCollapsed)
			case res.stale:
				c.emit(middleware.CacheStale, rc.name)
				rc.serveEntry(w, r, res, xStale, c.statusStale)
			default:
				c.emit(middleware.CacheHit, rc.name)
				rc.serveEntry(w, r, res, xHit, c.statusHit)
			}
			return
		}
		if r.Context().Err() != nil {
			return // the client is gone
		}
		rc.direct(next, w, r, q)
		return
	}

	bk, onRedis := c.pick()
	started := c.now()
	gen := c.l1Gen(k.name)
	token := newToken()
	// Not detached: if this request ends, its waiters take over (rejoin).
	ctx, cancel := context.WithTimeout(r.Context(), c.mon.CommandTimeout())
	v, err := bk.fetch(ctx, k, token, c.opts.LeaseTTL)
	cancel()
	c.report(ctx, onRedis, rc.name, err)
	f := fill{k: k, bk: bk, onRedis: onRedis, started: started, call: call, noStore: err != nil}
	if err == nil && v == nil {
		f.token = token
	}
	if err == nil && isLease(v) {
		// Another instance is filling this key: wait for it, or take over
		// the lease if it goes away.
		v, f.token = c.waitFill(r.Context(), bk, k, token)
		if r.Context().Err() != nil {
			c.flights.finish(k.name, call, nil)
			return
		}
	}
	if v != nil && !isLease(v) {
		if sh, ok := rc.decode(v, k, bk, onRedis); ok {
			now := c.now().UnixMilli()
			fresh, swr := now < sh.e.fresh, now < sh.e.stale
			if !varyOK(&sh.e, r) {
				// Stored for other values of a Vary header this process did
				// not key on yet: share it with the waiters it may suit,
				// then look up this request's variant.
				var pub *shared
				if fresh || swr {
					pub = sh.withStale(!fresh)
				}
				c.flights.finish(k.name, call, pub)
				if f.token != nil {
					rctx, rcancel := c.redisCtx(r.Context())
					_ = bk.release(rctx, k, f.token)
					rcancel()
				}
				rc.relearn(next, w, r, q, &sh.e, depth)
				return
			}
			switch {
			case fresh:
				if onRedis {
					c.l1Put(k, sh, gen, rc.l1MaxAge)
				}
				c.flights.finish(k.name, call, sh)
				c.emit(middleware.CacheHit, rc.name)
				rc.serveEntryAt(w, r, sh, xHit, c.statusHit, now)
				if rc.refreshAheadDue(sh.e.fresh, now) {
					rc.refresh(next, r, q, k, sh.e.stored)
				}
				return
			case swr:
				sh = sh.withStale(true)
				c.flights.finish(k.name, call, sh)
				c.emit(middleware.CacheStale, rc.name)
				rc.serveEntryAt(w, r, sh, xStale, c.statusStale, now)
				rc.refresh(next, r, q, k, sh.e.stored)
				return
			case now < sh.e.errUntil:
				f.staleIfErr = sh.withStale(true)
			}
		}
	}
	rc.fill(next, w, r, q, &f)
}

// relearn handles a stored entry whose Vary headers this process did not
// key on yet: it learns them and looks up the right variant.
func (rc *RouteCache) relearn(next http.Handler, w http.ResponseWriter, r *http.Request, q *request, e *entry, depth int) {
	names := make([]string, 0, len(e.vary)/2)
	for i := 0; i+1 < len(e.vary); i += 2 {
		names = append(names, e.vary[i])
	}
	q.names = rc.learn(names)
	if depth > 0 {
		rc.direct(next, w, r, q)
		return
	}
	rc.lookup(next, w, r, q, depth+1)
}

// decode decodes a fetched entry; a corrupt one is deleted and reported.
func (rc *RouteCache) decode(v []byte, k key, bk backend, onRedis bool) (*shared, bool) {
	if sh := rc.c.memo.get(k.name, v); sh != nil {
		return sh, true
	}
	e, err := decodeEntry(v)
	var resp middleware.StoredResponse
	if err == nil && e.kind == kindHTTP {
		resp, err = middleware.DecodeResponse(e.payload)
	} else if err == nil {
		err = ErrCorruptEntry
	}
	if err != nil {
		rc.c.emit(middleware.CacheError, rc.name)
		ctx, cancel := rc.c.redisCtx(context.Background())
		_, derr := bk.delete(ctx, []key{k})
		cancel()
		rc.c.report(ctx, onRedis, rc.name, derr)
		return nil, false
	}
	sh := &shared{ok: true, e: e, resp: resp}
	rc.c.memo.put(k.name, v, sh)
	return sh, true
}

// serveEntry writes a stored response (or a 304 for a matching
// If-None-Match) with the cache headers.
func (rc *RouteCache) serveEntry(w http.ResponseWriter, r *http.Request, sh *shared, x []string, status string) {
	rc.serveEntryAt(w, r, sh, x, status, rc.c.now().UnixMilli())
}

// serveEntryAt is serveEntry at a clock reading (Unix ms) the caller already
// took: reading the clock is a measurable share of an L1 hit.
func (rc *RouteCache) serveEntryAt(w http.ResponseWriter, r *http.Request, sh *shared, x []string, status string, now int64) {
	h := w.Header()
	h["X-Cache"] = x
	h["Cache-Status"] = rc.c.statusValue(status)
	h["Age"] = ageHeader((now - sh.e.stored) / 1000)
	if inm := headerValue(r.Header, "If-None-Match"); inm != "" && sh.e.etag != "" && etagMatch(inm, sh.e.etag) {
		for _, n := range notModifiedHeaders {
			if vs, ok := sh.resp.Header[n]; ok {
				h[n] = vs
			}
		}
		w.WriteHeader(http.StatusNotModified)
		return
	}
	sh.resp.WriteTo(w, r)
}

// notModifiedHeaders are the stored headers a 304 repeats (RFC 9110 15.4.5).
var notModifiedHeaders = []string{"Etag", "Cache-Control", "Content-Location", "Date", "Expires", "Vary"}

// etagMatch implements If-None-Match's weak comparison.
func etagMatch(inm, etag string) bool {
	etag = strings.TrimPrefix(etag, "W/")
	for p := range strings.SplitSeq(inm, ",") {
		p = strings.TrimSpace(p)
		if p == "*" || strings.TrimPrefix(p, "W/") == etag {
			return true
		}
	}
	return false
}

// fill is the state of one fill by the leader of a key.
type fill struct {
	k          key
	bk         backend
	onRedis    bool
	started    time.Time
	token      []byte // lease placeholder we hold, if any
	noStore    bool   // the backend failed: do not try to write
	staleIfErr *shared
	call       *call
}

// fillRequest returns the request a cache fill runs with: headers not in the
// key removed (no cache poisoning), HEAD turned into GET, and on a shared
// route no identity (no user in the context, no Cookie or Authorization, no
// client certificate, no userinfo in the URL).
func (rc *RouteCache) fillRequest(r *http.Request, q *request, ctx context.Context) *http.Request {
	shared := !rc.rt.PerUser
	if shared {
		ctx = middleware.WithoutUser(ctx)
	}
	r2 := new(http.Request)
	*r2 = *r
	r2 = r2.WithContext(ctx)
	if shared {
		withoutTransportIdentity(r2)
	}
	h := make(http.Header, len(rc.pass)+len(q.names))
	for k, vs := range r.Header {
		if rc.pass[k] {
			h[k] = vs
		}
	}
	for _, n := range q.names {
		if shared && identityHeader(n) {
			continue
		}
		if vs, ok := r.Header[n]; ok {
			h[n] = vs
		}
	}
	r2.Header = h
	if r.Method == http.MethodHead {
		r2.Method = http.MethodGet
	}
	if q.body != nil {
		r2.Body = io.NopCloser(bytes.NewReader(q.body))
		r2.ContentLength = int64(len(q.body))
	}
	return r2
}

func (rc *RouteCache) missHeaders(status string) func(int, http.Header) {
	return func(_ int, h http.Header) {
		h["X-Cache"] = xMiss
		h["Cache-Status"] = rc.c.statusValue(status)
		if _, ok := h["Age"]; !ok || !rc.rt.RFC9111 { // a proxied response keeps its Age
			h["Age"] = ageZero
		}
	}
}

// fill runs the handler as the key's leader, answering the client as it
// goes, stores a storable result and shares it with the waiters.
func (rc *RouteCache) fill(next http.Handler, w http.ResponseWriter, r *http.Request, q *request, f *fill) {
	c := rc.c
	res := notShareable
	defer func() {
		if !res.ok && r.Context().Err() != nil {
			res = nil // the leader's client left: a waiter takes over
		}
		c.flights.finish(f.k.name, f.call, res)
		if (res == nil || !res.ok) && f.token != nil {
			ctx, cancel := c.redisCtx(r.Context())
			err := f.bk.release(ctx, f.k, f.token)
			cancel()
			c.report(ctx, f.onRedis, rc.name, err)
		}
	}()
	c.emit(middleware.CacheMiss, rc.name)
	c.emit(middleware.CacheLoad, rc.name)
	pre := w.Header().Clone()
	cw := w
	if r.Method == http.MethodHead {
		cw = headOnly{w}
	}
	r2 := rc.fillRequest(r, q, r.Context())

	if f.staleIfErr != nil {
		res = orNotShareable(rc.fillDeferred(next, cw, w, r, r2, q, f, pre))
		return
	}
	rec, ok := rc.runFill(next, w, cw, r2)
	if !ok {
		return
	}
	res = orNotShareable(rc.storeResponse(r2, q, f, rec.Status(), rec.SentHeader(), pre, rec.Body()))
}

// runFill runs next for a fill, writing to cw (w, or w without a body for
// HEAD) with the miss headers. It reports the recorder and whether the
// handler wrote a complete response that fits MaxBody, the only kind that
// may be stored; a handler that wrote nothing is left to the framework
// around the middleware (see unwritten).
func (rc *RouteCache) runFill(next http.Handler, w, cw http.ResponseWriter, r2 *http.Request) (*middleware.Recorder, bool) {
	rec := middleware.NewRecorder(cw, rc.rt.MaxBody)
	rec.BeforeHeader(rc.missHeaders(rc.c.statusMiss))
	next.ServeHTTP(rec.Writer(), r2)
	if rec.Status() == 0 {
		rc.unwritten(w, rec.Hijacked())
		return rec, false
	}
	return rec, rec.Complete() && rec.Written() == int64(len(rec.Body()))
}

// unwritten handles a fill whose handler returned without writing a status
// or a byte. Nothing is stored and nothing is written: a framework around
// the middleware may still write the response (echo's WrapMiddleware writes
// the error a handler returned after the middleware returns), and if none
// does, net/http sends its empty 200 as it would without the cache.
func (rc *RouteCache) unwritten(w http.ResponseWriter, hijacked bool) {
	rc.c.emit(middleware.CacheBypass, rc.name)
	if !hijacked {
		rc.missHeaders(rc.c.statusMiss)(0, w.Header())
	}
}

// notShareable is the result of a fill whose response may not be shared
// (uncacheable, failed): waiters call the handler themselves.
var notShareable = &shared{}

func orNotShareable(s *shared) *shared {
	if s == nil {
		return notShareable
	}
	return s
}

// fillDeferred is fill for a key with a stale entry usable on error: the
// response is held back until complete so a 5xx or a panic can be replaced
// by the stale entry.
func (rc *RouteCache) fillDeferred(next http.Handler, cw, w http.ResponseWriter, r, r2 *http.Request, q *request, f *fill, pre http.Header) (res *shared) {
	c := rc.c
	dw := newDeferWriter(cw, rc.rt.MaxBody, rc.missHeaders(c.statusMiss))
	panicked, pv := func() (p bool, v any) {
		defer func() {
			if v = recover(); v != nil {
				p = true
			}
		}()
		next.ServeHTTP(dw, r2)
		return false, nil
	}()
	if panicked && (dw.committed || pv == http.ErrAbortHandler) {
		panic(pv)
	}
	if !dw.committed && (panicked || dw.status >= 500) {
		st := c.statusStale + "; fwd-status=" + strconv.Itoa(max(dw.status, 500))
		c.emit(middleware.CacheStale, rc.name)
		rc.serveEntry(w, r, f.staleIfErr, xStale, st)
		return f.staleIfErr
	}
	if dw.status == 0 {
		// Nothing written: whatever is written after the handler returned
		// goes straight through (see unwritten).
		dw.passThrough()
		rc.unwritten(w, false)
		return nil
	}
	if err := dw.commit(); err != nil || dw.streamed {
		return nil
	}
	sent := w.Header()
	return rc.storeResponse(r2, q, f, dw.status, sent, pre, dw.buf.Bytes())
}

// hopHeaders are never stored.
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade", "X-Cache", "Cache-Status", "Age"}

// storable reports whether a response may be stored, and its Vary names.
func (rc *RouteCache) storable(status int, h http.Header) ([]string, bool) {
	if !rc.statuses[status] {
		return nil, false
	}
	if _, ok := h["Set-Cookie"]; ok {
		return nil, false
	}
	for _, cc := range h.Values("Cache-Control") {
		for d := range strings.SplitSeq(strings.ToLower(cc), ",") {
			d = strings.TrimSpace(d)
			if i := strings.IndexByte(d, '='); i >= 0 {
				d = strings.TrimSpace(d[:i])
			}
			switch d {
			case "private", "no-store", "no-cache":
				return nil, false
			}
		}
	}
	var names []string
	for _, v := range h.Values("Vary") {
		for n := range strings.SplitSeq(v, ",") {
			n = strings.TrimSpace(n)
			if n == "*" {
				return nil, false
			}
			if n != "" && !(rc.rt.Anonymous && identityHeader(http.CanonicalHeaderKey(n))) {
				// An Anonymous route's fills never see Cookie or
				// Authorization: the response cannot vary on them.
				names = append(names, n)
			}
		}
	}
	return canonicalNames(names), true
}

// storeResponse stores a complete response and returns it for the waiters,
// or nil when it is not storable or the write did not happen. r is the
// request the handler saw (fillRequest): its Vary values are the ones the
// response was made for.
func (rc *RouteCache) storeResponse(r *http.Request, q *request, f *fill, status int, sent, pre http.Header, body []byte) *shared {
	c := rc.c
	names, ok := rc.storable(status, sent)
	if !ok {
		c.emit(middleware.CacheBypass, rc.name)
		return nil
	}
	if c.now().Sub(f.started) > c.opts.MaxLoadTime {
		return nil
	}
	hdr := make(http.Header, len(sent))
	for k, vs := range sent {
		if pv, ok := pre[k]; ok && equalValues(pv, vs) {
			continue // set by an outer middleware (rate-limit headers...)
		}
		hdr[k] = append([]string(nil), vs...)
	}
	for _, k := range hopHeaders {
		delete(hdr, k)
	}
	if status != http.StatusNoContent {
		hdr["Content-Length"] = []string{strconv.Itoa(len(body))}
	}
	etag := hdr.Get("Etag")
	if etag == "" {
		sum := sha256.Sum256(body)
		etag = `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`
		hdr["Etag"] = []string{etag}
	}
	k := f.k
	token := f.token
	if len(names) > 0 {
		now := rc.learn(names)
		q.names = now
		if k2 := c.l.key(kindHTTP, rc.escKey(q, r, now)); k2.name != k.name {
			// The response varies on headers the key did not include: store
			// it under the key that does, and give up the lease on this one.
			k, token = k2, nil
		}
	}
	now := c.now()
	ttl := rc.rt.TTL
	if rc.rt.Jitter > 0 {
		ttl -= time.Duration(rand.Float64() * rc.rt.Jitter * float64(ttl))
	}
	e := entry{route: rc.name, kind: kindHTTP, stored: now.UnixMilli(), tags: q.tags, etag: etag}
	e.fresh = e.stored + max(ttl.Milliseconds(), 1)
	e.stale = e.fresh + rc.rt.StaleWhileRevalidate.Milliseconds()
	e.errUntil = e.fresh + rc.rt.StaleIfError.Milliseconds()
	if rc.rt.RFC9111 && !rc.applyRFC(&e, status, sent, now) {
		c.emit(middleware.CacheBypass, rc.name)
		return nil
	}
	for _, n := range names {
		e.vary = append(e.vary, n, varyValue(r, n))
	}
	resp := middleware.StoredResponse{Status: status, Header: hdr, Body: body}
	e.payload = resp.Encode(nil)
	val := e.encode()
	sh := &shared{ok: true, loaded: true, e: e, resp: resp}
	sh.resp.Body = e.payload[len(e.payload)-len(body):]
	if f.noStore {
		return sh // Redis just failed: share with the waiters, do not write
	}
	ctx, cancel := c.redisCtx(r.Context())
	stored, err := f.bk.store(ctx, write{key: k, value: val, route: rc.name, tags: q.tags,
		ttl: time.Duration(e.expiry()-e.stored) * time.Millisecond, token: token, started: f.started})
	cancel()
	c.report(ctx, f.onRedis, rc.name, err)
	if err != nil || !stored {
		return sh.withOK(err == nil) // shared unless the write failed oddly
	}
	if token == nil && f.token != nil {
		ctx, cancel := c.redisCtx(r.Context())
		_ = f.bk.release(ctx, f.k, f.token)
		cancel()
	}
	f.token = nil
	c.emit(middleware.CacheStore, rc.name)
	return sh
}

func equalValues(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// refresh replaces a stale entry in the background (stale-while-revalidate):
// once per key in this process and, through a lease, across instances.
// seen is when the entry that prompted it was stored: an entry stored
// later means another instance has refreshed it already.
func (rc *RouteCache) refresh(next http.Handler, r *http.Request, q *request, k key, seen int64) {
	c := rc.c
	if c.closed.Load() {
		return
	}
	if _, busy := c.refreshing.LoadOrStore(k.name, struct{}{}); busy {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), c.opts.MaxLoadTime)
	stop := context.AfterFunc(c.ctx, cancel)
	r2 := rc.fillRequest(r, q, ctx)
	qq := *q
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		defer c.refreshing.Delete(k.name)
		defer stop()
		defer cancel()
		bk, onRedis := c.pick()
		lease := c.l.lease(k)
		lctx, lcancel := c.redisCtx(ctx)
		ok, err := bk.tryLease(lctx, lease, c.opts.LeaseTTL)
		lcancel()
		c.report(lctx, onRedis, rc.name, err)
		if err != nil || !ok {
			return
		}
		if rc.refreshedSince(ctx, bk, k, seen) {
			return
		}
		f := &fill{k: k, bk: bk, onRedis: onRedis, started: c.now()}
		bw := &bufferWriter{max: rc.rt.MaxBody}
		defer func() {
			if v := recover(); v != nil {
				c.opts.Logger.Error("cachehttp: background refresh panicked", "route", rc.name)
			}
		}()
		c.emit(middleware.CacheLoad, rc.name)
		next.ServeHTTP(bw, r2)
		if bw.overflow || bw.status == 0 {
			return
		}
		rc.storeResponse(r2, &qq, f, bw.status, bw.Header(), nil, bw.buf.Bytes())
	}()
}
