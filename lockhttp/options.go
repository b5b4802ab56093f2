package lockhttp

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/aura-platform/redishttp/fallback"
	"github.com/aura-platform/redishttp/internal/optcheck"
	"github.com/aura-platform/redishttp/middleware"
)

// Options configures a Locker. The zero value works (with a Redis client);
// every field documents its default. New never writes into the caller's
// struct.
type Options struct {
	// Key derives the lock key from a request: name what the handler
	// writes, e.g. middleware.Join(middleware.ByUser(), JSONKey(0, name))
	// for "this user's item called name". Default ByPath(): one lock per
	// request path (method and query aside), so PUT and DELETE of
	// /api/users/1 contend and /api/users/2 runs alongside.
	//
	// The default is the request's own path rather than the route pattern
	// (middleware.ByRoute) because a pattern depends on the router and on
	// where the Locker is mounted: http.ServeMux sets r.Pattern to the
	// matched pattern ("DELETE /api/users/{id}": every user contends), chi
	// sets it to the pattern matched so far, so a Locker mounted with
	// r.Use inside an r.Route("/api", ...) group sees "/api/*" and every
	// route of the group contends, while gorilla/mux, gin and echo set
	// none. ByPath gives the same key under all of them. A key error
	// answers 401 for middleware.ErrNoUser, 413 for ErrBodyTooLarge and
	// 400 otherwise, without running the handler.
	Key middleware.KeyFunc
	// Route names the route in events (bounded cardinality). Default "lock".
	Route string
	// Prefix starts every Redis key the Locker writes. Default "lock:".
	Prefix string
	// TTL is the lock's time to live in Redis; the watchdog extends it every
	// TTL/3 while the handler runs. Default 10s; at least 30ms.
	TTL time.Duration
	// Wait is how long a request waits for a held lock before answering 409.
	// Default 0: fail fast with 409 and Retry-After. Waiting honours the
	// request's context.
	Wait time.Duration
	// DisableWatchdog stops the lock from being extended: a handler that
	// outlives TTL loses the lock and only fencing protects its writes.
	// Default false.
	DisableWatchdog bool
	// RetryAfter is the Retry-After sent with 503 answers and with 409s
	// whose end nobody knows (an Idempotency-Key still in progress or
	// awaiting its record, a held process-local lock). A 409 for a held Redis lock
	// says the lock's remaining time instead. Default 1s.
	RetryAfter time.Duration
	// CommandTimeout bounds each Redis call of the lock and idempotency
	// steps (acquire, extend, release, claim, store). Default 1s, and at
	// most TTL/2 for the acquire.
	CommandTimeout time.Duration
	// FenceRetention is how long a lock key's fencing counter is kept after
	// its last use. Tokens keep rising after it expires, since they are
	// never below the Redis server's clock in microseconds. Default 24h.
	FenceRetention time.Duration

	// RequireIdempotencyKey answers 400 to requests without an
	// Idempotency-Key header. Default false: requests without the header are
	// locked but not deduplicated.
	RequireIdempotencyKey bool
	// IdempotencyRetention is how long a completed response is kept for
	// replay. Default 24h.
	IdempotencyRetention time.Duration
	// IdempotencyScope scopes idempotency keys, so two users' keys never
	// meet. Default middleware.ByUser(): a request with an Idempotency-Key
	// but no authenticated user gets 400.
	IdempotencyScope middleware.KeyFunc
	// MaxBodyBytes caps the request body read to fingerprint an idempotent
	// request; larger bodies get 413. Default 1 MiB.
	MaxBodyBytes int64
	// MaxResponseBytes caps the response kept for replay. A larger (or
	// streamed) response is sent but not stored; its claim is kept until it
	// expires (see RecordTimeout), so a retry meanwhile gets 409 and one
	// after that runs the handler again. Default 1 MiB.
	MaxResponseBytes int
	// RecordTimeout is how long the Locker keeps trying, in the
	// background, to record a finished request's response when Redis does
	// not take it at once (an outage, a pause, a lost Redlock quorum).
	// Idempotency claims live TTL + Wait + RecordTimeout past their last
	// extension, so they outlast these attempts: a retry meanwhile gets 409
	// and never runs the handler a second time. It is also how much longer
	// a crashed instance's claim holds retries off. Close stops the
	// attempts. Default 10s.
	RecordTimeout time.Duration

	// OnFailure says what a request gets while Redis cannot be used (the
	// Monitor reports it unavailable, a call fails, a Redlock quorum is
	// lost, or there is no client). fallback.Default and fallback.FailClosed
	// answer 503 Service Unavailable with Retry-After: the handler never
	// runs without a lock that every instance respects. fallback.UseMemory
	// locks with a process-local mutex and keeps idempotency records in
	// process memory instead, which protects nothing across instances:
	// choose it only for a single instance or embedded mode (a nil client).
	// fallback.PassThrough is refused with ErrInvalidOptions, since a
	// lock-protected handler never runs unprotected.
	OnFailure fallback.OnFailure
	// Monitor is the health monitor consulted before each request: while it
	// reports Redis unavailable, requests get OnFailure at once, without
	// waiting for Redis timeouts, and Redis failures are reported to it.
	// Default: New creates one over its client (with
	// fallback.MonitorOptions{Logger: Logger}) and Close stops it; NewRedlock
	// creates none, since its masters fail one by one and a quorum rides
	// through a minority of them failing.
	Monitor *fallback.Monitor
	// AutoPipeline sends the lock and idempotency scripts through each
	// client's go-redis auto-pipeliner, which writes the commands of
	// concurrent requests to Redis together and reads their replies
	// together: fewer system calls per request under concurrency. It is
	// the client's own AsyncAutoPipeline (tuned by the client's
	// Options.AutoPipelineOptions; a *redis.Ring has none and is refused).
	// Each call still waits no longer than CommandTimeout. Default false.
	AutoPipeline bool
	// Observer receives LockAcquired, LockContended, LockExpired,
	// LockReplayed and LockError events with Route. Default nil.
	Observer middleware.Observer
	// Logger receives the state changes of the Monitor that New creates
	// when Options.Monitor is nil. Default slog.Default().
	Logger *slog.Logger
}

const minTTL = 30 * time.Millisecond

// withDefaults validates o and returns a copy with the defaults filled in.
func (o Options) withDefaults() (Options, error) {
	if err := optcheck.First(
		optcheck.Prefix(ErrInvalidOptions, "Prefix", o.Prefix),
		optcheck.Duration(ErrInvalidOptions, "TTL", o.TTL),
		optcheck.Duration(ErrInvalidOptions, "Wait", o.Wait),
		optcheck.Duration(ErrInvalidOptions, "RetryAfter", o.RetryAfter),
		optcheck.Duration(ErrInvalidOptions, "CommandTimeout", o.CommandTimeout),
		optcheck.Duration(ErrInvalidOptions, "FenceRetention", o.FenceRetention),
		optcheck.Duration(ErrInvalidOptions, "IdempotencyRetention", o.IdempotencyRetention),
		optcheck.NonNegative(ErrInvalidOptions, "MaxBodyBytes", o.MaxBodyBytes),
		optcheck.NonNegative(ErrInvalidOptions, "MaxResponseBytes", o.MaxResponseBytes),
		optcheck.Duration(ErrInvalidOptions, "RecordTimeout", o.RecordTimeout),
	); err != nil {
		return o, err
	}
	switch o.OnFailure {
	case fallback.Default, fallback.FailClosed, fallback.UseMemory:
	case fallback.PassThrough:
		return o, fmt.Errorf("%w: OnFailure pass-through would run the handler without a lock; use fallback.FailClosed or fallback.UseMemory", ErrInvalidOptions)
	default:
		return o, fmt.Errorf("%w: OnFailure %d is unknown", ErrInvalidOptions, o.OnFailure)
	}
	if o.Key == nil {
		o.Key = ByPath()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Route == "" {
		o.Route = "lock"
	}
	if o.Prefix == "" {
		o.Prefix = "lock:"
	}
	if o.TTL == 0 {
		o.TTL = 10 * time.Second
	}
	if o.TTL < minTTL {
		return o, fmt.Errorf("%w: TTL %v is below %v", ErrInvalidOptions, o.TTL, minTTL)
	}
	if o.RetryAfter == 0 {
		o.RetryAfter = time.Second
	}
	if o.CommandTimeout == 0 {
		o.CommandTimeout = time.Second
	}
	if o.FenceRetention == 0 {
		o.FenceRetention = 24 * time.Hour
	}
	if o.FenceRetention < o.TTL {
		o.FenceRetention = o.TTL
	}
	if o.IdempotencyRetention == 0 {
		o.IdempotencyRetention = 24 * time.Hour
	}
	if o.IdempotencyScope == nil {
		o.IdempotencyScope = middleware.ByUser()
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = 1 << 20
	}
	if o.MaxResponseBytes == 0 {
		o.MaxResponseBytes = 1 << 20
	}
	if o.RecordTimeout == 0 {
		o.RecordTimeout = 10 * time.Second
	}
	return o, nil
}
