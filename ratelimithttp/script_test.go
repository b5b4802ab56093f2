package ratelimithttp

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/aura-platform/redishttp/fallback"
	"github.com/redis/go-redis/v9"
)

// A server that has not cached a script answers NOSCRIPT once: the call
// falls back to EVAL, and every later request is a single EVALSHA again,
// also after the server's script cache is flushed.
func TestScriptLoadedOnDemand(t *testing.T) {
	for _, algo := range []Algorithm{FixedWindow, SlidingWindow} {
		t.Run(algo.String(), func(t *testing.T) {
			mr := miniredis.RunT(t)
			client := redis.NewClient(&redis.Options{Addr: mr.Addr()})
			admin := redis.NewClient(&redis.Options{Addr: mr.Addr()})
			t.Cleanup(func() { _ = client.Close(); _ = admin.Close() })
			cnt := &commandCounter{}
			client.AddHook(cnt)
			mon := mustMonitor(fallback.NewMonitor(admin, fallback.MonitorOptions{Logger: quiet()}))
			t.Cleanup(func() { _ = mon.Close() })
			l, err := New(client, Options{Policies: []Policy{{Name: "p", Rate: rate(10, time.Minute), Algorithm: algo}}, Monitor: mon, Logger: quiet()})
			if err != nil {
				t.Fatal(err)
			}
			h := l.Handler(okHandler)
			expect := func(step string, want ...string) {
				t.Helper()
				if w := do(h, "GET", "/", "ann"); w.Code != 200 {
					t.Fatalf("%s: status %d", step, w.Code)
				}
				cnt.mu.Lock()
				got := slices.Clone(cnt.names)
				cnt.mu.Unlock()
				if !slices.Equal(got, want) {
					t.Fatalf("%s: commands %v, want %v", step, got, want)
				}
				cnt.reset()
			}
			expect("first request", "evalsha", "eval")
			expect("second request", "evalsha")
			if err := admin.ScriptFlush(t.Context()).Err(); err != nil {
				t.Fatal(err)
			}
			expect("after SCRIPT FLUSH", "evalsha", "eval")
			expect("then", "evalsha")
		})
	}
}

// A reply of the wrong shape is an error wrapping errBadReply, never a
// panic or a made-up decision.
func TestBadReply(t *testing.T) {
	c := compile(Policy{Name: "p", Rate: rate(10, time.Minute)})
	ps := []*compiled{&c, &c}
	var res Result
	if err := decodeFixed([]int64{1, 0, 0}, 1, ps, &res); !errors.Is(err, errBadReply) {
		t.Errorf("fixed: %v", err)
	}
	if err := decodeSliding([]int64{1, 0, 0, 0, 0}, ps, &res); !errors.Is(err, errBadReply) {
		t.Errorf("sliding: %v", err)
	}
}
