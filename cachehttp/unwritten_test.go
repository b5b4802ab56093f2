package cachehttp

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/internal/redistest"
	"github.com/labstack/echo/v4"
)

// lateWriter stands for a framework that writes a handler's error after the
// middleware returned (echo's WrapMiddleware does this): the inner handler
// writes nothing and the wrapper writes a 404 through the writer the
// handler was given.
func lateWriter(mw func(http.Handler) http.Handler, fail func(r *http.Request) bool, ok http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var inner http.ResponseWriter
		failed := false
		mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			inner = w
			if fail(r) {
				failed = true
				return
			}
			ok(w, r)
		})).ServeHTTP(w, r)
		if failed && inner != nil {
			inner.Header().Set("Content-Type", "application/json")
			inner.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(inner, `{"message":"Not Found"}`)
		}
	})
}

// A response the handler never wrote is never stored: a plain handler that
// returns without writing, and one whose error a framework writes after the
// middleware returned, on the direct fill path and on the stale-if-error
// (deferred) path.
func TestUnwrittenResponseNotStored(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		c := newTestCache(t, tg.Client, tg.Prefix, Options{})
		clk := newClock()
		setClock(c, clk)

		t.Run("plain", func(t *testing.T) {
			h := &counter{h: func(w http.ResponseWriter, r *http.Request) {}}
			srv := mustRoute(t, c, Route{Name: "unwritten"}).Handler(h)
			expect(t, do(srv, "GET", "/plain"), 200, "MISS", "")
			expect(t, do(srv, "GET", "/plain"), 200, "MISS", "")
			if h.n.Load() != 2 {
				t.Fatalf("handler ran %d times; an unwritten response was stored", h.n.Load())
			}
		})

		t.Run("written later", func(t *testing.T) {
			rc := mustRoute(t, c, Route{Name: "late"})
			srv := lateWriter(rc.Handler, func(*http.Request) bool { return true }, nil)
			for range 2 {
				expect(t, do(srv, "GET", "/late"), 404, "MISS", `{"message":"Not Found"}`)
			}
		})

		t.Run("stale-if-error path", func(t *testing.T) {
			fail := false
			rc := mustRoute(t, c, Route{Name: "late-sie", TTL: time.Second, Jitter: -1, StaleIfError: time.Hour})
			srv := lateWriter(rc.Handler, func(*http.Request) bool { return fail }, func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.WriteString(w, "v1")
			})
			expect(t, do(srv, "GET", "/late-sie"), 200, "MISS", "v1")
			expect(t, do(srv, "GET", "/late-sie"), 200, "HIT", "v1")
			clk.add(2 * time.Second)
			fail = true
			for range 2 {
				got := do(srv, "GET", "/late-sie")
				expect(t, got, 404, "MISS", `{"message":"Not Found"}`)
				if got.header.Get("Content-Type") != "application/json" {
					t.Fatalf("headers %v", got.header)
				}
			}
			// A handler that sets a header and writes nothing: net/http's
			// empty 200 carries the header, as it would without the cache.
			h := &counter{h: func(w http.ResponseWriter, r *http.Request) { w.Header().Set("X-Set", "1") }}
			srv2 := rc.Handler(h)
			for range 2 {
				got := do(srv2, "GET", "/late-sie")
				expect(t, got, 200, "MISS", "")
				if got.header.Get("X-Set") != "1" {
					t.Fatalf("headers %v", got.header)
				}
			}
		})
	})
}

// echo's WrapMiddleware with a handler returning echo.NewHTTPError(404):
// echo writes the error after the middleware returned. The client gets the
// 404 every time, never a cached empty 200.
func TestUnwrittenEcho(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		c := newTestCache(t, tg.Client, tg.Prefix, Options{})
		for _, rt := range []Route{{Name: "echo"}, {Name: "echo-sie", StaleIfError: time.Hour}} {
			t.Run(rt.Name, func(t *testing.T) {
				rc := mustRoute(t, c, rt)
				e := echo.New()
				e.Use(echo.WrapMiddleware(rc.Handler))
				runs := 0
				e.GET("/items/:id", func(ec echo.Context) error {
					runs++
					if ec.Param("id") == "missing" {
						return echo.NewHTTPError(http.StatusNotFound)
					}
					return ec.String(http.StatusOK, "item "+ec.Param("id"))
				})
				srv := httptest.NewServer(e)
				defer srv.Close()
				get := func(path string) (int, string, string) {
					t.Helper()
					resp, err := srv.Client().Get(srv.URL + path)
					if err != nil {
						t.Fatal(err)
					}
					defer resp.Body.Close()
					b, _ := io.ReadAll(resp.Body)
					return resp.StatusCode, resp.Header.Get("X-Cache"), string(b)
				}
				p := "/items/missing?route=" + rt.Name
				for i := range 3 {
					code, x, body := get(p)
					if code != http.StatusNotFound || x == "HIT" || body == "" {
						t.Fatalf("request %d: %d X-Cache=%s body=%q; want the 404 from echo", i, code, x, body)
					}
				}
				if runs != 3 {
					t.Fatalf("handler ran %d times; want 3", runs)
				}
				ok := "/items/1?route=" + rt.Name
				if code, x, body := get(ok); code != 200 || x != "MISS" || body != "item 1" {
					t.Fatalf("first: %d %s %q", code, x, body)
				}
				if code, x, body := get(ok); code != 200 || x != "HIT" || body != "item 1" {
					t.Fatalf("second: %d %s %q", code, x, body)
				}
			})
		}
	})
}
