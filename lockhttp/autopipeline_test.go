package lockhttp_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/fallback"
	"github.com/aura-platform/redishttp/internal/redistest"
	"github.com/aura-platform/redishttp/lockhttp"
)

// TestPipelinedBatches: n concurrent requests on distinct locks cost
// exactly 2n scripts (acquire and release each) whether pipelined or not;
// pipelined, they reach Redis in fewer writes than scripts, and plain, in
// one write each.
func TestPipelinedBatches(t *testing.T) {
	withAutoPipeline(t, func(t *testing.T, auto bool) {
		redistest.Run(t, func(t *testing.T, tg redistest.Target) {
			const n = 100
			c, hook := redistest.CountedClient(t, tg, redistest.NotPing)
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
				redistest.Burst(n, func(i int) {
					if r := get(h, fmt.Sprint(i)); r.status != http.StatusCreated {
						t.Errorf("request %d: %d %s", i, r.status, r.body)
					}
				})
			}
			// The same locks once before: every script is cached on every
			// node they live on (no NOSCRIPT fallback below).
			burst()
			hook.Take()
			burst()
			cmds, writes := hook.Take()
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
