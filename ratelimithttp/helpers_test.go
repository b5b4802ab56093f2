package ratelimithttp

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/fallback"
	"github.com/aura-platform/redishttp/internal/ratefield"
	"github.com/aura-platform/redishttp/internal/redistest"
	"github.com/aura-platform/redishttp/middleware"
	"github.com/redis/go-redis/v9"
	"github.com/ulule/limiter/v3"
)

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	_, _ = io.WriteString(w, "ok")
})

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func rate(limit int64, period time.Duration) limiter.Rate {
	return limiter.Rate{Limit: limit, Period: period}
}

// newLimiter builds a limiter on client with tg's prefix, a monitor on a
// separate client (so its probes never count as request round trips), and
// cleanup.
func newLimiter(t testing.TB, tg redistest.Target, client redis.UniversalClient, o Options) *Limiter {
	t.Helper()
	if o.Prefix == "" {
		o.Prefix = tg.Prefix
	}
	if o.Logger == nil {
		o.Logger = quiet()
	}
	if o.Monitor == nil && client != nil {
		mon := mustMonitor(fallback.NewMonitor(tg.NewClient(t), fallback.MonitorOptions{Logger: quiet(), CommandTimeout: 5 * time.Second}))
		t.Cleanup(func() { _ = mon.Close() })
		o.Monitor = mon
	}
	l, err := New(client, o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// do sends one request as user (anonymous when "") through h.
func do(h http.Handler, method, path, user string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, nil)
	if user != "" {
		r = r.WithContext(middleware.WithUser(r.Context(), user))
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func headerInt(t testing.TB, w *httptest.ResponseRecorder, name string) int64 {
	t.Helper()
	vs := w.Result().Header.Values(name)
	if len(vs) != 1 {
		t.Fatalf("%s: want exactly one value, got %q", name, vs)
	}
	n, err := strconv.ParseInt(vs[0], 10, 64)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, vs[0], err)
	}
	return n
}

func field(t testing.TB, w *httptest.ResponseRecorder, name string) ratefield.Item {
	t.Helper()
	vs := w.Result().Header.Values(name)
	if len(vs) != 1 {
		t.Fatalf("%s: want exactly one value, got %q", name, vs)
	}
	items, err := ratefield.Parse(vs[0])
	if err != nil || len(items) != 1 {
		t.Fatalf("%s=%q: %v (%d items)", name, vs[0], err, len(items))
	}
	return items[0]
}

// clock advances the target's time: miniredis's TIME and TTLs move
// together, a real server is waited for.
type clock struct {
	tg  redistest.Target
	now time.Time
}

func newClock(tg redistest.Target) *clock {
	c := &clock{tg: tg, now: time.Now()}
	if tg.Mini != nil {
		tg.Mini.SetTime(c.now)
	}
	return c
}

func (c *clock) advance(d time.Duration) {
	if c.tg.Mini == nil {
		time.Sleep(d)
		return
	}
	c.now = c.now.Add(d)
	c.tg.Mini.SetTime(c.now)
	c.tg.Mini.FastForward(d)
}

// commandCounter is a go-redis hook counting round trips: one per command
// sent alone, one per pipeline.
type commandCounter struct {
	trips atomic.Int64
	mu    sync.Mutex
	names []string
}

func (c *commandCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *commandCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if redistest.ConnSetup(cmd) {
			return next(ctx, cmd)
		}
		c.trips.Add(1)
		c.mu.Lock()
		c.names = append(c.names, cmd.Name())
		c.mu.Unlock()
		return next(ctx, cmd)
	}
}

func (c *commandCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if redistest.ConnSetupPipeline(cmds) {
			return next(ctx, cmds)
		}
		c.trips.Add(1)
		return next(ctx, cmds)
	}
}

func (c *commandCounter) reset() {
	c.trips.Store(0)
	c.mu.Lock()
	c.names = nil
	c.mu.Unlock()
}

// mustMonitor returns m, panicking on a constructor error (the options in
// these tests are valid).
func mustMonitor(m *fallback.Monitor, err error) *fallback.Monitor {
	if err != nil {
		panic(err)
	}
	return m
}
