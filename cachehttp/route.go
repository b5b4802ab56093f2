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

	"github.com/aura-platform/redishttp/internal/optcheck"
	"github.com/aura-platform/redishttp/middleware"
)

// Defaults of Route, stated in each field's documentation.
const (
	defaultTTL            = time.Minute
	defaultMaxBody        = 1 << 20
	defaultMaxRequestBody = 1 << 20
	defaultJitter         = 0.1
	defaultWaitTimeout    = 10 * time.Second
)

// defaultStatuses are the statuses a route caches unless told otherwise.
var defaultStatuses = []int{200, 203, 204, 300, 301, 404, 410}

// Route configures caching for one route. The zero value works (a route
// named "default" keyed on the request's URL, fresh for one minute); every
// field documents its default.
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
	// KeyFunc derives the logical key. Default: method, scheme, host,
	// escaped path and sorted query, each escaped with middleware.KeyPart
	// and joined with ':' ("GET:https:example.com:/items:page=2"; HEAD is
	// keyed as GET, the scheme comes from r.TLS, the host is lower-cased).
	// Custom functions must escape their parts
	// (middleware.KeyPart), and must cover every input the handler reads:
	// a fill sees the whole request URL (query parameters the key ignores
	// included), its Vary and PassHeaders headers and, for POST, the body,
	// so a response that depends on something the key leaves out is
	// served to every request with the same key. An error bypasses the
	// cache for that request.
	KeyFunc middleware.KeyFunc
	// PerUser adds the authenticated user (middleware.UserFromContext) to the key:
	// each user has entries of their own, filled with their identity
	// (context user, Authorization and Cookie). Anonymous requests then
	// bypass the cache. Default false: a shared route, whose entries every
	// client is served.
	PerUser bool
	// Anonymous declares that the route's responses do not depend on who
	// asks. On a shared route (not PerUser) a request that carries an
	// identity bypasses the cache (X-Cache: BYPASS, nothing stored or
	// served) unless Anonymous is set; with it, such requests are served
	// the shared entry like anyone else. An identity is a user in the
	// request's context (middleware.UserFromContext), a Cookie header, an
	// Authorization header (on an RFC9111 route, RFC 9111 §3.5 decides
	// instead: see RFC9111), a client certificate (mutual TLS) or userinfo
	// in the request URL.
	//
	// Any Cookie counts, not only a session: browsers that carry analytics
	// or consent cookies always bypass a shared route that is not
	// Anonymous. Set Anonymous when the responses do not depend on the
	// caller, or remove the cookies other than the session's in a
	// middleware in front of the cache.
	//
	// Every fill of a shared route runs with no user in its context
	// (middleware.WithoutUser), without Cookie, client certificates and
	// URL userinfo, and without Authorization except on an RFC9111 route
	// that is not Anonymous (there a request carrying Authorization fills
	// with it, and its response is stored only when it says it may be). So
	// a handler cannot personalise an entry by accident, and a handler that
	// refuses anonymous callers fills nothing: check authentication in a
	// middleware in front of the cache instead. An identity kept elsewhere
	// (a context key of your own, the client's address) is not cleared;
	// keep such handlers PerUser. Anonymous is the setting for public data
	// behind a Bearer-token API, where every request carries
	// Authorization:
	//
	//	cache.NewRoute(cachehttp.Route{Name: "catalog", Anonymous: true})
	//
	// Default false. Cannot be combined with PerUser.
	Anonymous bool
	// Tags are added to every entry of the route. Default none.
	Tags []string
	// TagFunc returns per-request tags, e.g.
	// "user:"+middleware.UserFromContext(r.Context()). Default none.
	TagFunc func(*http.Request) []string
	// Methods are the cached methods. Default GET and HEAD (HEAD is served
	// from the GET entry). POST may be listed: it is then keyed on the
	// SHA-256 of the body (up to MaxRequestBody) and its Content-Type.
	Methods []string
	// Statuses are the cacheable statuses. Default 200, 203, 204, 300, 301,
	// 404, 410. 5xx, 206 and 304 are rejected. Not consulted on an RFC9111
	// route, where the response decides (RFC 9111 §3, §4.2.2).
	Statuses []int
	// MaxBody is the largest response body stored; larger responses pass
	// through uncached, intact. Default 1 MiB.
	MaxBody int
	// MaxRequestBody bounds the POST bodies read for keying; larger requests
	// pass through uncached. Default 1 MiB.
	MaxRequestBody int64
	// Vary names request headers that always take part in the key (the
	// primary key, RFC 9111 §4.1), besides the Vary of each stored response,
	// which selects among the variants of that one resource. Default none.
	Vary []string
	// PassHeaders names request headers the handler sees when it fills the
	// cache. All others, except those in the key (Vary), Content-Type and
	// Content-Length (and Authorization and Cookie on PerUser routes), are
	// removed from the request a cache fill runs with, so a header that is
	// not in the key cannot change what is stored (no cache poisoning).
	// Authorization and Cookie cannot be passed on a shared route. Default
	// none.
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
	// a route for a standards-conforming shared cache. A request carrying
	// Authorization (on a route that is neither PerUser nor Anonymous) is
	// then served a stored response, and its own response stored, only
	// when the response says it may be (public, s-maxage or
	// must-revalidate; RFC 9111 §3.5); its fill keeps the header. Default
	// false.
	RFC9111 bool
	// TargetedCacheControl names the targeted cache-control fields this
	// cache obeys on an RFC9111 route, most specific first, such as
	// {"Acme-CDN-Cache-Control", "CDN-Cache-Control"}: the first present
	// with a valid value replaces Cache-Control and Expires for its storing
	// and freshness decisions (RFC 9213). Default none.
	TargetedCacheControl []string
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
	methods    [3]bool // GET, HEAD, POST
	statuses   map[int]bool
	staticTags []string
	pass       map[string]bool
	vary       []string // canonical names always in the key (Route.Vary)
	// hints maps a primary key to the Vary names of the response last seen
	// stored there, so the resource's next fill sees those headers (see
	// varyHint); at most maxHints keys.
	hints    sync.Map
	hintsLen atomic.Int64
	statusL1 string // Cache-Status of an L1 hit (before its ttl)
	lastHit  atomic.Pointer[hitMemo]

	// L1 and refresh-ahead (l1.go, refresh.go, warm.go).
	l1MaxAge     time.Duration
	refreshAhead atomic.Int64 // ms
}

// NewRoute validates rt and returns its middleware. A bad field is
// reported as an error wrapping ErrInvalidOptions that names the route and the
// field.
func (c *Cache) NewRoute(rt Route) (*RouteCache, error) {
	r := &RouteCache{c: c, rt: rt, name: rt.Name, keyFunc: rt.KeyFunc}
	if r.name == "" {
		r.name = "default"
	}
	if len(r.name) > 255 {
		return nil, fmt.Errorf("%w: Name of route %.32q... is longer than 255 bytes", ErrInvalidOptions, r.name)
	}
	field := func(f string) string { return fmt.Sprintf("route %q: %s", r.name, f) }
	bad := func(f, format string, args ...any) error {
		return fmt.Errorf("%w: %s "+format, append([]any{ErrInvalidOptions, field(f)}, args...)...)
	}
	if err := optcheck.First(
		optcheck.Duration(ErrInvalidOptions, field("TTL"), rt.TTL),
		optcheck.Duration(ErrInvalidOptions, field("StaleWhileRevalidate"), rt.StaleWhileRevalidate),
		optcheck.Duration(ErrInvalidOptions, field("StaleIfError"), rt.StaleIfError),
		optcheck.NonNegative(ErrInvalidOptions, field("MaxBody"), rt.MaxBody),
		optcheck.NonNegative(ErrInvalidOptions, field("MaxRequestBody"), rt.MaxRequestBody),
		optcheck.Duration(ErrInvalidOptions, field("WaitTimeout"), rt.WaitTimeout),
		optcheck.Duration(ErrInvalidOptions, field("RefreshAhead"), rt.RefreshAhead),
	); err != nil {
		return nil, err
	}
	if r.rt.TTL == 0 {
		r.rt.TTL = defaultTTL
	}
	if r.rt.TTL < time.Millisecond {
		return nil, bad("TTL", "%v is under a millisecond", rt.TTL)
	}
	switch {
	case r.rt.Jitter == 0:
		r.rt.Jitter = defaultJitter
	case r.rt.Jitter < 0:
		r.rt.Jitter = 0
	case r.rt.Jitter > 0.5:
		return nil, bad("Jitter", "%v is above 0.5", rt.Jitter)
	}
	if rt.PerUser && rt.Anonymous {
		return nil, bad("Anonymous", "cannot be combined with PerUser")
	}
	if r.keyFunc == nil {
		r.keyFunc = defaultKey
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
			return nil, bad("Methods", "%q cannot be cached", m)
		}
	}
	sts := rt.Statuses
	if len(sts) == 0 {
		sts = defaultStatuses
	}
	r.statuses = make(map[int]bool, len(sts))
	for _, s := range sts {
		if s < 200 || s >= 500 || s == http.StatusPartialContent || s == http.StatusNotModified {
			return nil, bad("Statuses", "%d cannot be cached", s)
		}
		r.statuses[s] = true
	}
	if r.rt.MaxBody == 0 {
		r.rt.MaxBody = defaultMaxBody
	}
	if r.rt.MaxRequestBody == 0 {
		r.rt.MaxRequestBody = defaultMaxRequestBody
	}
	if r.rt.WaitTimeout == 0 {
		r.rt.WaitTimeout = defaultWaitTimeout
	}
	r.staticTags = slices.Clone(rt.Tags)
	r.pass = map[string]bool{"Content-Type": true, "Content-Length": true}
	if rt.PerUser {
		r.pass["Authorization"] = true
		r.pass["Cookie"] = true
	}
	for _, h := range rt.PassHeaders {
		h = http.CanonicalHeaderKey(strings.TrimSpace(h))
		if !rt.PerUser && identityHeader(h) {
			return nil, bad("PassHeaders", "names %s, which a shared route never passes to its fills (only a per-user route does)", h)
		}
		r.pass[h] = true
	}
	vary := canonicalNames(rt.Vary)
	if rt.Anonymous {
		for _, n := range vary {
			if identityHeader(n) {
				return nil, bad("Vary", "names %s, which the fills of an anonymous route never see", n)
			}
		}
	}
	r.l1MaxAge = c.l1MaxAge(rt.L1TTL)
	if rt.RefreshAhead >= r.rt.TTL {
		return nil, bad("RefreshAhead", "%v is not shorter than TTL %v", rt.RefreshAhead, r.rt.TTL)
	}
	r.refreshAhead.Store(rt.RefreshAhead.Milliseconds())
	r.vary = vary
	r.statusL1 = c.statusHit + "; detail=l1"
	c.register(r.name)
	return r, nil
}

// identityHeader reports whether a canonical header name carries the
// client's identity (credentials or a session).
func identityHeader(name string) bool { return name == "Authorization" || name == "Cookie" }

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
