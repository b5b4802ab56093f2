package ratelimithttp

import (
	"strconv"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/internal/redistest"
)

// TestPipelinedBatches: n concurrent requests cost exactly n EVALSHA
// whether pipelined or not; pipelined, they reach Redis in fewer writes
// than requests, and plain, in one write each.
func TestPipelinedBatches(t *testing.T) {
	withAutoPipeline(t, func(t *testing.T, auto bool) {
		redistest.Run(t, func(t *testing.T, tg redistest.Target) {
			const n = 100
			client, hook := redistest.CountedClient(t, tg, nil)
			ps := []Policy{{Name: "a", Rate: rate(1000, time.Hour)}, {Name: "b", Rate: rate(1000, time.Minute), Algorithm: SlidingWindow}}
			for _, pol := range [][]Policy{ps[:1], ps} {
				l := newLimiter(t, tg, client, Options{Policies: pol, AutoPipeline: auto, Prefix: tg.Prefix + strconv.Itoa(len(pol)) + ":"})
				h := l.Handler(okHandler)
				burst := func() {
					redistest.Burst(n, func(i int) {
						if w := do(h, "GET", "/", "u"+strconv.Itoa(i)); w.Code != 200 {
							t.Errorf("request %d: %d", i, w.Code)
						}
					})
				}
				// The same users once before: the script is cached on every
				// node their keys live on (no NOSCRIPT fallback below).
				burst()
				hook.Take()
				burst()
				cmds, writes := hook.Take()
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
