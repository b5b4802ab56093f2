package cachehttp_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/aura-platform/redishttp/cachehttp"
	"github.com/aura-platform/redishttp/middleware"
	"github.com/redis/go-redis/v9"
)

// The middleware on http.ServeMux, backed by Redis (here an in-process
// miniredis).
func ExampleRouteCache_Handler() {
	mr, err := miniredis.Run()
	if err != nil {
		log.Fatal(err)
	}
	defer mr.Close()
	client := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer client.Close()

	cache, err := cachehttp.New(client, cachehttp.Options{Prefix: "example:"})
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()
	products, err := cache.NewRoute(cachehttp.Route{Name: "products", TTL: 10 * time.Minute})
	if err != nil {
		log.Fatal(err)
	}
	calls := 0
	mux := http.NewServeMux()
	mux.Handle("GET /api/products", products.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"sku":%q,"price":21}`, r.URL.Query().Get("sku"))
	})))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	for range 2 {
		resp, err := http.Get(srv.URL + "/api/products?sku=A1")
		if err != nil {
			log.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.Header.Get("X-Cache"), string(body))
	}
	fmt.Println("handler calls:", calls)
	// Output:
	// MISS {"sku":"A1","price":21}
	// HIT {"sku":"A1","price":21}
	// handler calls: 1
}

// The typed get-or-load, in embedded in-memory mode (nil client).
func ExampleGetOrLoad() {
	cache, err := cachehttp.New(nil, cachehttp.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()
	type Price struct {
		SKU    string
		Amount float64
	}
	ctx := context.Background()
	for range 2 {
		p, err := cachehttp.GetOrLoad(ctx, cache, "price:A1", 10*time.Minute,
			func(ctx context.Context) (Price, error) {
				fmt.Println("calling the pricing service")
				return Price{SKU: "A1", Amount: 21}, nil
			}, cachehttp.WithRoute("prices"), cachehttp.WithTags("sku:A1"))
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s %.2f\n", p.SKU, p.Amount)
	}
	n, _ := cache.InvalidateTags(ctx, "sku:A1")
	fmt.Println("invalidated:", n)
	// Output:
	// calling the pricing service
	// A1 21.00
	// A1 21.00
	// invalidated: 1
}

// Per-user routes tagged with the user, cleared after a data update.
func ExampleCache_InvalidateTags() {
	cache, _ := cachehttp.New(nil, cachehttp.Options{})
	defer cache.Close()
	profile, _ := cache.NewRoute(cachehttp.Route{
		Name:    "Subscription",
		TTL:     5 * time.Minute,
		PerUser: true,
		TagFunc: func(r *http.Request) []string { return []string{"user:" + middleware.UserFromContext(r.Context())} },
	})
	plan := "free"
	h := middleware.TrustUserHeader("X-User-ID")(profile.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, plan)
	})))
	get := func() string {
		r := httptest.NewRequest("GET", "/api/subscription", nil)
		r.Header.Set("X-User-ID", "42")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Header().Get("X-Cache") + " " + w.Body.String()
	}
	fmt.Println(get())
	plan = "pro"
	fmt.Println(get())
	_, _ = cache.InvalidateTags(context.Background(), "user:42")
	fmt.Println(get())
	// Output:
	// MISS free
	// HIT free
	// MISS pro
}

// Identity on a shared route. A request that carries an identity (a user
// in its context, a Cookie, an Authorization header) bypasses a shared
// route, so nobody is served a page personalised for someone else. A route
// whose responses do not depend on who asks says so with Anonymous: every
// request is served the shared entry, filled with no identity at all.
func ExampleRoute_anonymous() {
	cache, err := cachehttp.New(nil, cachehttp.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()
	greet := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := middleware.UserFromContext(r.Context())
		if name == "" {
			name = "anonymous"
		}
		fmt.Fprint(w, "hello ", name)
	})
	// The application's session middleware, in front of the cache.
	session := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if c, err := r.Cookie("session"); err == nil {
				r = r.WithContext(middleware.WithUser(r.Context(), c.Value))
			}
			next.ServeHTTP(w, r)
		})
	}
	shared, _ := cache.NewRoute(cachehttp.Route{Name: "greeting"})
	public, _ := cache.NewRoute(cachehttp.Route{Name: "catalog", Anonymous: true})
	get := func(h http.Handler, path string, hdr ...string) {
		r := httptest.NewRequest("GET", path, nil)
		if len(hdr) == 2 {
			r.Header.Set(hdr[0], hdr[1])
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Printf("%-7s %s\n", w.Header().Get("X-Cache"), w.Body.String())
	}
	h := session(shared.Handler(greet))
	get(h, "/greeting", "Cookie", "session=alice")
	get(h, "/greeting", "Cookie", "session=bob")
	get(h, "/greeting")
	get(h, "/greeting")

	h = session(public.Handler(greet))
	get(h, "/catalog", "Cookie", "session=alice")
	get(h, "/catalog", "Authorization", "Bearer token-of-bob")
	get(h, "/catalog")
	// Output:
	// BYPASS  hello alice
	// BYPASS  hello bob
	// MISS    hello anonymous
	// HIT     hello anonymous
	// MISS    hello anonymous
	// HIT     hello anonymous
	// HIT     hello anonymous
}
