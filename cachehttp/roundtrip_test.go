package cachehttp

import (
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// cmdCounter is a go-redis hook counting round trips (a pipeline is one) and
// commands.
type cmdCounter struct {
	mu    sync.Mutex
	trips int
	cmds  []string
}

func (c *cmdCounter) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) { return next(ctx, network, addr) }
}

func (c *cmdCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() == "ping" || redistest.ConnSetup(cmd) { // health probe, connection set-up
			return next(ctx, cmd)
		}
		c.mu.Lock()
		c.trips++
		c.cmds = append(c.cmds, cmd.Name())
		c.mu.Unlock()
		return next(ctx, cmd)
	}
}

func (c *cmdCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if redistest.ConnSetupPipeline(cmds) {
			return next(ctx, cmds)
		}
		c.mu.Lock()
		c.trips++
		names := make([]string, len(cmds))
		for i, cmd := range cmds {
			names[i] = cmd.Name()
		}
		c.cmds = append(c.cmds, "pipeline("+strings.Join(names, ",")+")")
		c.mu.Unlock()
		return next(ctx, cmds)
	}
}

func (c *cmdCounter) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.trips
}

func (c *cmdCounter) take() (int, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, cmds := c.trips, c.cmds
	c.trips, c.cmds = 0, nil
	return n, cmds
}

// The Redis budget per request: a hit is one command, a miss one read and
// one write (the store script), a bypass none; the same with the
// auto-pipeliner (a batch of one is a command sent alone).
func TestRoundTripsPerRequest(t *testing.T) {
	withAutoPipeline(t, roundTripsPerRequest)
}

func roundTripsPerRequest(t *testing.T, auto bool) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		cnt := &cmdCounter{}
		client := tg.NewClient(t)
		client.AddHook(cnt)
		c := newTestCache(t, client, tg.Prefix, Options{AutoPipeline: auto})
		srv := mustRoute(t, c, Route{Name: "rt", Tags: []string{"a", "b"}}).Handler(textHandler("body"))
		// Warm the script cache so the count is the steady-state one.
		expect(t, do(srv, "GET", "/warm"), 200, "MISS", "body")
		cnt.take()

		expect(t, do(srv, "GET", "/x"), 200, "MISS", "body")
		if n, cmds := cnt.take(); n != 2 || cmds[0] != "set" || cmds[1] != "evalsha" {
			t.Fatalf("miss: %d round trips %v; want set(NX GET) + evalsha", n, cmds)
		}
		for range 3 {
			expect(t, do(srv, "GET", "/x"), 200, "HIT", "body")
			if n, cmds := cnt.take(); n != 1 || cmds[0] != "set" {
				t.Fatalf("hit: %d round trips %v; want 1", n, cmds)
			}
		}
		expect(t, do(srv, "POST", "/x"), 200, "BYPASS", "body")
		if n, cmds := cnt.take(); n != 0 {
			t.Fatalf("bypass: %d round trips %v", n, cmds)
		}
		ctx := context.Background()
		if _, err := GetOrLoad(ctx, c, "d", time.Minute, func(context.Context) (int, error) { return 7, nil }); err != nil {
			t.Fatal(err)
		}
		if n, cmds := cnt.take(); n != 2 {
			t.Fatalf("GetOrLoad miss: %d round trips %v", n, cmds)
		}
		if v, _ := GetOrLoad(ctx, c, "d", time.Minute, func(context.Context) (int, error) { return 8, nil }); v != 7 {
			t.Fatalf("GetOrLoad hit returned %d", v)
		}
		if n, cmds := cnt.take(); n != 1 {
			t.Fatalf("GetOrLoad hit: %d round trips %v", n, cmds)
		}
		_ = http.MethodGet
	})
}
