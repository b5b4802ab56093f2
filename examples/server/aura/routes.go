package aura

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aura-platform/redishttp/cachehttp"
	"github.com/aura-platform/redishttp/middleware"
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

// routes mounts the handlers behind the Kit's parts. Mutations invalidate
// the entries they change with the cache's InvalidateOnSuccess: after a 2xx,
// before the status line reaches the client, so a read right after a write
// never sees the old entry, on any instance.
func (a *App) routes() (http.Handler, error) {
	rc, err := a.cacheRoutes()
	if err != nil {
		return nil, err
	}
	invalidate := func(tags func(r *http.Request) []string) middleware.Middleware {
		return a.cache.InvalidateOnSuccess(tags, cachehttp.InvalidateOptions{})
	}
	// The user's aura list carries "auras:<user>"; a create or delete
	// changes it.
	aurasTags := func(r *http.Request) []string {
		return []string{"auras:" + middleware.UserFromContext(r.Context())}
	}
	stats := a.kit.Stats()

	api := http.NewServeMux()
	api.Handle("GET /api/weather", rc[PatternWeather].Handler(http.HandlerFunc(a.handleWeather)))
	api.Handle("GET /api/news", rc[PatternNews].Handler(http.HandlerFunc(a.handleNews)))
	api.Handle("GET /api/subscription", rc[PatternSubscription].Handler(http.HandlerFunc(a.handleGetSubscription)))
	api.Handle("PUT /api/subscription", invalidate(userTag)(http.HandlerFunc(a.handlePutSubscription)))
	api.Handle("GET /api/oauth/connections", rc[PatternOAuth].Handler(http.HandlerFunc(a.handleOAuth)))
	api.Handle("POST /api/ai/complete", rc[PatternAI].Handler(http.HandlerFunc(a.handleAI)))
	api.Handle("GET /api/auras", rc[PatternAuras].Handler(http.HandlerFunc(a.handleListAuras)))
	api.Handle("POST /api/auras", a.locks.Handler(invalidate(aurasTags)(http.HandlerFunc(a.handleCreateAura))))
	api.Handle("DELETE /api/auras/{id}", invalidate(aurasTags)(http.HandlerFunc(a.handleDeleteAura)))
	// The user's invalidations above, live (server-sent events).
	api.HandleFunc("GET /api/events", a.handleEvents)
	api.Handle("GET /api/cache/stats", stats.StatsHandler())
	api.Handle("GET /api/cache/dashboard", stats.DashboardHandler())
	api.Handle("POST /api/cache/invalidate", stats.Protect(http.HandlerFunc(a.handleInvalidate)))
	api.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		middleware.Error(w, r, http.StatusNotFound, "no such route")
	})

	root := http.NewServeMux()
	root.HandleFunc("GET /healthz", a.handleHealth)
	root.Handle("GET /metrics", stats.MetricsHandler())
	root.Handle("/api/", a.limits.Handler(api))
	return middleware.Chain(middleware.TrustUserHeader("X-User-ID"))(root), nil
}

func (c Config) lookupOrEmpty() func(string) (string, bool) {
	if c.lookup != nil {
		return c.lookup
	}
	return func(string) (string, bool) { return "", false }
}

// noL1 keeps a route out of the cache's in-process L1 (Route.L1TTL).
const noL1 = -1

// userTag is the tag every per-user entry carries, and the one PUT
// /api/subscription invalidates.
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
		// Weather and news are the hottest: their hits are served from the
		// in-process L1 (Options.L1Bytes) for up to 5s (Options.L1TTL),
		// which every invalidation on any instance drops.
		{Name: PatternWeather, TTL: a.ttl.Weather, StaleIfError: time.Hour, KeyFunc: weatherKey, Anonymous: true},
		{Name: PatternNews, TTL: a.ttl.News, StaleIfError: time.Hour, KeyFunc: newsKey, Anonymous: true},
		{Name: PatternAI, TTL: a.ttl.AI, Methods: []string{http.MethodPost}, KeyFunc: aiKey, MaxRequestBody: maxJSONBody,
			Anonymous: true, L1TTL: noL1},
		// Per-user entries stay out of the L1: a user who changes their
		// data reads it back from Redis on whichever instance they reach.
		{Name: PatternSubscription, TTL: a.ttl.Subscription, PerUser: true, KeyFunc: perUser("subscription"),
			TagFunc: userTag, L1TTL: noL1},
		{Name: PatternOAuth, TTL: a.ttl.OAuth, PerUser: true, KeyFunc: perUser("oauth"), TagFunc: userTag, L1TTL: noL1},
		{Name: PatternAuras, TTL: a.ttl.Subscription, PerUser: true, KeyFunc: perUser("auras"), L1TTL: noL1,
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
