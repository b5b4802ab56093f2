package cachehttp

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aura-platform/redishttp/fallback"
	"github.com/aura-platform/redishttp/internal/memory"
	"github.com/aura-platform/redishttp/internal/optcheck"
	"github.com/aura-platform/redishttp/internal/pipe"
	"github.com/aura-platform/redishttp/middleware"
	"github.com/redis/go-redis/v9"
)

// Defaults of Options, stated in each field's documentation.
const (
	defaultPrefix        = "cache:"
	defaultName          = "redishttp"
	defaultLeaseTTL      = 5 * time.Second
	defaultFillWait      = 3 * time.Second
	defaultMaxLoadTime   = 2 * time.Minute
	defaultClusterGroups = 64 // on a *redis.ClusterClient; a single node uses one group
)

// Options configures a Cache. The zero value works; every field documents its
// default. New validates it once and never writes into it.
type Options struct {
	// Prefix namespaces every key the cache writes. Default "cache:". It must
	// not contain '{', '}', glob characters (* ? [ ] \) or control bytes.
	Prefix string
	// Name is this cache's name in the Cache-Status header. Default
	// "redishttp".
	Name string
	// Monitor decides whether Redis is used; while it reports Redis
	// unavailable, the cache serves from its in-memory backend. Default: a
	// monitor created for the client with fallback.MonitorOptions{} and
	// closed by Close (none for a nil client: embedded mode).
	Monitor *fallback.Monitor
	// MemoryBytes bounds the in-memory store the cache uses while Redis is
	// unavailable and in embedded mode. Default 64 MiB. An entry weighs its key, its
	// value and the tag index's bookkeeping for it (a few hundred bytes per
	// tag), so entries with many tags leave room for fewer entries.
	MemoryBytes int64
	// Observer receives the cache's events (route name, never a key).
	// Default none.
	Observer middleware.Observer
	// Disabled turns caching off: the middleware passes every request
	// through with X-Cache: BYPASS and GetOrLoad calls the loader every
	// time. Default false.
	Disabled bool
	// Groups is the number of Redis Cluster hash-tag groups keys are spread
	// over ({g0} … {gN-1}); every key one store or invalidation touches is
	// in one group, so tag membership is written atomically with the entry
	// on a cluster too. Default 1 for a single node, 64 for a
	// *redis.ClusterClient. InvalidateTags costs one script run per group.
	Groups int
	// LeaseTTL is the lifetime of a fill lease: how long other instances
	// wait for a loader that holds it before calling the handler themselves
	// if it dies. Default 5s.
	LeaseTTL time.Duration
	// FillWait bounds how long a request waits for another instance's fill
	// before calling the handler itself. Default 3s.
	FillWait time.Duration
	// MaxLoadTime is the longest a load may take and still be stored (tag
	// invalidation stamps live this long); slower results are served but not
	// cached. Default 2m.
	MaxLoadTime time.Duration
	// Logger receives background errors (refreshes). Default slog.Default().
	Logger *slog.Logger

	// Schema is a build or payload-schema identifier (a version string, a
	// hash of the response types): entries stored under one Schema are
	// never read under another, so a deploy that changes a payload's shape
	// starts from an empty cache while tag invalidations still reach both.
	// Default "" (none).
	Schema string
	// VersionRefresh is how long a namespace version (BumpVersion) read
	// from Redis is trusted in-process when no coherence log reader
	// pushes bumps. Default 1s.
	VersionRefresh time.Duration
	// L1Bytes enables an in-process L1 of decoded entries in front of
	// Redis, bounded by this many bytes (W-TinyLFU), so a hot hit costs no
	// round trip. It turns Coherence on. Default 0 (no L1). Ignored in
	// embedded mode (nil client), whose store is in-process already. As
	// with MemoryBytes, the tag index's bookkeeping counts against it.
	L1Bytes int64
	// L1TTL is the longest an entry stays in the L1 (never past its
	// freshness), unless Route.L1TTL says otherwise. Default 5s.
	L1TTL time.Duration
	// Coherence makes this cache follow the invalidation log on Redis (a
	// stream, "<prefix>{inv}log", read with XREAD BLOCK on a connection of
	// its own), so invalidations made by any instance drop this one's L1
	// entries and namespace versions are pushed, and makes every store log
	// an overwrite of its key. Invalidations are always logged. After a
	// disconnection the reader applies what it missed and keeps the rest of
	// the L1 (bypassed meanwhile); only entries it can no longer read
	// (trimmed away, or Redis restarted empty) flush the L1. Default: on
	// when L1Bytes > 0.
	Coherence bool
	// CoherencePing is how long one read of the invalidation log waits for
	// new entries; an idle instance sends one command per interval. A read
	// that has not returned within CoherencePing plus the monitor's command
	// timeout (a silently dead connection) is treated as a disconnection.
	// Default 25s (under fallback's 30 s idle probe).
	CoherencePing time.Duration
	// CoherenceLog is the length the invalidation log is trimmed to
	// (approximately: MAXLEN ~). An instance that was disconnected misses
	// nothing while fewer entries than this were logged meanwhile: at R
	// invalidations and stores per second (stores count with Coherence on)
	// it covers CoherenceLog/R seconds, 100 s for the default at 100/s;
	// beyond that its L1 is flushed once. Each entry weighs its key names or
	// tags plus about 30 bytes. Default 10000.
	CoherenceLog int
	// AutoPipeline sends the per-request commands (entry reads, fills,
	// lease releases) through the client's go-redis auto-pipeliner, which
	// writes the commands of concurrent requests to Redis together and
	// reads their replies together: fewer system calls per request under
	// concurrency. It is the client's own AsyncAutoPipeline (tuned by the
	// client's Options.AutoPipelineOptions; a *redis.Ring has none and is
	// refused). A command still waits no longer than its timeout.
	// Invalidations and SCANs are not pipelined. Default false.
	AutoPipeline bool
}

// Cache is a Redis-backed response and data cache. It is safe for
// concurrent use. Build per-route middleware with NewRoute and typed
// get-or-load calls with GetOrLoad.
type Cache struct {
	opts    Options
	l       layout
	client  redis.UniversalClient
	mon     *fallback.Monitor
	ownMon  bool
	mem     *memory.Store
	redis   *redisBackend
	memory  *memoryBackend
	flights *flights
	memo    *memo
	now     func() time.Time

	routesMu sync.Mutex
	routes   map[string]struct{}

	usedMemory atomic.Bool
	refreshing sync.Map // key name -> struct{}: background refreshes in flight
	bg         sync.WaitGroup
	ctx        context.Context // cancelled by Close
	cancel     context.CancelFunc
	closed     atomic.Bool
	closeOnce  sync.Once

	// Versioning, L1 and coherence (version.go, l1.go, coherence.go).
	vers         versions
	schemaSuffix string
	l1           *l1Cache
	coh          *coherence
	cohUp        atomic.Bool
	applyMu      sync.Mutex // serializes applyMsg (coherence.go)

	// Headers precomputed from Name.
	statusHit, statusStale, statusMiss, statusBypass, statusCollapsed string
	statusValues                                                      map[string][]string
}

// statusValue returns a shared Cache-Status header value.
func (c *Cache) statusValue(s string) []string {
	if v, ok := c.statusValues[s]; ok {
		return v
	}
	return []string{s}
}

// New returns a cache over client (nil: embedded in-memory mode). A bad
// option is reported as an error wrapping ErrInvalidOptions that names the
// field; a typed-nil client (a nil *redis.Client passed as
// redis.UniversalClient) is reported the same way, naming client.
func New(client redis.UniversalClient, opts Options) (*Cache, error) {
	o := opts
	if err := optcheck.First(
		optcheck.Client(ErrInvalidOptions, "client", client),
		optcheck.Prefix(ErrInvalidOptions, "Prefix", o.Prefix),
	); err != nil {
		return nil, err
	}
	if o.Prefix == "" {
		o.Prefix = defaultPrefix
	}
	if o.Name == "" {
		o.Name = defaultName
	}
	if strings.ContainsAny(o.Name, ";,\"\r\n") {
		return nil, fmt.Errorf("%w: Name %q is not a valid Cache-Status token", ErrInvalidOptions, o.Name)
	}
	if err := optcheck.First(
		optcheck.NonNegative(ErrInvalidOptions, "MemoryBytes", o.MemoryBytes),
		optcheck.NonNegative(ErrInvalidOptions, "Groups", o.Groups),
		optcheck.Duration(ErrInvalidOptions, "LeaseTTL", o.LeaseTTL),
		optcheck.Duration(ErrInvalidOptions, "FillWait", o.FillWait),
		optcheck.Duration(ErrInvalidOptions, "MaxLoadTime", o.MaxLoadTime),
		optcheck.Duration(ErrInvalidOptions, "VersionRefresh", o.VersionRefresh),
		optcheck.NonNegative(ErrInvalidOptions, "L1Bytes", o.L1Bytes),
		optcheck.Duration(ErrInvalidOptions, "L1TTL", o.L1TTL),
		optcheck.Duration(ErrInvalidOptions, "CoherencePing", o.CoherencePing),
		optcheck.NonNegative(ErrInvalidOptions, "CoherenceLog", o.CoherenceLog),
	); err != nil {
		return nil, err
	}
	if o.Groups == 0 {
		o.Groups = 1
		if _, ok := client.(*redis.ClusterClient); ok {
			o.Groups = defaultClusterGroups
		}
	}
	if o.LeaseTTL == 0 {
		o.LeaseTTL = defaultLeaseTTL
	}
	if o.FillWait == 0 {
		o.FillWait = defaultFillWait
	}
	if o.MaxLoadTime == 0 {
		o.MaxLoadTime = defaultMaxLoadTime
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.VersionRefresh == 0 {
		o.VersionRefresh = defaultVersionRefresh
	}
	if o.L1TTL == 0 {
		o.L1TTL = defaultL1TTL
	}
	if o.CoherencePing == 0 {
		o.CoherencePing = defaultCoherencePing
	}
	if o.CoherenceLog == 0 {
		o.CoherenceLog = defaultCoherenceLog
	}
	if client == nil {
		o.L1Bytes, o.Coherence = 0, false
	}
	if o.L1Bytes > 0 {
		o.Coherence = true
	}
	var run *pipe.Runner
	if client != nil {
		var err error
		if run, err = pipe.New(client, o.AutoPipeline); err != nil {
			return nil, fmt.Errorf("%w: AutoPipeline: %w", ErrInvalidOptions, err)
		}
	}
	c := &Cache{
		opts: o, l: layout{prefix: o.Prefix, groups: o.Groups}, client: client,
		flights: newFlights(), memo: newMemo(), now: time.Now, routes: make(map[string]struct{}),
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.vers.m = make(map[string]nsVersion)
	c.schemaSuffix = schemaSuffixOf(o.Schema)
	c.mon = o.Monitor
	if c.mon == nil {
		mon, err := fallback.NewMonitor(client, fallback.MonitorOptions{})
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidOptions, err)
		}
		c.mon = mon
		c.ownMon = true
	}
	c.mem = memory.NewStore(o.MemoryBytes)
	now := func() time.Time { return c.now() }
	if client != nil {
		c.redis = &redisBackend{c: client, r: run, l: c.l, stampLife: o.MaxLoadTime, now: now,
			logKey: c.l.logKey(), logMax: strconv.Itoa(o.CoherenceLog), logErr: c.logAppendFailed}
		switch client.(type) {
		case *redis.ClusterClient, *redis.Ring:
			// The log is in a slot (or shard) of its own: appended from Go.
		default:
			c.redis.inScript = true
		}
	}
	c.memory = newMemoryBackend(c.mem, c.l, o.MaxLoadTime, now)
	if o.L1Bytes > 0 {
		c.l1 = newL1(o.L1Bytes, now)
	}
	if o.Coherence {
		c.redis.storeLog = true
		c.redis.origin = newOrigin()
		if c.l1 != nil {
			c.redis.stored = func(name string) { c.l1DropNames(name) }
		}
		c.startCoherence()
	}
	c.statusHit = o.Name + "; hit"
	c.statusStale = o.Name + "; hit; fwd=stale"
	c.statusMiss = o.Name + "; fwd=uri-miss"
	c.statusBypass = o.Name + "; fwd=bypass"
	c.statusCollapsed = o.Name + "; fwd=uri-miss; collapsed"
	c.statusValues = map[string][]string{}
	for _, s := range []string{c.statusHit, c.statusStale, c.statusMiss, c.statusBypass, c.statusCollapsed} {
		c.statusValues[s] = []string{s}
	}
	return c, nil
}

// Close stops background refreshes (waiting for them) and closes the
// monitor and memory store the cache created itself. It does not close the
// client. Close is idempotent.
func (c *Cache) Close() error {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		c.cancel()
		c.bg.Wait()
		if c.coh != nil {
			c.coh.stop()
		}
		if c.l1 != nil {
			c.l1Flush()
			c.l1.c.StopAllGoroutines()
		}
		if c.ownMon {
			_ = c.mon.Close()
		}
		c.memory.close()
		_ = c.mem.Close()
	})
	return nil
}

// pick returns the backend to use now and whether it is Redis.
func (c *Cache) pick() (backend, bool) {
	if c.redis != nil && c.mon.Available() {
		if c.usedMemory.Load() && c.usedMemory.Swap(false) {
			// Back on Redis: entries written to memory during the outage
			// missed every invalidation made elsewhere meanwhile.
			c.mem.Clear()
		}
		return c.redis, true
	}
	if !c.usedMemory.Load() {
		c.usedMemory.Store(true)
	}
	return c.memory, false
}

// redisCtx bounds a Redis call by the monitor's command timeout, detached
// from the request's cancellation (a coalesced read serves other requests).
func (c *Cache) redisCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), c.mon.CommandTimeout())
}

// report tells the monitor how a Redis call went and emits CacheError.
func (c *Cache) report(ctx context.Context, onRedis bool, route string, err error) {
	if !onRedis {
		return
	}
	c.mon.Report(ctx, err)
	if err != nil {
		c.emit(middleware.CacheError, route)
	}
}

func (c *Cache) emit(kind middleware.EventKind, route string) {
	if c.opts.Observer != nil {
		c.opts.Observer.Observe(middleware.Event{Kind: kind, Route: route, Value: 1})
	}
}

func (c *Cache) emitN(kind middleware.EventKind, route string, n int64) {
	if c.opts.Observer != nil {
		c.opts.Observer.Observe(middleware.Event{Kind: kind, Route: route, Value: n})
	}
}

func (c *Cache) register(route string) {
	c.routesMu.Lock()
	c.routes[route] = struct{}{}
	c.routesMu.Unlock()
}

func (c *Cache) routeNames() []string {
	c.routesMu.Lock()
	defer c.routesMu.Unlock()
	out := make([]string, 0, len(c.routes))
	for r := range c.routes {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

// LiveKeys returns the number of live (unexpired, not invalidated) entries
// per route name known to this process (routes built with NewRoute and names
// used with GetOrLoad or Set), for a stats endpoint. On Redis it costs one
// pipelined ZCOUNT per route and group, no SCAN; each store records the key
// in a per-route sorted set scored by expiry, and deletions remove it.
func (c *Cache) LiveKeys(ctx context.Context) (map[string]int64, error) {
	routes := c.routeNames()
	b, onRedis := c.pick()
	if !onRedis {
		return b.liveKeys(ctx, routes)
	}
	rctx, cancel := context.WithTimeout(ctx, 10*c.mon.CommandTimeout())
	defer cancel()
	m, err := b.liveKeys(rctx, routes)
	c.mon.Report(rctx, err)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", fallback.ErrUnavailable, err)
	}
	return m, nil
}
