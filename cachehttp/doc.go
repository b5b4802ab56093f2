// Package cachehttp is redishttp's response cache and typed get-or-load,
// backed by Redis (single node, Sentinel or Cluster) with an in-memory
// fallback while Redis is down and in embedded mode.
//
//	cache, err := cachehttp.New(client, cachehttp.Options{}) // client may be nil: embedded mode
//	if err != nil {
//		log.Fatal(err)
//	}
//	defer cache.Close()
//	products, err := cache.NewRoute(cachehttp.Route{Name: "products", TTL: 10 * time.Minute})
//	if err != nil {
//		log.Fatal(err)
//	}
//	mux.Handle("GET /api/products", products.Handler(listProducts))
//
//	// Data, with the same coalescing:
//	price, err := cachehttp.GetOrLoad(ctx, cache, "price:"+sku, time.Minute,
//		func(ctx context.Context) (Price, error) { return fetchPrice(ctx, sku) })
//
// # What a request costs
//
// A hit is one Redis command on one key holding metadata and body:
// SET key <lease> NX PX <lease ttl> GET, which returns the entry when there is
// one (writing nothing, replicating nothing) and otherwise takes the fill lease
// in the same step. A miss is that command plus one EVALSHA that writes the
// entry, its tag memberships and its live-key record atomically. Concurrent
// requests for one key in a process share one read (hot-key read coalescing)
// and one handler run (miss coalescing); across instances the lease makes the
// others wait for the fill (polling, up to Options.FillWait) or call the
// handler themselves when it does not come. Redis 7.0 or later is needed for
// SET ... NX GET. Under Redis's noeviction policy with memory full, that
// command is refused like any write and the request is served by the handler.
//
// # Speed
//
// On a Redis hit the round trip is the cost, so the cache saves round trips:
// concurrent hits of one key in a process share one read, and with
// Options.L1Bytes a hot hit needs none. BenchmarkHit and BenchmarkL1Hit
// measure a hit side by side with a bare handler doing one raw GET of the
// same bytes, with Redis round trips per request as a metric.
//
// # Safety
//
// Responses with Set-Cookie, Cache-Control private, no-store or no-cache,
// Vary: *, a status outside Route.Statuses, a body over Route.MaxBody, that
// were flushed (SSE) or hijacked, or that the handler never wrote (no
// WriteHeader, no Write: a framework may still write an error after the
// middleware returns, as echo's WrapMiddleware does) are passed through and
// never stored. Response Vary headers are honoured per resource (RFC 9111
// §4.1): a stored response keeps the values of its Vary headers, a request
// with other values is served from (or fills) a variant key of that URL
// alone, and every hit re-checks the stored values. The handler that fills
// an entry sees only the request headers that are part of the key (plus
// Route.PassHeaders and the Vary headers the resource is known to answer),
// so no other header can change what is stored for everyone. A route in
// RFC 9111 mode differs (below): its fills forward the client's headers,
// and it stores no-cache responses that carry a validator, validating them
// before every use.
//
// # Identity: shared and per-user routes
//
// A shared route (the default) serves one entry to every client. A request
// that carries an identity, that is a user in its context
// (middleware.WithUser, read by middleware.UserFromContext), a Cookie header, an
// Authorization header, a client certificate (mutual TLS) or userinfo in
// the request URL, bypasses it (X-Cache: BYPASS; nothing stored or served),
// as Varnish's built-in rules and CDNs do by default: its response may be
// personalised. Any Cookie counts, so browsers that carry analytics or
// consent cookies always bypass such a route: declare it Anonymous, or
// remove the cookies other than the session's in a middleware in front of
// the cache. Every fill of a shared route runs with no user in its context
// (middleware.WithoutUser) and without Cookie, client certificates and URL
// userinfo, so it cannot personalise an entry by accident; it runs without
// Authorization too, except on an RFC9111 route that is not Anonymous,
// where a request carrying Authorization is handled as RFC 9111 §3.5 says
// (below) and fills with it. A custom Route.KeyFunc must cover every input
// the handler reads: the fill sees the whole URL, query parameters the key
// ignores included.
//
// Route.Anonymous declares that a route's responses do not depend on who
// asks: identity-carrying requests are then served the shared entry too.
// It is the answer for public data behind cookie sessions or a Bearer-token
// API, where every request carries Authorization:
//
//	catalog, err := cache.NewRoute(cachehttp.Route{Name: "catalog", Anonymous: true})
//	if err != nil {
//		log.Fatal(err)
//	}
//	r.With(requireToken, catalog.Handler).Get("/api/catalog", listCatalog) // authenticate in front of the cache
//
// Route.PerUser keys entries by the authenticated user instead: each user
// has their own entries, filled with their identity, and anonymous requests
// bypass. A Route with RFC9111 also follows RFC 9111 §3.5 for Authorization:
// a response that carries public, s-maxage or must-revalidate is stored and
// served to Bearer requests without Anonymous.
//
// # Keys, tags and Redis Cluster
//
// Keys live under Options.Prefix in hash-tag groups ({g0} … {gN-1}; one group
// on a single node, 64 on a cluster): an entry, its lease, its live-key record
// and its tag memberships share the group, so one Lua script stores them
// atomically on a cluster. InvalidateTags runs one small script per group (at
// most 256 members each, repeated until empty) that also stamps the tag, so a
// load that started before the invalidation never stores its result after it.
// InvalidatePattern uses SCAN + UNLINK on every master.
//
// # Invalidation, versions and soft purge
//
// InvalidateOnSuccess wraps mutation routes: after a 2xx, and before its
// status line reaches the client, it invalidates the tags computed from the
// request (or soft-purges them, or bumps namespaces). SoftPurgeTags marks
// entries stale in place instead of deleting them, so routes with
// StaleWhileRevalidate keep serving them while one request refreshes.
// BumpVersion retires a namespace (Route.Namespace, WithNamespace) with one
// INCR: the version is part of every key of the namespace. Options.Schema
// puts a build or payload-schema digest into every key, so a deploy that
// changes a payload's shape never reads old entries; tag sets are shared by
// all versions and schemas, so tag invalidation reaches them all.
//
// # L1 and coherence
//
// With Options.L1Bytes an in-process L1 of decoded entries (W-TinyLFU,
// bounded by bytes, Route.L1TTL) sits in front of Redis: a hot hit costs no
// round trip. Every invalidation (tags, soft purge, pattern, delete, version
// bump) is appended to an invalidation log, a Redis Stream
// "<prefix>{inv}log" trimmed to about Options.CoherenceLog entries, and
// with coherence on every store appends an overwrite of its key; on a
// single node (and Sentinel) the entry is appended inside the script that
// makes the change, atomically with it, on a Redis Cluster by one XADD
// right after it (the log is one key on one node). Each instance follows the
// log with XREAD BLOCK on a connection of its own and drops the matching L1
// entries. After a disconnection it resumes from the last entry it applied
// and keeps the rest of its L1 (bypassed until it has caught up); only when
// the entries it missed are gone (the log trimmed past its position, or
// Redis restarted empty) does it flush the L1, once. The log covers
// CoherenceLog/R seconds of absence at R logged changes per second (100 s
// for 10000 entries at 100/s). The window in which an instance can serve a
// value older than an invalidation is the time for the entry to reach the
// reader: well under a millisecond on loopback (TestCoherencePropagation
// and TestL1StalenessWindow measure it), bounded by CoherencePing plus the
// command timeout when the reader's connection dies silently and by the L1
// TTL if an append itself fails.
//
// The application can follow the same log: Cache.Events returns a
// subscription that delivers the invalidations of chosen tags or
// namespaces, at least once from a given entry ID, with a Gap event when
// the log no longer covers that position (the consumer then reloads what
// it derived from the cache). See ExampleCache_Events.
//
// # Warming and refresh-ahead
//
// RouteCache.Warm fills a list of targets at startup and keeps them warm;
// Route.RefreshAhead refreshes a hit entry in the background shortly before
// it expires, once per key across instances (the refresh lease), so warmed
// and hot routes never show a miss.
//
// Both run the route's handler again after the request that triggered them
// has finished (so do StaleWhileRevalidate refreshes), on a request of
// their own. A handler adapted from a framework whose context is recycled
// after the request (a gin handler run through an adapter, an echo handler
// through echo.WrapMiddleware) must not be used for such routes; mount them
// as plain net/http handlers (gin.WrapH, echo.WrapHandler) instead.
//
// # RFC 9111 shared-cache mode
//
// A Route with RFC9111 takes freshness from each response (s-maxage,
// max-age, Expires, Age, heuristic freshness only where RFC 9111 §4.2.2
// allows it) and honours no-store, private, no-cache, must-revalidate,
// must-understand, stale-while-revalidate, stale-if-error (RFC 5861) and
// Vary, the request's max-age, max-stale, min-fresh, no-cache, no-store
// and only-if-cached (§5.2.1), and, with Route.TargetedCacheControl, a
// targeted field such as CDN-Cache-Control in place of Cache-Control
// (RFC 9213), so wrapping an httputil.ReverseProxy gives a
// standards-conforming shared cache backed by Redis. The response decides
// which statuses are stored; Route.Statuses is not consulted. See
// rfc9111.go for the rules. Where the RFCs leave a choice, or this cache
// departs from them, it does so deliberately:
//
//   - Responses carrying Set-Cookie are never stored (§3 would allow it):
//     a cookie is one client's, and a shared cache that replays it hands
//     one user's session to the next.
//   - A request carrying a Cookie, or a user in its context, bypasses a
//     shared route unless the route is Anonymous, as on every shared
//     route; Authorization follows §3.5 (a response is shared with such
//     requests only under public, s-maxage or must-revalidate).
//   - A directive given twice with different values makes the response
//     stale (§4.2.1 allows this or using the first): the safe reading.
//   - Delta-seconds are digits only; "60.0" or "-1" is invalid, the
//     response stale (§1.2.2). Expires, Date and Last-Modified must be
//     HTTP-dates in one of the three forms with exact spacing and a
//     two-digit hour (lenient date parsers disagree, and a misread date
//     serves content longer than its origin allowed); only the case of
//     names and a wrong weekday are forgiven.
//   - private and no-cache with field names are treated as unqualified
//     (the RFC allows storing the response without those fields), since
//     stripping fields from a response is easy to get wrong: private is not
//     stored, no-cache is stored only with a validator and validated before
//     every use.
//   - A targeted field's keys are matched without regard to case (RFC 8941
//     keys are lower-case): an origin that writes MaX-AgE means max-age.
//   - A request with no-store is forwarded and not answered from the cache
//     unless it also says only-if-cached: it asks that nothing of the
//     exchange be kept, and most clients sending it want a fresh answer.
//   - 206 responses pass through and are never stored (no range support).
//   - A HEAD miss is filled by a GET whose body the client never gets, and
//     a HEAD hit is answered from the stored GET response (§4.3.5 allows
//     both), so the origin never sees HEAD and a HEAD response never
//     updates a stored one.
//   - Cache-Status (RFC 9211) says stored when the response could be stored
//     as its header went out; a body over Route.MaxBody or a failed write
//     can still leave it unstored.
//   - Validation (§4.3): a stale stored response, or one that must be
//     validated (no-cache; must-revalidate, proxy-revalidate or s-maxage
//     once stale), is validated with If-None-Match and If-Modified-Since
//     built from the origin's ETag and Last-Modified, never from the digest
//     ETag the cache gives responses that have none. A 304 freshens it: its
//     fields replace the stored ones except Content-Length,
//     Content-Encoding, Content-Range and hop-by-hop fields (Cache-Status
//     fwd=stale; fwd-status=304). A response with a validator is kept past
//     its freshness for the larger of its lifetime and Route.TTL, at most a
//     day; one that is no-cache or stale on arrival is stored only with a
//     validator. A 304 carrying Set-Cookie reaches the client, but the
//     freshened response is not stored.
//   - Client preconditions (§4.3.2): If-None-Match (weak comparison) takes
//     precedence over If-Modified-Since, which is compared with the stored
//     Last-Modified, else its Date. With no stored response they are
//     forwarded, and the origin's 304 passes through unstored.
//   - Unsafe methods (§4.4): any method but GET, HEAD, OPTIONS and TRACE is
//     forwarded and never answered from the cache (POST in Route.Methods
//     included), and its 2xx or 3xx invalidates, before its status line
//     goes out, every stored response (all variants, users and versions)
//     of the target URI and of the same-origin Location and
//     Content-Location, through a tag of each URI. A fill that started in
//     the millisecond of such an invalidation is not stored. A POST
//     response is never reused for a GET.
//   - Fills forward the client's request headers, except hop-by-hop ones
//     (and those Connection names) and, on a shared route, Cookie
//     (Authorization as §3.5 says), and the response's Vary selects;
//     Route.PassHeaders applies to ordinary routes only.
//
// # Degradation
//
// The cache consults a fallback.Monitor: while Redis is unavailable it uses an
// in-memory store with the same semantics (coalescing, tags, live keys),
// cleared when Redis comes back. A Redis error or timeout on a request makes
// it a miss served by the handler; the cache never causes a 5xx. Calls that
// must reach Redis (the invalidations, BumpVersion, Set, LiveKeys) return an
// error wrapping fallback.ErrUnavailable when they could not; invalidations
// still cleared the in-memory fallback.
package cachehttp
