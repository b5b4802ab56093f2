package lockhttp_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aura-platform/redishttp/fallback"
	"github.com/aura-platform/redishttp/lockhttp"
	"github.com/aura-platform/redishttp/middleware"
	"github.com/go-chi/chi/v5"
	"github.com/gorilla/mux"
	"github.com/labstack/echo/v4"
)

// holder is a handler that holds its lock until released.
type pathHolder struct {
	started chan string
	release chan struct{}
}

func (h *pathHolder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.started <- r.URL.Path
	<-h.release
	w.WriteHeader(http.StatusNoContent)
}

// mounts mount a Locker the way users of each router do, in a group.
var mounts = map[string]func(lock func(http.Handler) http.Handler, h http.Handler) http.Handler{
	"ServeMux": func(lock func(http.Handler) http.Handler, h http.Handler) http.Handler {
		m := http.NewServeMux()
		m.Handle("POST /api/invoices", lock(h))
		m.Handle("DELETE /api/users/{id}", lock(h))
		m.Handle("PUT /api/users/{id}", lock(h))
		return m
	},
	"chi r.Route group": func(lock func(http.Handler) http.Handler, h http.Handler) http.Handler {
		r := chi.NewRouter()
		r.Route("/api", func(r chi.Router) {
			r.Use(lock)
			r.Method(http.MethodPost, "/invoices", h)
			r.Method(http.MethodDelete, "/users/{id}", h)
			r.Method(http.MethodPut, "/users/{id}", h)
		})
		return r
	},
	"gorilla/mux subrouter": func(lock func(http.Handler) http.Handler, h http.Handler) http.Handler {
		m := mux.NewRouter()
		s := m.PathPrefix("/api").Subrouter()
		s.Use(lock)
		s.Handle("/invoices", h).Methods(http.MethodPost)
		s.Handle("/users/{id}", h).Methods(http.MethodDelete, http.MethodPut)
		return m
	},
	"echo group": func(lock func(http.Handler) http.Handler, h http.Handler) http.Handler {
		e := echo.New()
		g := e.Group("/api", echo.WrapMiddleware(lock))
		g.POST("/invoices", echo.WrapHandler(h))
		g.DELETE("/users/:id", echo.WrapHandler(h))
		g.PUT("/users/:id", echo.WrapHandler(h))
		return e
	},
	"http.StripPrefix": func(lock func(http.Handler) http.Handler, h http.Handler) http.Handler {
		inner := http.NewServeMux()
		inner.Handle("/", lock(h))
		m := http.NewServeMux()
		m.Handle("/api/", http.StripPrefix("/api", inner))
		return m
	},
}

// The default lock key is the request's path under every router: while
// POST /api/invoices holds its lock, DELETE /api/users/1 runs, and a PUT of
// the same user (or a second invoice POST) gets 409.
func TestDefaultKeyIsRouterIndependent(t *testing.T) {
	for name, mount := range mounts {
		t.Run(name, func(t *testing.T) {
			checkRouterKeys(t, lockhttp.Options{}, mount)
		})
	}
}

// middleware.ByRoute, by contrast, depends on the router: under chi's
// r.Route group the pattern is the group's "/api/*", so every route of the
// group shares one lock.
func TestByRouteDependsOnRouter(t *testing.T) {
	l := localLocker(t, lockhttp.Options{Key: middleware.ByRoute()})
	h := &pathHolder{started: make(chan string, 1), release: make(chan struct{})}
	srv := mounts["chi r.Route group"](l.Handler, h)
	done := make(chan int, 1)
	go func() { done <- serveReq(srv, http.MethodPost, "/api/invoices") }()
	<-h.started
	if st := serveReq(srv, http.MethodDelete, "/api/users/1"); st != http.StatusConflict {
		t.Errorf("ByRoute under a chi group: DELETE /api/users/1 got %d while POST /api/invoices held the lock; this test documents that they contend", st)
	}
	close(h.release)
	<-done
}

func localLocker(t *testing.T, o lockhttp.Options) *lockhttp.Locker {
	t.Helper()
	o.OnFailure = fallback.UseMemory
	l, err := lockhttp.New(nil, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func serveReq(h http.Handler, method, target string) int {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(method, target, nil))
	return w.Code
}

func checkRouterKeys(t *testing.T, o lockhttp.Options, mount func(func(http.Handler) http.Handler, http.Handler) http.Handler) {
	t.Helper()
	l := localLocker(t, o)
	h := &pathHolder{started: make(chan string, 8), release: make(chan struct{})}
	srv := mount(l.Handler, h)
	held := make(chan int, 8)
	go func() { held <- serveReq(srv, http.MethodPost, "/api/invoices") }()
	<-h.started
	go func() { held <- serveReq(srv, http.MethodDelete, "/api/users/1") }()
	select {
	case <-h.started:
	case st := <-held:
		t.Fatalf("DELETE /api/users/1 got %d while POST /api/invoices held its lock", st)
	}
	ran := 0
	for _, c := range []struct{ method, target string }{
		{http.MethodPost, "/api/invoices"},
		{http.MethodPut, "/api/users/1"},
		{http.MethodPut, "/api/users/1?x=1"},
	} {
		st := make(chan int, 1)
		go func() { st <- serveReq(srv, c.method, c.target) }()
		select {
		case code := <-st:
			if code != http.StatusConflict {
				t.Errorf("%s %s: %d, want 409 (same path as a held lock)", c.method, c.target, code)
			}
		case <-h.started:
			ran++
			t.Errorf("%s %s ran while a request to the same path held its lock", c.method, c.target)
			go func() { held <- <-st }()
		}
	}
	go func() { held <- serveReq(srv, http.MethodPut, "/api/users/2") }()
	select {
	case <-h.started:
	case st := <-held:
		t.Fatalf("PUT /api/users/2 got %d while POST /api/invoices and DELETE /api/users/1 held their locks", st)
	}
	close(h.release)
	for range 3 + ran {
		if st := <-held; st != http.StatusNoContent {
			t.Errorf("holder got %d", st)
		}
	}
}

// ByPath cleans the path of the request line and ignores the method,
// the query and what routers rewrite.
func TestByPath(t *testing.T) {
	key := lockhttp.ByPath()
	want, _ := key(httptest.NewRequest(http.MethodPut, "/api/users/1", nil))
	for _, target := range []string{"/api/users/1", "/api//users/./1/", "/api/x/../users/1", "/api/users/%31", "/api/users/1?a=b", "http://example.com/api/users/1"} {
		r := httptest.NewRequest(http.MethodDelete, target, nil)
		r.URL.Path = "/stripped" // what http.StripPrefix would leave
		if k, err := key(r); k != want || err != nil {
			t.Errorf("%s: %q %v, want %q", target, k, err, want)
		}
	}
	r, _ := http.NewRequest(http.MethodPut, "http://h/api/users/1", nil) // no RequestURI
	if k, _ := key(r); k != want {
		t.Errorf("client request: %q, want %q", k, want)
	}
	if k, _ := key(httptest.NewRequest(http.MethodPut, "/api/users/2", nil)); k == want {
		t.Errorf("two paths share key %q", k)
	}
	if k, _ := key(httptest.NewRequest(http.MethodOptions, "*", nil)); k == "" {
		t.Error("OPTIONS * has no key")
	}
}
