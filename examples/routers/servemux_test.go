package routers_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	rmw "github.com/aura-platform/redishttp/middleware"
)

// http.ServeMux with Go 1.22 patterns: each route wraps its handler; the
// middleware every route shares wraps the whole mux.
func TestServeMux(t *testing.T) {
	a := newApp(t, "servemux")

	mux := http.NewServeMux()
	mux.Handle("GET /api/items/{id}", a.items.Handler(http.HandlerFunc(a.getItem)))
	mux.Handle("GET /api/me", a.me.Handler(http.HandlerFunc(a.getMe)))
	mux.HandleFunc("GET /api/search", a.getSearch)
	mux.Handle("POST /api/orders", a.locks.Handler(http.HandlerFunc(a.postOrder)))
	mux.Handle("PUT /api/items/{id}", a.locks.Handler(http.HandlerFunc(a.putItem)))
	mux.Handle("DELETE /api/items/{id}", a.locks.Handler(http.HandlerFunc(a.deleteItem)))
	mux.Handle("GET /api/cache/stats", a.kit.Stats().StatsHandler())
	h := rmw.Chain(a.session, a.limits.Handler)(mux)

	srv := httptest.NewServer(h)
	defer srv.Close()
	testMounted(t, a, srv.URL)

	// ServeMux sets r.Pattern to the matched pattern: a lock keyed on it
	// (middleware.ByRoute) would make every item contend; ByPath does not.
	if got := a.pattern("2"); got != "PUT /api/items/{id}" {
		t.Errorf("r.Pattern = %q", got)
	}
}
