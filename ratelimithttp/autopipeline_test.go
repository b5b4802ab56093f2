package ratelimithttp

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

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
// a pipeline). Connection set-up is left out.
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
		if redistest.ConnSetup(c) {
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

// TestPipelinedBatches: n concurrent requests cost exactly n EVALSHA
// whether pipelined or not; pipelined, they reach Redis in fewer writes
// than requests, and plain, in one write each.
func TestPipelinedBatches(t *testing.T) {
	withAutoPipeline(t, func(t *testing.T, auto bool) {
		redistest.Run(t, func(t *testing.T, tg redistest.Target) {
			const n = 100
			client := tg.NewClient(t)
			hook := &wireHook{}
			client.AddHook(hook)
			ps := []Policy{{Name: "a", Rate: rate(1000, time.Hour)}, {Name: "b", Rate: rate(1000, time.Minute), Algorithm: SlidingWindow}}
			for _, pol := range [][]Policy{ps[:1], ps} {
				l := newLimiter(t, tg, client, Options{Policies: pol, AutoPipeline: auto, Prefix: tg.Prefix + strconv.Itoa(len(pol)) + ":"})
				h := l.Handler(okHandler)
				burst := func() {
					start := make(chan struct{})
					var wg sync.WaitGroup
					for i := range n {
						wg.Go(func() {
							<-start
							if w := do(h, "GET", "/", "u"+strconv.Itoa(i)); w.Code != 200 {
								t.Errorf("request %d: %d", i, w.Code)
							}
						})
					}
					close(start)
					wg.Wait()
				}
				// The same users once before: the script is cached on every
				// node their keys live on (no NOSCRIPT fallback below).
				burst()
				hook.take()
				burst()
				cmds, writes := hook.take()
				t.Logf("auto=%v, %d policies: %d requests, commands %v in %d writes", auto, len(pol), n, cmds, writes)
				if cmds["evalsha"] != n || len(cmds) != 1 {
					t.Fatalf("%d policies: commands %v for %d requests, want exactly %d EVALSHA", len(pol), cmds, n, n)
				}
				if !auto && writes != n {
					t.Fatalf("plain: %d writes for %d requests, want one each", writes, n)
				}
				if auto && writes >= n {
					t.Fatalf("pipelined: %d writes for %d requests, want fewer", writes, n)
				}
			}
		})
	})
}
