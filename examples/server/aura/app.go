// Package aura is the Aura demo service behind examples/server: the seed
// platform's routes rebuilt on redishttp. It is a package (not only a main)
// so that tests can start several instances in one process against one
// Redis.
//
//	cfg, _ := aura.LoadConfig(os.LookupEnv)
//	app, _ := aura.New(cfg, slog.Default())
//	defer app.Close()
//	http.ListenAndServe(cfg.Addr, app.Handler())
//
// The request path of an /api/ route:
//
//	TrustUserHeader(X-User-ID) → ratelimithttp (API_RATE_LIMIT, plus AURA_RATE_LIMIT on POST /api/auras, one round trip)
//	  → cachehttp route (GET routes), or InvalidateOnSuccess (PUT, DELETE),
//	    or lockhttp then InvalidateOnSuccess (POST /api/auras) → handler
//
// One redishttp.Kit, built on the instance's client, makes every part:
// they report to its one statshttp.Recorder and share its one
// fallback.Monitor, so the whole instance switches to its in-memory
// backends at once when Redis fails and back when it answers again. The
// demo's own data calls go through the same Monitor (Kit.Monitor().Do):
// while its breaker is open they fail at once and the routes answer 503
// with Retry-After.
package aura

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/aura-platform/redishttp"
	"github.com/aura-platform/redishttp/cachehttp"
	"github.com/aura-platform/redishttp/fallback"
	"github.com/aura-platform/redishttp/lockhttp"
	"github.com/aura-platform/redishttp/middleware"
	"github.com/aura-platform/redishttp/ratelimithttp"
	"github.com/aura-platform/redishttp/statshttp"
	"github.com/redis/go-redis/v9"
)

// App is one instance of the demo service.
type App struct {
	cfg     Config
	log     *slog.Logger
	client  redis.UniversalClient
	ownsCli bool
	up      *Upstream
	ips     *middleware.ClientIP
	ttl     TTLClasses
	kit     *redishttp.Kit
	store   Store
	cache   *cachehttp.Cache
	limits  *ratelimithttp.Limiter
	locks   *lockhttp.Locker
	handler http.Handler
	// shutdown ends GET /api/events streams when their server shuts down.
	shutdown shutdowns
}

// New builds an instance from cfg, connecting to the Redis it names (or
// none: embedded in-memory mode). It logs the backend mode and, when the
// stats token was generated, the token.
func New(cfg Config, logger *slog.Logger) (*App, error) {
	client, err := cfg.Redis.NewClient()
	if err != nil {
		return nil, err
	}
	app, err := NewWithClient(cfg, client, logger)
	if err != nil {
		if client != nil {
			_ = client.Close()
		}
		return nil, err
	}
	app.ownsCli = true
	return app, nil
}

// NewWithClient builds an instance on an existing client (nil: embedded
// mode). The client stays the caller's to close.
func NewWithClient(cfg Config, client redis.UniversalClient, logger *slog.Logger) (*App, error) {
	if logger == nil {
		logger = slog.Default()
	}
	ips, err := middleware.NewClientIP(cfg.TrustedProxies...)
	if err != nil {
		return nil, fmt.Errorf("%w: TRUSTED_PROXIES: %v", ErrConfig, err)
	}
	a := &App{cfg: cfg, log: logger, client: client, up: NewUpstream(cfg.LatencyScale), ips: ips}
	if err := a.build(); err != nil {
		a.Close()
		return nil, err
	}
	switch cfg.Redis.Mode() {
	case "memory":
		logger.Info("backend: embedded in-memory mode (set REDIS_URL, UPSTASH_REDIS_URL, REDIS_SENTINEL_ADDRS with REDIS_SENTINEL_MASTER, or REDIS_CLUSTER_ADDRS to use Redis)")
	default:
		logger.Info("backend: "+cfg.Redis.String(), "state", a.kit.Monitor().State().String())
	}
	if cfg.CacheDisabled {
		logger.Info("response caching disabled (ENABLE_REDIS_CACHE=false)")
	}
	if cfg.TokenGenerated {
		logger.Info("STATS_TOKEN not set; generated one for this run", "stats_token", cfg.StatsToken)
	}
	return a, nil
}

// build wires the instance on one redishttp.Kit: the Kit's monitor, stats
// recorder, key prefix and logger are shared by the cache, the rate
// limiter, the lock and the demo's own store.
func (a *App) build() error {
	var err error
	if a.ttl, err = LoadTTLClasses(a.cfg.lookupOrEmpty()); err != nil {
		return err
	}
	a.kit, err = redishttp.New(a.client, redishttp.Options{
		Prefix: a.cfg.KeyPrefix, // aura:cache:, aura:rl:, aura:lock:, aura:stats:, aura:probe
		Logger: a.log,
		// Per-request commands through go-redis's auto-pipeliner
		// (REDIS_AUTOPIPELINE).
		AutoPipeline: a.cfg.AutoPipeline,
		// The budget of one Redis call on the request path before the
		// breaker counts a failure (REDIS_COMMAND_TIMEOUT).
		Monitor: fallback.MonitorOptions{CommandTimeout: a.cfg.CommandTimeout},
		Stats: statshttp.Options{
			Token: a.cfg.StatsToken,
			// Failed admin authentication is counted per client address
			// as the rate limiter sees it (behind TRUSTED_PROXIES, the
			// real client): 10 failures a minute, then 429 until the
			// minute ends.
			ClientIP:  a.ips,
			Patterns:  []string{PatternWeather, PatternNews, PatternSubscription, PatternOAuth, PatternAI, PatternAuras},
			StatsPath: "/api/cache/stats",
		},
	})
	if err != nil {
		return err
	}
	if a.client != nil {
		// The demo's own data goes through the Kit's monitor too (Do):
		// while its breaker is open a call fails at once.
		a.store = &redisStore{c: a.client, prefix: a.cfg.KeyPrefix, mon: a.kit.Monitor()}
	} else {
		a.store = newMemStore()
	}

	if a.cache, err = a.kit.Cache(cachehttp.Options{
		Name:     "aura",
		Disabled: a.cfg.CacheDisabled,
		// The shared weather and news entries are read by every user:
		// an in-process L1 serves their hot hits without a round trip
		// (Route.L1TTL keeps the per-user routes out of it).
		L1Bytes: l1Bytes,
	}); err != nil {
		return err
	}

	apiPolicy, err := ratelimithttp.NewPolicy("api", a.cfg.APIRateText)
	if err != nil {
		return err
	}
	auraPolicy, err := ratelimithttp.NewPolicy("auras", a.cfg.AuraRateText)
	if err != nil {
		return err
	}
	auraPolicy.Match = func(r *http.Request) bool { return r.Method == http.MethodPost && r.URL.Path == "/api/auras" }
	if a.limits, err = a.kit.Limiter(ratelimithttp.Options{
		Policies: []ratelimithttp.Policy{apiPolicy, auraPolicy}, // both checked in one round trip
		ClientIP: a.ips,
		Route:    "api",
	}); err != nil {
		return err
	}

	// In embedded mode the Kit makes this a process-local lock: one
	// process by definition, so exactly as strong as a distributed one.
	if a.locks, err = a.kit.Locker(lockhttp.Options{
		Route: "create_aura",
		Key:   middleware.Join(middleware.ByUser(), createLockKey),
		TTL:   5 * time.Second,
	}); err != nil {
		return err
	}

	a.handler, err = a.routes()
	return err
}

// l1Bytes bounds the in-process L1 of the shared routes.
const l1Bytes = 16 << 20

// Handler returns the instance's routes.
func (a *App) Handler() http.Handler { return a.handler }

// Upstream returns the simulated upstream APIs (for tests and stats).
func (a *App) Upstream() *Upstream { return a.up }

// Monitor returns the instance's backend monitor, the Kit's one.
func (a *App) Monitor() *fallback.Monitor { return a.kit.Monitor() }

// Client returns the instance's Redis client, nil in embedded mode.
func (a *App) Client() redis.UniversalClient { return a.client }

// Stats returns the instance's stats recorder, the Kit's one.
func (a *App) Stats() *statshttp.Recorder { return a.kit.Stats() }

// Cache returns the instance's response cache.
func (a *App) Cache() *cachehttp.Cache { return a.cache }

// Close closes the Kit (lock, rate limiter, cache, a last stats flush,
// monitor probes, in that order) and, when New made the client, the
// client.
func (a *App) Close() {
	if a.kit != nil {
		_ = a.kit.Close()
	}
	if a.ownsCli && a.client != nil {
		_ = a.client.Close()
		a.client = nil
	}
}
