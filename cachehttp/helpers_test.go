package cachehttp

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/fallback"
	"github.com/aura-platform/redishttp/internal/redistest"
	"github.com/aura-platform/redishttp/middleware"
	"github.com/redis/go-redis/v9"
)

var quiet = slog.New(slog.DiscardHandler)

// newTestCache returns a cache over client under prefix, closed when the test
// ends.
func newTestCache(t testing.TB, client redis.UniversalClient, prefix string, o Options) *Cache {
	t.Helper()
	o.Prefix = prefix
	if o.Monitor == nil && client != nil {
		mon := mustMonitor(fallback.NewMonitor(client, fallback.MonitorOptions{CommandTimeout: 2 * time.Second, Logger: quiet}))
		t.Cleanup(func() { _ = mon.Close() })
		o.Monitor = mon
	}
	c, err := New(client, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func mustRoute(t testing.TB, c *Cache, rt Route) *RouteCache {
	t.Helper()
	r, err := c.NewRoute(rt)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// counter is a handler that counts its runs.
type counter struct {
	n atomic.Int64
	h http.HandlerFunc
}

func (c *counter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.n.Add(1)
	c.h(w, r)
}

func textHandler(body string) *counter {
	return &counter{h: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, body)
	}}
}

type result struct {
	code   int
	header http.Header
	body   string
}

func do(h http.Handler, method, target string, hdr ...string) result {
	return doCtx(context.Background(), h, method, target, nil, hdr...)
}

func doCtx(ctx context.Context, h http.Handler, method, target string, body io.Reader, hdr ...string) result {
	r := httptest.NewRequestWithContext(ctx, method, target, body)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Add(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return result{code: w.Code, header: w.Header(), body: w.Body.String()}
}

func withUser(h http.Handler, header string) http.Handler {
	return middleware.TrustUserHeader(header)(h)
}

// events records observer events.
type events struct {
	mu sync.Mutex
	m  map[string]int64
}

func (e *events) Observe(ev middleware.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.m == nil {
		e.m = map[string]int64{}
	}
	e.m[ev.Kind.String()+"/"+ev.Route] += ev.Value
}

func (e *events) get(kind middleware.EventKind, route string) int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.m[kind.String()+"/"+route]
}

func expect(t testing.TB, got result, code int, xcache, body string) {
	t.Helper()
	if got.code != code || got.header.Get("X-Cache") != xcache || (body != "" && got.body != body) {
		t.Fatalf("got %d X-Cache=%q body=%q; want %d %q %q", got.code, got.header.Get("X-Cache"),
			trunc(got.body), code, xcache, trunc(body))
	}
}

func trunc(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

var _ = strings.Contains
var _ = redistest.Run

// mustMonitor returns m, panicking on a constructor error (the options in
// these tests are valid).
func mustMonitor(m *fallback.Monitor, err error) *fallback.Monitor {
	if err != nil {
		panic(err)
	}
	return m
}
