package redishttp_test

import (
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/alicebob/miniredis/v2"
	"github.com/aura-platform/redishttp"
	"github.com/aura-platform/redishttp/cachehttp"
	"github.com/aura-platform/redishttp/lockhttp"
	rmw "github.com/aura-platform/redishttp/middleware"
	"github.com/aura-platform/redishttp/ratelimithttp"
	"github.com/aura-platform/redishttp/statshttp"
	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/redis/go-redis/v9"
)

// The whole wiring into a chi service that already has its *redis.Client
// and its own session and admin middleware: a shared and a per-user cached
// route, two rate-limit policies, a lock on creation, and the stats behind
// the application's own admin check.
func Example_chi() {
	rdb := existingClient()
	kit, err := redishttp.New(rdb, redishttp.Options{
		Prefix: "shop:",
		Stats:  statshttp.Options{Auth: requireAdmin},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer kit.Close()
	policies, err1 := ratelimithttp.ParsePolicies("burst=20-S,hourly=1000-H")
	limits, err2 := kit.Limiter(ratelimithttp.Options{Policies: policies})
	locks, err3 := kit.Locker(lockhttp.Options{Key: rmw.Join(rmw.ByUser(), rmw.ByHeader("X-Order-Ref"))})
	cache, err4 := kit.Cache(cachehttp.Options{L1Bytes: 16 << 20})
	catalog, err5 := cache.NewRoute(cachehttp.Route{Name: "catalog", Anonymous: true})
	orders, err6 := cache.NewRoute(cachehttp.Route{Name: "orders", PerUser: true})
	if err := errors.Join(err1, err2, err3, err4, err5, err6); err != nil {
		log.Fatal(err)
	}

	r := chi.NewRouter()
	r.Use(middleware.Recoverer, session, limits.Handler)
	r.With(catalog.Handler).Get("/api/catalog", listCatalog)
	r.With(orders.Handler).Get("/api/orders", listOrders)
	r.With(locks.Handler).Post("/api/orders", createOrder)
	r.Mount("/api/cache/stats", kit.Stats().StatsHandler())

	srv := httptest.NewServer(r)
	defer srv.Close()
	for _, path := range []string{"/api/catalog", "/api/catalog", "/api/cache/stats"} {
		res, err := http.Get(srv.URL + path)
		if err != nil {
			log.Fatal(err)
		}
		res.Body.Close()
		fmt.Println(path, res.StatusCode, res.Header.Get("X-Cache"), res.Header.Get("X-RateLimit-Remaining"))
	}
	// Output:
	// /api/catalog 200 MISS 19
	// /api/catalog 200 HIT 18
	// /api/cache/stats 403  17
}

// existingClient stands for the application's own client; here it points
// at an in-process Redis so the example runs anywhere.
func existingClient() *redis.Client {
	mr, err := miniredis.Run()
	if err != nil {
		log.Fatal(err)
	}
	return redis.NewClient(&redis.Options{Addr: mr.Addr(), ContextTimeoutEnabled: true})
}

// session stands for the application's cookie session middleware.
func session(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie("session"); err == nil {
			r = r.WithContext(rmw.WithUser(r.Context(), c.Value))
		}
		next.ServeHTTP(w, r)
	})
}

// requireAdmin stands for the application's own admin check.
func requireAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rmw.UserFromContext(r.Context()) != "admin" {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func listCatalog(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, `["tea","cups"]`) }
func listOrders(w http.ResponseWriter, r *http.Request)  { fmt.Fprintln(w, `[]`) }
func createOrder(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusCreated) }
