package routers_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aura-platform/redishttp/examples/routers/ginhttp"
	rmw "github.com/aura-platform/redishttp/middleware"
	"github.com/gin-gonic/gin"
)

// gin through ginhttp.Wrap: the net/http middleware runs first, and the
// gin chain continues (c.Next) only when it called its next handler.
func TestGin(t *testing.T) {
	gin.SetMode(gin.TestMode)
	a := newApp(t, "gin")
	var afterLimiter, gone, failing, empty, errored atomic.Int64

	r := gin.New()
	r.Use(gin.Recovery(), ginhttp.Wrap(a.session), ginhttp.Wrap(a.limits.Handler),
		func(c *gin.Context) { afterLimiter.Add(1) })
	api := r.Group("/api")
	api.GET("/items/:id", ginhttp.Wrap(a.items.Handler), func(c *gin.Context) {
		c.String(http.StatusOK, a.item(c.Param("id")))
	})
	api.GET("/me", ginhttp.Wrap(a.me.Handler), func(c *gin.Context) {
		c.String(http.StatusOK, a.greet(rmw.UserFromContext(c.Request.Context())))
	})
	api.GET("/search", func(c *gin.Context) { c.String(http.StatusOK, a.search()) })
	api.POST("/orders", ginhttp.Wrap(a.locks.Handler), func(c *gin.Context) {
		body, fenced := a.create(c.Request.Context()) // the lock's context, through c.Request
		if !fenced {
			c.AbortWithStatus(http.StatusInternalServerError)
			return
		}
		c.Data(http.StatusCreated, "application/json", []byte(body))
	})
	writes := api.Group("/items", ginhttp.Wrap(a.locks.Handler))
	writes.PUT("/:id", func(c *gin.Context) {
		a.update(c.Param("id"), c.Request.Pattern)
		c.Status(http.StatusNoContent) // a status without a body still goes through the lock
	})
	writes.DELETE("/:id", func(c *gin.Context) { c.Status(http.StatusNoContent) })
	api.GET("/cache/stats", gin.WrapH(a.kit.Stats().StatsHandler()))

	// Error-returning handlers behind the cache.
	cached := api.Group("/cached", ginhttp.Wrap(a.items.Handler))
	cached.GET("/gone/:id", func(c *gin.Context) { gone.Add(1); c.AbortWithStatus(http.StatusNotFound) })
	cached.GET("/failing", func(c *gin.Context) { failing.Add(1); c.AbortWithStatus(http.StatusServiceUnavailable) })
	cached.GET("/empty", func(c *gin.Context) { empty.Add(1) })
	// An error middleware outside the cache writes what c.Error reported.
	api.GET("/errored", func(c *gin.Context) {
		c.Next()
		if len(c.Errors) > 0 && !c.Writer.Written() {
			c.JSON(http.StatusBadGateway, gin.H{"error": c.Errors.Last().Error()})
		}
	}, ginhttp.Wrap(a.items.Handler), func(c *gin.Context) {
		errored.Add(1)
		_ = c.Error(errors.New("upstream down"))
	})

	srv := httptest.NewServer(r)
	defer srv.Close()
	testMounted(t, a, srv.URL)

	t.Run("AbortedRequestSkipsGinChain", func(t *testing.T) {
		before := afterLimiter.Load()
		r := do(t, "GET", srv.URL+"/api/search", "searcher") // over its limit since RateLimit
		if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" ||
			r.header.Get("RateLimit-Policy") == "" || !strings.Contains(r.body, `"status":429`) {
			t.Fatalf("429 as the middleware wrote it: %d %v %s", r.status, r.header, r.body)
		}
		if afterLimiter.Load() != before {
			t.Fatal("the gin chain ran after a 429")
		}
		if r := do(t, "GET", srv.URL+"/api/search", "fresh-user"); r.status != 200 || afterLimiter.Load() != before+1 {
			t.Fatalf("allowed request: %d, chain ran %d times", r.status, afterLimiter.Load()-before)
		}
	})

	t.Run("AbortWithStatus404IsCachedAs404", func(t *testing.T) {
		for i, want := range []string{"MISS", "HIT"} {
			r := do(t, "GET", srv.URL+"/api/cached/gone/1", "")
			if r.status != http.StatusNotFound || r.header.Get("X-Cache") != want {
				t.Fatalf("request %d: %d %q, want 404 %s", i, r.status, r.header.Get("X-Cache"), want)
			}
		}
		if gone.Load() != 1 {
			t.Fatalf("handler ran %d times", gone.Load())
		}
	})

	t.Run("AbortWith5xxIsNotCached", func(t *testing.T) {
		for range 2 {
			if r := do(t, "GET", srv.URL+"/api/cached/failing", ""); r.status != http.StatusServiceUnavailable {
				t.Fatalf("status %d", r.status)
			}
		}
		if failing.Load() != 2 {
			t.Fatalf("handler ran %d times, want 2", failing.Load())
		}
	})

	t.Run("UnwrittenResponseIsGinsDefaultAndNotCached", func(t *testing.T) {
		for range 2 {
			if r := do(t, "GET", srv.URL+"/api/cached/empty", ""); r.status != http.StatusOK || r.body != "" {
				t.Fatalf("%d %q", r.status, r.body)
			}
		}
		if empty.Load() != 2 {
			t.Fatalf("handler ran %d times, want 2", empty.Load())
		}
	})

	t.Run("ErrorMiddlewareOutsideWrapWrites", func(t *testing.T) {
		for range 2 {
			r := do(t, "GET", srv.URL+"/api/errored", "")
			if r.status != http.StatusBadGateway || !strings.Contains(r.body, "upstream down") {
				t.Fatalf("%d %q", r.status, r.body)
			}
		}
		if errored.Load() != 2 {
			t.Fatalf("handler ran %d times, want 2", errored.Load())
		}
	})

	// gin sets no r.Pattern (c.FullPath() has it instead).
	if got := a.pattern("2"); got != "" {
		t.Errorf("r.Pattern = %q", got)
	}
}
