package ratelimithttp_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/aura-platform/redishttp/middleware"
	"github.com/aura-platform/redishttp/ratelimithttp"
	"github.com/redis/go-redis/v9"
	"github.com/ulule/limiter/v3"
)

// Two policies on one limiter: the whole API, and a tighter one for
// creating orders. Without a Redis client the limiter counts in memory.
func Example() {
	api, _ := ratelimithttp.NewPolicy("api", "1000-H")
	order, _ := ratelimithttp.NewPolicy("order", "2-H")
	order.Match = func(r *http.Request) bool { return r.Method == "POST" && r.URL.Path == "/api/orders" }
	rl, err := ratelimithttp.New(nil, ratelimithttp.Options{
		Policies: []ratelimithttp.Policy{api, order},
	})
	if err != nil {
		panic(err)
	}
	defer rl.Close()
	h := rl.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "created")
	}))
	for range 3 {
		r := httptest.NewRequest("POST", "/api/orders", nil)
		r = r.WithContext(middleware.WithUser(r.Context(), "alice"))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Println(w.Code, w.Header().Get("RateLimit-Policy"), w.Header().Get("X-RateLimit-Remaining"), w.Header().Get("Retry-After") != "")
	}
	// Output:
	// 200 "order";q=2;w=3600 1 false
	// 200 "order";q=2;w=3600 0 false
	// 429 "order";q=2;w=3600 0 true
}

// Per-plan limits: the request's tier picks its policy set.
func ExampleOptions_tiers() {
	free, _ := ratelimithttp.NewPolicy("free", "1-M")
	pro, _ := ratelimithttp.NewPolicy("pro", "100-M")
	rl, _ := ratelimithttp.New(nil, ratelimithttp.Options{
		Policies: []ratelimithttp.Policy{free},
		Tiers:    map[string][]ratelimithttp.Policy{"pro": {pro}},
		Tier:     func(r *http.Request) string { return r.Header.Get("X-Plan") },
	})
	defer rl.Close()
	for _, plan := range []string{"", "", "pro"} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("X-Plan", plan)
		res, _ := rl.Check(r)
		s := res.States[res.Tightest]
		fmt.Println(res.Allowed, s.Policy, s.Remaining)
	}
	// Output:
	// true free 0
	// false free 0
	// true pro 99
}

// A sliding-window limiter.Store for code built on ulule/limiter (compiled,
// not run: it needs a Redis server).
func ExampleNewStore() {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer client.Close()
	store, err := ratelimithttp.NewStore(client, ratelimithttp.StoreOptions{Algorithm: ratelimithttp.SlidingWindow})
	if err != nil {
		panic(err)
	}
	lim := limiter.New(store, limiter.Rate{Limit: 10, Period: time.Second})
	c, err := lim.Get(context.Background(), "user-42")
	if err != nil {
		fmt.Println("redis:", err)
		return
	}
	fmt.Println(c.Remaining, c.Reached)
}

// Policies from configuration: "~" selects the sliding window.
func ExampleParsePolicies() {
	ps, err := ratelimithttp.ParsePolicies("burst=~10-S, hourly=1000-H")
	if err != nil {
		panic(err)
	}
	for _, p := range ps {
		fmt.Println(p.Name, p.Rate.Limit, p.Rate.Period, p.Algorithm)
	}
	_, err = ratelimithttp.ParsePolicies("hourly=1000-Y")
	fmt.Println(errors.Is(err, ratelimithttp.ErrBadPolicy))
	// Output:
	// burst 10 1s sliding
	// hourly 1000 1h0m0s fixed
	// true
}
