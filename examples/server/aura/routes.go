package aura

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aura-platform/redishttp/cachehttp"
	"github.com/aura-platform/redishttp/fallback"
	"github.com/aura-platform/redishttp/lockhttp"
	"github.com/aura-platform/redishttp/middleware"
	"github.com/aura-platform/redishttp/ratelimithttp"
	"github.com/aura-platform/redishttp/statshttp"
)

// Pattern names: the route names the stats endpoint reports, as the seed's
// dashboard named them.
const (
	PatternWeather      = "Weather Data"
	PatternNews         = "News"
	PatternSubscription = "Subscriptions"
	PatternOAuth        = "OAuth Connections"
	PatternAI           = "AI Responses"
	PatternAuras        = "Auras"
)

func (a *App) build() error {
	var err error
	if a.ttl, err = LoadTTLClasses(a.cfg.lookupOrEmpty()); err != nil {
		return err
	}
	statsOpts := statshttp.Options{
		Token:  a.cfg.StatsToken,
		Prefix: a.cfg.KeyPrefix + "stats:",
		// Failed admin authentication is counted per client address as
		// the rate limiter sees it (behind TRUSTED_PROXIES, the real
		// client): 10 failures a minute, then 429 until the minute ends.
		ClientIP:  a.ips,
		Patterns:  []string{PatternWeather, PatternNews, PatternSubscription, PatternOAuth, PatternAI, PatternAuras},
		StatsPath: "/api/cache/stats",
		Logger:    a.log,
		LiveKeys: statshttp.LiveKeysFunc(func(ctx context.Context) (map[string]int64, error) {
			if a.cache == nil {
				return nil, nil
			}
			return a.cache.LiveKeys(ctx)
		}),
		BackendState: func() string {
			if a.mon == nil {
				return "unknown"
			}
			return a.mon.State().String()
		},
	}
	if a.stats, err = statshttp.New(a.client, statsOpts); err != nil {
		return err
	}
	a.closers = append(a.closers, a.stats.Close)

	if a.mon, err = fallback.NewMonitor(a.client, fallback.MonitorOptions{
		Logger: a.log, Observer: a.stats, CommandTimeout: a.cfg.CommandTimeout,
		ProbeKey: a.cfg.KeyPrefix + "probe", // under the demo's prefix, like all its keys
	}); err != nil {
		return err
	}
	a.closers = append(a.closers, a.mon.Close)
	if a.client != nil {
		a.store = &redisStore{c: a.client, prefix: a.cfg.KeyPrefix, mon: a.mon}
	} else {
		a.store = newMemStore()
	}

	if a.cache, err = cachehttp.New(a.client, cachehttp.Options{
		Prefix:   a.cfg.KeyPrefix + "cache:",
		Name:     "aura",
		Monitor:  a.mon,
		Observer: a.stats,
		Disabled: a.cfg.CacheDisabled,
		Logger:   a.log,
	}); err != nil {
		return err
	}
	a.closers = append(a.closers, a.cache.Close)

	apiPolicy, err := ratelimithttp.NewPolicy("api", a.cfg.APIRateText)
	if err != nil {
		return err
	}
	auraPolicy, err := ratelimithttp.NewPolicy("auras", a.cfg.AuraRateText)
	if err != nil {
		return err
	}
	if a.limits, err = ratelimithttp.New(a.client, ratelimithttp.Options{
		Policies: []ratelimithttp.Policy{
			apiPolicy,
			auraPolicy.When(ratelimithttp.MethodPath(http.MethodPost, "/api/auras")),
		},
		ClientIP: a.ips,
		Prefix:   a.cfg.KeyPrefix + "rl:",
		Monitor:  a.mon,
		Route:    "api",
		Observer: a.stats,
		Logger:   a.log,
	}); err != nil {
		return err
	}
	a.closers = append(a.closers, a.limits.Close)

	lockOpts := lockhttp.Options{
		Route:    "create_aura",
		Key:      middleware.Join(middleware.ByUser(), createLockKey),
		Prefix:   a.cfg.KeyPrefix + "lock:",
		TTL:      5 * time.Second,
		Monitor:  a.mon,
		Observer: a.stats,
	}
	if a.client == nil {
		// Embedded mode is one process by definition: a local mutex is
		// exactly as strong as a distributed lock here.
		lockOpts.Fallback = lockhttp.LocalMutex
	}
	if a.locks, err = lockhttp.New(a.client, lockOpts); err != nil {
		return err
	}
	a.closers = append(a.closers, a.locks.Close)

	routes, err := a.cacheRoutes()
	if err != nil {
		return err
	}

	api := http.NewServeMux()
	api.Handle("GET /api/weather", routes[PatternWeather].Handler(http.HandlerFunc(a.handleWeather)))
	api.Handle("GET /api/news", routes[PatternNews].Handler(http.HandlerFunc(a.handleNews)))
	api.Handle("GET /api/subscription", routes[PatternSubscription].Handler(http.HandlerFunc(a.handleGetSubscription)))
	api.HandleFunc("PUT /api/subscription", a.handlePutSubscription)
	api.Handle("GET /api/oauth/connections", routes[PatternOAuth].Handler(http.HandlerFunc(a.handleOAuth)))
	api.Handle("POST /api/ai/complete", routes[PatternAI].Handler(http.HandlerFunc(a.handleAI)))
	api.Handle("GET /api/auras", routes[PatternAuras].Handler(http.HandlerFunc(a.handleListAuras)))
	api.Handle("POST /api/auras", a.locks.Handler(http.HandlerFunc(a.handleCreateAura)))
	api.HandleFunc("DELETE /api/auras/{id}", a.handleDeleteAura)
	api.Handle("GET /api/cache/stats", a.stats.StatsHandler())
	api.Handle("GET /api/cache/dashboard", a.stats.DashboardHandler())
	api.Handle("POST /api/cache/invalidate", a.stats.Protect(http.HandlerFunc(a.handleInvalidate)))
	api.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		middleware.Error(w, r, http.StatusNotFound, "no such route")
	})

	root := http.NewServeMux()
	root.HandleFunc("GET /healthz", a.handleHealth)
	root.Handle("GET /metrics", a.stats.MetricsHandler())
	root.Handle("/api/", a.limits.Handler(api))
	a.handler = middleware.Chain(middleware.TrustUserHeader("X-User-ID"))(root)
	return nil
}

func (c Config) lookupOrEmpty() func(string) (string, bool) {
	if c.lookup != nil {
		return c.lookup
	}
	return func(string) (string, bool) { return "", false }
}

// userTag is the tag every per-user entry carries.
func userTag(r *http.Request) []string {
	if u := middleware.UserFromContext(r.Context()); u != "" {
		return []string{"user:" + u}
	}
	return nil
}

func (a *App) cacheRoutes() (map[string]*cachehttp.RouteCache, error) {
	perUser := func(kind string) middleware.KeyFunc {
		return func(r *http.Request) (string, error) {
			u := middleware.UserFromContext(r.Context())
			if u == "" {
				return "", middleware.ErrNoUser
			}
			return kind + ":" + middleware.KeyPart(u), nil
		}
	}
	specs := []cachehttp.Route{
		// Weather, news and AI answers do not depend on who asks: users
		// share one entry (Anonymous), and the fill runs without identity.
		{Name: PatternWeather, TTL: a.ttl.Weather, StaleIfError: time.Hour, KeyFunc: weatherKey, Anonymous: true},
		{Name: PatternNews, TTL: a.ttl.News, StaleIfError: time.Hour, KeyFunc: newsKey, Anonymous: true},
		{Name: PatternSubscription, TTL: a.ttl.Subscription, PerUser: true, KeyFunc: perUser("subscription"), TagFunc: userTag},
		{Name: PatternOAuth, TTL: a.ttl.OAuth, PerUser: true, KeyFunc: perUser("oauth"), TagFunc: userTag},
		{Name: PatternAI, TTL: a.ttl.AI, Methods: []string{http.MethodPost}, KeyFunc: aiKey, MaxRequestBody: maxJSONBody, Anonymous: true},
		{Name: PatternAuras, TTL: a.ttl.Subscription, PerUser: true, KeyFunc: perUser("auras"),
			TagFunc: func(r *http.Request) []string {
				u := middleware.UserFromContext(r.Context())
				return []string{"user:" + u, "auras:" + u}
			}},
	}
	out := make(map[string]*cachehttp.RouteCache, len(specs))
	for _, s := range specs {
		rc, err := a.cache.NewRoute(s)
		if err != nil {
			return nil, err
		}
		out[s.Name] = rc
	}
	return out, nil
}

// weatherKey is the seed's key builder: weather:<lat>:<lon>, rounded to two
// decimals. Invalid coordinates are not cached (the handler answers 400).
func weatherKey(r *http.Request) (string, error) {
	lat, lon, ok := weatherParams(r)
	if !ok {
		return "", middleware.ErrNoKey
	}
	return "weather:" + FormatCoord(lat) + ":" + FormatCoord(lon), nil
}

func newsKey(r *http.Request) (string, error) {
	t, ok := newsTopic(r)
	if !ok {
		return "", middleware.ErrNoKey
	}
	return "news:" + middleware.KeyPart(t), nil
}

// aiKey is ai:<digest of the prompt>. It reads the bounded JSON body and
// leaves it in place for the cache and the handler.
func aiKey(r *http.Request) (string, error) {
	if r.Body == nil {
		return "", middleware.ErrNoKey
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, maxJSONBody+1))
	_ = r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(b))
	if err != nil || len(b) > maxJSONBody {
		return "", middleware.ErrNoKey
	}
	var in struct {
		Prompt string `json:"prompt"`
	}
	if json.Unmarshal(b, &in) != nil || strings.TrimSpace(in.Prompt) == "" {
		return "", middleware.ErrNoKey
	}
	sum := sha256.Sum256([]byte(in.Prompt))
	return "ai:" + hex.EncodeToString(sum[:16]), nil
}

func (a *App) handleCreateAura(w http.ResponseWriter, r *http.Request) {
	user, ok := requireUser(w, r)
	if !ok {
		return
	}
	var in createAuraRequest
	if !readJSON(w, r, &in) {
		return
	}
	name, _, ok := auraName(in.Name)
	if !ok {
		middleware.Error(w, r, http.StatusUnprocessableEntity, "name must be 1-64 letters, digits, spaces or _.'-")
		return
	}
	fence, _ := lockhttp.Fence(r.Context())
	au := Aura{ID: newID(), UserID: user, Name: name, CreatedAt: time.Now().UTC()}
	slow := time.Duration(float64(200*time.Millisecond) * a.cfg.LatencyScale)
	err := a.store.CreateAura(r.Context(), au, fence, slow)
	switch {
	case errors.Is(err, fallback.ErrUnavailable):
		// The breaker was open: nothing was sent, so a retry may run again.
		lockhttp.NotApplied(r.Context())
	case err != nil && !errors.Is(err, ErrAuraExists) && !errors.Is(err, ErrStaleFence):
		// The write may have reached Redis before the error (a timeout
		// while Redis is paused): answering 503, "not done", could be
		// false. Learn the outcome instead.
		err = a.confirmCreate(r.Context(), au, err)
	}
	switch {
	case errors.Is(err, ErrAuraExists), errors.Is(err, ErrStaleFence):
		middleware.Error(w, r, http.StatusConflict, "an aura with this name exists")
		return
	case err != nil:
		storeUnavailable(w, r, "aura store unavailable")
		return
	}
	a.invalidate(r, "auras:"+user)
	w.Header().Set("Location", "/api/auras/"+au.ID)
	writeJSON(w, http.StatusCreated, au)
}

// confirmCreate learns whether au was stored after CreateAura failed with
// cause, polling the store (through the breaker) for up to 5 s: nil when
// au is there, ErrAuraExists when another aura holds its name, cause when
// the store holds neither (then it tells the lock, NotApplied, so a retry
// runs at once) or did not answer in time (the outcome stays unknown, and
// the lock keeps the request's Idempotency-Key claim).
func (a *App) confirmCreate(ctx context.Context, au Aura, cause error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, 500*time.Millisecond) {
		if list, err := a.store.Auras(ctx, au.UserID); err == nil {
			for _, x := range list {
				switch {
				case x.ID == au.ID:
					return nil
				case AuraNameKey(x.Name) == AuraNameKey(au.Name):
					return ErrAuraExists
				}
			}
			lockhttp.NotApplied(ctx)
			return cause
		}
		select {
		case <-ctx.Done():
			return cause
		case <-time.After(wait):
		}
	}
}

// invalidate drops the entries carrying tags. A failure is logged, not
// surfaced: the write succeeded, and entries expire by TTL regardless.
func (a *App) invalidate(r *http.Request, tags ...string) {
	if _, err := a.cache.InvalidateTags(r.Context(), tags...); err != nil {
		a.log.Warn("cache invalidation failed", "tags", len(tags), "error", fallback.SafeError(err))
	}
}

func (a *App) handleInvalidate(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Tags    []string `json:"tags"`
		Pattern string   `json:"pattern"`
	}
	if !readJSON(w, r, &in) {
		return
	}
	if (len(in.Tags) == 0) == (in.Pattern == "") {
		middleware.Error(w, r, http.StatusBadRequest, `send either {"tags": [...]} or {"pattern": "..."}`)
		return
	}
	var n int
	var err error
	if in.Pattern != "" {
		n, err = a.cache.InvalidatePattern(r.Context(), in.Pattern)
	} else {
		n, err = a.cache.InvalidateTags(r.Context(), in.Tags...)
	}
	if errors.Is(err, cachehttp.ErrBadPattern) {
		middleware.Error(w, r, http.StatusBadRequest, "invalid pattern")
		return
	}
	if err != nil {
		w.Header().Set("Retry-After", "1")
		middleware.Error(w, r, http.StatusServiceUnavailable, "invalidation did not complete")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"invalidated": n})
}
