package cachehttp

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/aura-platform/redishttp/internal/stored"
	"github.com/aura-platform/redishttp/middleware"
)

// lookup serves q: its primary key first, then, when the response stored
// there varies on request headers whose values differ (RFC 9111 §4.1), the
// variant key for this request's values (lookupAt).
func (rc *RouteCache) lookup(next http.Handler, w http.ResponseWriter, r *http.Request, q *request, _ int) {
	q.pesc = rc.escKey(q, r, q.names)
	rc.lookupAt(next, w, r, q, rc.c.l.key(kindHTTP, q.pesc), false)
}

// toVariant looks up r's variant of the resource whose response stored
// under the primary key, e, varies on headers r does not match: its fill
// sees those headers, and the entry carries the resource's variant tag.
func (rc *RouteCache) toVariant(next http.Handler, w http.ResponseWriter, r *http.Request, q *request, e *entry) {
	rc.lookupAt(next, w, r, q, rc.variantKey(q, r, e), true)
}

// variantKey returns the key of r's variant of the resource whose response
// stored under q's primary key is e, when e varies on headers r does not
// match (RFC 9111 §4.1), and prepares q to fill it: the fill sees e's Vary
// headers and the entry carries the resource's variant tag. Every lookup
// path reads this key before filling, so variants never overwrite the
// primary entry.
func (rc *RouteCache) variantKey(q *request, r *http.Request, e *entry) key {
	if q.pesc == "" {
		q.pesc = rc.escKey(q, r, rc.vary)
	}
	names := entryVaryNames(e)
	q.names = canonicalNames(append(slices.Clone(rc.vary), names...))
	rc.hint(q.pesc, q.names)
	q.tags = append(slices.Clone(q.tags), variantTag(q.pesc))
	return rc.c.l.key(kindHTTP, variantEsc(q.pesc, names, r))
}

// entryVaryNames returns the names of an entry's Vary pairs.
func entryVaryNames(e *entry) []string {
	names := make([]string, 0, len(e.vary)/2)
	for i := 0; i+1 < len(e.vary); i += 2 {
		names = append(names, e.vary[i])
	}
	return names
}

// maxHints bounds a route's Vary hints; past it they start over.
const maxHints = 1 << 14

// hint records the names a fill of the resource under the primary key pesc
// passes to the handler: the route's Vary and those of the resource's
// stored response. A fill of the primary key that saw none of them stores
// the response for their absence; with the hint it stores it for the
// values of the request that caused it. Passing them is safe: the stored
// response records the values it was made for (RFC 9111 §4.1).
func (rc *RouteCache) hint(pesc string, names []string) {
	if old, ok := rc.hints.Load(pesc); ok && slices.Equal(old.([]string), names) {
		return
	}
	if rc.hintsLen.Add(1) > maxHints {
		rc.hints.Clear()
		rc.hintsLen.Store(1)
	}
	rc.hints.Store(pesc, names)
}

// withEntryNames adds the Vary names of a matching stored response to those
// a refresh of it passes on, so the refresh is made for the same values.
func withEntryNames(q *request, e *entry) *request {
	if len(e.vary) == 0 {
		return q
	}
	qq := *q
	qq.names = canonicalNames(append(slices.Clone(q.names), entryVaryNames(e)...))
	return &qq
}

// lookupAt serves q from k: from the L1, from a concurrent read or load of
// the same key, from the backend, or by filling the entry. On the primary
// key (variant false) a stored response whose Vary r does not match sends
// the request on to its variant key.
func (rc *RouteCache) lookupAt(next http.Handler, w http.ResponseWriter, r *http.Request, q *request, k key, variant bool) {
	c := rc.c
	if c.l1Usable() {
		now := c.now().UnixMilli()
		if it := c.l1GetAt(k.name, now); it != nil && !rc.refreshAheadDue(it.sh.e.fresh, now) {
			if varyOK(&it.sh.e, r) {
				c.emit(middleware.CacheHit, rc.name)
				rc.serveEntryAt(w, r, it.sh, xHit, rc.statusL1, now)
				return
			}
			if !variant {
				rc.toVariant(next, w, r, q, &it.sh.e)
				return
			}
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
				rc.serveEntry(w, r, res, xMiss, rc.collapsedStatus(variant, res))
			case res.stale:
				c.emit(middleware.CacheStale, rc.name)
				rc.serveEntry(w, r, res, xStale, c.statusStale)
			default:
				c.emit(middleware.CacheHit, rc.name)
				rc.serveEntry(w, r, res, xHit, c.statusHit)
			}
			return
		}
		if res != nil && res.ok && !variant && len(res.e.vary) > 0 {
			rc.toVariant(next, w, r, q, &res.e)
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
	fwd := ""
	if variant {
		fwd = "vary-miss"
	}
	if v != nil && !isLease(v) {
		if sh, ok := rc.decode(v, k, bk, onRedis); ok {
			now := c.now().UnixMilli()
			fresh, swr := now < sh.e.fresh, now < sh.e.stale
			switch {
			case !varyOK(&sh.e, r) && !variant:
				// Stored for other values of its Vary headers: share it with
				// the waiters it may suit, then look up this request's
				// variant.
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
				rc.toVariant(next, w, r, q, &sh.e)
				return
			case !varyOK(&sh.e, r):
				// The resource's Vary changed since its primary entry was
				// stored: refill this variant.
			case fresh:
				if onRedis {
					c.l1Put(k, sh, gen, rc.l1MaxAge)
				}
				c.flights.finish(k.name, call, sh)
				c.emit(middleware.CacheHit, rc.name)
				rc.serveEntryAt(w, r, sh, xHit, c.statusHit, now)
				if rc.refreshAheadDue(sh.e.fresh, now) {
					rc.refresh(next, r, withEntryNames(q, &sh.e), k, sh.e.stored)
				}
				return
			case swr:
				sh = sh.withStale(true)
				c.flights.finish(k.name, call, sh)
				c.emit(middleware.CacheStale, rc.name)
				rc.serveEntryAt(w, r, sh, xStale, c.statusStale, now)
				rc.refresh(next, r, withEntryNames(q, &sh.e), k, sh.e.stored)
				return
			default:
				fwd = "stale"
				f.prior = sh // validated by the fill when it can be (validate.go)
				if now < sh.e.errUntil {
					f.staleIfErr = sh.withStale(true)
				}
			}
		}
	}
	if hint, ok := rc.hints.Load(q.pesc); ok && !variant {
		q.names = hint.([]string)
	}
	rc.fill(next, w, withFwd(r, fwd), q, &f)
}

// decode decodes a fetched entry; a corrupt one is deleted and reported.
func (rc *RouteCache) decode(v []byte, k key, bk backend, onRedis bool) (*shared, bool) {
	if sh := rc.c.memo.get(k.name, v); sh != nil {
		return sh, true
	}
	e, err := decodeEntry(v)
	var resp stored.Response
	if err == nil && e.kind == kindHTTP {
		resp, err = stored.Decode(e.payload)
	} else if err == nil {
		err = ErrCorruptEntry
	}
	if err != nil {
		rc.c.dropCorrupt(context.Background(), bk, k, onRedis, rc.name)
		return nil, false
	}
	sh := &shared{ok: true, e: e, resp: resp}
	rc.c.memo.put(k.name, v, sh)
	return sh, true
}

// dropCorrupt reports a stored entry that does not decode (CacheError) and
// deletes it.
func (c *Cache) dropCorrupt(ctx context.Context, bk backend, k key, onRedis bool, route string) {
	c.emit(middleware.CacheError, route)
	ctx, cancel := c.redisCtx(ctx)
	_, err := bk.delete(ctx, []key{k})
	cancel()
	c.report(ctx, onRedis, route, err)
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
	h["Cache-Status"] = rc.hitStatus(status, sh, now)
	h["Age"] = ageZero
	if age := (now - sh.e.stored) / 1000; age > 0 {
		h["Age"] = []string{strconv.FormatInt(age, 10)}
	}
	if notModified(r, sh) { // validate.go
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
