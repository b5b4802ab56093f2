package ratelimithttp

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/aura-platform/redishttp/fallback"
	"github.com/aura-platform/redishttp/middleware"
)

// Options configures a Limiter. The zero value of every field but Policies
// works; each field documents its default. New validates the options once
// and never writes into the caller's struct.
type Options struct {
	// Policies are the limits checked on every request (subject to each
	// policy's Match), all in one Redis round trip. At least one policy is
	// required unless Tiers supplies them.
	Policies []Policy

	// Tier, if set, names the plan of the request's caller (for example
	// from the authenticated user); Tiers[name] then replaces Policies for
	// that request. An empty or unknown name uses Policies.
	Tier func(*http.Request) string
	// Tiers maps tier names to their policies; validated like Policies.
	Tiers map[string][]Policy

	// Key derives the client key. Default:
	// middleware.UserOr(middleware.ByClientIP(ClientIP)): the authenticated
	// user, else the client address (IPv6 grouped by /64) as seen through
	// the trusted proxies only. Keys longer than 200 bytes or holding
	// characters unsafe in a Redis key are replaced by their SHA-256.
	Key middleware.KeyFunc
	// ClientIP resolves client addresses for the default Key. Default: a
	// resolver trusting no proxy (the TCP peer is the client).
	ClientIP *middleware.ClientIP

	// Cost, if set, returns the units a request spends (its weight).
	// Values below 1 count as 1. Default: 1 for every request.
	Cost func(*http.Request) int64
	// Exempt, if set, lets the requests it returns true for through
	// without checking or counting them, and without headers.
	Exempt func(*http.Request) bool

	// Prefix starts every Redis key. Default "rl:". Keys look like
	// "<Prefix>{<client key>}:f:<policy>" (the braces are a hash tag: all
	// keys of one client share a cluster slot). It must not contain
	// braces, glob characters (* ? [ ]), backslashes or control bytes.
	Prefix string

	// OnFailure applies while Redis is failing. Default (the zero value)
	// is fallback.UseMemory: count in this process's memory, so each
	// instance enforces the full limit locally. fallback.FailClosed
	// answers 503 with Retry-After; fallback.PassThrough serves requests
	// unlimited and without rate-limit headers.
	OnFailure fallback.OnFailure
	// RetryAfter is the Retry-After sent with 503 answers while Redis is
	// failing and OnFailure is fallback.FailClosed (a 429 says the real
	// wait instead). Default 1s; negative is an error.
	RetryAfter time.Duration

	// Monitor is the shared health monitor for the Redis client. While it
	// reports Redis unavailable, the limiter does not call Redis at all and
	// applies OnFailure at once. Default: the limiter starts its own
	// monitor over the client (Close stops it).
	Monitor *fallback.Monitor
	// MemoryBytes bounds the in-memory counters used in embedded mode and
	// under fallback.UseMemory. Default 32 MiB. A flood of distinct clients
	// cannot grow them past the bound: the least recently used counters
	// are evicted, and an evicted client starts a fresh window.
	MemoryBytes int64
	// AutoPipeline sends the rate-limit script through the client's
	// go-redis auto-pipeliner, which writes the scripts of concurrent
	// requests to Redis together and reads their replies together: fewer
	// system calls per request under concurrency. It is the client's own
	// AsyncAutoPipeline (tuned by the client's
	// Options.AutoPipelineOptions; a *redis.Ring has none and is refused).
	// A decision still waits no longer than the command timeout. Default
	// false.
	AutoPipeline bool

	// Route names this limiter in events (RateAllowed, RateDenied,
	// RateError), e.g. "api" or "POST /api/orders". Bounded cardinality:
	// never a user or key. Default "ratelimit".
	Route string
	// Observer receives an event per checked request. Default none.
	Observer middleware.Observer
	// Logger receives one line per switch into or out of the failure
	// mode, at Debug level: the limiter switches on single calls (a lone
	// timeout), while the Monitor logs Redis's state changes, once each,
	// at Warn and Info. Default slog.Default().
	Logger *slog.Logger
}
