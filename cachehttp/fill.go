package cachehttp

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aura-platform/redishttp/internal/recorder"
	"github.com/aura-platform/redishttp/internal/stored"
	"github.com/aura-platform/redishttp/middleware"
)

// fill is the state of one fill by the leader of a key.
type fill struct {
	k          key
	bk         backend
	onRedis    bool
	started    time.Time
	token      []byte // lease placeholder we hold, if any
	noStore    bool   // the backend failed: do not try to write
	staleIfErr *shared
	prior      *shared // the stale stored response, validated when it can be (validate.go)
	call       *call
}

// fillRequest returns the request a cache fill runs with: headers not in the
// key removed (no cache poisoning) except on an RFC9111 route, which
// forwards the client's headers as a proxy does and trusts the response's
// Vary; HEAD turned into GET; and on a shared route no identity (no user in
// the context, no Cookie or Authorization, no client certificate, no
// userinfo in the URL).
func (rc *RouteCache) fillRequest(r *http.Request, q *request, ctx context.Context) *http.Request {
	shared := !rc.rt.PerUser
	if shared {
		ctx = middleware.WithoutUser(ctx)
	}
	r2 := r.WithContext(ctx) // a shallow copy: r itself is never changed
	if shared {
		withoutTransportIdentity(r2)
	}
	if rc.rt.RFC9111 {
		r2.Header = forwardHeader(r.Header, shared)
	} else {
		r2.Header = rc.keyHeader(r, q, shared)
	}
	if r.Method == http.MethodHead {
		r2.Method = http.MethodGet
	}
	if q.body != nil {
		r2.Body = io.NopCloser(bytes.NewReader(q.body))
		r2.ContentLength = int64(len(q.body))
	}
	return r2
}

// keyHeader is the header an ordinary fill runs with: PassHeaders and
// the headers in the key.
func (rc *RouteCache) keyHeader(r *http.Request, q *request, shared bool) http.Header {
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
	return h
}

func (rc *RouteCache) missHeaders(status string) func(int, http.Header) {
	return func(code int, h http.Header) {
		h["X-Cache"] = xMiss
		h["Cache-Status"] = rc.missStatus(status, code, h)
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
	pre, cw, r2 := rc.startFill(w, r, q)

	if f.staleIfErr != nil || canValidate(f.prior) {
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
func (rc *RouteCache) runFill(next http.Handler, w, cw http.ResponseWriter, r2 *http.Request) (*recorder.Recorder, bool) {
	rec := recorder.New(cw, rc.rt.MaxBody)
	rec.BeforeHeader(rc.missHeaders(rc.fwdStatus(r2)))
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

// fillDeferred is fill for a key with a stale entry usable on error or
// that can be validated: the request is made conditional on the stored
// response's validators, and the response is held back until complete so
// a 304 can freshen the stored response and a 5xx or a panic can be
// replaced by it.
func (rc *RouteCache) fillDeferred(next http.Handler, cw, w http.ResponseWriter, r, r2 *http.Request, q *request, f *fill, pre http.Header) (res *shared) {
	c := rc.c
	validating := f.prior != nil && conditional(r2, f.prior)
	dw := newDeferWriter(cw, rc.rt.MaxBody, rc.missHeaders(rc.fwdStatus(r2)))
	panicked, pv := func() (p bool, v any) {
		defer func() {
			if v = recover(); v != nil {
				p = true
			}
		}()
		next.ServeHTTP(dw, r2)
		return false, nil
	}()
	if panicked && (dw.committed || pv == http.ErrAbortHandler || f.staleIfErr == nil) {
		panic(pv)
	}
	if validating && !dw.committed && dw.status == http.StatusNotModified {
		return rc.revalidated(w, r, r2, q, f, dw.h)
	}
	if f.staleIfErr != nil && !dw.committed && (panicked || dw.status >= 500) {
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
	if !rc.storableStatus(status) {
		return nil, false
	}
	if _, ok := h["Set-Cookie"]; ok {
		return nil, false
	}
	for _, cc := range rc.storeDirectives(h) {
		for d := range strings.SplitSeq(strings.ToLower(cc), ",") {
			d = strings.TrimSpace(d)
			if i := strings.IndexByte(d, '='); i >= 0 {
				d = strings.TrimSpace(d[:i])
			}
			switch d {
			case "private", "no-store":
				return nil, false
			case "no-cache":
				if !rc.rt.RFC9111 { // an RFC9111 route stores it and validates every use
					return nil, false
				}
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
		etag = computedETag(body)
		hdr["Etag"] = []string{etag}
	}
	k := f.k
	token := f.token
	now := c.now()
	ttl := rc.rt.TTL
	if rc.rt.Jitter > 0 {
		ttl -= time.Duration(rand.Float64() * rc.rt.Jitter * float64(ttl))
	}
	e := entry{route: rc.name, kind: kindHTTP, stored: now.UnixMilli(), tags: q.tags, etag: etag}
	e.fresh = e.stored + max(ttl.Milliseconds(), 1)
	e.stale = e.fresh + rc.rt.StaleWhileRevalidate.Milliseconds()
	e.errUntil = e.fresh + rc.rt.StaleIfError.Milliseconds()
	if rc.rt.RFC9111 && !rc.applyRFC(&e, status, sent, now) && !(rc.mayStore(status, sent) && rc.storeStale(&e, status, sent, now)) {
		c.emit(middleware.CacheBypass, rc.name)
		return nil
	}
	if rc.rt.RFC9111 {
		tags := append(make([]string, 0, len(q.tags)+1), q.tags...)
		e.tags = append(tags, uriTag(r))
	}
	for _, n := range names {
		e.vary = append(e.vary, n, varyValue(r, n))
	}
	resp := stored.Response{Status: status, Header: hdr, Body: body}
	e.payload = resp.Encode(nil)
	val := e.encode()
	sh := &shared{ok: true, loaded: true, e: e, resp: resp}
	sh.resp.Body = e.payload[len(e.payload)-len(body):]
	if f.noStore {
		return sh // Redis just failed: share with the waiters, do not write
	}
	ctx, cancel := c.redisCtx(r.Context())
	stored, err := f.bk.store(ctx, write{key: k, value: val, route: rc.name, tags: e.tags,
		ttl: time.Duration(rc.keepUntil(&e, sent)-e.stored) * time.Millisecond, token: token, started: f.started})
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

// startFill counts a miss and a load and prepares a fill: the headers set
// before it (kept on the stored response), the writer the fill answers
// through (bodiless for HEAD) and the request the handler gets.
func (rc *RouteCache) startFill(w http.ResponseWriter, r *http.Request, q *request) (http.Header, http.ResponseWriter, *http.Request) {
	rc.c.emit(middleware.CacheMiss, rc.name)
	rc.c.emit(middleware.CacheLoad, rc.name)
	var cw http.ResponseWriter = w
	if r.Method == http.MethodHead {
		cw = headOnly{w}
	}
	return w.Header().Clone(), cw, rc.fillRequest(r, q, r.Context())
}
