package routers_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
)

// chi: shared middleware with r.Use (before any route), per-route
// middleware with r.With, and an r.Route("/api", ...) group. chi's own
// middleware package keeps its name; ours is imported as rmw.
func TestChi(t *testing.T) {
	a := newApp(t, "chi")
	var seen sync.Map // r.Pattern as a middleware of the /api group saw it

	r := chi.NewRouter()
	r.Use(middleware.Recoverer, a.session, a.limits.Handler)
	r.Route("/api", func(r chi.Router) {
		r.Use(func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				seen.Store(req.Method+" "+req.URL.Path, req.Pattern)
				next.ServeHTTP(w, req)
			})
		})
		r.With(a.items.Handler).Get("/items/{id}", a.getItem)
		r.With(a.me.Handler).Get("/me", a.getMe)
		r.Get("/search", a.getSearch)
		r.With(a.locks.Handler).Post("/orders", a.postOrder)
		r.Group(func(r chi.Router) {
			r.Use(a.locks.Handler)
			r.Put("/items/{id}", a.putItem)
			r.Delete("/items/{id}", a.deleteItem)
		})
		r.Method(http.MethodGet, "/cache/stats", a.kit.Stats().StatsHandler())
	})

	srv := httptest.NewServer(r)
	defer srv.Close()
	testMounted(t, a, srv.URL)

	// chi sets r.Pattern to the pattern matched so far: a middleware of
	// the group sees "/api/*" for every route in it, the handler the full
	// pattern. A lock keyed on r.Pattern (middleware.ByRoute) would depend
	// on where it is mounted; ByPath does not.
	if v, _ := seen.Load("PUT /api/items/2"); v != "/api/*" {
		t.Errorf("group middleware saw r.Pattern %q", v)
	}
	if got := a.pattern("2"); got != "/api/items/{id}" {
		t.Errorf("handler saw r.Pattern %q", got)
	}
}

// chi refuses middleware added after a route on the same mux: mount ours
// with r.Use before the routes, or per route with r.With.
func TestChiUseAfterRoutePanics(t *testing.T) {
	a := newApp(t, "chi-order")
	r := chi.NewRouter()
	r.Get("/api/search", a.getSearch)
	defer func() {
		v := recover()
		if s, _ := v.(string); !strings.Contains(s, "middlewares must be defined before routes") {
			t.Fatalf("recover() = %v", v)
		}
	}()
	r.Use(a.limits.Handler)
}
