package cachehttp

import (
	"context"
	"net/http"

	"github.com/aura-platform/redishttp/middleware"
)

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
		prior, done := rc.refreshedSince(ctx, bk, k, seen, onRedis)
		if done {
			return
		}
		validating := prior != nil && conditional(r2, prior)
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
		if validating && bw.status == http.StatusNotModified {
			// §4.3.4: the stored response, freshened, is stored again.
			rc.storeResponse(r2, &qq, f, prior.resp.Status, freshenHeader(prior.resp.Header, bw.Header()), nil, prior.resp.Body)
			return
		}
		rc.storeResponse(r2, &qq, f, bw.status, bw.Header(), nil, bw.buf.Bytes())
	}()
}

// refreshAheadDue reports whether an entry fresh until fresh (unix ms) is
// within the route's refresh-ahead window at now.
func (rc *RouteCache) refreshAheadDue(fresh, now int64) bool {
	ra := rc.refreshAhead.Load()
	return ra > 0 && fresh-now <= ra
}

// refreshedSince reports whether the entry under k was stored after seen
// (unix ms): another instance refreshed it between our read and our lease,
// so refreshing again would run the handler twice for one expiry. The
// lease is released then. Otherwise it returns the stored response, which
// the refresh validates when it can (validate.go).
func (rc *RouteCache) refreshedSince(ctx context.Context, bk backend, k key, seen int64, onRedis bool) (*shared, bool) {
	c := rc.c
	rctx, cancel := c.redisCtx(ctx)
	defer cancel()
	v, err := bk.fetch(rctx, k, nil, 0)
	if err != nil || v == nil || isLease(v) {
		return nil, false
	}
	e, err := decodeEntry(v)
	if err != nil {
		return nil, false
	}
	if e.stored <= seen {
		sh, _ := rc.decode(v, k, bk, onRedis)
		return sh, false
	}
	_, _ = bk.delete(rctx, []key{{name: c.l.lease(k), group: k.group}}) // give the lease back
	return nil, true
}
