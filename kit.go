package redishttp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/aura-platform/redishttp/cachehttp"
	"github.com/aura-platform/redishttp/fallback"
	"github.com/aura-platform/redishttp/internal/optcheck"
	"github.com/aura-platform/redishttp/internal/pipe"
	"github.com/aura-platform/redishttp/lockhttp"
	"github.com/aura-platform/redishttp/middleware"
	"github.com/aura-platform/redishttp/ratelimithttp"
	"github.com/aura-platform/redishttp/statshttp"
	"github.com/redis/go-redis/v9"
)

// ErrClosed is returned by the Kit's constructors after Close.
var ErrClosed = errors.New("redishttp: kit closed")

// Options configures a Kit. The zero value works; every field documents its
// default. New never writes into the caller's struct.
type Options struct {
	// Prefix starts every Redis key the Kit's parts write: caches under
	// "<Prefix>cache:", rate limits under "<Prefix>rl:", locks under
	// "<Prefix>lock:", stats under "<Prefix>stats:" and the health probe at
	// "<Prefix>probe". A Prefix given in a package's own Options is used as
	// it is instead. Default "" (the packages' own prefixes). Applications
	// sharing one Redis give each a different Prefix, e.g. "shop:".
	Prefix string
	// Logger receives every part's log lines. Default slog.Default().
	Logger *slog.Logger
	// Monitor configures the one health monitor every part shares. Its
	// Logger, Observer and ProbeKey default to the Kit's.
	Monitor fallback.MonitorOptions
	// Stats configures the stats recorder every part reports to. Its
	// handlers (Kit.Stats().StatsHandler() and the others) need Stats.Token
	// or Stats.Auth; without either they answer 403 to every request.
	Stats statshttp.Options
	// Observer, if set, receives every event of every part as well as the
	// stats recorder (an OpenTelemetry bridge, a log). Default none.
	Observer middleware.Observer
	// AutoPipeline turns on AutoPipeline in every part's options: the
	// per-request commands of the caches, rate limiters and lockers go
	// through the client's go-redis auto-pipeliner, which writes the
	// commands of concurrent requests to Redis together (see
	// cachehttp.Options.AutoPipeline). Stats flushes and health probes are
	// never pipelined. It needs a *redis.Client (a Sentinel failover client
	// is one) or a *redis.ClusterClient. Default false.
	AutoPipeline bool
}

// Kit holds what the feature packages share: one Redis client, one health
// Monitor, one stats Recorder and one Logger. Values built from it report
// to the Recorder, follow the Monitor, and are closed by Kit.Close in the
// right order. It is safe for concurrent use.
type Kit struct {
	client redis.UniversalClient
	opts   Options
	log    *slog.Logger
	mon    *fallback.Monitor
	stats  *statshttp.Recorder
	obs    middleware.Observer

	mu      sync.Mutex
	closed  bool
	caches  []*cachehttp.Cache
	limits  []*ratelimithttp.Limiter
	lockers []*lockhttp.Locker
}

// New returns a Kit over client, a *redis.Client, *redis.ClusterClient,
// Sentinel failover client or any redis.UniversalClient the application
// already has; the Kit never closes it. A nil client is embedded mode:
// every part works in this process's memory. New does no I/O: the
// monitor's first health check runs in the background.
//
// It returns an error wrapping the package's ErrInvalidOptions for a bad
// option, naming it (a typed-nil client, a Prefix with braces or glob
// characters, a short Stats.Token, AutoPipeline on a client without an
// auto-pipeliner).
func New(client redis.UniversalClient, opts Options) (*Kit, error) {
	if opts.AutoPipeline && client != nil && !optcheck.TypedNil(client) {
		if _, err := pipe.New(client, true); err != nil {
			return nil, fmt.Errorf("%w: AutoPipeline: %w", fallback.ErrInvalidOptions, err)
		}
	}
	k := &Kit{client: client, opts: opts, log: opts.Logger}
	if k.log == nil {
		k.log = slog.Default()
	}
	so := opts.Stats
	if so.Prefix == "" && opts.Prefix != "" {
		so.Prefix = opts.Prefix + "stats:"
	}
	if so.Logger == nil {
		so.Logger = k.log
	}
	if so.LiveKeys == nil {
		so.LiveKeys = liveKeys{k}
	}
	if so.Token == "" && so.Auth == nil {
		so.Auth = denyAll
	}
	// The recorder asks the monitor for the state and the monitor reports
	// its changes to the recorder: build the recorder first, reading the
	// monitor through a pointer set once it exists.
	var monp atomic.Pointer[fallback.Monitor]
	if so.BackendState == nil {
		so.BackendState = func() string {
			if m := monp.Load(); m != nil {
				return m.State().String()
			}
			return "unknown"
		}
	}
	stats, err := statshttp.New(client, so)
	if err != nil {
		return nil, err
	}
	k.stats, k.obs = stats, stats
	if opts.Observer != nil {
		k.obs = middleware.Observers(stats, opts.Observer)
	}
	mo := opts.Monitor
	if mo.ProbeKey == "" && opts.Prefix != "" {
		mo.ProbeKey = opts.Prefix + "probe"
	}
	if mo.Logger == nil {
		mo.Logger = k.log
	}
	mo.Observer = k.observer(mo.Observer)
	mon, err := fallback.NewMonitor(client, mo)
	if err != nil {
		_ = stats.Close()
		return nil, err
	}
	monp.Store(mon)
	k.mon = mon
	return k, nil
}

// denyAll answers 403 to every request: the stats handlers of a Kit built
// without Stats.Token or Stats.Auth.
var denyAll middleware.Middleware = func(http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		middleware.WriteProblem(w, middleware.Problem{Status: http.StatusForbidden,
			Detail: "stats need redishttp.Options.Stats.Token or Stats.Auth"})
	})
}

// observer returns the Kit's observers followed by a part's own.
func (k *Kit) observer(own middleware.Observer) middleware.Observer {
	if own == nil {
		return k.obs
	}
	return middleware.Observers(k.obs, own)
}

// share fills the fields every part's Options has with the Kit's: the
// monitor and logger unless set, the Kit's observers before the part's own,
// and the Kit's Prefix followed by part unless a prefix is set.
func (k *Kit) share(mon **fallback.Monitor, obs *middleware.Observer, log **slog.Logger, prefix *string, part string) {
	if *mon == nil {
		*mon = k.mon
	}
	*obs = k.observer(*obs)
	if *log == nil {
		*log = k.log
	}
	if *prefix == "" && k.opts.Prefix != "" {
		*prefix = k.opts.Prefix + part
	}
}

// Cache returns a cachehttp.Cache on the Kit's client. Options.Monitor,
// Observer, Logger and Prefix default to the Kit's; its live keys appear
// in the stats report.
func (k *Kit) Cache(opts cachehttp.Options) (*cachehttp.Cache, error) {
	o := opts
	k.share(&o.Monitor, &o.Observer, &o.Logger, &o.Prefix, "cache:")
	o.AutoPipeline = o.AutoPipeline || k.opts.AutoPipeline
	return add(k, &k.caches, func() (*cachehttp.Cache, error) { return cachehttp.New(k.client, o) })
}

// Limiter returns a ratelimithttp.Limiter on the Kit's client.
// Options.Monitor, Observer, Logger and Prefix default to the Kit's.
func (k *Kit) Limiter(opts ratelimithttp.Options) (*ratelimithttp.Limiter, error) {
	o := opts
	k.share(&o.Monitor, &o.Observer, &o.Logger, &o.Prefix, "rl:")
	o.AutoPipeline = o.AutoPipeline || k.opts.AutoPipeline
	return add(k, &k.limits, func() (*ratelimithttp.Limiter, error) { return ratelimithttp.New(k.client, o) })
}

// Locker returns a lockhttp.Locker on the Kit's client. Options.Monitor,
// Observer, Logger and Prefix default to the Kit's. In embedded mode (a nil
// client) OnFailure defaults to fallback.UseMemory, a process-local lock,
// since there is no Redis that could fail.
func (k *Kit) Locker(opts lockhttp.Options) (*lockhttp.Locker, error) {
	o := opts
	k.share(&o.Monitor, &o.Observer, &o.Logger, &o.Prefix, "lock:")
	o.AutoPipeline = o.AutoPipeline || k.opts.AutoPipeline
	if k.client == nil && o.OnFailure == fallback.Default {
		o.OnFailure = fallback.UseMemory
	}
	return add(k, &k.lockers, func() (*lockhttp.Locker, error) { return lockhttp.New(k.client, o) })
}

// add builds a part with build and keeps it for Close, unless the Kit is
// closed.
func add[T any](k *Kit, list *[]T, build func() (T, error)) (T, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var zero T
	if k.closed {
		return zero, ErrClosed
	}
	v, err := build()
	if err != nil {
		return zero, err
	}
	*list = append(*list, v)
	return v, nil
}

// Stats returns the stats recorder every part reports to. Mount its
// StatsHandler, MetricsHandler and DashboardHandler where the application
// wants them; they are protected by Options.Stats.Token or Stats.Auth.
func (k *Kit) Stats() *statshttp.Recorder { return k.stats }

// Monitor returns the health monitor every part shares. Run the
// application's own Redis calls through its Do so that they also fall back
// while Redis is failing and report their failures.
func (k *Kit) Monitor() *fallback.Monitor { return k.mon }

// Close closes every part built from the Kit, in order: lockers (waiting for
// responses still being recorded), limiters, caches, then the stats
// recorder (a last flush) and the monitor. It does not close the Redis
// client. Close is idempotent; the Kit's constructors fail with ErrClosed
// afterwards.
func (k *Kit) Close() error {
	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		return nil
	}
	k.closed = true
	lockers, limits, caches := k.lockers, k.limits, k.caches
	k.mu.Unlock()
	var errs []error
	for _, l := range lockers {
		errs = append(errs, l.Close())
	}
	for _, l := range limits {
		errs = append(errs, l.Close())
	}
	for _, c := range caches {
		errs = append(errs, c.Close())
	}
	errs = append(errs, k.stats.Close(), k.mon.Close())
	return errors.Join(errs...)
}

// liveKeys sums the live keys of the Kit's caches per route for the stats
// report, breaking the cycle between the caches (which report to the
// recorder) and the recorder (which counts their keys).
type liveKeys struct{ k *Kit }

func (l liveKeys) LiveKeys(ctx context.Context) (map[string]int64, error) {
	l.k.mu.Lock()
	caches := append([]*cachehttp.Cache(nil), l.k.caches...)
	l.k.mu.Unlock()
	out := map[string]int64{}
	var errs []error
	for i, c := range caches {
		m, err := c.LiveKeys(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("cache %d: %w", i, err))
		}
		for route, n := range m {
			out[route] += n
		}
	}
	return out, errors.Join(errs...)
}
