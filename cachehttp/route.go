package cachehttp

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aura-platform/redishttp/middleware"
)

// Defaults of Route.
const (
	DefaultTTL            = time.Minute
	DefaultMaxBody        = 1 << 20
	DefaultMaxRequestBody = 1 << 20
	DefaultJitter         = 0.1
	DefaultWaitTimeout    = 10 * time.Second
)

// DefaultStatuses are the statuses a route caches unless told otherwise;
// 5xx are never cached.
var DefaultStatuses = []int{200, 203, 204, 300, 301, 404, 410}

// Route configures caching for one route. The zero value works (a route
// named "default" keyed by DefaultKey for one minute); every field documents
// its default.
type Route struct {
	// Name identifies the route in events and LiveKeys; it must be bounded
	// (never a key or user id), at most 255 bytes. Default "default".
	Name string
	// TTL is how long an entry is fresh. Default 1 minute. A TTL under a
	// millisecond is an error, never silently turned into something else.
	TTL time.Duration
	// Jitter shortens each entry's freshness by a random fraction up to
	// Jitter of the TTL, so entries filled together do not expire together.
	// Default 0.1; a negative value disables it; at most 0.5.
	Jitter float64
	// StaleWhileRevalidate serves an entry this long past its freshness
	// (X-Cache: STALE) while one background refresh (per key, across all
	// instances) replaces it. Default 0 (off).
	StaleWhileRevalidate time.Duration
	// StaleIfError serves an entry this long past its freshness when the
	// handler fails (panics) or answers 5xx. Default 0 (off).
	StaleIfError time.Duration
	// KeyFunc derives the logical key. Default DefaultKey (method, scheme,
	// host, path, sorted query). Custom functions must escape their parts
	// (middleware.KeyPart). An error bypasses the cache for that request.
	KeyFunc middleware.KeyFunc
	// PerUser adds the authenticated user (middleware.UserID) to the key.
	// Anonymous requests then bypass the cache. Only PerUser routes serve
	// cached responses to requests carrying Authorization; on shared routes
	// such requests bypass the cache.
	PerUser bool
	// Tags are added to every entry of the route.
	Tags []string
	// TagFunc returns per-request tags, e.g. "user:"+middleware.UserID(r).
	TagFunc func(*http.Request) []string
	// Methods are the cached methods. Default GET and HEAD (HEAD is served
	// from the GET entry). POST may be listed: it is then keyed on the
	// SHA-256 of the body (up to MaxRequestBody) and its Content-Type.
	Methods []string
	// Statuses are the cacheable statuses. Default DefaultStatuses. 5xx are
	// rejected.
	Statuses []int
	// MaxBody is the largest response body stored; larger responses pass
	// through uncached, intact. Default 1 MiB.
	MaxBody int
	// MaxRequestBody bounds the POST bodies read for keying; larger requests
	// pass through uncached. Default 1 MiB.
	MaxRequestBody int64
	// Vary names request headers that always take part in the key, besides
	// those learned from responses' Vary headers.
	Vary []string
	// PassHeaders names request headers the handler sees when it fills the
	// cache. All others, except those in the key (Vary), Content-Type and
	// Content-Length (and Authorization and Cookie on PerUser routes), are
	// removed from the request a cache fill runs with, so a header that is
	// not in the key cannot change what is stored (no cache poisoning).
	PassHeaders []string
	// WaitTimeout bounds how long a request waits for a concurrent
	// request's fill in this process before calling the handler itself.
	// Default 10s.
	WaitTimeout time.Duration
	// Namespace puts the route's entries in a namespace that BumpVersion
	// invalidates as a whole in O(1). Default "" (none).
	Namespace string
	// RFC9111 takes each entry's freshness from the response as an RFC
	// 9111 shared cache does (s-maxage, max-age, Expires, Age, heuristic
	// freshness where allowed; see rfc9111.go) instead of TTL, which then
	// only caps heuristic lifetimes; StaleWhileRevalidate and StaleIfError
	// come from the response too. Wrap an httputil.ReverseProxy with such
	// a route for a standards-conforming shared cache. Default false.
	RFC9111 bool
	// RefreshAhead refreshes an entry in the background (once per key
	// across instances) when a hit finds it this close to its expiry, so
	// hot entries never expire into a miss. Default 0 (off; Warm sets a
	// tenth of the TTL). Must be shorter than TTL.
	RefreshAhead time.Duration
	// L1TTL is the longest an entry of this route stays in the cache's L1
	// (Options.L1Bytes), never past its freshness. Default Options.L1TTL;
	// negative keeps the route out of the L1.
	L1TTL time.Duration
}

// RouteCache is a Route bound to a Cache: a middleware.
type RouteCache struct {
	c          *Cache
	rt         Route
	name       string
	keyFunc    middleware.KeyFunc
	defKey     bool    // keyFunc is DefaultKey: keys are memoised
	keys       keyMemo // request → keys memo for DefaultKey (keymemo.go)
	methods    [3]bool // GET, HEAD, POST
	statuses   map[int]bool
	staticTags []string
	pass       map[string]bool
	learnMu    sync.Mutex
	vary       atomic.Pointer[[]string] // canonical names in the key

	// L1 and refresh-ahead (l1.go, warm.go).
	l1MaxAge     time.Duration
	refreshAhead atomic.Int64 // ms
}

// NewRoute validates rt and returns its middleware.
func (c *Cache) NewRoute(rt Route) (*RouteCache, error) {
	r := &RouteCache{c: c, rt: rt, name: rt.Name, keyFunc: rt.KeyFunc}
	if r.name == "" {
		r.name = "default"
	}
	if len(r.name) > 255 {
		return nil, fmt.Errorf("%w: route name longer than 255 bytes", ErrBadOptions)
	}
	if r.rt.TTL == 0 {
		r.rt.TTL = DefaultTTL
	}
	if r.rt.TTL < time.Millisecond {
		return nil, fmt.Errorf("%w: route %q: TTL %v is under a millisecond", ErrBadOptions, r.name, rt.TTL)
	}
	switch {
	case r.rt.Jitter == 0:
		r.rt.Jitter = DefaultJitter
	case r.rt.Jitter < 0:
		r.rt.Jitter = 0
	case r.rt.Jitter > 0.5:
		return nil, fmt.Errorf("%w: route %q: Jitter above 0.5", ErrBadOptions, r.name)
	}
	if rt.StaleWhileRevalidate < 0 || rt.StaleIfError < 0 || rt.MaxBody < 0 || rt.MaxRequestBody < 0 || rt.WaitTimeout < 0 {
		return nil, fmt.Errorf("%w: route %q: negative duration or size", ErrBadOptions, r.name)
	}
	if r.keyFunc == nil {
		r.keyFunc = DefaultKey
		r.defKey = true
	}
	methods := rt.Methods
	if len(methods) == 0 {
		methods = []string{http.MethodGet, http.MethodHead}
	}
	for _, m := range methods {
		switch strings.ToUpper(m) {
		case http.MethodGet:
			r.methods[0] = true
		case http.MethodHead:
			r.methods[1] = true
		case http.MethodPost:
			r.methods[2] = true
		default:
			return nil, fmt.Errorf("%w: route %q: method %q cannot be cached", ErrBadOptions, r.name, m)
		}
	}
	sts := rt.Statuses
	if len(sts) == 0 {
		sts = DefaultStatuses
	}
	r.statuses = make(map[int]bool, len(sts))
	for _, s := range sts {
		if s < 200 || s >= 500 || s == http.StatusPartialContent || s == http.StatusNotModified {
			return nil, fmt.Errorf("%w: route %q: status %d cannot be cached", ErrBadOptions, r.name, s)
		}
		r.statuses[s] = true
	}
	if r.rt.MaxBody == 0 {
		r.rt.MaxBody = DefaultMaxBody
	}
	if r.rt.MaxRequestBody == 0 {
		r.rt.MaxRequestBody = DefaultMaxRequestBody
	}
	if r.rt.WaitTimeout == 0 {
		r.rt.WaitTimeout = DefaultWaitTimeout
	}
	r.staticTags = slices.Clone(rt.Tags)
	r.pass = map[string]bool{"Content-Type": true, "Content-Length": true}
	if rt.PerUser {
		r.pass["Authorization"] = true
		r.pass["Cookie"] = true
	}
	for _, h := range rt.PassHeaders {
		r.pass[http.CanonicalHeaderKey(h)] = true
	}
	r.l1MaxAge = c.l1MaxAge(rt.L1TTL)
	if rt.RefreshAhead < 0 || rt.RefreshAhead >= r.rt.TTL {
		return nil, fmt.Errorf("%w: route %q: RefreshAhead must be in [0, TTL)", ErrBadOptions, r.name)
	}
	r.refreshAhead.Store(rt.RefreshAhead.Milliseconds())
	vary := canonicalNames(rt.Vary)
	r.vary.Store(&vary)
	c.register(r.name)
	return r, nil
}

// Name returns the route's name.
func (r *RouteCache) Name() string { return r.name }

// canonicalNames canonicalises, de-duplicates and sorts header names.
func canonicalNames(names []string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		n = http.CanonicalHeaderKey(strings.TrimSpace(n))
		if n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// learn adds response Vary names to the route's key; it returns the names
// now in force.
func (r *RouteCache) learn(names []string) []string {
	cur := *r.vary.Load()
	missing := false
	for _, n := range names {
		if !slices.Contains(cur, n) {
			missing = true
			break
		}
	}
	if !missing {
		return cur
	}
	r.learnMu.Lock()
	defer r.learnMu.Unlock()
	cur = *r.vary.Load()
	next := canonicalNames(append(slices.Clone(cur), names...))
	r.vary.Store(&next)
	return next
}
