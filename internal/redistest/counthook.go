package redistest

import (
	"context"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
)

// CountHook is a go-redis hook (redis.Client.AddHook) that counts what a
// client sends: each command by name, also inside a pipeline, and the
// writes (a command sent alone, or a pipeline, with at least one counted
// command in it). The auto-pipeliner reports a batch of one as a command
// and a larger batch as a pipeline. Connection set-up (ConnSetup) is never
// counted. A CountHook is safe for concurrent use; its zero value counts
// every other command.
type CountHook struct {
	// Filter, when set, picks the commands to count (for example
	// NotPing, or IsScriptCall); the others are left out.
	Filter func(redis.Cmder) bool

	mu     sync.Mutex
	cmds   map[string]int
	writes int
	alone  int
	piped  int
}

// NotPing accepts every command but PING (the health probes of a
// fallback.Monitor or of the pool).
func NotPing(cmd redis.Cmder) bool { return cmd.Name() != "ping" }

// IsScriptCall accepts EVAL and EVALSHA.
func IsScriptCall(cmd redis.Cmder) bool {
	return cmd.Name() == "evalsha" || cmd.Name() == "eval"
}

// DialHook implements redis.Hook; it counts nothing.
func (h *CountHook) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook implements redis.Hook: it counts a command sent alone.
func (h *CountHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.count([]redis.Cmder{cmd}, false)
		return next(ctx, cmd)
	}
}

// ProcessPipelineHook implements redis.Hook: it counts a pipeline's
// commands and the pipeline as one write.
func (h *CountHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.count(cmds, true)
		return next(ctx, cmds)
	}
}

func (h *CountHook) count(cmds []redis.Cmder, piped bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cmds == nil {
		h.cmds = map[string]int{}
	}
	n := 0
	for _, c := range cmds {
		if ConnSetup(c) || (h.Filter != nil && !h.Filter(c)) {
			continue
		}
		h.cmds[c.Name()]++
		n++
	}
	if n == 0 {
		return
	}
	h.writes++
	if piped {
		h.piped += n
	} else {
		h.alone += n
	}
}

// Take returns the commands counted by name and the writes since the last
// Take (or since the hook was added), and starts the counts again from
// zero.
func (h *CountHook) Take() (cmds map[string]int, writes int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, w := h.cmds, h.writes
	h.cmds, h.writes, h.alone, h.piped = nil, 0, 0, 0
	return c, w
}

// Split returns how many of the commands counted since the last Take
// were sent alone and how many inside pipelines, without clearing them.
func (h *CountHook) Split() (alone, piped int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.alone, h.piped
}

// Total returns the sum of the counts in cmds (a map that Take returned).
func Total(cmds map[string]int) int {
	n := 0
	for _, k := range cmds {
		n += k
	}
	return n
}

// WithAutoPipeline runs fn with auto-pipelining off, then on in a subtest
// named "autopipeline"; the subtests fn makes (one per target, with Run)
// keep their names, which end in the target's.
func WithAutoPipeline(t *testing.T, fn func(t *testing.T, auto bool)) {
	t.Helper()
	fn(t, false)
	t.Run("autopipeline", func(t *testing.T) { fn(t, true) })
}

// CountedClient returns a new client on tg (Target.NewClient) with a
// CountHook that counts the commands filter accepts (all of them when
// filter is nil) added to it.
func CountedClient(t testing.TB, tg Target, filter func(redis.Cmder) bool) (redis.UniversalClient, *CountHook) {
	t.Helper()
	c := tg.NewClient(t)
	h := &CountHook{Filter: filter}
	c.AddHook(h)
	return c, h
}

// Burst calls fn(0) to fn(n-1), each in a goroutine of its own, released
// together once all of them have started, and returns when every call has
// returned: n concurrent requests arriving at the same moment.
func Burst(n int, fn func(i int)) {
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			fn(i)
		})
	}
	close(start)
	wg.Wait()
}
