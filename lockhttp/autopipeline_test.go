package lockhttp_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/fallback"
	"github.com/aura-platform/redishttp/internal/redistest"
	"github.com/aura-platform/redishttp/lockhttp"
	"github.com/redis/go-redis/v9"
)

// withAutoPipeline runs fn with Options.AutoPipeline off, then on in a
// subtest named "autopipeline"; the subtests fn makes (one per target) keep
// their names, which end in the target's.
func withAutoPipeline(t *testing.T, fn func(t *testing.T, auto bool)) {
	t.Helper()
	fn(t, false)
	t.Run("autopipeline", func(t *testing.T) { fn(t, true) })
}

// wireHook counts what a client sends: each command (also inside a
// pipeline) by name, and the writes (a command sent alone, or a pipeline;
// the auto-pipeliner reports a batch of one as a command, a larger batch as
// a pipeline). Connection set-up and health probes are left out.
type wireHook struct {
	mu     sync.Mutex
	cmds   map[string]int
	writes int
}

func (h *wireHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *wireHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.count([]redis.Cmder{cmd})
		return next(ctx, cmd)
	}
}

func (h *wireHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.count(cmds)
		return next(ctx, cmds)
	}
}

func (h *wireHook) count(cmds []redis.Cmder) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cmds == nil {
		h.cmds = map[string]int{}
	}
	n := 0
	for _, c := range cmds {
		if redistest.ConnSetup(c) || c.Name() == "ping" {
			continue
		}
		h.cmds[strings.ToLower(c.Name())]++
		n++
	}
	if n > 0 {
		h.writes++
	}
}

// take returns and clears the counts.
func (h *wireHook) take() (map[string]int, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, w := h.cmds, h.writes
	h.cmds, h.writes = nil, 0
	return c, w
}

// TestPipelinedBatches: n concurrent requests on distinct locks cost
// exactly 2n scripts (acquire and release each) whether pipelined or not;
// pipelined, they reach Redis in fewer writes than scripts, and plain, in
// one write each.
func TestPipelinedBatches(t *testing.T) {
	withAutoPipeline(t, func(t *testing.T, auto bool) {
		redistest.Run(t, func(t *testing.T, tg redistest.Target) {
			const n = 100
			c := tg.NewClient(t)
			hook := &wireHook{}
			c.AddHook(hook)
			mon := mustMonitor(fallback.NewMonitor(tg.NewClient(t), fallback.MonitorOptions{CommandTimeout: 5 * time.Second}))
			t.Cleanup(func() { _ = mon.Close() })
			l, err := lockhttp.New(c, lockhttp.Options{
				Key: func(r *http.Request) (string, error) { return r.URL.Query().Get("v"), nil }, Prefix: tg.Prefix + "pb:",
				AutoPipeline: auto, Monitor: mon, CommandTimeout: 5 * time.Second, DisableWatchdog: true,
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = l.Close() })
			h := l.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusCreated) }))
			burst := func() {
				start := make(chan struct{})
				var wg sync.WaitGroup
				for i := range n {
					wg.Go(func() {
						<-start
						if r := get(h, fmt.Sprint(i)); r.status != http.StatusCreated {
							t.Errorf("request %d: %d %s", i, r.status, r.body)
						}
					})
				}
				close(start)
				wg.Wait()
			}
			// The same locks once before: every script is cached on every
			// node they live on (no NOSCRIPT fallback below).
			burst()
			hook.take()
			burst()
			cmds, writes := hook.take()
			t.Logf("auto=%v: %d requests, commands %v in %d writes", auto, n, cmds, writes)
			if cmds["evalsha"] != 2*n || len(cmds) != 1 {
				t.Fatalf("commands %v for %d requests, want exactly %d EVALSHA (acquire + release each)", cmds, n, 2*n)
			}
			if !auto && writes != 2*n {
				t.Fatalf("plain: %d writes for %d commands, want one each", writes, 2*n)
			}
			if auto && writes >= 2*n {
				t.Fatalf("pipelined: %d writes for %d commands, want fewer", writes, 2*n)
			}
		})
	})
}
