package middleware_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/gorilla/mux"

	"github.com/aura-platform/redishttp/middleware"
)

// tag returns a middleware that appends name to the X-Trace request and
// response headers on the way in and to the body on the way out, so a test
// can see the order middlewares ran in, both ways.
func tag(name string) middleware.Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.Header.Add("X-Trace", name)
			w.Header().Add("X-Trace", name)
			next.ServeHTTP(w, r)
			_, _ = io.WriteString(w, "<"+name)
		})
	}
}

func traceHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "in:"+strings.Join(r.Header.Values("X-Trace"), ","))
	})
}

func TestChainOrder(t *testing.T) {
	tests := []struct {
		name     string
		mws      []middleware.Middleware
		wantIn   string
		wantBody string
	}{
		{"empty", nil, "", "in:"},
		{"one", []middleware.Middleware{tag("a")}, "a", "in:a<a"},
		{"first is outermost", []middleware.Middleware{tag("a"), tag("b"), tag("c")}, "a,b,c", "in:a,b,c<c<b<a"},
		{"nil skipped", []middleware.Middleware{nil, tag("a"), nil, tag("b"), nil}, "a,b", "in:a,b<b<a"},
		{"all nil", []middleware.Middleware{nil, nil}, "", "in:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := middleware.Chain(tt.mws...)(traceHandler())
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
			if got := rec.Body.String(); got != tt.wantBody {
				t.Errorf("body = %q, want %q", got, tt.wantBody)
			}
			if got := strings.Join(rec.Header().Values("X-Trace"), ","); got != tt.wantIn {
				t.Errorf("response trace = %q, want %q", got, tt.wantIn)
			}
		})
	}
}

func TestChainIsReusable(t *testing.T) {
	// One Chain value applied to two handlers gives two independent stacks.
	c := middleware.Chain(tag("a"), tag("b"))
	for _, name := range []string{"x", "y"} {
		h := c(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, name) }))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		if got, want := rec.Body.String(), name+"<b<a"; got != want {
			t.Errorf("body = %q, want %q", got, want)
		}
	}
}

// routeKey is a middleware that records the ByRoute and ByUser keys the
// request has by the time it reaches it, as a response header.
func routeKey(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k, err := middleware.Join(middleware.ByUser(), middleware.ByRoute())(r)
		if err != nil {
			middleware.Error(w, r, http.StatusUnauthorized, "who are you?")
			return
		}
		w.Header().Set("X-Key", k)
		next.ServeHTTP(w, r)
	})
}

func TestChainOnRouters(t *testing.T) {
	stack := middleware.Chain(middleware.TrustUserHeader("X-User"), tag("a"), tag("b"))
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "hello "+middleware.UserFromContext(r.Context())+" in:"+strings.Join(r.Header.Values("X-Trace"), ","))
	})

	routers := map[string]func() http.Handler{
		"ServeMux": func() http.Handler {
			mux := http.NewServeMux()
			mux.Handle("GET /items/{id}", stack(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				routeKey(hello).ServeHTTP(w, r)
			})))
			return mux
		},
		"chi": func() http.Handler {
			r := chi.NewRouter()
			r.Use(middleware.TrustUserHeader("X-User"), tag("a"), tag("b"))
			r.With(routeKey).Get("/items/{id}", hello)
			return r
		},
		"gorilla": func() http.Handler {
			r := mux.NewRouter()
			r.Use(mux.MiddlewareFunc(middleware.TrustUserHeader("X-User")), tag("a"), tag("b"), routeKey)
			r.Handle("/items/{id}", hello).Methods(http.MethodGet)
			return r
		},
	}
	for name, build := range routers {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(build())
			defer srv.Close()
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/items/42", nil)
			req.Header.Set("X-User", "alice")
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d, body %q", resp.StatusCode, body)
			}
			if got, want := string(body), "hello alice in:a,b<b<a"; got != want {
				t.Errorf("body = %q, want %q", got, want)
			}
			if got := strings.Join(resp.Header.Values("X-Trace"), ","); got != "a,b" {
				t.Errorf("trace = %q, want a,b", got)
			}
			key := resp.Header.Get("X-Key")
			if !strings.HasPrefix(key, "u:alice:r:") {
				t.Errorf("key = %q, want u:alice:r:...", key)
			}
			if name == "ServeMux" {
				// ServeMux sets r.Pattern, so ByRoute keys by the pattern
				// and not by the concrete path.
				if want := "u:alice:r:" + middleware.KeyPart("GET /items/{id}"); key != want {
					t.Errorf("key = %q, want %q", key, want)
				}
			}

			// Without a user the key function fails and the client gets
			// problem JSON, through every router.
			resp, err = srv.Client().Get(srv.URL + "/items/42")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("anonymous: status %d, type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
		})
	}
}
