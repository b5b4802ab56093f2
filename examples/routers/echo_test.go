package routers_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	rmw "github.com/aura-platform/redishttp/middleware"
	"github.com/labstack/echo/v4"
)

// echo through echo.WrapMiddleware: the middleware runs around the echo
// handler, which sees the middleware's request (c.Request()) and writes
// through the middleware's ResponseWriter (c.Response()).
func TestEcho(t *testing.T) {
	a := newApp(t, "echo")
	var lookups, errorsHandled atomic.Int64

	e := echo.New()
	e.HideBanner = true
	e.HTTPErrorHandler = func(err error, c echo.Context) {
		errorsHandled.Add(1)
		e.DefaultHTTPErrorHandler(err, c)
	}
	e.Use(echo.WrapMiddleware(a.session), echo.WrapMiddleware(a.limits.Handler))
	api := e.Group("/api")
	api.GET("/items/:id", func(c echo.Context) error {
		return c.String(http.StatusOK, a.item(c.Param("id")))
	}, echo.WrapMiddleware(a.items.Handler))
	api.GET("/me", func(c echo.Context) error {
		return c.String(http.StatusOK, a.greet(rmw.UserFromContext(c.Request().Context())))
	}, echo.WrapMiddleware(a.me.Handler))
	api.GET("/search", func(c echo.Context) error { return c.String(http.StatusOK, a.search()) })
	api.POST("/orders", func(c echo.Context) error {
		body, fenced := a.create(c.Request().Context()) // the lock's context
		if !fenced {
			return echo.NewHTTPError(http.StatusInternalServerError, "no fencing token")
		}
		return c.Blob(http.StatusCreated, "application/json", []byte(body))
	}, echo.WrapMiddleware(a.locks.Handler))
	writes := api.Group("/items", echo.WrapMiddleware(a.locks.Handler))
	writes.PUT("/:id", func(c echo.Context) error {
		a.update(c.Param("id"), c.Request().Pattern)
		return c.NoContent(http.StatusNoContent)
	})
	writes.DELETE("/:id", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })
	api.GET("/cache/stats", echo.WrapHandler(a.kit.Stats().StatsHandler()))
	// A cached route whose handler returns echo's HTTPError for unknown ids.
	api.GET("/lookup/:id", func(c echo.Context) error {
		lookups.Add(1)
		if c.Param("id") == "missing" {
			return echo.NewHTTPError(http.StatusNotFound)
		}
		return c.String(http.StatusOK, "found "+c.Param("id"))
	}, echo.WrapMiddleware(a.items.Handler))

	srv := httptest.NewServer(e)
	defer srv.Close()
	testMounted(t, a, srv.URL)

	t.Run("HTTPErrorIsNeverCached", func(t *testing.T) {
		lookups.Store(0)
		errorsHandled.Store(0)
		for i := range 3 {
			r := do(t, "GET", srv.URL+"/api/lookup/missing", "")
			// echo's error handler writes the 404 after the middleware
			// returned: the cache saw an unwritten response, stored nothing.
			if r.status != http.StatusNotFound || !strings.Contains(r.body, `"message":"Not Found"`) || r.header.Get("X-Cache") == "HIT" {
				t.Fatalf("request %d: %d %q %q", i, r.status, r.header.Get("X-Cache"), r.body)
			}
		}
		if lookups.Load() != 3 || errorsHandled.Load() != 3 {
			t.Fatalf("handler ran %d times, error handler %d times; want 3 and 3", lookups.Load(), errorsHandled.Load())
		}
		for i, want := range []string{"MISS", "HIT"} {
			r := do(t, "GET", srv.URL+"/api/lookup/5", "")
			if r.status != 200 || r.body != "found 5" || r.header.Get("X-Cache") != want {
				t.Fatalf("found, request %d: %d %q %q", i, r.status, r.header.Get("X-Cache"), r.body)
			}
		}
	})

	t.Run("MiddlewareAnswersBypassTheErrorHandler", func(t *testing.T) {
		errorsHandled.Store(0)
		r := do(t, "GET", srv.URL+"/api/search", "searcher") // over its limit since RateLimit
		if r.status != http.StatusTooManyRequests || !strings.Contains(r.body, `"status":429`) || r.header.Get("Retry-After") == "" {
			t.Fatalf("%d %v %s", r.status, r.header, r.body)
		}
		if errorsHandled.Load() != 0 {
			t.Fatal("echo's error handler ran for the limiter's own 429")
		}
	})

	// echo sets no r.Pattern (c.Path() has it instead).
	if got := a.pattern("2"); got != "" {
		t.Errorf("r.Pattern = %q", got)
	}
}
