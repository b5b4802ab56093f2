package redishttp_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aura-platform/redishttp"
	"github.com/aura-platform/redishttp/cachehttp"
	"github.com/aura-platform/redishttp/fallback"
	"github.com/aura-platform/redishttp/internal/redistest"
	"github.com/aura-platform/redishttp/lockhttp"
	rmw "github.com/aura-platform/redishttp/middleware"
	"github.com/aura-platform/redishttp/ratelimithttp"
	"github.com/aura-platform/redishttp/statshttp"
	"github.com/redis/go-redis/v9"
	"github.com/ulule/limiter/v3"
)

const token = "kit-test-token-0123456789"

// stack builds the four features from one Kit over client and returns a
// handler: rate limit, then a lock on POST, then a cached GET.
func stack(t *testing.T, kit *redishttp.Kit) http.Handler {
	t.Helper()
	policies, err := ratelimithttp.ParsePolicies("burst=1000-S,hourly=100000-H")
	if err != nil {
		t.Fatal(err)
	}
	limits, err := kit.Limiter(ratelimithttp.Options{Policies: policies, Route: "api"})
	if err != nil {
		t.Fatal(err)
	}
	locks, err := kit.Locker(lockhttp.Options{Route: "create"})
	if err != nil {
		t.Fatal(err)
	}
	cache, err := kit.Cache(cachehttp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	products, err := cache.NewRoute(cachehttp.Route{Name: "products", Anonymous: true, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /api/products", products.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`["tea"]`))
	})))
	mux.Handle("POST /api/products", locks.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
	})))
	mux.Handle("/api/cache/stats", kit.Stats().StatsHandler())
	return limits.Handler(mux)
}

func do(t *testing.T, h http.Handler, method, path string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// TestKitSharesOneMonitorAndRecorder: every part built from a Kit reports
// to its one recorder, writes under its prefix, and the recorder counts the
// caches' live keys without any wiring by the user.
func TestKitSharesOneMonitorAndRecorder(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		kit, err := redishttp.New(tg.Client, redishttp.Options{Prefix: tg.Prefix, Stats: statshttp.Options{Token: token}})
		if err != nil {
			t.Fatal(err)
		}
		defer kit.Close()
		h := stack(t, kit)
		if got := do(t, h, "GET", "/api/products").Header().Get("X-Cache"); got != "MISS" {
			t.Fatalf("first GET: X-Cache %q", got)
		}
		if got := do(t, h, "GET", "/api/products").Header().Get("X-Cache"); got != "HIT" {
			t.Fatalf("second GET: X-Cache %q", got)
		}
		if c := do(t, h, "POST", "/api/products").Code; c != http.StatusCreated {
			t.Fatalf("POST: %d", c)
		}
		if c := do(t, h, "GET", "/api/cache/stats").Code; c != http.StatusUnauthorized {
			t.Fatalf("stats without token: %d", c)
		}
		if err := kit.Stats().Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		w := do(t, h, "GET", "/api/cache/stats", "Authorization", "Bearer "+token)
		var rep struct {
			Patterns []struct {
				Name                string
				Count, Hits, Misses int64
			}
			RateLimit struct{ Allowed int64 }
			Locks     struct{ Acquired int64 }
			Backend   struct{ State string }
		}
		if err := json.Unmarshal(w.Body.Bytes(), &rep); err != nil {
			t.Fatalf("%v: %s", err, w.Body)
		}
		var p *struct {
			Name                string
			Count, Hits, Misses int64
		}
		for i := range rep.Patterns {
			if rep.Patterns[i].Name == "products" {
				p = &rep.Patterns[i]
			}
		}
		if p == nil || p.Hits != 1 || p.Misses != 1 || p.Count != 1 {
			t.Fatalf("products pattern %+v in %s", p, w.Body)
		}
		if rep.RateLimit.Allowed < 4 || rep.Locks.Acquired != 1 {
			t.Fatalf("rate limit / locks not reported: %s", w.Body)
		}
		if rep.Backend.State != "redis" {
			t.Fatalf("backend state %q", rep.Backend.State)
		}
		// The parts write under the Kit's prefix, each in its own part of
		// it. (Other packages' tests share the server, so keys outside
		// this test's prefix are not ours to judge.)
		keys := redistest.Keys(t, tg.Client, tg.Prefix+"*")
		if len(keys) == 0 {
			t.Fatal("no keys written under the kit's prefix")
		}
		for _, k := range keys {
			rest := strings.TrimPrefix(k, tg.Prefix)
			if !strings.HasPrefix(rest, "cache:") && !strings.HasPrefix(rest, "rl:") && !strings.HasPrefix(rest, "lock:") &&
				!strings.HasPrefix(rest, "stats:") && !strings.HasPrefix(rest, "probe") {
				t.Errorf("key %q outside the parts' prefixes", k)
			}
		}
		for _, part := range []string{"cache:", "rl:", "lock:", "stats:"} {
			if len(redistest.Keys(t, tg.Client, tg.Prefix+part+"*")) == 0 {
				t.Errorf("no key under %q", tg.Prefix+part)
			}
		}
	})
}

// TestKitEmbedded: with no Redis at all the same wiring works in memory,
// the locker included.
func TestKitEmbedded(t *testing.T) {
	kit, err := redishttp.New(nil, redishttp.Options{Stats: statshttp.Options{Token: token}})
	if err != nil {
		t.Fatal(err)
	}
	defer kit.Close()
	h := stack(t, kit)
	do(t, h, "GET", "/api/products")
	if got := do(t, h, "GET", "/api/products").Header().Get("X-Cache"); got != "HIT" {
		t.Fatalf("X-Cache %q", got)
	}
	if c := do(t, h, "POST", "/api/products").Code; c != http.StatusCreated {
		t.Fatalf("POST: %d", c)
	}
	if s := kit.Monitor().State(); s != fallback.StateMemory {
		t.Fatalf("state %s", s)
	}
}

// TestKitNoIO: New and every constructor return at once against a server
// that accepts connections and never answers, and requests are served
// (from memory) once the shared monitor has seen the outage.
func TestKitNoIO(t *testing.T) {
	addr := redistest.Unresponsive(t)
	client := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true, MaxRetries: -1})
	defer client.Close()
	start := time.Now()
	kit, err := redishttp.New(client, redishttp.Options{Monitor: fallback.MonitorOptions{CommandTimeout: 2 * time.Second}, Stats: statshttp.Options{Token: token}})
	if err != nil {
		t.Fatal(err)
	}
	h := stack(t, kit)
	if d := time.Since(start); d >= time.Second {
		t.Fatalf("building the kit took %v: a constructor waited for Redis", d)
	}
	deadline := time.Now().Add(5 * time.Second)
	for kit.Monitor().State() != fallback.StateDegraded && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if s := kit.Monitor().State(); s != fallback.StateDegraded {
		t.Fatalf("state %s", s)
	}
	if c := do(t, h, "GET", "/api/products").Code; c != http.StatusOK {
		t.Fatalf("GET while degraded: %d", c)
	}
	if c := do(t, h, "POST", "/api/products").Code; c != http.StatusServiceUnavailable {
		t.Fatalf("POST while degraded: %d, want 503 (locks fail closed)", c)
	}
	_ = kit.Close()
}

// TestKitOptionsAndClose: bad options are named errors, parts given their
// own prefix keep it, and after Close the constructors refuse.
func TestKitOptionsAndClose(t *testing.T) {
	var nilClient *redis.Client
	if _, err := redishttp.New(nilClient, redishttp.Options{}); !errors.Is(err, statshttp.ErrInvalidOptions) && !errors.Is(err, fallback.ErrInvalidOptions) {
		t.Fatalf("typed-nil client: %v", err)
	}
	if _, err := redishttp.New(nil, redishttp.Options{Prefix: "a{b}:"}); err == nil {
		t.Fatal("a prefix with braces was accepted")
	}
	if _, err := redishttp.New(nil, redishttp.Options{Stats: statshttp.Options{Token: "short"}}); !errors.Is(err, statshttp.ErrInvalidOptions) {
		t.Fatalf("short token: %v", err)
	}
	kit, err := redishttp.New(nil, redishttp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := kit.Stats().StatsHandler()
	if c := do(t, h, "GET", "/").Code; c != http.StatusForbidden {
		t.Fatalf("stats without Token or Auth: %d, want 403", c)
	}
	if err := kit.Close(); err != nil {
		t.Fatal(err)
	}
	if err := kit.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	if _, err := kit.Cache(cachehttp.Options{}); !errors.Is(err, redishttp.ErrClosed) {
		t.Fatalf("Cache after Close: %v", err)
	}
	if _, err := kit.Limiter(ratelimithttp.Options{Policies: []ratelimithttp.Policy{{Name: "a", Rate: mustRate(t)}}}); !errors.Is(err, redishttp.ErrClosed) {
		t.Fatalf("Limiter after Close: %v", err)
	}
	if _, err := kit.Locker(lockhttp.Options{Key: rmw.Static("k")}); !errors.Is(err, redishttp.ErrClosed) {
		t.Fatalf("Locker after Close: %v", err)
	}
}

func mustRate(t *testing.T) limiter.Rate {
	t.Helper()
	p, err := ratelimithttp.NewPolicy("a", "1-S")
	if err != nil {
		t.Fatal(err)
	}
	return p.Rate
}
