// Package lockhttp wraps mutation handlers in a distributed lock (on one
// Redis deployment, or Redlock through github.com/go-redsync/redsync/v4)
// with a watchdog, a fencing token and IETF Idempotency-Key replay, so that
// "create this once" holds across many server instances, through client
// retries and through slow handlers.
//
//	type createOrderRequest struct{ Name string `json:"name"` }
//
//	// The lock names what the handler writes: this user's order of this
//	// name, decoded and normalised exactly as the handler does it.
//	byName := lockhttp.JSONKey(1<<20, func(in createOrderRequest) (string, error) {
//		return strings.ToLower(strings.TrimSpace(in.Name)), nil
//	})
//	locks, err := lockhttp.New(rdb, lockhttp.Options{ // rdb: a redis.UniversalClient
//		Route: "create_order",
//		Key:   middleware.Join(middleware.ByUser(), byName),
//	})
//	if err != nil {
//		log.Fatal(err)
//	}
//	defer locks.Close()
//	mux.Handle("POST /api/orders", locks.Handler(http.HandlerFunc(createOrder)))
//
//	func createOrder(w http.ResponseWriter, r *http.Request) {
//		token, _ := lockhttp.Fence(r.Context()) // pass it to every write
//		...
//	}
//
// # What a request gets
//
//   - The lock is free: the handler runs holding it. Its context carries the
//     fencing token (Fence). The watchdog extends the lock every TTL/3; when
//     Redis does not answer (a pause, a partition) it keeps trying for as
//     long as the lock is still valid by our clock (last successful
//     extension + TTL, less the clock drift allowance), since Redis cannot
//     have expired it before then. The handler's context is cancelled with
//     cause ErrLockLost only when Redis says the lock is no longer ours or
//     that validity runs out. After the handler returns, the lock is
//     released with a context that the request's cancellation cannot kill.
//   - The lock is held: 409 Conflict with a problem JSON body and a
//     Retry-After of the lock's remaining time to live (PTTL, rounded up,
//     at least 1 s), at once or, with Options.Wait, after waiting that long
//     (or until the client goes away). A live holder's watchdog keeps the
//     PTTL between 2/3 of the TTL and the TTL, so it bounds the wait rather
//     than predicts it.
//   - Redis is unreachable (the Monitor reports it down, or a call fails)
//     or a Redlock quorum is lost: 503 with Retry-After, and the handler
//     never runs (fail closed). Options.OnFailure = fallback.UseMemory uses
//     a process-local mutex and in-memory idempotency records instead,
//     which protect nothing across instances and so have to be chosen
//     explicitly.
//   - An unkeyable request: 401 when Options.Key needs a user and there is
//     none, 413 when its body is over the key function's limit
//     (ErrBodyTooLarge), 400 otherwise. The handler does not run.
//
// # Idempotency
//
// A request with an Idempotency-Key header (draft-ietf-httpapi-idempotency-
// key-header) first claims the key, scoped per user (Options.IdempotencyScope),
// in the same Redis as the locks. The key is 1 to 255 printable ASCII
// characters, sent as a Structured Field string ("3f1c0a", with \" and \\
// escapes) or bare; an empty, longer, non-ASCII or repeated header gets
// 400. The claim takes one round trip, which also returns whatever is
// there:
//
//   - nothing: the claim is ours; the lock is taken and the handler runs. Its
//     first complete response below 500 (status, the headers it set, body)
//     is stored for Options.IdempotencyRetention (24h) and the claim becomes
//     that record. When Redis does not take the record at once, it is
//     retried in the background with backoff for up to
//     Options.RecordTimeout (Close stops it).
//   - once the handler has run, the claim is never released: the handler
//     may have committed whatever it wrote, even if it answered 503 (its
//     write may sit in a paused server's socket and land later). A response
//     that cannot be replayed (a 5xx, a panic, a streamed, hijacked or
//     oversized body) leaves the claim in place until it expires
//     (TTL + Wait + RecordTimeout after its last extension): retries
//     meanwhile get 409, and one after that runs the handler again, so
//     the store's own uniqueness check is the last line of defence. A
//     handler that knows it changed nothing says so with NotApplied: its
//     claim is released at once and a retry runs it again.
//   - a completed record with the same request fingerprint (SHA-256 of the
//     method, path, query with its parameters sorted, and body): it is
//     replayed byte for byte with the response header
//     Idempotent-Replayed: true. The lock is not touched.
//   - a claim still running, or whose outcome is not known yet (the
//     response is being recorded, or could not be): 409 with Retry-After.
//     Once the record lands, the retry gets the replay.
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
// lock and its fencing counter share a hash tag) and, unless
// Options.Monitor shares one, creates a fallback.Monitor over it, which
// Close stops; New itself does no I/O. NewRedlock takes several independent
// masters and needs a majority of them for every step; the fencing token
// is then the highest drawn on the quorum, written back to a quorum (one
// extra round trip) so that later tokens are always higher.
//
// On one node an uncontended request costs two round trips: acquire (SET NX
// PX and the fencing token in one script) and release (a compare-and-delete
// script), plus one extension (compare-and-PEXPIRE) per TTL/3
// while the handler runs. An idempotent request adds the claim and the
// stored response (four in all, release and store running concurrently); a
// replay costs one. The Monitor learns Redis's health from these calls;
// it probes only while calls fail or Redis is down, and with one PING after
// a long idle silence, apart from requests.
//
// # Lock keys
//
// The default Options.Key is ByPath: one lock per request path, the same
// under every router (http.ServeMux, chi groups and sub-routers,
// gorilla/mux, gin, echo, http.StripPrefix). A route pattern
// (middleware.ByRoute) is not: it depends on the router and on where the
// Locker is mounted (see Options.Key). For creates, lock on what the
// handler writes: JSONKey decodes the body as the handler does and lets a
// function normalise it (trim, case-fold), so "dup", " Dup " and
// {"NAME":"dup"} take one lock. JSONField takes one field as it is.
//
// # Fencing
//
// What fencing protects: a holder whose lock expired under it (a stall
// longer than the lock's validity: a GC pause, a partition, a Redis pause
// longer than the TTL) after another request took the same lock key. The
// tokens of one lock key only rise: each acquisition draws
// max(counter+1, Redis time in µs) (on Redlock, the highest drawn on a
// quorum, written back to a quorum), so the newer holder's token is
// higher, and a store that keeps the highest token it accepted per
// resource and refuses lower ones, in the same atomic step as the write (a
// conditional UPDATE, a Lua script), refuses the stale holder's late
// write. See Example_fencedStore.
//
// What it does not protect:
//
//   - Holders of different lock keys. Tokens follow the Redis clock, so a
//     later lock of any key passes the fence of a resource that an earlier
//     lock of another key wrote. When two keys can name one resource (name
//     variants that Options.Key does not normalise away, a key that leaves
//     out part of what the handler writes), both requests hold valid locks
//     and both writes pass. Make the key cover exactly what the handler
//     writes (JSONKey) and keep a uniqueness constraint in the store.
//   - Writes that do not carry the token, and stores that check it apart
//     from the write (the newer holder can write in between).
//   - Effects outside the fenced store: an email sent, a call to another
//     service.
//   - A failover to a replica that had not received the counter and whose
//     clock is behind: it can draw a token lower than one already used, and
//     the fence then refuses the newer holder (safe, but that request
//     fails).
//
// # Observability
//
// Options.Observer receives middleware.LockAcquired, LockContended,
// LockExpired (the watchdog lost the lock), LockReplayed and LockError
// (503s, and responses that could not be recorded within
// Options.RecordTimeout), each with Options.Route.
package lockhttp
