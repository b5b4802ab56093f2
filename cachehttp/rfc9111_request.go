package cachehttp

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/aura-platform/redishttp/internal/recorder"
	"github.com/aura-platform/redishttp/middleware"
)

// requestDirectives is what a request's Cache-Control (RFC 9111 §5.2.1),
// or Pragma: no-cache when it has none (§5.4), asks of this cache.
type requestDirectives struct {
	maxAge       time.Duration // serve only responses at most this old; < 0: no bound
	maxStale     time.Duration // may serve this far past freshness; maxDelta: unbounded
	minFresh     time.Duration // must stay fresh this much longer
	noCache      bool          // never serve a stored response: forward (the response may be stored)
	noStore      bool          // store nothing of this exchange
	onlyIfCached bool          // never forward: a stored response or 504
}

// rfcRequestOf parses r's request directives; ok is false when it has
// none this cache acts on, so the ordinary lookup serves it.
func rfcRequestOf(r *http.Request) (d requestDirectives, ok bool) {
	d.maxAge = -1
	cc := cacheControl(r.Header.Values("Cache-Control"))
	if cc == nil {
		d.noCache = strings.Contains(strings.ToLower(r.Header.Get("Pragma")), "no-cache")
		return d, d.noCache
	}
	if v, has := cc["max-age"]; has {
		d.maxAge, _ = seconds(v) // invalid: 0, the strictest reading
		ok = true
	}
	if v, has := cc["max-stale"]; has {
		ok = true
		if v == "" {
			d.maxStale = maxDelta
		} else {
			d.maxStale, _ = seconds(v)
		}
	}
	if v, has := cc["min-fresh"]; has {
		ok = true
		d.minFresh, _ = seconds(v)
	}
	_, d.noCache = cc["no-cache"]
	_, d.noStore = cc["no-store"]
	_, d.onlyIfCached = cc["only-if-cached"]
	return d, ok || d.noCache || d.noStore || d.onlyIfCached
}

// rfcDirected reports whether a request on an RFC9111 route carries
// directives that rfcLookup must handle.
func rfcDirected(r *http.Request) bool {
	_, ok := rfcRequestOf(r)
	return ok
}

// allows reports whether the stored response sh may answer a request with
// directives d at now (Unix ms), and whether it is then served stale.
func (d *requestDirectives) allows(rc *RouteCache, sh *shared, now int64) (ok, stale bool) {
	if d.noCache {
		return false, false
	}
	if d.maxAge >= 0 && now-sh.e.stored > d.maxAge.Milliseconds() {
		return false, false
	}
	over := now + d.minFresh.Milliseconds() - sh.e.fresh // how far short of fresh enough
	switch {
	case over < 0:
		return true, false
	case d.maxStale > 0 && over <= d.maxStale.Milliseconds() && !rc.revalidateOnly(sh.resp.Header):
		return true, now >= sh.e.fresh
	case d.maxAge < 0 && d.minFresh == 0 && now < sh.e.stale:
		return true, true // within the response's own stale-while-revalidate
	}
	return false, false
}

// rfcLookup serves, on an RFC9111 route, a request that carries
// Authorization (RFC 9111 §3.5) or request directives (§5.2.1). A stored
// response answers it only if the directives allow it and, for a request
// with Authorization, only while fresh and if it says it may be shared
// (public, s-maxage or must-revalidate). Otherwise the request is
// forwarded (only-if-cached: answered 504 instead) and the response is
// stored unless the request said no-store, or carried Authorization and
// the response does not say it may be shared. These requests do not
// coalesce with others: their directives are their own.
func (rc *RouteCache) rfcLookup(next http.Handler, w http.ResponseWriter, r *http.Request, q *request) {
	c := rc.c
	d, directed := rfcRequestOf(r)
	k := c.l.key(kindHTTP, rc.escKey(q, r, q.names))
	serve := func(sh *shared, now int64) bool {
		if !varyOK(&sh.e, r) || q.auth && (now >= sh.e.fresh || !rc.authShareable(sh.resp.Header)) {
			return false
		}
		ok, stale := true, now >= sh.e.fresh
		if directed {
			ok, stale = d.allows(rc, sh, now)
		}
		if !ok {
			return false
		}
		if stale {
			c.emit(middleware.CacheStale, rc.name)
			rc.serveEntryAt(w, r, sh, xStale, c.statusStale, now)
			if now < sh.e.stale {
				rc.refresh(next, r, withEntryNames(q, &sh.e), k, sh.e.stored)
			}
			return true
		}
		c.emit(middleware.CacheHit, rc.name)
		rc.serveEntryAt(w, r, sh, xHit, c.statusHit, now)
		return true
	}
	if d.noStore && !d.onlyIfCached {
		rc.bypass(next, w, r) // nothing of it may be stored, nothing stored may answer it
		return
	}
	if c.l1Usable() && !d.noCache {
		now := c.now().UnixMilli()
		if it := c.l1GetAt(k.name, now); it != nil && serve(it.sh, now) {
			return
		}
	}
	bk, onRedis := c.pick()
	started := c.now()
	var prior *shared // a stored response the forwarded request may validate
	var err error
	// The primary key, then, when what it holds varies on headers this
	// request does not match, the request's variant key (§4.1).
	for try := range 2 {
		ctx, cancel := context.WithTimeout(r.Context(), c.mon.CommandTimeout())
		var v []byte
		v, err = bk.fetch(ctx, k, nil, c.opts.LeaseTTL)
		cancel()
		c.report(ctx, onRedis, rc.name, err)
		if err != nil || v == nil || isLease(v) {
			break
		}
		sh, ok := rc.decode(v, k, bk, onRedis)
		if !ok {
			break
		}
		if serve(sh, c.now().UnixMilli()) {
			return
		}
		if varyOK(&sh.e, r) {
			if !q.auth {
				prior = sh
			}
			break
		}
		if len(sh.e.vary) == 0 || try > 0 {
			break
		}
		k = rc.variantKey(q, r, &sh.e)
	}
	if d.onlyIfCached {
		// §5.2.1.7: nothing stored may answer it, and it is never forwarded.
		h := w.Header()
		h["X-Cache"] = xMiss
		h["Cache-Status"] = c.statusValue(c.statusMiss)
		h["Content-Length"] = []string{"0"}
		c.emit(middleware.CacheMiss, rc.name)
		w.WriteHeader(http.StatusGatewayTimeout)
		return
	}
	f := fill{k: k, bk: bk, onRedis: onRedis, started: started, noStore: err != nil}
	if canValidate(prior) {
		// §4.3.1: the request is forwarded as a validation of the stored
		// response; a 304 freshens and serves it (validate.go).
		f.prior, f.call = prior, &call{done: make(chan struct{})}
		rc.fill(next, w, withFwd(r, "request"), q, &f)
		return
	}
	pre, cw, r2 := rc.startFill(w, r, q)
	if q.auth {
		r2.Header["Authorization"] = r.Header["Authorization"]
	}
	var rec *recorder.Recorder
	var ok bool
	if directed {
		rec, ok = rc.runForwarded(next, w, cw, r2)
	} else {
		rec, ok = rc.runFill(next, w, cw, r2)
	}
	if !ok {
		return
	}
	if q.auth && !rc.authShareable(rec.SentHeader()) {
		c.emit(middleware.CacheBypass, rc.name)
		return
	}
	rc.storeResponse(r2, q, &f, rec.Status(), rec.SentHeader(), pre, rec.Body())
}

// runForwarded is runFill for a request that its own directives sent past
// the stored responses: X-Cache BYPASS and Cache-Status fwd=request (RFC
// 9211 §2.2), though the response may still be stored.
func (rc *RouteCache) runForwarded(next http.Handler, w, cw http.ResponseWriter, r2 *http.Request) (*recorder.Recorder, bool) {
	status := []string{rc.c.opts.Name + "; fwd=request"}
	rec := recorder.New(cw, rc.rt.MaxBody)
	rec.BeforeHeader(func(_ int, h http.Header) {
		h["X-Cache"] = xBypass
		h["Cache-Status"] = status
		if _, ok := h["Age"]; !ok {
			h["Age"] = ageZero
		}
	})
	next.ServeHTTP(rec.Writer(), r2)
	if rec.Status() == 0 {
		rc.unwritten(w, rec.Hijacked())
		return rec, false
	}
	return rec, rec.Complete() && rec.Written() == int64(len(rec.Body()))
}
