package cachehttp

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/aura-platform/redishttp/internal/redistest"
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
		h.cmds[c.Name()]++
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

// TestPipelinedBatches: n concurrent misses on distinct paths cost exactly
// n SET NX GET and n store scripts, and n concurrent hits exactly n SET NX
// GET, whether pipelined or not; pipelined, each burst reaches Redis in
// fewer writes than commands, and plain, in one write per command.
func TestPipelinedBatches(t *testing.T) {
	withAutoPipeline(t, func(t *testing.T, auto bool) {
		redistest.Run(t, func(t *testing.T, tg redistest.Target) {
			const n = 100
			// The store script on every node (no NOSCRIPT fallback below).
			if err := storeScript.Load(t.Context(), tg.Client).Err(); err != nil {
				t.Fatal(err)
			}
			client := tg.NewClient(t)
			hook := &wireHook{}
			client.AddHook(hook)
			c := newTestCache(t, client, tg.Prefix, Options{AutoPipeline: auto})
			h := &counter{h: func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("body")) }}
			srv := mustRoute(t, c, Route{Name: "pb"}).Handler(h)
			burst := func(xcache string) {
				start := make(chan struct{})
				var wg sync.WaitGroup
				for i := range n {
					wg.Go(func() {
						<-start
						if r := do(srv, "GET", fmt.Sprintf("/p%d", i)); r.code != 200 || r.header.Get("X-Cache") != xcache {
							t.Errorf("request %d: %d %q, want 200 %s", i, r.code, r.header.Get("X-Cache"), xcache)
						}
					})
				}
				close(start)
				wg.Wait()
			}
			hook.take()
			for _, step := range []struct {
				xcache string
				want   map[string]int
			}{
				{"MISS", map[string]int{"set": n, "evalsha": n}},
				{"HIT", map[string]int{"set": n}},
			} {
				burst(step.xcache)
				cmds, writes := hook.take()
				total := 0
				for _, k := range cmds {
					total += k
				}
				t.Logf("auto=%v: %d concurrent %ss: commands %v in %d writes", auto, n, step.xcache, cmds, writes)
				if len(cmds) != len(step.want) || cmds["set"] != step.want["set"] || cmds["evalsha"] != step.want["evalsha"] {
					t.Fatalf("%s: commands %v, want %v", step.xcache, cmds, step.want)
				}
				if !auto && writes != total {
					t.Fatalf("plain %s: %d writes for %d commands, want one each", step.xcache, writes, total)
				}
				if auto && writes >= n {
					t.Fatalf("pipelined %s: %d writes for %d requests, want fewer", step.xcache, writes, n)
				}
			}
		})
	})
}
