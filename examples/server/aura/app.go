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
//	  → cachehttp route (GET routes) or lockhttp (POST /api/auras) → handler
//
// Every feature package reports to one statshttp.Recorder, and all share one
// fallback.Monitor, so the whole instance switches to its in-memory backends
// at once when Redis fails and back when it answers again. The demo's own
// data calls go through the same Monitor (Monitor.Do): while its breaker is
// open they fail at once and the routes answer 503 with Retry-After.
package aura

import (
	"fmt"
	"log/slog"
	"net/http"

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
	mon     *fallback.Monitor
	up      *Upstream
	store   Store
	ips     *middleware.ClientIP
	stats   *statshttp.Recorder
	cache   *cachehttp.Cache
	limits  *ratelimithttp.Limiter
	locks   *lockhttp.Locker
	ttl     TTLClasses
	closers []func() error
	handler http.Handler
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
		logger.Info("backend: "+cfg.Redis.String(), "state", a.mon.State().String())
	}
	if cfg.CacheDisabled {
		logger.Info("response caching disabled (ENABLE_REDIS_CACHE=false)")
	}
	if cfg.TokenGenerated {
		logger.Info("STATS_TOKEN not set; generated one for this run", "stats_token", cfg.StatsToken)
	}
	return a, nil
}

// Handler returns the instance's routes.
func (a *App) Handler() http.Handler { return a.handler }

// Upstream returns the simulated upstream APIs (for tests and stats).
func (a *App) Upstream() *Upstream { return a.up }

// Monitor returns the instance's backend monitor.
func (a *App) Monitor() *fallback.Monitor { return a.mon }

// Stats returns the instance's stats recorder.
func (a *App) Stats() *statshttp.Recorder { return a.stats }

// Cache returns the instance's response cache.
func (a *App) Cache() *cachehttp.Cache { return a.cache }

// Close stops the instance's background work (stats flush, monitor probes)
// and, when New made the client, closes it.
func (a *App) Close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		_ = a.closers[i]()
	}
	a.closers = nil
	if a.ownsCli && a.client != nil {
		_ = a.client.Close()
		a.client = nil
	}
}
