package cachehttp

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/aura-platform/redishttp/internal/redistest"
)

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
			client, hook := redistest.CountedClient(t, tg, redistest.NotPing)
			c := newTestCache(t, client, tg.Prefix, Options{AutoPipeline: auto})
			h := &counter{h: func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("body")) }}
			srv := mustRoute(t, c, Route{Name: "pb"}).Handler(h)
			burst := func(xcache string) {
				redistest.Burst(n, func(i int) {
					if r := do(srv, "GET", fmt.Sprintf("/p%d", i)); r.code != 200 || r.header.Get("X-Cache") != xcache {
						t.Errorf("request %d: %d %q, want 200 %s", i, r.code, r.header.Get("X-Cache"), xcache)
					}
				})
			}
			hook.Take()
			for _, step := range []struct {
				xcache string
				want   map[string]int
			}{
				{"MISS", map[string]int{"set": n, "evalsha": n}},
				{"HIT", map[string]int{"set": n}},
			} {
				burst(step.xcache)
				cmds, writes := hook.Take()
				total := redistest.Total(cmds)
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
