package statshttp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/aura-platform/redishttp/internal/optcheck"
	"github.com/aura-platform/redishttp/middleware"
)

// minTokenLength is the shortest bearer token New accepts, in bytes.
const minTokenLength = 16

// overflowRoute is the route name that events are counted under once
// Options.MaxRoutes distinct route names have been seen.
const overflowRoute = "other"

// defaultRoute is the name events with an empty Route are counted under.
const defaultRoute = "default"

// LiveKeyCounter reports how many live cache keys each pattern (route name)
// currently has. cachehttp implements it by keeping counts up to date as it
// stores and removes entries, so calling it is cheap (no SCAN). The Recorder
// calls it when a report is built or metrics are scraped, bounded by
// Options.ReadTimeout. An application with several caches implements it by
// summing their counts per pattern.
type LiveKeyCounter interface {
	LiveKeys(ctx context.Context) (map[string]int64, error)
}

// Options configures a Recorder. The zero value works apart from
// authentication: set Token or Auth (New returns ErrInvalidOptions otherwise).
// Every field documents its default; New never writes into the caller's
// struct.
type Options struct {
	// Token is the bearer token that the stats, metrics and dashboard
	// handlers require (Authorization: Bearer <token>, compared in constant
	// time). At least 16 bytes. Default: none, in which case Auth
	// must be set.
	Token string
	// Auth, if set, protects the handlers instead of (or, when Token is also
	// set, as an alternative to) the bearer token: a request with a valid
	// bearer token is served directly, any other request goes through Auth.
	// Use it to plug in the application's own session or SSO middleware. To
	// serve the handlers without any authentication (say, on a listener only
	// reachable from an internal network), pass an identity middleware
	// explicitly. Default nil.
	Auth middleware.Middleware
	// DisableQueryToken stops the dashboard page (and only it) from accepting
	// the token as a ?token= query parameter. Browsers cannot put a bearer
	// header on a page navigation, so by default the dashboard accepts
	// ?token= once, and the page then removes it from the address bar and
	// sends it as a bearer header when it streams or polls the stats. Set
	// this when the application's Auth (a session cookie, say)
	// authenticates the page, so that tokens never appear in URLs. Default
	// false.
	DisableQueryToken bool

	// AuthFailureLimit is how many failed authentication attempts one
	// client may make per AuthFailureWindow on the handlers and on routes
	// wrapped by Protect. A failed attempt is a request that neither the
	// token nor Auth lets through (Auth answering 401 or 403). Once a client
	// reaches the limit, every request it sends gets 429 Too Many Requests
	// with Retry-After and a problem body until the window that began with
	// its first failure ends, even a request with valid credentials, so an
	// attacker learns nothing from a guess made while blocked. Requests that
	// authenticate never count. Clients are told apart by ClientIP; IPv6
	// addresses by their /64. Only a client's own failures block it: the
	// counts are kept in memory per instance (N instances allow N times the
	// limit) for at most 10,000 clients, and a new client beyond that evicts
	// the one whose window began first, so a flood from ever new addresses
	// never locks out a client that has not failed (it can reset an older
	// attacker's count, which a token of 16 random bytes makes worthless).
	// Where one address evidently stands for many clients, blocking it would
	// lock them all out, so there only failures are throttled (429 instead
	// of 401 past the limit) and valid credentials always pass: when no
	// address is known (a Unix socket), and when the TCP peer is a loopback
	// or private address sending X-Forwarded-For, Forwarded or X-Real-IP
	// that ClientIP does not trust (a reverse proxy left out of ClientIP).
	// Default 10.
	AuthFailureLimit int
	// AuthFailureWindow is the window of AuthFailureLimit. Default 1m.
	AuthFailureWindow time.Duration
	// ClientIP resolves the client address that AuthFailureLimit counts
	// by. Pass the resolver your rate limiter uses, built with your trusted
	// proxies (middleware.NewClientIP). Default: the TCP peer, trusting no
	// proxy. Behind a reverse proxy or load balancer, pass
	// middleware.NewClientIP with the proxies' CIDRs: otherwise every client
	// arrives from the proxy's address, and failures can only be throttled
	// for all clients together (never blocking valid credentials, when the
	// proxy is on a private or loopback address and sends forwarding
	// headers) or, for a proxy on a public address, a few wrong guesses from
	// anyone block everyone for a window.
	ClientIP *middleware.ClientIP

	// FlushInterval is how often the Recorder adds its new counts to the
	// cluster-wide totals in Redis, in one transaction. A flush with no new
	// count sends nothing (see InstanceTTL for the heartbeat), so an idle
	// instance costs no Redis command per FlushInterval. Default 1s.
	FlushInterval time.Duration
	// InstanceTTL is how long an instance stays listed in the per-instance
	// section after its last flush or heartbeat: a stopped or crashed
	// instance ages out after it (its counts stay in the totals). An
	// instance with nothing new to flush sends a heartbeat (one command)
	// every InstanceTTL/3 to stay listed, so its "last seen" time can lag
	// by that much. At least 2*FlushInterval. Default max(60s,
	// 5*FlushInterval): an idle instance sends one command every 20 s.
	InstanceTTL time.Duration
	// Retention is how long the cluster-wide totals are kept after the last
	// flush of any instance, so a decommissioned application's stats do not
	// stay in Redis forever. Default 7 days.
	Retention time.Duration
	// ReadTimeout bounds the Redis reads and the LiveKeys call made to build
	// a report or answer a scrape; when it passes, the report holds this
	// instance's local figures. Default 500ms.
	ReadTimeout time.Duration
	// Prefix starts every Redis key the Recorder writes; all of them also
	// share the hash tag {stats}, so the flush is one transaction on one
	// node of a Redis Cluster. Applications sharing a Redis must use
	// different prefixes. Default "redishttp:stats:".
	Prefix string
	// InstanceID names this instance in the per-instance section. Default:
	// the host name, a dash and 8 random hex digits.
	InstanceID string

	// Patterns lists cache pattern names (route names) to show in the
	// report, in this order, even before any traffic. Other route names with
	// cache traffic follow, sorted. Default none.
	Patterns []string
	// MaxRoutes caps the number of distinct route names counted per
	// instance (Patterns included); events for further names are counted
	// under the name "other", which keeps Redis fields and Prometheus series
	// bounded. Events with an empty Route are counted under "default".
	// Default 100.
	MaxRoutes int
	// LiveKeys, if set, supplies each pattern's "count" (live keys).
	// Default nil: counts are reported as 0.
	LiveKeys LiveKeyCounter
	// BackendState, if set, is asked for the current backend state when a
	// report is built or a flush runs (for example
	// func() string { return monitor.State().String() }). Default: the state
	// named by the last BackendChange event, "unknown" before the first one.
	BackendState func() string

	// StatsPath is the URL (absolute path or relative to the dashboard page)
	// the dashboard streams or polls the report from: where the application
	// mounts StatsHandler. Default "/api/cache/stats".
	StatsPath string
	// RefreshInterval is how often the dashboard polls when the report
	// stream is unavailable, and the reconnection delay the stream suggests
	// to EventSource clients. Default 2s.
	RefreshInterval time.Duration

	// Logger receives flush failures (rate-limited to one line per outage,
	// with no secrets). Default slog.Default().
	Logger *slog.Logger
}

// config is Options after defaults and validation.
type config struct {
	Options
	tag string // "{stats}" key infix
}

func newConfig(opts Options) (config, error) {
	c := config{Options: opts}
	c.Patterns = append([]string(nil), opts.Patterns...) // never alias the caller's slice
	if c.Token == "" && c.Auth == nil {
		return c, fmt.Errorf("%w: no Token and no Auth middleware", ErrInvalidOptions)
	}
	if c.Token != "" && len(c.Token) < minTokenLength {
		return c, fmt.Errorf("%w: Token is %d bytes, need at least %d", ErrInvalidOptions, len(c.Token), minTokenLength)
	}
	if err := optcheck.First(
		optcheck.Duration(ErrInvalidOptions, "FlushInterval", c.FlushInterval),
		optcheck.Duration(ErrInvalidOptions, "InstanceTTL", c.InstanceTTL),
		optcheck.Duration(ErrInvalidOptions, "Retention", c.Retention),
		optcheck.Duration(ErrInvalidOptions, "ReadTimeout", c.ReadTimeout),
		optcheck.Prefix(ErrInvalidOptions, "Prefix", c.Prefix),
		optcheck.NonNegative(ErrInvalidOptions, "MaxRoutes", c.MaxRoutes),
		optcheck.Duration(ErrInvalidOptions, "RefreshInterval", c.RefreshInterval),
		optcheck.NonNegative(ErrInvalidOptions, "AuthFailureLimit", c.AuthFailureLimit),
		optcheck.Duration(ErrInvalidOptions, "AuthFailureWindow", c.AuthFailureWindow),
	); err != nil {
		return c, err
	}
	if c.FlushInterval == 0 {
		c.FlushInterval = time.Second
	}
	if c.InstanceTTL == 0 {
		c.InstanceTTL = max(time.Minute, 5*c.FlushInterval)
	}
	if c.InstanceTTL < 2*c.FlushInterval {
		return c, fmt.Errorf("%w: InstanceTTL %v is less than 2*FlushInterval %v", ErrInvalidOptions, c.InstanceTTL, c.FlushInterval)
	}
	if c.Retention == 0 {
		c.Retention = 7 * 24 * time.Hour
	}
	if c.Retention < c.InstanceTTL {
		c.Retention = c.InstanceTTL
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = 500 * time.Millisecond
	}
	if c.Prefix == "" {
		c.Prefix = "redishttp:stats:"
	}
	if c.InstanceID == "" {
		c.InstanceID = defaultInstanceID()
	}
	if len(c.InstanceID) > 200 || strings.ContainsAny(c.InstanceID, "\x00\r\n") {
		return c, fmt.Errorf("%w: InstanceID must be at most 200 bytes without control characters", ErrInvalidOptions)
	}
	if c.MaxRoutes == 0 {
		c.MaxRoutes = 100
	}
	if len(c.Patterns) >= c.MaxRoutes {
		return c, fmt.Errorf("%w: %d Patterns do not fit in MaxRoutes %d (one slot is kept for %q)",
			ErrInvalidOptions, len(c.Patterns), c.MaxRoutes, overflowRoute)
	}
	if c.StatsPath == "" {
		c.StatsPath = "/api/cache/stats"
	}
	if c.RefreshInterval == 0 {
		c.RefreshInterval = 2 * time.Second
	}
	if c.AuthFailureLimit == 0 {
		c.AuthFailureLimit = 10
	}
	if c.AuthFailureWindow == 0 {
		c.AuthFailureWindow = time.Minute
	}
	if c.ClientIP == nil {
		c.ClientIP = &middleware.ClientIP{}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.tag = "{stats}"
	return c, nil
}

func defaultInstanceID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "instance"
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return host + "-" + hex.EncodeToString(b[:])
}
