package routers_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gorilla/mux"
)

// gorilla/mux: shared middleware with r.Use, an /api subrouter, and
// per-route middleware by wrapping the route's handler. gorilla/mux runs
// r.Use middleware only for requests that matched a route, after routing.
func TestGorillaMux(t *testing.T) {
	a := newApp(t, "gorilla")

	r := mux.NewRouter()
	r.Use(a.session, a.limits.Handler)
	api := r.PathPrefix("/api").Subrouter()
	api.Handle("/items/{id}", a.items.Handler(http.HandlerFunc(a.getItem))).Methods(http.MethodGet)
	api.Handle("/me", a.me.Handler(http.HandlerFunc(a.getMe))).Methods(http.MethodGet)
	api.HandleFunc("/search", a.getSearch).Methods(http.MethodGet)
	api.Handle("/orders", a.locks.Handler(http.HandlerFunc(a.postOrder))).Methods(http.MethodPost)
	writes := api.Methods(http.MethodPut, http.MethodDelete).Subrouter()
	writes.Use(a.locks.Handler)
	writes.HandleFunc("/items/{id}", a.putItem).Methods(http.MethodPut)
	writes.HandleFunc("/items/{id}", a.deleteItem).Methods(http.MethodDelete)
	api.Handle("/cache/stats", a.kit.Stats().StatsHandler()).Methods(http.MethodGet)

	srv := httptest.NewServer(r)
	defer srv.Close()
	testMounted(t, a, srv.URL)

	// r.Use runs after routing, only for matched routes: a 404 or a 405
	// is not rate limited (wrap the router itself to limit those too).
	for _, c := range []struct{ method, path string }{{"GET", "/nope"}, {"PATCH", "/api/search"}} {
		r := do(t, c.method, srv.URL+c.path, "")
		if (r.status != http.StatusNotFound && r.status != http.StatusMethodNotAllowed) || r.header.Get("X-RateLimit-Limit") != "" {
			t.Errorf("%s %s: %d, X-RateLimit-Limit %q", c.method, c.path, r.status, r.header.Get("X-RateLimit-Limit"))
		}
	}

	// gorilla/mux sets no r.Pattern (mux.CurrentRoute has it instead).
	if got := a.pattern("2"); got != "" {
		t.Errorf("r.Pattern = %q", got)
	}
}
