// Package lockhttp wraps mutation handlers in a distributed lock
// (github.com/go-redsync/redsync/v4) with a watchdog, a fencing token and
// IETF Idempotency-Key replay, so that "create this once" holds across many
// server instances, through client retries and through slow handlers.
//
//	locks, err := lockhttp.New(rdb, lockhttp.Options{ // rdb: a redis.UniversalClient
//		Route: "create_aura",
//		Key:   middleware.Join(middleware.ByUser(), lockhttp.JSONField("name", 0)),
//	})
//	if err != nil {
//		log.Fatal(err)
//	}
//	mux.Handle("POST /api/auras", locks.Handler(http.HandlerFunc(createAura)))
//
//	func createAura(w http.ResponseWriter, r *http.Request) {
//		token, _ := lockhttp.Fence(r.Context()) // pass it to every write
//		...
//	}
//
// # What a request gets
//
//   - The lock is free: the handler runs holding it. Its context carries the
//     fencing token (Fence) and is cancelled with cause ErrLockLost if the
//     watchdog cannot extend the lock (every TTL/3). After the handler
//     returns, the lock is released with a context that the request's
//     cancellation cannot kill.
//   - The lock is held: 409 Conflict with a problem JSON body and a
//     Retry-After of the lock's remaining time to live, at once or, with
//     Options.Wait, after waiting that long (or until the client goes away).
//   - Redis is unreachable or a Redlock quorum is lost: 503 with Retry-After,
//     and the handler never runs (fail closed). Options.Fallback =
//     LocalMutex uses a process-local mutex instead, which protects nothing
//     across instances and so has to be chosen explicitly.
//   - An unkeyable request: 401 when Options.Key needs a user and there is
//     none, 413 when its body is over the key function's limit
//     (ErrBodyTooLarge), 400 otherwise. The handler does not run.
//
// # Idempotency
//
// A request with an Idempotency-Key header (draft-ietf-httpapi-idempotency-
// key-header) first claims the key, scoped per user (Options.IdempotencyScope),
// in the same Redis as the locks, in one round trip that also returns
// whatever is there:
//
//   - nothing: the claim is ours; the lock is taken and the handler runs. Its
//     first complete response (status, the headers it set, body) is stored
//     for Options.IdempotencyRetention (24h) and the claim becomes that
//     record. 5xx, streamed, hijacked or oversized responses are not stored
//     and the claim is dropped, so a retry runs the handler again.
//   - a completed record with the same request fingerprint (method, path,
//     query, body: see Fingerprint): it is replayed byte for byte with
//     Idempotent-Replayed: true. The lock is not touched.
//   - a claim still running: 409 with Retry-After.
//   - a record of a different request: 422.
//
// Routes can demand the header (Options.RequireIdempotencyKey → 400 when it
// is missing). The claim is what makes retries safe whatever lock key the
// body implies; the lock is what makes different keys (or no key) for the
// same resource safe. Both live in the same Redis deployment (or the same
// Redlock masters, by quorum), so every instance sees the same state.
//
// # Deployments and round trips
//
// New takes one redis.UniversalClient (a node, Sentinel or a Cluster: the
// lock and its fencing counter share a hash tag). NewRedlock takes several
// independent masters and needs a majority of them for every step; the
// fencing token is then the highest drawn on the quorum, written back to a
// quorum (one extra round trip) so that later tokens are always higher.
//
// On one node an uncontended request costs two round trips: acquire (SET NX
// PX and the fencing INCR in one script, through redsync's pool interface)
// and release (redsync's compare-and-delete), plus one extension per TTL/3
// while the handler runs. An idempotent request adds the claim and the
// stored response (four in all, release and store running concurrently); a
// replay costs one.
//
// # Fencing
//
// A lock can expire under a handler that stalls longer than the watchdog
// can cover (a GC pause, a partition). Fencing tokens make that safe: they
// rise with every acquisition of a lock key (max(counter+1, Redis time in
// µs)), so a store that remembers the highest token per resource and
// rejects lower ones refuses the stale holder's write. See
// Example_fencedStore.
//
// # Observability
//
// Options.Observer receives middleware.LockAcquired, LockContended,
// LockExpired (the watchdog lost the lock), LockReplayed and LockError
// (503s and failed stores), each with Options.Route.
package lockhttp
