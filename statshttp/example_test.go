package statshttp_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/aura-platform/redishttp/middleware"
	"github.com/aura-platform/redishttp/statshttp"
)

// A Recorder without Redis counts locally; feature packages report to it
// as their middleware.Observer.
func ExampleNew() {
	rec, err := statshttp.New(nil, statshttp.Options{
		Token:    "a-long-random-stats-token",
		Patterns: []string{"Product Pages"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rec.Close()

	var obs middleware.Observer = rec // what cachehttp & co. are given
	for range 23 {
		obs.Observe(middleware.Event{Kind: middleware.CacheHit, Route: "Product Pages", Value: 1})
	}
	obs.Observe(middleware.Event{Kind: middleware.CacheMiss, Route: "Product Pages", Value: 1})
	obs.Observe(middleware.Event{Kind: middleware.CacheMiss, Route: "Product Pages", Value: 1})

	req := httptest.NewRequest(http.MethodGet, "/api/cache/stats", nil)
	req.Header.Set("Authorization", "Bearer a-long-random-stats-token")
	w := httptest.NewRecorder()
	rec.StatsHandler().ServeHTTP(w, req)
	var rep struct {
		Source   string
		Patterns []struct {
			Name         string
			Hits, Misses int64
			HitRate      string
		}
	}
	_ = json.Unmarshal(w.Body.Bytes(), &rep)
	p := rep.Patterns[0]
	fmt.Println(rep.Source, p.Name, p.Hits, p.Misses, p.HitRate)
	// Output: local Product Pages 23 2 92%
}

// The handlers need the bearer token; without it they answer 401.
func ExampleRecorder_StatsHandler() {
	rec, _ := statshttp.New(nil, statshttp.Options{Token: "a-long-random-stats-token"})
	defer rec.Close()
	mux := http.NewServeMux()
	mux.Handle("/api/cache/stats", rec.StatsHandler())
	mux.Handle("/metrics", rec.MetricsHandler())
	mux.Handle("/dashboard", rec.DashboardHandler())

	for _, token := range []string{"", "a-long-random-stats-token"} {
		req := httptest.NewRequest(http.MethodGet, "/api/cache/stats", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, req)
		fmt.Println(w.Code, w.Header().Get("Content-Type"))
	}
	// Output:
	// 401 application/problem+json
	// 200 application/json
}

// New refuses to build unprotected handlers unless asked explicitly.
func ExampleNew_auth() {
	_, err := statshttp.New(nil, statshttp.Options{})
	fmt.Println(err)

	open := func(h http.Handler) http.Handler { return h } // explicit: no auth
	rec, err := statshttp.New(nil, statshttp.Options{Auth: open})
	fmt.Println(err)
	rec.Close()
	// Output:
	// statshttp: invalid options: no Token and no Auth middleware
	// <nil>
}
