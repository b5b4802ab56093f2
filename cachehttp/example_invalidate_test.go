package cachehttp_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/aura-platform/redishttp/cachehttp"
	"github.com/aura-platform/redishttp/middleware"
	"github.com/redis/go-redis/v9"
)

// A mutation route invalidates the user's cached entries after a 2xx, in
// one line. Embedded mode (no Redis) here.
func ExampleCache_InvalidateOnSuccess() {
	cache, err := cachehttp.New(nil, cachehttp.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()
	userTag := func(r *http.Request) []string { return []string{"user:" + middleware.UserFromContext(r.Context())} }
	sub, _ := cache.NewRoute(cachehttp.Route{Name: "subscription", PerUser: true, TagFunc: userTag})
	plan := "free"
	mux := http.NewServeMux()
	mux.Handle("GET /api/subscription", sub.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, plan)
	})))
	mux.Handle("PUT /api/subscription", cache.InvalidateOnSuccess(userTag, cachehttp.InvalidateOptions{})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			plan = "pro"
			w.WriteHeader(http.StatusNoContent)
		})))
	h := middleware.TrustUserHeader("X-User")(mux)
	call := func(method string) {
		r := httptest.NewRequest(method, "/api/subscription", nil)
		r.Header.Set("X-User", "42")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Println(strings.Join(strings.Fields(fmt.Sprint(method, " ", w.Code, " ", w.Header().Get("X-Cache"), " ", w.Body.String())), " "))
	}
	call("GET")
	call("GET")
	call("PUT")
	call("GET")
	// Output:
	// GET 200 MISS free
	// GET 200 HIT free
	// PUT 204
	// GET 200 MISS pro
}

// BumpVersion retires a whole namespace in one command.
func ExampleCache_BumpVersion() {
	mr, err := miniredis.Run()
	if err != nil {
		log.Fatal(err)
	}
	defer mr.Close()
	client := redis.NewClient(&redis.Options{Addr: mr.Addr(), ContextTimeoutEnabled: true})
	defer client.Close()
	cache, err := cachehttp.New(client, cachehttp.Options{Prefix: "example:"})
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()
	ctx := context.Background()
	load := func(v string) func(context.Context) (string, error) {
		return func(context.Context) (string, error) { return v, nil }
	}
	a, _ := cachehttp.GetOrLoad(ctx, cache, "item:7", time.Minute, load("old"), cachehttp.WithNamespace("items"))
	b, _ := cachehttp.GetOrLoad(ctx, cache, "item:7", time.Minute, load("new"), cachehttp.WithNamespace("items"))
	v, _ := cache.BumpVersion(ctx, "items")
	c, _ := cachehttp.GetOrLoad(ctx, cache, "item:7", time.Minute, load("new"), cachehttp.WithNamespace("items"))
	fmt.Println(a, b, v, c)
	// Output: old old 1 new
}

// An RFC 9111 shared cache in front of a reverse proxy: freshness comes
// from the origin's Cache-Control.
func ExampleRoute_rFC9111() {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/private" {
			w.Header().Set("Cache-Control", "private, max-age=60")
		} else {
			w.Header().Set("Cache-Control", "public, s-maxage=60")
		}
		fmt.Fprint(w, "hello")
	}))
	defer origin.Close()
	u, _ := url.Parse(origin.URL)
	cache, err := cachehttp.New(nil, cachehttp.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()
	shared, _ := cache.NewRoute(cachehttp.Route{Name: "proxy", RFC9111: true})
	proxy := shared.Handler(httputil.NewSingleHostReverseProxy(u))
	for _, p := range []string{"/public", "/public", "/private", "/private"} {
		w := httptest.NewRecorder()
		proxy.ServeHTTP(w, httptest.NewRequest("GET", p, nil))
		fmt.Println(p, w.Header().Get("X-Cache"))
	}
	// Output:
	// /public MISS
	// /public HIT
	// /private MISS
	// /private MISS
}
