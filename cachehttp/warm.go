package cachehttp

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/aura-platform/redishttp/middleware"
)

// Cache warming and refresh-ahead.
//
// A route with RefreshAhead refreshes an entry in the background when a hit
// finds it within RefreshAhead of its expiry: one refresh per key across all
// instances (the same lease as stale-while-revalidate), so hot entries are
// replaced before they expire and never show a miss. Warm fills a list of
// targets at startup and then requests them periodically (twice per
// RefreshAhead window) so that they are refreshed ahead even without
// traffic.

// WarmOptions adjusts Warm.
type WarmOptions struct {
	// Host is the Host of the warming requests for targets given as paths.
	// Default "localhost".
	Host string
	// Header is added to every warming request (only headers the route
	// keys on or passes to the handler matter). Default none. Cookie and
	// Authorization are refused on a shared route that is not Anonymous:
	// they would make every warming request bypass the cache.
	Header http.Header
}

// warmable returns the error that makes Warm refuse to warm with o and
// ctx: warming requests that would bypass the route every time, running
// the handler and storing nothing.
func (rc *RouteCache) warmable(ctx context.Context, o WarmOptions) error {
	hasUser := middleware.UserFromContext(ctx) != ""
	switch {
	case rc.rt.PerUser && !hasUser:
		return fmt.Errorf("%w: route %q: Warm of a PerUser route needs a user in ctx (middleware.WithUser)", ErrInvalidOptions, rc.name)
	case rc.rt.PerUser || rc.rt.Anonymous:
		return nil
	case hasUser:
		return fmt.Errorf("%w: route %q: Warm ctx carries a user, which shared routes that are not Anonymous bypass", ErrInvalidOptions, rc.name)
	}
	for k, vs := range o.Header {
		if n := http.CanonicalHeaderKey(k); identityHeader(n) && slices.ContainsFunc(vs, func(v string) bool { return v != "" }) {
			return fmt.Errorf("%w: route %q: WarmOptions.Header: %s makes every warming request bypass a shared route that is not Anonymous", ErrInvalidOptions, rc.name, n)
		}
	}
	return nil
}

// Warm fills the route's entries for targets (request URIs such as
// "/api/products?page=1", or absolute URLs) by running GET requests
// through the route's middleware in front of next, and keeps them warm
// until the cache is closed or ctx ends: each is requested again twice per
// refresh-ahead window (Route.RefreshAhead, default a tenth of the TTL when
// the route has none), which refreshes it in the background before it
// expires, once per key across all instances. It returns after the first
// fill. It returns an error wrapping ErrInvalidOptions, and warms nothing, for
// a target that is not a valid URI and for warming requests the route
// would never cache: Cookie or Authorization in o.Header, or a user in ctx,
// on a shared route that is not Anonymous; no user in ctx on a PerUser
// route (warming requests run with ctx, so a PerUser route is warmed for
// the user middleware.WithUser put there).
func (rc *RouteCache) Warm(ctx context.Context, next http.Handler, targets []string, o WarmOptions) error {
	c := rc.c
	if err := rc.warmable(ctx, o); err != nil {
		return err
	}
	if o.Host == "" {
		o.Host = "localhost"
	}
	reqs := make([]*http.Request, 0, len(targets))
	for _, t := range targets {
		u, err := url.ParseRequestURI(t)
		if err != nil {
			return fmt.Errorf("%w: warm target %q: %w", ErrInvalidOptions, t, err)
		}
		r := &http.Request{Method: http.MethodGet, URL: u, Host: u.Host, Header: o.Header.Clone(),
			Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, RequestURI: t, Body: http.NoBody}
		if r.Header == nil {
			r.Header = http.Header{}
		}
		if r.Host == "" {
			r.Host = o.Host
		}
		reqs = append(reqs, r)
	}
	if rc.refreshAhead.Load() == 0 {
		rc.refreshAhead.Store(max(rc.rt.TTL.Milliseconds()/10, 1))
	}
	h := rc.Handler(next)
	warmAll := func() {
		for _, r := range reqs {
			if ctx.Err() != nil || c.ctx.Err() != nil {
				return
			}
			h.ServeHTTP(&bufferWriter{max: 0}, r.WithContext(ctx))
		}
	}
	warmAll()
	period := max(time.Duration(rc.refreshAhead.Load())*time.Millisecond/2, time.Millisecond)
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-c.ctx.Done():
				return
			case <-t.C:
				warmAll()
			}
		}
	}()
	return nil
}
